from dbt.adapters.base import AdapterPlugin
from dbt.adapters.chdb.credentials import ChdbCredentials
from dbt.adapters.chdb.impl import ChdbAdapter
from dbt.include import chdb

Plugin = AdapterPlugin(
    adapter=ChdbAdapter,
    credentials=ChdbCredentials,
    include_path=chdb.PACKAGE_PATH,
    dependencies=["clickhouse"],
)

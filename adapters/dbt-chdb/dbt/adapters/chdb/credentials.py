from dataclasses import dataclass

from dbt.adapters.clickhouse.credentials import ClickHouseCredentials


@dataclass
class ChdbCredentials(ClickHouseCredentials):
    """Credentials of the embedded engine: a directory instead of host, port and user."""

    path: str = ".chdb"

    @property
    def type(self) -> str:
        return "chdb"

    @property
    def unique_field(self) -> str:
        return self.path

    def _connection_keys(self):
        return ("path", "schema", "custom_settings")

from dbt.adapters.chdb.credentials import ChdbCredentials
from trainer.store.embedded import EmbeddedStoreBusyError, open_chdb_client
from dbt.adapters.clickhouse.connections import ClickHouseConnectionManager
from dbt.adapters.clickhouse.httpclient import ChHttpClient
from dbt.adapters.exceptions import FailedToConnectError

# Settings dbt-clickhouse sends to a server session that the embedded engine has no use for.
_SERVER_ONLY_SETTINGS = ("session_id", "insert_distributed_sync")


class ChdbClient(ChHttpClient):
    """dbt-clickhouse's clickhouse-connect wrapper, opened on the embedded engine instead of HTTP."""

    def _create_client(self, credentials: ChdbCredentials):
        settings = {k: v for k, v in self._conn_settings.items() if k not in _SERVER_ONLY_SETTINGS}
        try:
            return open_chdb_client(credentials.path, settings=settings)
        except EmbeddedStoreBusyError as ex:
            raise FailedToConnectError(str(ex)) from None


class ChdbConnectionManager(ClickHouseConnectionManager):
    TYPE = "chdb"

    @classmethod
    def open(cls, connection):
        if connection.state == "open":
            return connection
        credentials = cls.get_credentials(connection.credentials)
        return cls.retry_connection(
            connection,
            connect=lambda: ChdbClient(credentials),
            logger=None,
            retry_limit=0,
            retryable_exceptions=[],
        )

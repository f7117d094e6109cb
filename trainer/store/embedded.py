"""Open clickhouse-connect clients on an embedded chDB directory, one process at a time.

chDB runs the ClickHouse engine inside the calling process and allows a single process per database
directory. A second process gets an opaque engine error, and its refused start-up has already emptied the
directory's `tmp/`, under the first process's spilled joins. So every opener in this project goes through
`open_chdb_client`, which first takes an advisory lock on the directory and, when another process holds
it, fails with a sentence that names the directory and the holder's pid, before chDB starts.

`arrow_batches` reads a query's result from the engine as Arrow record batches, block by block. The
clickhouse-connect chDB client materialises an ArrowStream result in one piece before handing it over;
the engine's own Arrow stream does not, which halves the extraction time and the memory it needs.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import clickhouse_connect
from clickhouse_connect.driver.binding import format_bind_value
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

if TYPE_CHECKING:
    import pyarrow as pa

LOCK_FILE_NAME = ".process.lock"

_held_locks: dict[str, int] = {}


# A table is removed when it is dropped. An Atomic database otherwise keeps a dropped table's files for at least 8
# minutes, and every process that opens the store meanwhile loads it again: short-lived embedded processes (each dbt
# build drops a scratch table per incremental model and date batch) left 69 of them on the 10M-alert benchmark store,
# still there after a 3-minute session. 40 dropped tables made an open 0.13 s slower on a small store.
EMBEDDED_SETTINGS: dict[str, Any] = {"database_atomic_wait_for_drop_and_detach_synchronously": 1}


class EmbeddedStoreBusyError(RuntimeError):
    """Another process holds the embedded ClickHouse directory."""


def _acquire_process_lock(directory: Path) -> None:
    key = str(directory)
    if key in _held_locks:
        return
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / LOCK_FILE_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise EmbeddedStoreBusyError(
            f"embedded ClickHouse directory {key} is in use by process {holder}; chDB allows one process "
            f"per directory: wait for it to finish, stop it, or point CHDB_PATH at another directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held_locks[key] = fd


def open_chdb_client(path: str | os.PathLike[str], database: str | None = None, settings: dict[str, Any] | None = None) -> Client:
    """A clickhouse-connect client on the chDB directory `path` (created if absent)."""
    directory = Path(path).expanduser().resolve()
    _acquire_process_lock(directory)
    all_settings = EMBEDDED_SETTINGS | (settings or {})
    return clickhouse_connect.get_client(interface="chdb", path=str(directory), database=database, settings=all_settings)


def is_embedded(client: Client) -> bool:
    """Whether `client` runs on an embedded chDB engine in this process."""
    return client.uri.startswith("chdb://")


@contextmanager
def arrow_batches(client: Client, sql: str, parameters: Mapping[str, Any]) -> Iterator[Iterator[pa.RecordBatch]]:
    """The result of `sql` as Arrow record batches streamed from the engine of the chDB `client`.

    `sql` takes `{name:Type}` placeholders, bound by the engine from `parameters` (formatted the way
    clickhouse-connect formats server-side parameters). The batches come from a second handle on the
    engine this process already runs. Each block's Arrow data is taken as a Python bytes object that the
    batches keep alive: reading the engine's buffer in place would leave the batches pointing into memory the
    engine frees at the next block. Engine errors surface as clickhouse-connect's DatabaseError, as they
    would from the client.

    The engine computes the blocks ahead of the reader, so a query's memory grows with its result. After
    each query the engine's allocator returns the freed memory to the system (`SYSTEM JEMALLOC PURGE`);
    otherwise it keeps it for later queries and the process never shrinks.
    """
    import chdb
    import pyarrow as pa

    def batches(stream: Any) -> Iterator[pa.RecordBatch]:
        try:
            for chunk in stream:
                yield from pa.ipc.open_file(chunk.bytes()).read_all().to_batches()
        except RuntimeError as error:  # chDB's ChdbError
            raise DatabaseError(str(error)) from None

    engine = chdb.connect(client.path)
    try:
        try:
            stream = engine.send_query(sql, "Arrow", params={name: format_bind_value(value) for name, value in parameters.items()})
        except RuntimeError as error:
            raise DatabaseError(str(error)) from None
        with stream:
            yield batches(stream)
        try:
            engine.query("SYSTEM JEMALLOC PURGE")
        except RuntimeError:  # an engine built without jemalloc keeps nothing to hand back
            pass
    finally:
        engine.close()

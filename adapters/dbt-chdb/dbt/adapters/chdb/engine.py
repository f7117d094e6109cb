"""Open clickhouse-connect clients on an embedded chDB directory, one process at a time.

chDB runs the ClickHouse engine inside the calling process and allows a single process per database
directory. A second process gets an opaque engine error, so every opener in this project goes through
`open_chdb_client`, which first takes an advisory lock on the directory and, when another process holds
it, fails with a sentence that names the directory and the holder's pid.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

LOCK_FILE_NAME = ".process.lock"

_held_locks: dict[str, int] = {}


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
    return clickhouse_connect.get_client(interface="chdb", path=str(directory), database=database, settings=settings or {})

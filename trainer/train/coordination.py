"""What the ranks of a data-parallel run exchange besides LightGBM's histograms: a sum of a few numbers every boosting
round of cross-validation (so every rank stops a fold at the same round) and, once, each rank's arrays to rank 0
(labels, out-of-fold scores: the threshold and the metrics need every row). Rank 0 is the hub: the others connect to
its host on its LightGBM port + 1. Every wait is bounded by the run's deadline; a peer gone fails it in one line.

The watchdog is the process-level deadline: LightGBM's own `time_out` is in minutes and a peer of a rank that died was
seen to wait on, inside a C call no Python signal reaches. When the rank makes no progress for `stall_seconds` while
it waits on its peers, or on its store while it reads its training rows, the watchdog logs one line and ends the
process (the rank publishes nothing before it ends).
"""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from loguru import logger

from trainer.cli import EXIT_FAILED
from trainer.errors import PipelineError
from trainer.train.ranks import Ranks

HEADER = struct.Struct("!Q")
T = TypeVar("T")


class Coordinator:
    """Rank 0 accepts one connection from every other rank; the others connect to it (retrying until the deadline)."""

    def __init__(self, ranks: Ranks, stall_seconds: float) -> None:
        self.ranks, self.timeout = ranks, stall_seconds
        self._peers: list[socket.socket] = []
        if ranks.size < 2:
            return
        if ranks.rank == 0:
            self._accept_all()
        else:
            self._peers = [self._connect()]

    def _accept_all(self) -> None:
        host, port = self.ranks.coordinator
        with socket.create_server(("", port), reuse_port=False) as server:
            server.settimeout(self.timeout)
            joined: dict[int, socket.socket] = {}
            while len(joined) < self.ranks.size - 1:
                try:
                    peer, _ = server.accept()
                except TimeoutError:
                    missing = sorted(set(range(1, self.ranks.size)) - set(joined))
                    raise PipelineError(f"rank(s) {missing} did not join rank 0 at {host}:{port} within {self.timeout:.0f} s") from None
                peer.settimeout(self.timeout)
                joined[int(self._receive_from(peer, "a joining rank")[0])] = peer
        self._peers = [joined[rank] for rank in range(1, self.ranks.size)]

    def _connect(self) -> socket.socket:
        host, port = self.ranks.coordinator
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                peer = socket.create_connection((host, port), timeout=self.timeout)
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise PipelineError(f"rank {self.ranks.rank} cannot reach rank 0 at {host}:{port}: {error}") from None
                time.sleep(0.2)
        peer.settimeout(self.timeout)
        self._send(peer, np.array([self.ranks.rank], dtype=np.float64), "rank 0")
        return peer

    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of `values` over every rank, on every rank."""
        values = np.asarray(values, dtype=np.float64)
        if self.ranks.rank == 0:
            total = values.copy()
            for rank, peer in enumerate(self._peers, start=1):
                total += self._receive_from(peer, f"rank {rank}")
            for rank, peer in enumerate(self._peers, start=1):
                self._send(peer, total, f"rank {rank}")
            return total
        if not self._peers:
            return values
        self._send(self._peers[0], values, "rank 0")
        return self._receive_from(self._peers[0], "rank 0")

    def gather(self, arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]] | None:
        """Every rank's `arrays`, in rank order, on rank 0 (None on the others)."""
        if self.ranks.rank != 0:
            if self._peers:
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                self._send_bytes(self._peers[0], buffer.getvalue(), "rank 0")
            return None
        gathered = [arrays]
        for rank, peer in enumerate(self._peers, start=1):
            with np.load(io.BytesIO(self._receive_bytes(peer, f"rank {rank}"))) as loaded:
                gathered.append({name: loaded[name] for name in loaded.files})
        return gathered

    def close(self) -> None:
        for peer in self._peers:
            peer.close()
        self._peers = []

    def _send(self, peer: socket.socket, values: np.ndarray, who: str) -> None:
        self._send_bytes(peer, values.astype(np.float64).tobytes(), who)

    def _receive_from(self, peer: socket.socket, who: str) -> np.ndarray:
        return np.frombuffer(self._receive_bytes(peer, who), dtype=np.float64)

    def _send_bytes(self, peer: socket.socket, payload: bytes, who: str) -> None:
        try:
            peer.sendall(HEADER.pack(len(payload)) + payload)
        except OSError as error:
            raise PipelineError(f"rank {self.ranks.rank} lost {who}: {error}") from None

    def _receive_bytes(self, peer: socket.socket, who: str) -> bytes:
        size = HEADER.unpack(self._read(peer, HEADER.size, who))[0]
        return self._read(peer, size, who)

    def _read(self, peer: socket.socket, size: int, who: str) -> bytes:
        chunks, left = [], size
        while left:
            try:
                chunk = peer.recv(min(left, 1 << 20))
            except OSError as error:  # a timeout included: the peer is alive but does not answer
                raise PipelineError(f"rank {self.ranks.rank} lost {who}: {error or 'no answer'}") from None
            if not chunk:
                raise PipelineError(f"rank {self.ranks.rank} lost {who}: the connection closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


class Watchdog:
    """Ends this process in one line when it waits on its peers for longer than `stall_seconds` without progress."""

    def __init__(self, rank: int, stall_seconds: float, on_expiry: Callable[[], None] = lambda: None) -> None:
        self.rank, self.stall_seconds, self._on_expiry = rank, stall_seconds, on_expiry
        self._waiting: str | None = None
        self._cause = ""
        self._last = time.monotonic()
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="rank-watchdog", daemon=True).start()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    @contextmanager
    def waiting(self, what: str, cause: str = "a peer died or cannot be reached") -> Iterator[None]:
        """Within: the rank waits on its peers (training, exchanging) or its store, for `cause` if it stalls; each `beat`
        is progress."""
        with self._lock:
            self._waiting, self._cause, self._last = what, cause, time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._waiting = None

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.stall_seconds / 4))
            with self._lock:
                stalled = self._waiting is not None and time.monotonic() - self._last > self.stall_seconds
                what, cause = self._waiting, self._cause
            if stalled:
                logger.bind(rank=self.rank).error(
                    f"rank {self.rank} made no progress in {what} for {self.stall_seconds:.0f} s: {cause}; nothing was published"
                )
                self._on_expiry()
                os._exit(EXIT_FAILED)


def beating(items: Iterator[T], watchdog: Watchdog) -> Iterator[T]:
    """`items`, each a `beat` of `watchdog` as it arrives (a stream of training rows read under `waiting`)."""
    for item in items:
        watchdog.beat()
        yield item

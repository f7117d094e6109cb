"""Who the ranks of a data-parallel training run are, which training rows each reads, and the LightGBM parameters
that join them (its own network code: `tree_learner=data`). Pure functions: no socket, no store."""

from __future__ import annotations

import ctypes
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from trainer.errors import PipelineError
from trainer.model_types import ModelSpec
from trainer.store.connection import SqlName

# A ranker's hessians grow after the first round: once scores differ LightGBM divides each pair's delta NDCG by 0.01 +
# their distance. Its leaves are bounded at this many times the first round's mean hessian, so that a leaf within the
# bound holds rows by either count (benchmarks/README.md, issue 33: what smaller factors gave).
LAMBDARANK_HESSIAN_GROWTH = 5.0
# LightGBM's own wait for its peers, in minutes (its smallest): our process-level deadline (`stall_seconds`) is the
# one that fails a run, since a peer of a rank that died was seen to wait on in LightGBM.
LIGHTGBM_TIME_OUT_MINUTES = 1
# Rank 0 listens on its LightGBM port plus this for the trainer's own coordination (early stopping, gathering).
COORDINATION_PORT_OFFSET = 1
# Row sampling draws rows per rank: with it a model would depend on how the rows were sharded, not on the rows alone.
# One thread per rank: LightGBM 4.7.0's data-parallel learner was seen to deadlock within the first rounds with
# feature_fraction below 1 and two threads per rank (two ranks on loopback; with one thread it did not).
RANK_PARAMS = {"bagging_fraction": 1.0, "bagging_freq": 0, "data_sample_strategy": "bagging", "num_threads": 1, "pre_partition": True}


@dataclass(frozen=True)
class Ranks:
    """The machines (host:port, in rank order) and which of them this process is."""

    machines: tuple[str, ...]
    rank: int

    @property
    def size(self) -> int:
        return len(self.machines)

    @property
    def listen_port(self) -> int:
        return port_of(self.machines[self.rank])

    @property
    def coordinator(self) -> tuple[str, int]:
        """Rank 0's host and coordination port."""
        host, port = self.machines[0].rsplit(":", 1)
        return host, int(port) + COORDINATION_PORT_OFFSET


def port_of(machine: str) -> int:
    return int(machine.rsplit(":", 1)[1])


def parse_machines(text: str, rank: int) -> Ranks:
    """`host:port,host:port,...` and this process's rank; fails in one line on a malformed list or rank."""
    machines = tuple(part.strip() for part in text.split(",") if part.strip())
    for machine in machines:
        host, _, port = machine.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65535:
            raise PipelineError(f"--machines takes host:port,host:port,...; {machine!r} is not host:port")
    if len(machines) < 2:
        raise PipelineError(f"--machines needs at least 2 machines, got {len(machines)}")
    if len(set(machines)) != len(machines):
        raise PipelineError(f"--machines names a machine twice: {text}")
    if not 0 <= rank < len(machines):
        raise PipelineError(f"--rank must be between 0 and {len(machines) - 1} for {len(machines)} machines, got {rank}")
    return Ranks(machines, rank)


def free_loopback_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, two apart (each rank's LightGBM port and, for rank 0, the coordination port)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                with socket.socket() as second:
                    second.bind(("127.0.0.1", port + COORDINATION_PORT_OFFSET))
            except OSError:
                continue
        if all(abs(port - taken) > COORDINATION_PORT_OFFSET for taken in ports):
            ports.append(port)
    return ports


def shard_expression(spec: ModelSpec) -> SqlName:
    """Each training row's rank (bound: `ranks`): by a hash of the address, so an address never straddles ranks; for a
    ranker by its processing date, the query group (trainer/evaluation/split.py `group_sizes`), so a group stays whole."""
    if spec.is_ranker:
        return SqlName("toRelativeDayNum(processing_date) % {ranks:UInt32}")
    return SqlName("cityHash64(address) % {ranks:UInt32}")


def shard_where(where: SqlName, spec: ModelSpec) -> SqlName:
    """`where`, restricted to one rank's rows (bound: `ranks`, `rank`)."""
    return SqlName(f"({where}) AND {shard_expression(spec)} = {{rank:UInt32}}")


def rank_params(params: dict[str, Any], spec: ModelSpec, first_round_hessian: float, rows: int) -> dict[str, Any]:
    """The training parameters of every rank: one process's, without row sampling, one thread, rows pre-partitioned,
    and leaves bounded by their hessian sum (`hessian_leaf_limit`). `first_round_hessian`: the training rows' hessian
    sum at the first round (`binary_first_round_hessian`, `lambdarank_first_round_hessian`)."""
    growth = LAMBDARANK_HESSIAN_GROWTH if spec.is_ranker else 1.0
    return {**params, **RANK_PARAMS, **hessian_leaf_limit(params["min_data_in_leaf"], growth * first_round_hessian / rows)}


def hessian_leaf_limit(min_rows: int, mean_hessian: float) -> dict[str, Any]:
    """The leaf limits under which LightGBM's data-parallel learner takes one process's splits.

    - Rows: the learner sums hessians across ranks exactly but estimates a leaf's rows from its hessian sum (the
      window's rows per unit of hessian), where one process counts them. So the bound is a hessian sum, that of
      `min_rows` rows at `mean_hessian`, and the row bound left is 1, which a leaf within the hessian bound passes by
      either count. Rounded, so hosts agree.
    - L2: one process skips in a leaf the features that gave its parent no split better than none; the data-parallel
      learner does not. Without L2 a split never scores below its leaf, so a feature the parent could not split on
      cannot split a child either, and the skip changes nothing.
    """
    return {"min_data_in_leaf": 1, "min_sum_hessian_in_leaf": float(f"{min_rows * mean_hessian:.6g}"), "lambda_l2": 0.0}


def binary_first_round_hessian(positives: int, rows: int) -> float:
    """A binary model's hessian sum at the first round: it starts at the positive rate, each row's hessian
    rate * (1 - rate) (label weights left out: the bound is a scale, which every rank computes alike)."""
    rate = positives / rows
    return rows * rate * (1.0 - rate)


def lambdarank_first_round_hessian(grade: np.ndarray, group_sizes: np.ndarray, truncation: int = 30) -> float:
    """LightGBM's lambdarank hessian sum at the first round, over query groups of rows in order (its defaults: label
    gain 2^grade - 1, sigmoid 1, truncation level 30, normalisation on). Every score is 0 then, so a group keeps its row
    order; each pair of unequal grades with its first row among the first `truncation` adds delta = |gain difference|
    x |discount difference| / the group's ideal DCG, and the group's hessians sum to log2(1 + sum of deltas) / 2."""
    gains = np.exp2(grade.astype(np.float64)) - 1.0
    total, start = 0.0, 0
    for size in group_sizes:
        gain, start = gains[start : start + size], start + size
        discount = 1.0 / np.log2(np.arange(size) + 2.0)
        kept = min(truncation, size)
        ideal = float((np.sort(gain)[::-1][:kept] * discount[:kept]).sum())
        heads = min(truncation, size - 1)
        if ideal <= 0.0 or heads <= 0:
            continue
        deltas = 0.0
        for value in np.unique(gain):
            alike = gain == value
            count_after = np.cumsum(alike[::-1])[::-1][1 : heads + 1]  # rows of this gain after each head row
            discount_after = np.cumsum((alike * discount)[::-1])[::-1][1 : heads + 1]
            deltas += float((np.abs(gain[:heads] - value) * (discount[:heads] * count_after - discount_after)).sum())
        total += 0.5 * np.log2(1.0 + deltas / ideal)
    return total


def network_params(params: dict[str, Any], ranks: Ranks) -> dict[str, Any]:
    """`params` for a data-parallel `lgb.train` call of this rank, inside `lightgbm_network` (no `machines`: given
    them, every call would join the network again and bind the ports again, which failed within five folds)."""
    return {**params, "tree_learner": "data", "num_machines": ranks.size}


@contextmanager
def lightgbm_network(ranks: Ranks) -> Iterator[None]:
    """LightGBM's network of the ranks, joined once for every `lgb.train` of this rank (LightGBM's C API: its Python
    package joins per Booster only)."""
    lgb.basic._safe_call(
        lgb.basic._LIB.LGBM_NetworkInit(
            lgb.basic._c_str(",".join(ranks.machines)), ctypes.c_int(ranks.listen_port), ctypes.c_int(LIGHTGBM_TIME_OUT_MINUTES),
            ctypes.c_int(ranks.size),
        )
    )  # fmt: skip
    try:
        yield
    finally:
        lgb.basic._safe_call(lgb.basic._LIB.LGBM_NetworkFree())


def fold_of(entity: np.ndarray, folds: int) -> np.ndarray:
    """Each row's cross-validation fold from its address hash (the high half: the shard used the whole hash), the same
    on every rank, so an address is in one fold whichever rank holds it."""
    return ((entity.astype(np.uint64) >> np.uint64(32)) % np.uint64(folds)).astype(np.int64)

"""`--workers N`: N local ranks of a data-parallel run, started and watched by the process that holds the store.

The embedded engine allows one process per store directory, so the ranks do not open it: this process writes the
reference sample and each rank's shard (one query each, `ranks.shard_where`) to Arrow IPC files in a temporary
directory, streaming batch by batch, and each rank streams its file into LightGBM's bins (trainer/train/rank.py). The
same hand-off serves a server target. The ranks join on loopback ports; rank 0 writes the model and the gathered
arrays beside the files, and this process, which already read the test part, evaluates and publishes them. A rank that
ends with an error or a signal ends the others at once and fails the run in one line; the temporary directory is
removed whatever happens, and nothing is published unless every rank finished.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.evaluation.extract import rows_query, training_data
from trainer.model_types import ModelSpec
from trainer.store.arrow import write_ipc_file
from trainer.store.connection import SqlName
from trainer.train import lockstep, modeling
from trainer.train.dataset import sample_query, sample_size
from trainer.train.rank import LocalPlan, arrays_file, model_file, sample_file, shard_file
from trainer.train.ranks import free_loopback_ports, shard_where

POLL_SECONDS = 0.2
# The ranks' own lines this process repeats: each rank's time and peak memory, and rank 0's check of the ranks' models.
RELAYED = ("rank's training rows binned", "rank finished training", "every rank holds the same model")


@dataclass
class Shards:
    directory: Path
    rows: list[int]
    sample_rows: int


def write_shards(
    client: Client, table: SqlName, spec: ModelSpec, names: list[str], where: SqlName, parameters: dict[str, Any], rows: int,
    workers: int, directory: Path,
) -> Shards:  # fmt: skip
    """The reference sample and each rank's training rows, one query each, as Arrow IPC files in `directory`."""
    sample_rows = write_ipc_file(
        client, sample_query(table, spec, names, where), {**parameters, "sample_rows": sample_size(rows)}, sample_file(directory)
    )
    sharded = shard_where(where, spec)
    shard_rows = [
        write_ipc_file(
            client, rows_query(table, spec, names, sharded), {**parameters, "ranks": workers, "rank": rank}, shard_file(directory, rank)
        )
        for rank in range(workers)
    ]
    if sum(shard_rows) != rows:
        raise PipelineError(f"{table} changed while it was read; run again")
    logger.bind(ranks=workers, rows_per_rank=shard_rows, sample_rows=sample_rows).info("training rows sharded for the local ranks")
    return Shards(directory, shard_rows, sample_rows)


def run_local_ranks(plan: LocalPlan, directory: Path, workers: int) -> lockstep.RankFit:
    """Start `workers` ranks on `plan`, wait for every one, and return rank 0's result; any rank failing fails the run."""
    plan_path = plan.write(directory)
    logs = [directory / f"rank-{rank}.log" for rank in range(workers)]
    processes: list[subprocess.Popen] = []
    try:
        for rank in range(workers):
            with logs[rank].open("w") as log:
                processes.append(
                    subprocess.Popen([sys.executable, "-m", "trainer.train.rank", str(plan_path), str(rank)], stdout=log, stderr=log)
                )
        _wait(processes, logs)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for rank in range(workers):
        _relay(logs[rank])
    return read_result(directory, plan.names)


def _wait(processes: list[subprocess.Popen], logs: list[Path]) -> None:
    """Until every rank has finished; the first to fail fails the run (the caller ends the others)."""
    while True:
        codes = [process.poll() for process in processes]
        failed = [(rank, code, _failure(code, logs[rank])) for rank, code in enumerate(codes) if code is not None and code != 0]
        if failed:
            # A rank whose peer is gone ends too, often within one poll of it: of the ranks found failed together,
            # name one that did not end that way, the cause rather than its echo.
            rank, _, reason = min(failed, key=lambda failure: _lost_a_peer(*failure[1:]))
            published = "" if reason.endswith("nothing was published") else "; nothing was published"
            raise PipelineError(f"rank {rank} of {len(processes)} failed: {reason}{published}")
        if all(code == 0 for code in codes):
            return
        time.sleep(POLL_SECONDS)


def _failure(code: int, log: Path) -> str:
    """Why a rank ended: the signal that ended it, else the last error line it logged."""
    if code < 0:
        return f"ended by {signal.Signals(-code).name}"
    errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line or "Error" in line]
    return errors[-1].split("ERROR", 1)[-1].strip() if errors else f"exit status {code}"


def _lost_a_peer(code: int, reason: str) -> bool:
    """Whether a rank ended the way LightGBM ends one whose peer is gone: an abort, or a socket error raised."""
    return code == -signal.SIGABRT or "Socket" in reason


def _relay(log: Path) -> None:
    """A rank's own lines about its time and memory, in this process's log."""
    for line in log.read_text(errors="replace").splitlines():
        if any(message in line for message in RELAYED):
            logger.info(line.split(" ", 2)[-1].strip())


def read_result(directory: Path, names: list[str]) -> lockstep.RankFit:
    if not model_file(directory).exists():
        raise PipelineError("rank 0 finished without writing its model; nothing was published")
    booster = lgb.Booster(model_str=model_file(directory).read_text())
    with np.load(arrays_file(directory)) as arrays:
        train = training_data(dict(arrays), names)
        cv = modeling.CrossValidation(
            fold_scores=arrays["fold_scores"].tolist(), fold_aucs=arrays["fold_aucs"].tolist(),
            best_iterations=arrays["best_iterations"].astype(int).tolist(), out_of_fold=arrays["out_of_fold"],
        )  # fmt: skip
    return lockstep.RankFit(booster, cv, train)


def train_locally(
    client: Client, table: SqlName, spec: ModelSpec, names: list[str], where: SqlName, parameters: dict[str, Any], rows: int,
    params: dict[str, Any], workers: int, stall_seconds: float, what: str,
) -> lockstep.RankFit:  # fmt: skip
    """Shard the training rows to files, train on `workers` local ranks, and return rank 0's result."""
    directory = Path(tempfile.mkdtemp(prefix="aml-ranks-"))
    try:
        shards = write_shards(client, table, spec, names, where, parameters, rows, workers, directory)
        machines = [f"127.0.0.1:{port}" for port in free_loopback_ports(workers)]
        plan = LocalPlan(spec.name, names, params, machines, shards.rows, shards.sample_rows, rows, stall_seconds, what)
        return run_local_ranks(plan, directory, workers)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

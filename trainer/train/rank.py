"""One rank of a data-parallel training run: bin its shard against the reference bins every rank builds from the same
sample, join the other ranks, then cross-validate and fit in lockstep (trainer/train/lockstep.py).

`train_rank` is the same code for a rank on another host (`python -m trainer --machines ... --rank i`, reading ClickHouse
itself) and for a local rank of `--workers N`. A local rank runs as `python -m trainer.train.rank PLAN RANK`: it reads
its shard and the sample from the Arrow IPC files the launcher wrote (trainer/train/launch.py: the embedded store
allows one process), and rank 0 writes the model and its gathered arrays beside them for the launcher to publish.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from trainer.cli import run_cli
from trainer.errors import PipelineError
from trainer.model_types import ModelSpec, model_spec
from trainer.store.arrow import ipc_batches
from trainer.train import lockstep
from trainer.train.coordination import Coordinator, Watchdog, beating
from trainer.train.dataset import bin_batches, features_of, reference_dataset
from trainer.train.ranks import Ranks, lightgbm_network
from trainer.train.timing import own_peak_rss_mb

BatchSource = Callable[[], AbstractContextManager]  # opens the rank's record batches


def train_rank(
    ranks: Ranks,
    spec: ModelSpec,
    names: list[str],
    params: dict[str, Any],
    total_rows: int,
    stall_seconds: float,
    sample: Callable[[], np.ndarray],
    shard: BatchSource,
    shard_rows: int,
    what: str,
) -> lockstep.RankFit | None:
    """Train this rank's part; rank 0 gets what it publishes, the others None."""
    started = time.perf_counter()
    log = logger.bind(rank=ranks.rank, ranks=ranks.size, model_type=spec.name)
    if shard_rows == 0:
        raise PipelineError(f"rank {ranks.rank} of {ranks.size} holds no training rows of {what}: use fewer ranks")
    reference = reference_dataset(sample(), names, params)
    watchdog = Watchdog(ranks.rank, stall_seconds)
    # A store that stops sending rows (a hung server, a lost replica) ends this rank too, not only its peers' wait.
    with watchdog.waiting("reading its training rows", cause="its store sent no rows"), shard() as batches:
        rows = beating(iter(batches), watchdog)
        train, binned = bin_batches(rows, shard_rows, spec, names, reference, params, f"rank {ranks.rank}'s rows of {what}")
    log.bind(rows=shard_rows, seconds=round(time.perf_counter() - started, 1), peak_rss_mb=own_peak_rss_mb()).info(
        "rank's training rows binned"
    )
    with watchdog.waiting("joining the other ranks"):
        coordinator = Coordinator(ranks, stall_seconds)
    try:
        with watchdog.waiting("joining LightGBM's network"), lightgbm_network(ranks):
            fitted = lockstep.fit(train, binned, spec, params, ranks, coordinator, watchdog, total_rows)
    finally:
        coordinator.close()
    log.bind(rows=shard_rows, seconds=round(time.perf_counter() - started, 1), peak_rss_mb=own_peak_rss_mb()).info("rank finished training")
    return fitted


@dataclass
class LocalPlan:
    """What the launcher hands its local ranks (as JSON in their working directory)."""

    model_type: str
    names: list[str]
    params: dict[str, Any]
    machines: list[str]
    shard_rows: list[int]
    sample_rows: int
    total_rows: int
    stall_seconds: float
    what: str

    def write(self, directory: Path) -> Path:
        path = directory / "plan.json"
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> LocalPlan:
        return cls(**json.loads(path.read_text()))


def sample_file(directory: Path) -> Path:
    return directory / "sample.arrow"


def shard_file(directory: Path, rank: int) -> Path:
    return directory / f"shard-{rank}.arrow"


def model_file(directory: Path) -> Path:
    return directory / "model.txt"


def arrays_file(directory: Path) -> Path:
    return directory / "gathered.npz"


def write_result(directory: Path, fitted: lockstep.RankFit) -> None:
    """Rank 0's model and gathered arrays, for the launcher; the model file last, so its presence means complete."""
    train, cv = fitted.train, fitted.cv
    np.savez(
        arrays_file(directory), **lockstep.gathered_arrays(train), out_of_fold=cv.out_of_fold, fold_aucs=np.array(cv.fold_aucs),
        fold_scores=np.array(cv.fold_scores), best_iterations=np.array(cv.best_iterations),
    )  # fmt: skip
    model_file(directory).with_suffix(".part").write_text(fitted.booster.model_to_string())
    model_file(directory).with_suffix(".part").rename(model_file(directory))


def run_local_rank(plan_path: Path, rank: int) -> None:
    directory = plan_path.parent
    plan = LocalPlan.read(plan_path)
    spec = model_spec(plan.model_type)

    def sample() -> np.ndarray:
        with ipc_batches(sample_file(directory)) as batches:
            return features_of(iter(batches), plan.sample_rows, len(plan.names), f"the sample of {plan.what}")

    fitted = train_rank(
        Ranks(tuple(plan.machines), rank), spec, plan.names, plan.params, plan.total_rows, plan.stall_seconds, sample,
        lambda: ipc_batches(shard_file(directory, rank)), plan.shard_rows[rank], plan.what,
    )  # fmt: skip
    if fitted is not None:
        write_result(directory, fitted)


def main() -> None:
    if len(sys.argv) != 3:
        raise PipelineError("usage: python -m trainer.train.rank PLAN_FILE RANK (started by python -m trainer --workers N)")
    run_local_rank(Path(sys.argv[1]), int(sys.argv[2]))


if __name__ == "__main__":
    run_cli(main)

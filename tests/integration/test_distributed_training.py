"""Data-parallel training (`--workers 2`) on the built ethereum window: two local ranks on loopback ports, LightGBM's
data-parallel learner, rank 0's model published alone; a rank that dies or finds no peer fails the run in one line.

LightGBM's data-parallel learner estimates a leaf's row count from its hessian sum where one process counts rows (README:
"Training on several machines"). Ranks bound their leaves by hessian sums instead, so two ranks train one process's
model on the same parameters, for the scorer and for the ranker."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pytest
from loguru import logger

from trainer.errors import PipelineError
from trainer.evaluation.extract import LEADING, extract_rows, window_parameters
from trainer.evaluation.metrics import window_metrics
from trainer.evaluation.split import plan_holdout
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.registry import table as registry
from trainer.store.connection import qualified_name
from trainer.store.settings import load_store_settings
from trainer.train import dataset, modeling
from trainer.train.coordination import Coordinator
from trainer.train.pipeline import TrainRequest, train_model
from trainer.train.rank import LocalPlan, sample_file, shard_file
from trainer.train.ranks import Ranks, free_loopback_ports

STALL_SECONDS = 20.0
# NDCG@10 of the ranker's two-rank model against one process's with its own row limit, on the same rows and bins.
QUALITY_TOLERANCE = 0.03


def registry_rows(client, model_type: str) -> list[dict]:
    return registry.list_models(client, load_store_settings().registry_database, model_type=model_type, network="ethereum")


@pytest.fixture(scope="module")
def two_ranks(ethereum, client, tmp_path_factory) -> dict:
    """Each model type trained on two local ranks, with the log lines the run wrote."""
    trained = {}
    for model_type in ("alert_scorer", "alert_ranker"):
        lines: list[str] = []
        sink = logger.add(lines.append, level="INFO", format="{message}")
        before = {row["model_id"] for row in registry_rows(client, model_type)}
        output_dir = tmp_path_factory.mktemp(f"ranks-{model_type}")
        started = time.perf_counter()
        try:
            outcome = train_model(
                TrainRequest(model_type, network="ethereum", output_dir=output_dir, force=True, workers=2, stall_seconds=STALL_SECONDS),
                client=client,
            )
        finally:
            logger.remove(sink)
        added = [row for row in registry_rows(client, model_type) if row["model_id"] not in before]
        trained[model_type] = {"outcome": outcome, "lines": lines, "added": added, "output_dir": output_dir,
                               "seconds": time.perf_counter() - started}  # fmt: skip
    return trained


def one_process(client, model_type: str, params: dict, rounds: int) -> tuple[lgb.Booster, object]:
    """One process's model on the same training rows, bins and parameters (no network), and the test rows."""
    spec = model_spec(model_type)
    contract = load_contract(spec, client, "ethereum")
    table = qualified_name("ethereum", contract.table)
    first, last = client.query(f"SELECT min(processing_date), max(processing_date) FROM {table}").result_rows[0]
    holdout = plan_holdout(client, table, window_parameters("ethereum", first, last), 0.2, 20, "ethereum")
    binned = dataset.bin_training(
        client, "ethereum", spec, contract.names, contract.table, holdout.where("train", table), holdout.parameters,
        holdout.train.rows, params,
    )  # fmt: skip
    test = extract_rows(client, "ethereum", spec, contract, holdout.where("test", table), holdout.parameters, holdout.test.rows)
    return modeling.fit(binned.dataset, params, rounds), test


def ndcg_at_10(model_type: str, booster: lgb.Booster, test) -> float:
    score = booster.predict(test.features)
    return float(window_metrics(model_spec(model_type), test.label, test.grade, score, test.processing_date, None, None)["test_ndcg_at_10"])


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker"])
def test_two_ranks_train_one_model_that_rank_zero_alone_publishes(two_ranks, client, model_type: str) -> None:
    run = two_ranks[model_type]
    outcome, metadata = run["outcome"], run["outcome"].metadata
    # Every rank ended with the same model (rank 0 compared the ranks' digests), the published one.
    published = outcome.model_path.read_text()
    agreed = [line for line in run["lines"] if "every rank holds the same model" in line]
    assert len(agreed) == 1, run["lines"]
    assert hashlib.sha256(published.encode()).hexdigest()[:16] in agreed[0]
    # Rank 0 alone published: one registry row, one model's files.
    assert [row["model_id"] for row in run["added"]] == [outcome.model_id]
    assert sorted(path.suffix for path in run["output_dir"].iterdir()) == [".json", ".md", ".png", ".txt"]
    assert {path.stem for path in run["output_dir"].iterdir()} == {outcome.model_path.stem}
    # The model says how it was trained; each rank's time and memory are in the log.
    hyper = metadata.hyperparameters
    assert (hyper["tree_learner"], hyper["num_machines"]) == ("data", 2)
    assert "--workers 2" in metadata.command
    assert sum("rank finished training" in line for line in run["lines"]) == 2

    params = {
        name: value
        for name, value in hyper.items()
        if name not in ("tree_learner", "num_machines", "reference_sample_rows", "num_boost_round")
    }
    single, test = one_process(client, model_type, params, hyper["num_boost_round"])
    ranked = lgb.Booster(model_str=published)
    # Leaves bounded by hessian sums, without L2 (ranks.hessian_leaf_limit): one process's model.
    assert (hyper["min_data_in_leaf"], hyper["lambda_l2"]) == (1, 0.0)
    assert hyper["min_sum_hessian_in_leaf"] > 0
    assert ranked.num_trees() == single.num_trees() == hyper["num_boost_round"]
    difference = np.abs(ranked.predict(test.features, raw_score=True) - single.predict(test.features, raw_score=True))
    assert difference.max() <= 1e-9, difference.max()
    print(f"{model_type}: two ranks against one process, largest raw score difference {difference.max():.3g}")
    if model_type == "alert_ranker":
        # The ranks' leaf limits against one process's own (min_data_in_leaf 20, L2 1): as good on the test rows.
        own = {**params, **{name: modeling.base_params(model_spec(model_type), 42)[name] for name in ("min_data_in_leaf", "lambda_l2")}}
        own.pop("min_sum_hessian_in_leaf")
        limited, _ = one_process(client, model_type, own, hyper["num_boost_round"])
        two, one = ndcg_at_10(model_type, ranked, test), ndcg_at_10(model_type, limited, test)
        assert abs(two - one) <= QUALITY_TOLERANCE, (two, one)
        print(f"{model_type}: NDCG@10 two ranks {two:.4f}, one process with its row limit {one:.4f}, run {run['seconds']:.1f} s")


def rank_children() -> dict[int, int]:
    """This process's running local ranks: rank -> pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if parent == os.getpid() and b"trainer.train.rank" in arguments:
            found[int(arguments[-2])] = int(entry.name)
    return found


def test_a_rank_that_dies_fails_the_run_in_one_line_with_nothing_published(ethereum, client, tmp_path: Path) -> None:
    before = registry_rows(client, "alert_scorer")
    output_dir = tmp_path / "models"
    request = TrainRequest("alert_scorer", network="ethereum", output_dir=output_dir, force=True, workers=2, stall_seconds=STALL_SECONDS)
    failure: list[BaseException] = []

    def train() -> None:
        try:
            train_model(request, client=client)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            failure.append(error)

    runner = threading.Thread(target=train)
    runner.start()
    deadline = time.monotonic() + 60
    while 1 not in rank_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)  # the ranks are binning or joining: rank 1 dies mid-run
    os.kill(rank_children()[1], signal.SIGKILL)
    killed = time.monotonic()
    runner.join(timeout=STALL_SECONDS + 30)
    assert not runner.is_alive()
    assert time.monotonic() - killed < STALL_SECONDS
    assert len(failure) == 1 and isinstance(failure[0], PipelineError), failure
    message = str(failure[0])
    assert "\n" not in message and "rank 1 of 2 failed: ended by SIGKILL; nothing was published" == message
    assert rank_children() == {}
    assert registry_rows(client, "alert_scorer") == before
    assert not output_dir.exists() or not any(output_dir.iterdir())


def test_a_rank_whose_peer_never_comes_fails_in_one_line_within_its_deadline(tmp_path: Path) -> None:
    """Rank 0 of two, alone: nothing listens on its peer's port. It fails in one line within its deadline."""
    names, rows = ["f0", "f1"], 200
    rng = np.random.default_rng(0)
    columns = {
        "processing_date": pa.array(np.repeat(np.datetime64("2024-01-01", "D"), rows)),
        "entity": pa.array(rng.integers(0, 2**63, rows, dtype=np.uint64)),
        "label": pa.array(rng.integers(0, 2, rows, dtype=np.uint8)), "weight": pa.array(np.ones(rows, dtype=np.float32)),
        "grade": pa.array(np.zeros(rows, dtype=np.uint8)),
        **{name: pa.array(rng.normal(size=rows).astype(np.float32)) for name in names},
    }  # fmt: skip
    assert list(columns)[: len(LEADING)] == LEADING
    batch = pa.RecordBatch.from_pydict(columns)
    for path in (sample_file(tmp_path), shard_file(tmp_path, 0)):
        with pa.ipc.new_file(str(path), batch.schema) as writer:
            writer.write_batch(batch)
    params = modeling.training_params(model_spec("alert_scorer"), 42, rows, tuned=False)
    machines = [f"127.0.0.1:{port}" for port in free_loopback_ports(2)]
    plan = LocalPlan("alert_scorer", names, params, machines, [rows, rows], rows, 2 * rows, 5.0, "synthetic rows").write(tmp_path)
    started = time.monotonic()
    finished = subprocess.run([sys.executable, "-m", "trainer.train.rank", str(plan), "0"], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2, finished.stderr
    assert time.monotonic() - started < 5.0 + 15
    errors = [line for line in finished.stderr.splitlines() if "ERROR" in line]
    # The coordinator's wait for its peer and the watchdog share the deadline: either one says it, in one line.
    assert len(errors) == 1, finished.stderr
    assert "rank(s) [1] did not join rank 0" in errors[0] or "rank 0 made no progress in joining the other ranks" in errors[0]
    assert not (tmp_path / "model.txt").exists()


def test_the_ranks_sum_every_round_and_rank_zero_gathers_in_rank_order() -> None:
    """Rank 0's hub (trainer/train/coordination.py) with three ranks on loopback, each in a thread of this process."""
    machines = tuple(f"127.0.0.1:{port}" for port in free_loopback_ports(3))
    results: dict[int, tuple] = {}

    def rank(index: int) -> None:
        coordinator = Coordinator(Ranks(machines, index), STALL_SECONDS)
        try:
            total = coordinator.allreduce_sum(np.array([index + 1.0, 10.0 * index]))
            gathered = coordinator.gather({"rows": np.full(index + 1, index, dtype=np.int64)})
            results[index] = (total, gathered)
        finally:
            coordinator.close()

    threads = [threading.Thread(target=rank, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1, 2]
    for index in range(3):
        assert results[index][0].tolist() == [6.0, 30.0]
    assert [part["rows"].tolist() for part in results[0][1]] == [[0], [1, 1], [2, 2, 2]]
    assert results[1][1] is None and results[2][1] is None

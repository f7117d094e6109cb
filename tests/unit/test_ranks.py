"""The data-parallel run's pure parts (trainer/train/ranks.py): the machines list, the shards, the folds, the parameters."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.errors import PipelineError
from trainer.model_types import model_spec
from trainer.train import modeling
from trainer.train.ranks import fold_of, network_params, parse_machines, rank_params, shard_expression, shard_where


def test_machines_parse_in_rank_order_with_this_process_rank() -> None:
    ranks = parse_machines("10.0.0.1:12400, 10.0.0.2:12400,", 1)
    assert ranks.machines == ("10.0.0.1:12400", "10.0.0.2:12400") and ranks.size == 2
    assert ranks.listen_port == 12400
    assert ranks.coordinator == ("10.0.0.1", 12401)


@pytest.mark.parametrize(
    ("text", "rank", "message"),
    [
        ("10.0.0.1:12400", 0, "at least 2 machines"),
        ("10.0.0.1:12400,10.0.0.2", 0, "is not host:port"),
        ("10.0.0.1:12400,:12400", 0, "is not host:port"),
        ("10.0.0.1:12400,10.0.0.2:70000", 0, "is not host:port"),
        ("10.0.0.1:12400,10.0.0.1:12400", 0, "names a machine twice"),
        ("10.0.0.1:12400,10.0.0.2:12400", 2, "--rank must be between 0 and 1"),
        ("10.0.0.1:12400,10.0.0.2:12400", -1, "--rank must be between 0 and 1"),
    ],
)
def test_malformed_machines_or_rank_fail_in_one_line(text: str, rank: int, message: str) -> None:
    with pytest.raises(PipelineError, match=message.replace("(", r"\(")):
        parse_machines(text, rank)


def test_a_scorer_shards_by_address_and_a_ranker_by_its_query_group() -> None:
    assert "address" in shard_expression(model_spec("alert_scorer"))
    ranker = shard_expression(model_spec("alert_ranker"))
    assert "processing_date" in ranker and "address" not in ranker
    where = shard_where("label = 1", model_spec("alert_scorer"))
    assert where.startswith("(label = 1) AND ") and where.endswith("= {rank:UInt32}")


def test_folds_are_a_function_of_the_address_hash_independent_of_the_shard() -> None:
    entity = np.random.default_rng(0).integers(0, 2**63, 20_000, dtype=np.uint64)
    folds = fold_of(entity, 4)
    assert np.array_equal(folds, fold_of(entity.copy(), 4)) and set(folds.tolist()) == set(range(4))
    # Every fold holds rows of every shard (the shard is the hash modulo the ranks, the fold its high half's): with the
    # same bits, 4 folds over 2 shards would leave each shard two folds.
    for shard in range(2):
        assert set(folds[entity % np.uint64(2) == shard].tolist()) == set(range(4))


def test_ranks_train_without_row_sampling_on_one_thread_and_join_as_data_parallel() -> None:
    ranks = parse_machines("127.0.0.1:1000,127.0.0.1:1002", 0)
    params = rank_params(modeling.base_params(model_spec("alert_scorer"), 42), model_spec("alert_scorer"), 250, 1_000)
    assert (params["bagging_fraction"], params["bagging_freq"], params["num_threads"], params["pre_partition"]) == (1.0, 0, 1, True)
    assert params["feature_fraction"] == modeling.base_params(model_spec("alert_scorer"), 42)["feature_fraction"]
    joined = network_params(params, ranks)
    assert (joined["tree_learner"], joined["num_machines"]) == ("data", 2) and "machines" not in joined


@pytest.mark.parametrize(("positives", "rows"), [(250, 1_000), (3, 1_000_000), (999_999, 1_000_000)])
def test_a_binary_rank_bounds_its_leaves_by_the_hessian_of_min_data_in_leaf_rows_at_the_positive_rate(positives: int, rows: int) -> None:
    spec = model_spec("alert_scorer")
    one_process = modeling.base_params(spec, 42)
    params = rank_params(one_process, spec, positives, rows)
    rate = positives / rows
    # At the first round every row of full weight has the hessian rate * (1 - rate): the bound is that many rows.
    assert (params["min_data_in_leaf"], params["lambda_l2"]) == (1, 0.0)
    assert params["min_sum_hessian_in_leaf"] / (rate * (1 - rate)) == pytest.approx(one_process["min_data_in_leaf"], rel=1e-5)


def test_a_ranking_rank_keeps_its_row_limit() -> None:
    spec = model_spec("alert_ranker")
    one_process = modeling.base_params(spec, 42)
    params = rank_params(one_process, spec, 250, 1_000)
    assert params["min_data_in_leaf"] == one_process["min_data_in_leaf"] and "min_sum_hessian_in_leaf" not in params
    assert params["lambda_l2"] == one_process["lambda_l2"]

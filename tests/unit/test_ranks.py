"""The data-parallel run's pure parts (trainer/train/ranks.py): the machines list, the shards, the folds, the parameters."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from trainer.errors import PipelineError
from trainer.model_types import model_spec
from trainer.train import modeling
from trainer.train.ranks import (
    LAMBDARANK_HESSIAN_GROWTH,
    binary_first_round_hessian,
    fold_of,
    lambdarank_first_round_hessian,
    network_params,
    parse_machines,
    rank_params,
    shard_expression,
    shard_where,
)


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
    params = rank_params(modeling.base_params(model_spec("alert_scorer"), 42), model_spec("alert_scorer"), 187.5, 1_000)
    assert (params["bagging_fraction"], params["bagging_freq"], params["num_threads"], params["pre_partition"]) == (1.0, 0, 1, True)
    assert params["feature_fraction"] == modeling.base_params(model_spec("alert_scorer"), 42)["feature_fraction"]
    joined = network_params(params, ranks)
    assert (joined["tree_learner"], joined["num_machines"]) == ("data", 2) and "machines" not in joined


@pytest.mark.parametrize(("positives", "rows"), [(250, 1_000), (3, 1_000_000), (999_999, 1_000_000)])
def test_a_binary_rank_bounds_its_leaves_by_the_hessian_of_min_data_in_leaf_rows_at_the_positive_rate(positives: int, rows: int) -> None:
    spec = model_spec("alert_scorer")
    one_process = modeling.base_params(spec, 42)
    params = rank_params(one_process, spec, binary_first_round_hessian(positives, rows), rows)
    rate = positives / rows
    # At the first round every row of full weight has the hessian rate * (1 - rate): the bound is that many rows.
    assert (params["min_data_in_leaf"], params["lambda_l2"]) == (1, 0.0)
    assert params["min_sum_hessian_in_leaf"] / (rate * (1 - rate)) == pytest.approx(one_process["min_data_in_leaf"], rel=1e-5)


def ranking_days(days: int, rows_per_day: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, grades 0-2 (a minority graded up, as alerts are) and day sizes."""
    generator = np.random.default_rng(seed)
    features = generator.normal(size=(days * rows_per_day, 3))
    grade = np.digitize(features[:, 0] + generator.normal(size=len(features)), [1.0, 2.2]).astype(np.uint8)
    return features, grade, np.full(days, rows_per_day)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_lambdarank_first_round_hessian_is_lightgbms(seed: int) -> None:
    """LightGBM splits a leaf only if both sides hold the hessian bound: with the bound just under half of the computed
    sum its first tree splits the root, just over half it cannot."""
    features, grade, sizes = ranking_days(30, 150, seed)
    total = lambdarank_first_round_hessian(grade, sizes)
    fine = np.column_stack([np.arange(len(grade)) * 7919 % len(grade), features])  # a feature that can split anywhere

    def leaves(bound: float) -> int:
        params = {"objective": "lambdarank", "num_leaves": 2, "min_data_in_leaf": 0, "min_sum_hessian_in_leaf": bound,
                  "lambda_l2": 0.0, "min_data_in_bin": 1, "feature_pre_filter": False, "verbosity": -1}  # fmt: skip
        booster = lgb.train(params, lgb.Dataset(fine, label=grade, group=sizes, params=params), num_boost_round=1)
        return booster.dump_model()["tree_info"][0]["num_leaves"]

    assert (leaves(0.49 * total), leaves(0.51 * total)) == (2, 1)


def test_a_ranking_rank_bounds_its_leaves_by_the_hessian_of_min_data_in_leaf_rows_past_the_first_round() -> None:
    spec = model_spec("alert_ranker")
    one_process = modeling.base_params(spec, 42)
    _, grade, sizes = ranking_days(10, 200, 3)
    total = lambdarank_first_round_hessian(grade, sizes)
    params = rank_params(one_process, spec, total, len(grade))
    assert (params["min_data_in_leaf"], params["lambda_l2"]) == (1, 0.0)
    expected = one_process["min_data_in_leaf"] * LAMBDARANK_HESSIAN_GROWTH * total / len(grade)
    assert params["min_sum_hessian_in_leaf"] == pytest.approx(expected, rel=1e-5)

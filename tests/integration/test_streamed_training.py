"""The training rows binned as they stream (trainer/train/dataset.py) and the test rows scored as they stream
(trainer/evaluation/held_out.py) against the matrix path, on the built ethereum window: same arrays, same bins, same
model, same cross-validation, same scores."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluation import held_out
from trainer.evaluation.extract import extract_rows, window_parameters
from trainer.evaluation.leakage import valued_as_labels
from trainer.evaluation.split import plan_holdout
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.store.connection import qualified_name
from trainer.train import dataset, modeling

ROUNDS = 30


def parts(client, model_type: str):
    """The spec, contract, holdout and quoted table of a model type on ethereum's whole window."""
    spec = model_spec(model_type)
    contract = load_contract(spec, client, "ethereum")
    table = qualified_name("ethereum", contract.table)
    first, last = client.query(f"SELECT min(processing_date), max(processing_date) FROM {table}").result_rows[0]
    holdout = plan_holdout(client, table, window_parameters("ethereum", first, last), 0.2, 20, "ethereum")
    return spec, contract, holdout, table


def both_paths(client, model_type: str):
    spec, contract, holdout, table = parts(client, model_type)
    params = modeling.training_params(spec, 42, holdout.train.rows, tuned=False)
    where, rows = holdout.where("train", table), holdout.train.rows
    matrix = extract_rows(client, "ethereum", spec, contract, where, holdout.parameters, rows)
    streamed = dataset.bin_training(client, "ethereum", spec, contract.names, contract.table, where, holdout.parameters, rows, params)
    return spec, params, matrix, streamed


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker"])
def test_streamed_bins_give_the_matrix_paths_model(ethereum, client, model_type: str) -> None:
    """With no more training rows than the reference sample, the sample is every training row: the streamed Dataset has
    the matrix path's bins, arrays and groups, so the same model, and the same cross-validation."""
    spec, params, matrix, streamed = both_paths(client, model_type)
    assert streamed.sample_rows == matrix.rows <= dataset.REFERENCE_SAMPLE_ROWS
    for name in ("label", "weight", "grade", "processing_date", "entity"):
        assert np.array_equal(getattr(streamed.data, name), getattr(matrix, name)), name
    assert streamed.data.features.shape == (matrix.rows, 0), "no float matrix of the training rows"
    from_matrix = modeling.fit(modeling.bin_rows(matrix, spec, params), params, ROUNDS)
    from_stream = modeling.fit(streamed.dataset, params, ROUNDS)
    assert from_stream.model_to_string() == from_matrix.model_to_string()

    cv_matrix = modeling.cross_validate(matrix, modeling.bin_rows(matrix, spec, params), spec, params)
    cv_stream = modeling.cross_validate(streamed.data, streamed.dataset, spec, params)
    assert cv_stream.best_iterations == cv_matrix.best_iterations
    assert np.array_equal(cv_stream.out_of_fold, cv_matrix.out_of_fold)


def test_out_of_fold_scores_are_the_best_iterations_predictions(ethereum, client) -> None:
    """The out-of-fold scores LightGBM computed on the binned validation rows are what the fold's model predicts from the
    float rows at its best iteration."""
    spec, params, matrix, streamed = both_paths(client, "alert_scorer")
    cv = modeling.cross_validate(streamed.data, streamed.dataset, spec, params)
    assert any(rounds < modeling.MAX_ROUNDS for rounds in cv.best_iterations), "early stopping picked an iteration"
    assert np.count_nonzero(cv.out_of_fold == 0) == 0, "every row is scored as some fold's validation row"
    # Fold by fold again, with the float rows: predictions at the best iteration match the captured ones.
    from sklearn.model_selection import GroupKFold

    folds = modeling.cv_folds(matrix.rows)
    for fit_rows, valid_rows in GroupKFold(n_splits=folds).split(matrix.label, groups=matrix.entity):
        booster = modeling.lgb.train(
            params, streamed.dataset.subset(np.sort(fit_rows)), num_boost_round=modeling.MAX_ROUNDS,
            valid_sets=[streamed.dataset.subset(np.sort(valid_rows))],
            callbacks=[modeling.lgb.early_stopping(modeling.EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
        )  # fmt: skip
        valid_rows = np.sort(valid_rows)
        predicted = booster.predict(matrix.features[valid_rows], num_iteration=booster.best_iteration)
        assert np.abs(predicted - cv.out_of_fold[valid_rows]).max() < 1e-9


def test_bins_from_a_smaller_sample_are_the_matrix_paths_with_that_reference(ethereum, client, monkeypatch) -> None:
    """More training rows than the sample: bin boundaries come from the sample drawn in ClickHouse (the same rows on every
    call), and the streamed model is the matrix path's built against the same reference."""
    monkeypatch.setattr(dataset, "REFERENCE_SAMPLE_ROWS", 300)
    spec, params, matrix, streamed = both_paths(client, "alert_scorer")
    assert streamed.sample_rows == 300 < matrix.rows
    _, contract, holdout, table = parts(client, "alert_scorer")
    where, rows = holdout.where("train", table), holdout.train.rows
    sample = dataset.reference_sample(client, table, spec, contract.names, where, holdout.parameters, rows)
    again = dataset.reference_sample(client, table, spec, contract.names, where, holdout.parameters, rows)
    assert sample.shape[0] == 300 and np.array_equal(again, sample, equal_nan=True), "the sample is deterministic"
    reference = dataset.reference_dataset(sample, matrix.feature_names, params)
    with_reference = modeling.lgb.Dataset(
        matrix.features, label=matrix.label, weight=matrix.weight, reference=reference, feature_name=matrix.feature_names, params=params
    )
    from_matrix = modeling.fit(with_reference, params, ROUNDS)
    from_stream = modeling.fit(streamed.dataset, params, ROUNDS)
    assert from_stream.model_to_string() == from_matrix.model_to_string()
    all_rows = modeling.fit(modeling.bin_rows(matrix, spec, params), params, ROUNDS)
    assert all_rows.model_to_string() != from_stream.model_to_string(), "bins from 300 rows are not the bins from all"


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker"])
def test_the_test_part_scored_as_it_streams_is_the_matrix_scored_whole(ethereum, client, monkeypatch, model_type: str) -> None:
    """The test part read after the fit (trainer/evaluation/held_out.py): the same arrays and scores as the matrix of its
    rows predicted at once, the leakage guard's verdict on that matrix, and as drift reference every k-th row of it."""
    spec, contract, holdout, table = parts(client, model_type)
    _, params, _, streamed = both_paths(client, model_type)
    booster = modeling.fit(streamed.dataset, params, ROUNDS)
    where, rows = holdout.where("test", table), holdout.test.rows
    matrix = extract_rows(client, "ethereum", spec, contract, where, holdout.parameters, rows)
    monkeypatch.setattr(held_out, "REFERENCE_ROWS", 37)  # every k-th row, k > 1, and a last batch cut short
    scored = held_out.score_test_part(client, table, spec, contract.names, where, holdout.parameters, rows, booster, "ethereum")
    for name in ("label", "weight", "grade", "processing_date", "entity"):
        assert np.array_equal(getattr(scored.data, name), getattr(matrix, name)), name
    assert np.array_equal(scored.score, booster.predict(matrix.features))
    step = held_out.reference_step(rows)
    assert step > 1 and np.array_equal(scored.reference_rows, np.arange(0, rows, step))
    assert np.array_equal(scored.reference_features, matrix.features[::step], equal_nan=True)
    assert scored.features_valued_as_labels == valued_as_labels(matrix.features, contract.names, matrix.label, matrix.grade, matrix.weight)

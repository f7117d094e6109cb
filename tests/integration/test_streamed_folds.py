"""Cross-validation folds binned from the stream (trainer/train/streamed_folds.py), the path of huge training parts, against
LightGBM subsets of the one binned Dataset, on the built ethereum window with the threshold lowered: the same folds,
fold scores, best iterations, out-of-fold scores and final model; every extra stream checked against the first read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.integration.test_streamed_training import parts
from trainer.errors import PipelineError
from trainer.train import dataset, modeling, streamed_folds


def both_parts(client, monkeypatch, model_type: str, tuned: bool = False):
    """The training part binned once (subset folds) and the same part streamed per fold, on the same reference bins."""
    monkeypatch.setattr(dataset, "REFERENCE_SAMPLE_ROWS", 300)  # bins from a sample, as a huge part's are
    spec, contract, holdout, table = parts(client, model_type)
    params = modeling.training_params(spec, 42, holdout.train.rows, tuned=tuned)
    where, rows = holdout.where("train", table), holdout.train.rows
    arguments = (client, "ethereum", spec, contract.names, contract.table, where, holdout.parameters, rows, params)
    binned = streamed_folds.training_part(*arguments)
    monkeypatch.setattr(streamed_folds, "STREAMED_FOLDS_ROWS", rows)
    streamed = streamed_folds.training_part(*arguments)
    assert isinstance(binned, dataset.BinnedTraining) and isinstance(streamed, streamed_folds.StreamedTraining)
    return spec, params, binned, streamed


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker"])
def test_streamed_folds_give_the_subset_folds_and_model(ethereum, client, monkeypatch, model_type: str) -> None:
    spec, params, binned, streamed = both_parts(client, monkeypatch, model_type)
    assert streamed.sample_rows == binned.sample_rows == 300
    for name in ("label", "weight", "grade", "processing_date", "entity"):
        assert np.array_equal(getattr(streamed.data, name), getattr(binned.data, name)), name
    subset_cv = modeling.cross_validate(binned.data, binned.fold_sets, spec, params)
    streamed_cv = modeling.cross_validate(streamed.data, streamed.fold_sets, spec, params)
    assert streamed_cv.fold_scores == subset_cv.fold_scores
    assert streamed_cv.fold_aucs == subset_cv.fold_aucs
    assert streamed_cv.best_iterations == subset_cv.best_iterations
    assert np.array_equal(streamed_cv.out_of_fold, subset_cv.out_of_fold)
    from_subsets = modeling.fit(binned.final_set(), params, subset_cv.rounds)
    from_stream = modeling.fit(streamed.final_set(), params, streamed_cv.rounds)
    assert from_stream.model_to_string() == from_subsets.model_to_string()


def test_tuning_on_streamed_folds_finds_the_subset_paths_parameters(ethereum, client, monkeypatch) -> None:
    """`--tune` on a huge part: every trial's folds binned from the stream, the same trials and best parameters."""
    spec, params, binned, streamed = both_parts(client, monkeypatch, "alert_scorer", tuned=True)
    monkeypatch.setattr(modeling, "MAX_ROUNDS", 30)  # seconds, not a minute: the trials need not converge to compare
    assert modeling.tune(streamed.data, streamed.fold_sets, spec, params, 2, 42) == modeling.tune(
        binned.data, binned.fold_sets, spec, params, 2, 42
    )


def test_every_extra_stream_must_read_the_rows_of_the_first(ethereum, client, monkeypatch) -> None:
    """A fold's or the final fit's stream that yields other rows, or more or fewer, fails in one line: the folds and
    the arrays would no longer be the same rows."""
    _, _, binned, streamed = both_parts(client, monkeypatch, "alert_scorer")
    fold_of_row = (np.arange(binned.data.rows) % 2).astype(np.int8)
    other = dataclasses.replace(streamed, data=dataclasses.replace(streamed.data, entity=streamed.data.entity.copy()))
    other.data.entity[-1] ^= 1
    with pytest.raises(PipelineError, match="changed while it was read"):
        other.fold_sets(fold_of_row, 1)
    for rows in (streamed.data.rows - 1, streamed.data.rows + 1):
        fewer_or_more = dataclasses.replace(streamed, stream=dataclasses.replace(streamed.stream, rows=rows))
        with pytest.raises(PipelineError, match="changed while it was read"):
            fewer_or_more.final_set()


def test_the_trainer_streams_the_folds_of_a_huge_part_to_the_same_model(ethereum, client, monkeypatch, tmp_path) -> None:
    """`python -m trainer` past the threshold: the folds and the final fit binned from the stream, the model and its
    cross-validation figures those of the subset path."""
    from trainer.train.pipeline import TrainRequest, train_model

    def trained(output: str):
        outcome = train_model(TrainRequest("alert_ranker", network="ethereum", output_dir=tmp_path / output, force=True), client=client)
        return outcome.model_path.read_text(), outcome.metadata.metrics

    subset_model, subset_metrics = trained("subsets")
    monkeypatch.setattr(streamed_folds, "STREAMED_FOLDS_ROWS", 1)
    streamed_model, streamed_metrics = trained("streamed")
    assert streamed_model == subset_model
    assert streamed_metrics == subset_metrics

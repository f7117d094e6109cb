"""The leakage guard's checks on arrays as the trainer reads them: shared entities, label windows reaching the test
start, features derived from or valued as labels, and the one line that stops training."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.errors import PipelineError
from trainer.evaluation.leakage import MIN_ROWS_PER_CLASS, LabelValues, derived_from_labels, guard, valued_as_labels

TEST_START = np.datetime64("2024-03-10")


@dataclass(frozen=True)
class Traced:
    models: tuple[str, ...]
    unresolved: str | None = None


def held_out_part(seed: int = 3, test_rows: int = 200) -> dict:
    """Test rows' random features, labels, grades and label weights, as the guard's value check takes them in."""
    generator = np.random.default_rng(seed)
    label = generator.integers(0, 2, test_rows).astype(np.uint8)
    return dict(
        features=generator.normal(size=(test_rows, 3)).astype(np.float32),
        label=label,
        grade=(label * 2 + generator.integers(0, 2, test_rows)).astype(np.uint8),
        weight=generator.choice([0.5, 0.75, 1.0], test_rows).astype(np.float32),
    )


def rows(seed: int = 3, test_rows: int = 200) -> dict:
    """A clean split: training rows end with label windows before the test start, entities apart, random features."""
    generator = np.random.default_rng(seed)
    part, names = held_out_part(seed, test_rows), ["a", "b", "c"]
    return dict(
        train_entity=np.arange(1000, dtype=np.uint64),
        train_dates=TEST_START - np.timedelta64(15, "D") - generator.integers(0, 30, 1000).astype("timedelta64[D]"),
        test_entity=np.arange(5000, 5000 + test_rows, dtype=np.uint64),
        test_dates=TEST_START + generator.integers(0, 5, test_rows).astype("timedelta64[D]"),
        horizon_days=14,
        feature_names=names,
        features_valued_as_labels=valued_as_labels(part["features"], names, part["label"], part["grade"], part["weight"]),
        label_columns={"label", "label_weight", "relevance_grade"},
        lineage={"a": Traced(("training_alerts", "scoring_alerts", "int_alert_attributes")), "b": Traced(()), "c": Traced((), "no SQL")},
        label_models={"int_alert_labels", "int_cluster_labels"},
    )


def test_a_clean_split_passes_and_records_what_it_checked() -> None:
    found = guard(**rows())
    assert found.violations() == []
    found.check("of a clean model")
    recorded = found.to_json()
    assert recorded["training_rows"] == 1000 and recorded["test_rows"] == 200
    assert recorded["first_test_date"] == "2024-03-10"
    assert date.fromisoformat(recorded["last_training_label_window_end"]) < date(2024, 3, 10)
    assert recorded["features_without_traced_lineage"] == ["c"], "an unresolved lineage is recorded, not judged"


def test_a_shared_entity_and_a_label_window_reaching_the_test_start_stop_training_in_one_line() -> None:
    planted = rows()
    planted["train_entity"] = planted["train_entity"].copy()
    planted["train_entity"][:3] = planted["test_entity"][0]
    planted["train_dates"] = planted["train_dates"].copy()
    planted["train_dates"][10:15] = TEST_START - np.timedelta64(14, "D")  # date + horizon = the test start: purged
    found = guard(**planted)
    assert (found.training_rows_sharing_a_test_address, found.training_rows_labelled_from_test_start) == (3, 5)
    with pytest.raises(PipelineError) as stopped:
        found.check("of alert_scorer")
    message = str(stopped.value)
    assert len(message.splitlines()) == 1
    assert (
        "3 training rows share an address" in message
        and "5 training rows have a label window reaching the first test date 2024-03-10" in message
    )


def test_the_day_before_the_horizon_reaches_the_test_start_is_clean() -> None:
    planted = rows()
    planted["train_dates"] = np.full(1000, TEST_START - np.timedelta64(15, "D"))
    assert guard(**planted).training_rows_labelled_from_test_start == 0


def test_a_feature_through_a_label_model_is_derived_from_labels() -> None:
    lineage = {
        "counterparty_risk": Traced(("training_alerts", "scoring_alerts", "int_alert_network_features", "int_address_label_history")),
        "leak": Traced(("training_alerts", "scoring_alerts", "int_alert_attributes", "int_alert_labels", "int_address_label_history")),
    }
    assert derived_from_labels(lineage, {"int_alert_labels", "int_cluster_labels"}) == {"leak": "int_alert_labels"}


def test_features_following_the_label_the_grade_or_the_weight_are_found_and_noise_is_not() -> None:
    data = held_out_part()
    label, grade, weight, noise = data["label"], data["grade"], data["weight"], data["features"]
    features = np.column_stack([noise[:, 0], label * 10.0 + 1, grade * 0.5, weight, noise[:, 1]]).astype(np.float32)
    names = ["noise_a", "scaled_label", "halved_grade", "weight_copy", "noise_b"]
    assert valued_as_labels(features, names, label, grade, weight) == ("scaled_label", "halved_grade", "weight_copy")


def test_too_few_rows_of_a_class_are_not_judged_by_their_values() -> None:
    label = np.array([1] * (MIN_ROWS_PER_CLASS - 1) + [0] * 50, dtype=np.uint8)
    features = label[:, None].astype(np.float32)
    weight = np.full(label.size, 0.5, dtype=np.float32)
    assert valued_as_labels(features, ["copy"], label, label, weight) == ()


def test_a_constant_feature_is_not_a_label_when_every_weight_is_the_same() -> None:
    # With one weight for all rows (labels of full confidence), a constant feature equals the weight and says nothing
    # of the label; a weight that varies is still matched.
    data = held_out_part()
    label, grade = data["label"], data["grade"]
    features = np.ones((label.size, 1), dtype=np.float32)
    assert valued_as_labels(features, ["severity_level"], label, grade, np.ones(label.size, dtype=np.float32)) == ()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), cuts=st.lists(st.integers(1, 299), max_size=6), nan_row=st.integers(-1, 299))
def test_rows_taken_in_batch_by_batch_are_judged_as_all_at_once(seed: int, cuts: list[int], nan_row: int) -> None:
    """The trainer takes the test rows in as they stream: any cut into batches gives the verdict of the whole."""
    data = held_out_part(seed, 300)
    label, grade, weight, noise = data["label"], data["grade"], data["weight"], data["features"]
    features = np.column_stack([noise[:, 0], label * 3.0, grade + 0.5, weight, np.zeros(label.size)]).astype(np.float32)
    if nan_row >= 0:
        features[nan_row, 1] = np.nan  # a missing value inside a class: that class no longer has one value
    names = ["noise", "tripled_label", "shifted_grade", "weight_copy", "constant"]
    batched = LabelValues(len(names))
    bounds = [0, *sorted(set(cuts)), label.size]
    for first, last in zip(bounds, bounds[1:], strict=False):
        batched.add(features[first:last], label[first:last], grade[first:last], weight[first:last])
    whole = valued_as_labels(features, names, label, grade, weight)
    assert batched.valued_as_labels(names) == whole
    assert ("tripled_label" in whole) == (nan_row < 0) and "constant" not in whole and "noise" not in whole

"""The typed model metadata record: its JSON round trip, metadata written before it (version 1), and the one-line
failures of a record that is incomplete, has unknown fields or comes from a newer schema."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from tests.support.metadata import sample_metadata, v1_metadata_dict
from trainer.errors import PipelineError
from trainer.registry.artifacts import parse_metadata
from trainer.registry.metadata import SCHEMA_VERSION, ModelMetadata
from trainer.registry.table import row_from_metadata

# Fields version 1's first writers did not write: an old file without them still loads, with these defaults.
LATER_ADDITIONS = ("training_distributions", "gain_by_family", "leakage_guard", "command", "environment", "timings_s", "peak_rss_mb",
                   "peak_rss_mb_by_phase", "model_card")  # fmt: skip


def one_line_failure(data: object, model: str = "m7") -> str:
    with pytest.raises(PipelineError) as failure:
        ModelMetadata.from_dict(data, model)
    message = str(failure.value)
    assert len(message.splitlines()) == 1, message
    return message


def test_a_record_survives_its_json_round_trip_equal() -> None:
    record = sample_metadata(metrics={"test_auc": 0.9, "cv_auc_mean": 0.8, "cv_auc_std": 0.01}, tuning={"trials": 3})
    text = record.to_json()
    again = ModelMetadata.from_json(text, record.model_id)
    assert again == record
    assert again.to_json() == text, "one serialisation: the bytes a second publish would write are the same"
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


def test_a_version_1_file_loads_typed_and_exports_in_the_same_layout_plus_the_version() -> None:
    written = v1_metadata_dict()
    record = parse_metadata(json.dumps(written).encode(), "alert_scorer_v3_20250101_120000")
    assert record.training_period.test_start == date(2024, 3, 12) and record.training_period.labels_mature_through == date(2024, 3, 1)
    assert record.timestamp == datetime.fromisoformat("2025-01-01T12:00:00.123456+00:00")
    assert record.data_stats.rows == 5120 and record.feature_contract.families()["degree"] == "network"
    assert record.metrics["test_auc"] == 0.83 and record.feature_names == ("amount_usd", "degree", "day_of_month")
    later = {"train_rows_purged_for_label_horizon": None}  # data_stats fields added after version 1, at their defaults
    assert record.to_dict() == {**written, "data_stats": {**written["data_stats"], **later}, "schema_version": SCHEMA_VERSION}, (
        "readers of the exported .json see every key as before"
    )
    row = row_from_metadata(record, None)
    assert (row.training_start_date, row.num_samples, row.data_fingerprint) == (date(2024, 1, 1), 5060, "5120:9c1e4b7f02aa")


def test_a_version_1_file_from_before_the_later_fields_gets_their_defaults() -> None:
    written = v1_metadata_dict()
    for name in LATER_ADDITIONS:
        del written[name]
    del written["training_period"]["label_horizon_days"], written["training_period"]["labels_mature_through"]
    del written["data_stats"]["immature_label_rows_left_out"]
    record = ModelMetadata.from_dict(written, "old")
    assert record.training_distributions == {} and record.command is None and record.model_card == ""
    assert record.training_period.label_horizon_days is None and record.data_stats.immature_label_rows_left_out == 0


@pytest.mark.parametrize("version", [None, SCHEMA_VERSION])
def test_a_missing_required_field_fails_in_one_line_naming_it(version: int | None) -> None:
    data = v1_metadata_dict() if version is None else sample_metadata().to_dict()
    del data["data_stats"]["fingerprint"]
    message = one_line_failure(data)
    assert "model m7" in message and "`data_stats.fingerprint`" in message
    if version is None:
        assert "retrain" in message, "an old file says how to migrate"


def test_the_current_version_requires_even_the_fields_version_1_may_lack() -> None:
    data = sample_metadata().to_dict()
    del data["training_distributions"]
    assert "`training_distributions`" in one_line_failure(data)


def test_an_unknown_field_or_a_field_of_the_wrong_type_fails_in_one_line_naming_it() -> None:
    assert "unknown field `training_period.embargo_days`" in one_line_failure(
        {**v1_metadata_dict(), "training_period": {**v1_metadata_dict()["training_period"], "embargo_days": 3}}
    )
    assert "`version` should be int" in one_line_failure({**v1_metadata_dict(), "version": "3"})
    assert "`training_period.start` should be an ISO date" in one_line_failure(
        {**v1_metadata_dict(), "training_period": {**v1_metadata_dict()["training_period"], "start": "January"}}
    )


def test_a_version_2_record_loads_without_the_purge_count_and_judges_out_of_time_after_its_horizon() -> None:
    """Version 2 predates the purge of label windows reaching the test start: its training labels may have been
    decided by outcomes up to the label horizon after its test start, so the gate and backtests start there."""
    record = sample_metadata()
    written = {**record.to_dict(), "schema_version": 2}
    del written["data_stats"]["train_rows_purged_for_label_horizon"]
    old = ModelMetadata.from_dict(written, "v2")
    period = old.training_period
    assert old.data_stats.train_rows_purged_for_label_horizon is None
    assert old.out_of_time_from() == period.test_start + timedelta(days=period.label_horizon_days) > period.test_start
    purged = replace(old, data_stats=replace(old.data_stats, train_rows_purged_for_label_horizon=40))
    assert purged.out_of_time_from() == period.test_start
    del written["data_stats"]["fingerprint"]
    assert "`data_stats.fingerprint` (it is required)" in one_line_failure(written), "version 2 may lack only what version 3 added"


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 0, "2"])
def test_a_schema_version_this_code_does_not_know_fails_in_one_line(version: object) -> None:
    message = one_line_failure({**sample_metadata().to_dict(), "schema_version": version})
    assert f"schema_version {version!r}" in message and "model m7" in message and "upgrade the trainer" in message


def test_not_an_object_or_not_json_fails_in_one_line() -> None:
    assert "is not a JSON object" in one_line_failure([1, 2])
    with pytest.raises(PipelineError, match="model m7 is corrupted: its metadata is not JSON"):
        ModelMetadata.from_json(b"{not json", "m7")


def test_the_record_is_frozen() -> None:
    record = sample_metadata()
    with pytest.raises(AttributeError):
        record.model_id = "other"  # type: ignore[misc]
    assert replace(record, model_card="# card").model_card == "# card" and record.model_card != "# card"

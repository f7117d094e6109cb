"""The leakage guard stops training on each kind of planted leak, in one line, with nothing published: a split that
keeps training rows sharing a test address, a split that keeps training labels decided inside the test period, and
features that are or are derived from the label. The guard reads the rows the trainer read and the features' dbt
lineage, never the split's predicates, so a broken split is what it must catch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.support import copy_feature_tables
from trainer.errors import PipelineError
from trainer.evaluation import split
from trainer.registry import list_models
from trainer.train.pipeline import TrainRequest, train_model

REGISTRY_DB = "aml"
LEAKY = "leakyfeatures"


def stopped(client, request: TrainRequest) -> str:
    """Train, expecting the leakage guard to stop it: its one line, after checking nothing was published."""
    before = len(list_models(client, REGISTRY_DB))
    with pytest.raises(PipelineError, match="leakage guard stopped training") as failure:
        train_model(request, client=client)
    message = str(failure.value)
    assert len(message.splitlines()) == 1, message
    assert len(list_models(client, REGISTRY_DB)) == before, "nothing is registered"
    assert not request.output_dir.exists() or not any(request.output_dir.iterdir()), "no file is written"
    return message


def test_a_split_keeping_rows_of_test_addresses_is_stopped(ethereum, ethereum_docs: Path, client, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(ethereum_docs.parent))
    monkeypatch.setattr(split, "SHARED_ROWS", "0")  # the split forgets the address rule
    message = stopped(client, TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path / "models", force=True))
    assert "training rows share an address with the test rows" in message and "label window" not in message


def test_a_split_without_the_purge_is_stopped(ethereum, ethereum_docs: Path, client, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(ethereum_docs.parent))
    monkeypatch.setattr(split, "PURGED_ROWS", "0")  # the split before the purge: labels of its last weeks saw the test period
    message = stopped(client, TrainRequest("alert_scorer", network="ethereum", output_dir=tmp_path / "models", force=True))
    assert "training rows have a label window reaching the first test date" in message and "share an address" not in message


@pytest.fixture()
def leaky_features(ethereum, ethereum_docs: Path, client, tmp_path: Path):
    """Network LEAKY: ethereum's training alerts plus two planted features of the alert family, `leaked_label` (the
    label itself, which no SQL explains: only its values tell) and `leaked_confidence` (computed from the label
    weight, which its values do not follow), and a copy of ethereum's dbt manifest whose int_alert_attributes computes
    `leaked_confidence` from int_alert_labels and whose scoring_alerts carries both: a test-only version of the
    models. Yields the manifest's directory."""
    copy_feature_tables(client, "ethereum", LEAKY)
    for table in ("int_alert_attributes", "scoring_alerts"):
        for column in ("leaked_label", "leaked_confidence"):
            client.command(f"ALTER TABLE {LEAKY}.{table} ADD COLUMN IF NOT EXISTS {column} Float64")
    client.command(f"DROP TABLE IF EXISTS {LEAKY}.training_alerts")
    client.command(
        f"CREATE TABLE {LEAKY}.training_alerts ENGINE = MergeTree ORDER BY (processing_date, alert_id) AS "
        f"SELECT * REPLACE ('{LEAKY}' AS network), toFloat64(label) AS leaked_label, toFloat64(label_weight) * 2 + 1 AS leaked_confidence "
        "FROM ethereum.training_alerts"
    )
    manifest = json.loads(ethereum_docs.read_text())
    (attributes,) = [node for node in manifest["nodes"].values() if node.get("name") == "int_alert_attributes"]
    compiled = attributes["compiled_code"]
    ending = "select final.*, now64(3) as built_at from final"
    assert ending in compiled, "int_alert_attributes ends as the plant expects"
    attributes["compiled_code"] = compiled.replace(
        ending,
        "select final.*, toFloat64(labels.label_weight) * 2 + 1 as leaked_confidence, now64(3) as built_at "
        "from final left join (select processing_date, alert_id, label_weight from "
        "`ethereum`.`int_alert_labels`) as labels on final.processing_date = labels.processing_date and final.alert_id = labels.alert_id",
    )
    # The mart lists each family's columns as its build found them (macro float32_features): a build after the change
    # above would list the two planted columns too.
    (mart,) = [node for node in manifest["nodes"].values() if node.get("name") == "scoring_alerts"]
    listed = "toFloat32(severity_level) as severity_level"
    assert listed in mart["compiled_code"], "scoring_alerts lists the attribute family's columns as the plant expects"
    mart["compiled_code"] = mart["compiled_code"].replace(
        listed, f"{listed}, toFloat32(leaked_label) as leaked_label, toFloat32(leaked_confidence) as leaked_confidence", 1
    )
    target = tmp_path / "leaky_target"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps(manifest))
    yield target
    client.command(f"DROP DATABASE IF EXISTS {LEAKY}")


def test_features_equal_to_or_derived_from_the_label_are_stopped(leaky_features: Path, client, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(leaky_features))
    message = stopped(client, TrainRequest("alert_scorer", network=LEAKY, output_dir=tmp_path / "models"))
    assert "features derived from labels: leaked_confidence (through int_alert_labels);" in message, "its lineage tells"
    assert message.endswith("features whose test values follow the label: leaked_label"), "its values tell"

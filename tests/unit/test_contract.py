"""The feature contract from a small checked-in dbt manifest and a map of built columns: no dbt, no engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.errors import PipelineError
from trainer.features.contract import contract_from_manifest

MANIFEST = json.loads((Path(__file__).parent / "fixtures" / "manifest.json").read_text())
KEYS = ["processing_date", "alert_id", "address", "network"]
LABELS = ["label", "label_weight", "relevance_grade"]
BUILT = {
    "training_alerts": [*KEYS, "alert_confidence", "typology_fan_in", "typology_other", "degree", "net_degree_ratio", *LABELS],
    "scoring_alerts": [*KEYS, "alert_confidence", "typology_fan_in", "typology_other", "degree", "net_degree_ratio"],
    "int_alert_attributes": ["processing_date", "alert_id", "alert_confidence", "typology_fan_in", "typology_other"],
    "int_alert_network_features": ["processing_date", "alert_id", "degree", "net_degree_ratio"],
    "int_alert_address_features": ["processing_date", "alert_id", "degree"],
    "int_undeclared": ["processing_date", "alert_id"],
    "int_alert_labels": ["processing_date", "alert_id", *LABELS],
    "stg_alerts": ["processing_date", "alert_id", "address"],
    "stg_features": ["address", "degree"],
}


def columns_of(built: dict[str, list[str]]):
    return lambda model: built.get(model, [])


def test_every_unlisted_column_is_a_feature_made_by_its_most_upstream_model() -> None:
    contract = contract_from_manifest(MANIFEST, "training_alerts", columns_of(BUILT))
    assert contract.names == ["alert_confidence", "typology_fan_in", "typology_other", "degree", "net_degree_ratio"], "built order"
    by_name = {feature.name: feature for feature in contract.features}
    assert by_name["degree"].producer == "int_alert_address_features", "passed through network features, made by address"
    assert by_name["degree"].family == "address" and by_name["net_degree_ratio"].family == "network"
    assert contract.producers == ["int_alert_address_features", "int_alert_attributes", "int_alert_network_features", "training_alerts"]


def test_meaning_comes_from_the_producer_then_the_vocabulary_then_the_raw_column() -> None:
    features = {f.name: f.description for f in contract_from_manifest(MANIFEST, "training_alerts", columns_of(BUILT)).features}
    assert features["alert_confidence"] == "The detector's confidence in the alert, 0 to 1."
    assert features["typology_fan_in"] == "1 when typology_type is 'fan_in' (compared in lower case), else 0."
    assert features["typology_other"].startswith("1 when typology_type is none of the listed values")
    assert features["degree"] == "Distinct counterparties of the address in the drop window."


def test_a_column_from_a_model_without_a_family_is_refused_by_name() -> None:
    built = {**BUILT, "int_undeclared": ["processing_date", "alert_id", "mystery"], "scoring_alerts": [*BUILT["scoring_alerts"], "mystery"]}
    built["training_alerts"] = [*BUILT["training_alerts"], "mystery"]
    with pytest.raises(PipelineError, match="column mystery of training_alerts comes from int_undeclared, which declares no"):
        contract_from_manifest(MANIFEST, "training_alerts", columns_of(built))


def test_missing_tables_and_models_fail_in_one_line() -> None:
    with pytest.raises(PipelineError, match="table eth.training_alerts does not exist: run dbt build"):
        contract_from_manifest(MANIFEST, "training_alerts", columns_of({}), where="eth.")
    without_parent = {name: columns for name, columns in BUILT.items() if name != "int_alert_attributes"}
    with pytest.raises(PipelineError, match="int_alert_attributes, which training_alerts is built from, does not exist"):
        contract_from_manifest(MANIFEST, "training_alerts", columns_of(without_parent))
    with pytest.raises(PipelineError, match="dbt project has no model 'training_wallets'"):
        contract_from_manifest(MANIFEST, "training_wallets", columns_of(BUILT))


def test_families_and_exclusions_narrow_the_contract() -> None:
    contract = contract_from_manifest(MANIFEST, "training_alerts", columns_of(BUILT))
    assert contract.restricted_to(("network",)).names == ["net_degree_ratio"]
    assert contract.without(("degree", "typology_other")).names == ["alert_confidence", "typology_fan_in", "net_degree_ratio"]
    assert contract.without(("degree",)).fingerprint() != contract.fingerprint()
    with pytest.raises(PipelineError, match="unknown feature families for training_alerts: graph"):
        contract.restricted_to(("graph",))
    with pytest.raises(PipelineError, match="has no features nope"):
        contract.without(("nope",))


def with_column_meta(meta: dict) -> dict:
    """The fixture manifest with `meta` on int_alert_attributes' alert_confidence column, as dbt 1.11 writes it."""
    manifest = json.loads(json.dumps(MANIFEST))
    column = manifest["nodes"]["model.aml_features.int_alert_attributes"]["columns"]["alert_confidence"]
    column["config"] = {"meta": meta}
    return manifest


def test_drift_expected_by_design_is_read_from_the_column_meta_and_kept_in_the_contract() -> None:
    manifest = with_column_meta({"drift": "expected", "drift_reason": "calendar: one value per scoring date"})
    contract = contract_from_manifest(manifest, "training_alerts", columns_of(BUILT))
    by_name = {feature.name: feature for feature in contract.features}
    assert by_name["alert_confidence"].drift_reason == "calendar: one value per scoring date"
    assert by_name["degree"].drift_reason == ""
    assert {f["name"]: f.get("drift_reason") for f in contract.to_json()} == {
        "alert_confidence": "calendar: one value per scoring date", "typology_fan_in": None, "typology_other": None,
        "degree": None, "net_degree_ratio": None,
    }  # fmt: skip
    unchanged = contract_from_manifest(MANIFEST, "training_alerts", columns_of(BUILT))
    assert contract.fingerprint() == unchanged.fingerprint(), "a drift declaration does not change the features"


@pytest.mark.parametrize("meta", [{"drift": "expected"}, {"drift": "sometimes", "drift_reason": "why"}])
def test_a_drift_declaration_without_a_reason_or_of_another_kind_is_refused(meta: dict) -> None:
    with pytest.raises(PipelineError, match="column alert_confidence of int_alert_attributes: meta.drift must be 'expected'"):
        contract_from_manifest(with_column_meta(meta), "training_alerts", columns_of(BUILT))

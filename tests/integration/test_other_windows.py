"""Windows the sample demo never uses: other years, other lengths, other drop windows, unknown vocabulary values.

Each window is ingested, built by `dbt build` with no exclusions (unit tests included), trained and scored end to
end, in a network of its own. None shares a date with the project's default window.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.support import dbt_vars, run_dbt
from trainer.ingest import ingest
from trainer.sample_data import generate_drops
from trainer.score import score_date
from trainer.train.pipeline import TrainRequest, train_model

pytestmark = pytest.mark.usefixtures("with_unit_tests")

UNKNOWN_TYPOLOGY = "Brand-New Typology"
UPPER_CASE_TYPOLOGY = "SMURFING_NETWORK"  # upstream writes typologies in upper case; listed in var typologies
UNKNOWN_ADDRESS_TYPE = "dex"
UNKNOWN_CLUSTER_TYPE = "behavioural_similarity"
WINDOWS = [
    # A window shorter than the default 14-day label horizon has no mature label: it trains on labels known at once.
    pytest.param("threedays", date(2025, 6, 10), date(2025, 6, 12), 7, 0, id="three days in 2025, horizon 0"),
    pytest.param("yearend", date(2025, 12, 16), date(2026, 1, 14), 30, 3, id="30 days across a year end, 30-day drops, horizon 3"),
]


def _replace_head(table: pa.Table, column: str, value: str, rows: slice) -> pa.Table:
    values = table.column(column).to_pylist()
    values[rows] = [value] * len(values[rows])
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.string()))


def _inject_unknown_vocabulary(drops: Path) -> int:
    """Per drop: 10 alerts of an upper-case known typology, 10 of an unknown one and 10 of an unknown suspected address
    type, and 5 clusters of an unknown type. Returns the number of drops changed."""
    changed = 0
    for drop in sorted(drops.glob("*/*/*")):
        alerts = pq.read_table(drop / "alerts.parquet")
        alerts = _replace_head(alerts, "typology_type", UPPER_CASE_TYPOLOGY, slice(0, 10))
        alerts = _replace_head(alerts, "typology_type", UNKNOWN_TYPOLOGY, slice(10, 20))
        alerts = _replace_head(alerts, "suspected_address_type", UNKNOWN_ADDRESS_TYPE, slice(0, 10))
        pq.write_table(alerts, drop / "alerts.parquet")
        clusters = pq.read_table(drop / "clusters.parquet")
        pq.write_table(_replace_head(clusters, "cluster_type", UNKNOWN_CLUSTER_TYPE, slice(0, 5)), drop / "clusters.parquet")
        changed += 1
    return changed


@pytest.mark.parametrize(("network", "start", "end", "window_days", "horizon"), WINDOWS)
def test_window_builds_trains_and_scores_end_to_end(
    client, test_root: Path, network: str, start: date, end: date, window_days: int, horizon: int
) -> None:
    drops = test_root / f"drops_{network}"
    generate_drops(network, start, end, drops, seed=5, alerts_per_day=400 if horizon == 0 else 150, window_days=window_days)
    changed = _inject_unknown_vocabulary(drops)
    ingest(client, network, drops)

    ok, log = run_dbt("build", "--vars", dbt_vars(network, start, end, window_days=window_days, label_horizon_days=horizon))
    assert ok, log[-3000:]
    # Unknown values build, are counted in the warnings and land in the other columns; known ones in any case too.
    assert "WARN=3" in log
    assert f'"{UNKNOWN_TYPOLOGY.lower()}" ({10 * changed} rows)' in log
    assert f'"{UNKNOWN_CLUSTER_TYPE}" ({5 * changed} rows)' in log
    assert f'"{UNKNOWN_ADDRESS_TYPE}"' in log
    counts = client.query(
        f"SELECT sum(typology_other), sum(typology_smurfing_network), sum(suspected_other) FROM {network}.scoring_alerts"
    ).result_rows[0]
    assert counts[0] == counts[1] == 10 * changed and counts[2] >= 10 * changed
    assert client.command(f"SELECT sum(cluster_type_other) FROM {network}.scoring_clusters") == 5 * changed

    output_dir = test_root / f"models_{network}"
    for model_type, table in (
        ("alert_scorer", "scoring_alerts"),
        ("alert_ranker", "scoring_alerts"),
        ("cluster_scorer", "scoring_clusters"),
    ):
        outcome = train_model(TrainRequest(model_type=model_type, network=network, output_dir=output_dir, min_per_class=10), client=client)
        period = outcome.metadata.training_period
        assert (period.start, period.label_horizon_days) == (start, horizon)
        assert period.end == period.labels_mature_through == end - timedelta(days=horizon)
        scored = score_date(model_type, end, network=network, model_id=outcome.model_id, output_dir=output_dir, client=client)
        expected = client.command(f"SELECT count() FROM {network}.{table} WHERE processing_date = {{d:Date}}", parameters={"d": end})
        assert scored.rows == expected > 0


def test_a_window_of_more_than_100_days_builds_every_date_in_one_query_per_model(client, test_root: Path) -> None:
    """A full build inserts a model's dates in one query, and every table has one partition per date: ClickHouse's
    default limit of 100 partitions in one inserted block must not cap the window."""
    network, start, end = "longwindow", date(2022, 9, 1), date(2022, 12, 31)  # 122 days in 2022
    drops = test_root / f"drops_{network}"
    generate_drops(network, start, end, drops, seed=8, alerts_per_day=15)
    ingest(client, network, drops)
    ok, log = run_dbt("run", "--vars", dbt_vars(network, start, end))
    assert ok, log[-3000:]
    assert " for 2022-" not in log, "one query per model"
    for table in ("int_alert_network_features", "int_cluster_labels", "scoring_alerts", "training_alerts"):
        assert client.command(f"SELECT uniqExact(processing_date) FROM {network}.{table}") > 100, table

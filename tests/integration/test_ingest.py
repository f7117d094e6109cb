"""Ingestion: drops land in the raw tables inside ClickHouse, checked first, replaced on re-ingest."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trainer.errors import PipelineError
from trainer.ingest import RAW_TABLES, ingest
from trainer.sample_data import generate_drops

NETWORK = "ingesttest"


def raw_counts(client, network: str) -> dict[str, int]:
    return {t.name: int(client.command(f"SELECT count() FROM {network}.{t.name}")) for t in RAW_TABLES}


def parquet_rows(drops: Path, network: str) -> dict[str, int]:
    return {t.name: sum(pq.read_metadata(p).num_rows for p in (drops / network).glob(f"*/*/{t.file_name}")) for t in RAW_TABLES}


@pytest.fixture(scope="module")
def drops(test_root: Path) -> Path:
    root = test_root / "drops_ingest"
    generate_drops(NETWORK, date(2024, 1, 1), date(2024, 1, 3), root, seed=3, alerts_per_day=30)
    return root


def copy_drops(drops: Path, tmp_path: Path) -> Path:
    target = tmp_path / "drops"
    shutil.copytree(drops, target)
    return target


def test_good_drops_load_every_row_and_reingest_does_not_duplicate(client, drops: Path) -> None:
    expected = parquet_rows(drops, NETWORK)
    ingest(client, NETWORK, drops)
    assert raw_counts(client, NETWORK) == expected
    ingest(client, NETWORK, drops)
    assert raw_counts(client, NETWORK) == expected
    duplicated = client.command(f"SELECT count() - uniqExact(processing_date, window_days, alert_id) FROM {NETWORK}.raw_alerts")
    assert duplicated == 0


def _rewrite(path: Path, change) -> None:
    table = pq.read_table(path)
    pq.write_table(change(table), path)


@pytest.mark.parametrize(
    ("file_name", "change", "message"),
    [
        ("alerts.parquet", lambda t: t.drop_columns(["severity"]), "required columns missing: severity"),
        (
            "money_flows.parquet",
            lambda t: t.set_column(t.schema.get_field_index("amount_usd_sum"), "amount_usd_sum", pa.array([float("nan")] * t.num_rows)),
            "NULL, NaN or infinite",
        ),  # fmt: skip
        ("alerts.parquet", lambda t: pa.concat_tables([t, t.slice(0, 1)]), "duplicated rows for key (alert_id)"),
        (
            "alerts.parquet",
            lambda t: t.set_column(
                t.schema.get_field_index("alert_id"), "alert_id", pa.array([None] + t.column("alert_id").to_pylist()[1:], pa.string())
            ),
            "NULL or empty key",
        ),  # fmt: skip
        ("alerts.parquet", lambda t: t.slice(0, 0), "file has no rows; a drop without alerts"),
    ],
)
def test_bad_drop_fails_naming_file_and_loads_nothing_of_it(client, drops: Path, tmp_path: Path, file_name, change, message) -> None:
    network = "ingestbad"
    source = copy_drops(drops, tmp_path)
    (source / NETWORK).rename(source / network)
    bad_drop = sorted((source / network).glob("*/*"))[-1]
    _rewrite(bad_drop / file_name, change)
    with pytest.raises(PipelineError) as failure:
        ingest(client, network, source)
    assert str(bad_drop / file_name) in str(failure.value)
    assert message in str(failure.value)
    loaded_dates = {row[0] for row in client.query(f"SELECT DISTINCT processing_date FROM {network}.raw_alerts").result_rows}
    assert date.fromisoformat(bad_drop.parent.name) not in loaded_dates


def test_missing_file_and_empty_file_fail_clearly(client, drops: Path, tmp_path: Path) -> None:
    source = copy_drops(drops, tmp_path)
    drop = sorted((source / NETWORK).glob("*/*"))[0]
    (drop / "clusters.parquet").unlink()
    with pytest.raises(PipelineError, match="clusters.parquet: file missing from the drop"):
        ingest(client, NETWORK, source)
    (drop / "clusters.parquet").write_bytes(b"")
    with pytest.raises(PipelineError, match="clusters.parquet: file is empty"):
        ingest(client, NETWORK, source)
    (drop / "clusters.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(PipelineError, match="clusters.parquet: not a readable parquet file"):
        ingest(client, NETWORK, source)


def test_unknown_network_or_layout_fails(client, drops: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no drops for network 'solana'"):
        ingest(client, "solana", drops)
    with pytest.raises(PipelineError, match="network must match"):
        ingest(client, "eth; DROP TABLE x", drops)
    source = copy_drops(drops, tmp_path)
    (source / NETWORK / "not-a-date").mkdir()
    with pytest.raises(PipelineError, match="drop folder name is not a date"):
        ingest(client, NETWORK, source)


def test_empty_optional_files_and_undefined_upstream_values_load(client, drops: Path, tmp_path: Path) -> None:
    """A day without labels, clusters, flows or features is normal; upstream leaves some statistics undefined (NaN),
    some measures negative and primary_address empty. All of it loads; only a drop without alerts is refused."""
    network = "ingestempty"
    source = copy_drops(drops, tmp_path)
    (source / NETWORK).rename(source / network)
    day = sorted((source / network).glob("*/*"))[1]
    for file_name in ("address_labels.parquet", "clusters.parquet", "money_flows.parquet", "features.parquet"):
        _rewrite(day / file_name, lambda t: t.slice(0, 0))
    other_day = sorted((source / network).glob("*/*"))[2]
    _rewrite(other_day / "features.parquet", lambda t: t.set_column(
        t.schema.get_field_index("amount_skewness"), "amount_skewness", pa.array([float("nan"), float("-inf")] + [-1.5] * (t.num_rows - 2))
    ))  # fmt: skip
    _rewrite(other_day / "clusters.parquet", lambda t: t.set_column(
        t.schema.get_field_index("primary_address"), "primary_address", pa.array([""] * t.num_rows, pa.string())
    ))  # fmt: skip
    ingest(client, network, source)
    assert raw_counts(client, network) == parquet_rows(source, network)
    skewness = client.query(
        f"SELECT countIf(isNaN(amount_skewness)), countIf(isInfinite(amount_skewness)), countIf(amount_skewness < 0) "
        f"FROM {network}.raw_features"
    ).result_rows[0]
    assert skewness[0] == 1 and skewness[1] == 1 and skewness[2] > 1
    _rewrite(other_day / "alerts.parquet", lambda t: t.slice(0, 0))
    with pytest.raises(PipelineError, match="alerts.parquet: file has no rows; a drop without alerts means the detectors did not run"):
        ingest(client, network, source)

"""Contract fuzzing: Hypothesis writes drops from the raw DDL alone, and the pipeline must take any of them.

Every column of every raw table gets values drawn from its DDL type alone (`trainer/ingest/raw_tables.sql`, read
through the same parser the sample generator uses); only the relations between tables (the addresses alerts,
features, flows, clusters and labels share; the alert ids clusters name) are drawn from common pools so that joins
meet. Dates are any valid ones (leap days, year ends, far future), drop windows of any length, strings any Unicode
text (empty ones included) in free-text and open-vocabulary columns, upstream features may be NaN, infinite or
negative, addresses may lack features, clusters may name members that are missing, labels may arrive after their
alert or never, days may be tiny and one-sided.

For every generated window: ingestion either loads it or fails with one line; `dbt build` either passes or fails
only on the completeness gates that name a data problem (never a unit test, never a model error); nothing is lost
or duplicated between raw and scoring tables; training either succeeds or fails with one line; a trained model
scores every alert of the last date.

`make test` runs a small, derandomised profile (`ci`); `make fuzz` runs the long one (HYPOTHESIS_PROFILE=long).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import note as hypothesis_note
from hypothesis import strategies as st

from tests.integration.support import dbt_vars
from trainer.errors import PipelineError
from trainer.ingest import ingest
from trainer.ingest.raw_tables import raw_ddl
from trainer.sample_data import DROP_FILES
from trainer.score import score_date
from trainer.train.pipeline import TrainRequest, train_model

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "8")),
    derandomize=True,  # the same examples on every CI run: no flaky builds
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking would re-run whole builds for minutes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=80, derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The completeness gates: data tests whose failure names a data problem of the window (too few rows or classes,
# too little feature coverage). Any other failing node is a finding.
DATA_GATES = {
    "int_alert_labels_has_mature_labels",
    "int_cluster_labels_has_mature_labels",
    "training_alerts_has_rows_in_window",
    "training_clusters_has_rows_in_window",
    "training_alerts_both_label_classes_present",
    "training_clusters_both_label_classes_present",
    "training_alerts_address_feature_coverage",
}
RISK_LEVELS = ("low", "medium", "high", "critical")  # closed vocabularies of the upstream contract
SPECIAL_STARTS = (date(2024, 2, 28), date(2025, 12, 30), date(2099, 12, 29), date(2000, 2, 28), date(2140, 1, 1))
MAX_USD = 1e15  # Decimal128(18) holds up to ~1.7e20

# Arrow reads Decimal128(18) as float64: the DDL itself says which columns hold no NaN or infinity.
DECIMAL_COLUMNS = {line.split()[0] for statement in raw_ddl() for line in statement.splitlines() if "Decimal" in line}
any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
key_text = any_text.filter(lambda value: value.strip() != "")  # keys: any non-blank text
_networks = itertools.count()


def _value(ddl_type: pa.DataType, measure: bool, decimal: bool) -> st.SearchStrategy[Any]:
    """Any value of a type of the raw DDL. Measures (upstream features) may be negative, and NaN or infinite unless
    the DDL keeps them as Decimal."""
    if pa.types.is_boolean(ddl_type):
        return st.booleans()
    if pa.types.is_unsigned_integer(ddl_type):
        return st.integers(0, 2 ** (ddl_type.bit_width - 1))
    if pa.types.is_floating(ddl_type):
        width, bound = (32, 1e9) if pa.types.is_float32(ddl_type) else (64, MAX_USD)
        if measure and decimal:
            return st.floats(-bound, bound, width=width)
        if measure:
            return st.floats(-bound, bound, width=width) | st.sampled_from([float("nan"), float("inf"), float("-inf")])
        return st.floats(0, bound, width=width)
    if pa.types.is_timestamp(ddl_type):
        return st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2105, 12, 31))
    if pa.types.is_list(ddl_type):
        return st.lists(_value(ddl_type.value_type, measure, decimal), max_size=4)
    if pa.types.is_string(ddl_type):
        return any_text
    raise AssertionError(f"no strategy for {ddl_type}")


@dataclass
class FuzzWindow:
    network: str
    start: date
    window_days: int
    days: list[dict[str, list[dict[str, Any]]]] = field(default_factory=list)
    coverage_gate: float = 0.0
    label_horizon_days: int = 0

    @property
    def end(self) -> date:
        return self.start + timedelta(days=len(self.days) - 1)

    def __repr__(self) -> str:
        """Short enough to read in a failure report; the drops themselves stay on disk under fuzz_drops/<network>."""
        rows = {name.split(".")[0]: sum(len(day[name]) for day in self.days) for name in self.days[0]} if self.days else {}
        return (
            f"FuzzWindow({self.network}, {self.start}..{self.end}, {self.window_days}d, coverage {self.coverage_gate}, "
            f"horizon {self.label_horizon_days}, rows {rows})"
        )


@st.composite
def fuzz_windows(draw: st.DrawFn) -> FuzzWindow:
    network = f"fuzz_{next(_networks)}"
    start = draw(st.sampled_from(SPECIAL_STARTS) | st.dates(date(2000, 1, 1), date(2140, 12, 31)))
    window_days = draw(st.sampled_from([1, 7, 30, 195]) | st.integers(1, 400))
    window = FuzzWindow(
        network,
        start,
        window_days,
        coverage_gate=draw(st.sampled_from([0.0, 0.95])),
        label_horizon_days=draw(st.sampled_from([0, 0, 1, 2, 14])),
    )
    # Half the windows are sized to clear the completeness gates, so that training and scoring run too; the others
    # are as small and skewed as Hypothesis likes.
    sized = draw(st.booleans())

    def keys(low: int, high: int) -> list[str]:
        """Distinct non-blank keys of any text: a few drawn stems numbered (drawing each key whole would exhaust
        Hypothesis' budget for a window of thousands of rows)."""
        stems = draw(st.lists(key_text, min_size=1, max_size=3))
        return [f"{stems[i % len(stems)]}{i}" for i in range(draw(st.integers(low, high)))]

    pool = keys(40, 80) if sized else keys(2, 40)
    address = st.sampled_from(pool)

    def rows(file_name: str, day: date, per_row: dict[str, list[Any]], special: dict[str, st.SearchStrategy[Any]]) -> list[dict[str, Any]]:
        """Rows of one file: `per_row` columns as given (the relations), every other column from its DDL type (or
        `special`), cycling through up to three drawn values so that a day stays within Hypothesis' budget."""
        count = len(next(iter(per_row.values())))
        table: list[dict[str, Any]] = [{"processing_date": day, "window_days": window_days} for _ in range(count)]
        for column in DROP_FILES[file_name]:
            if column.name in ("processing_date", "window_days"):
                continue
            if column.name in per_row:
                values = per_row[column.name]
            else:
                strategy = (
                    special[column.name]
                    if column.name in special
                    else _value(column.type, file_name == "features.parquet", column.name in DECIMAL_COLUMNS)
                )
                values = draw(st.lists(strategy, min_size=1, max_size=3)) if count else []
            for index, row in enumerate(table):
                row[column.name] = values[index % len(values)]
        return table

    for offset in range(draw(st.integers(3, 5) if sized else st.integers(1, 5))):
        day = start + timedelta(days=offset)
        alert_ids = keys(30, 50) if sized else keys(1, 30)
        alerts = rows(
            "alerts.parquet",
            day,
            {"alert_id": alert_ids, "address": draw(st.lists(address, min_size=len(alert_ids), max_size=len(alert_ids)))},
            {
                "severity": st.sampled_from(RISK_LEVELS),
                "alert_confidence_score": st.floats(0, 1, width=32),
                "typology_type": any_text | st.sampled_from(["PEEL_CHAIN", "fan_in", "structuring"]),
            },
        )
        features = rows("features.parquet", day, {"address": draw(st.lists(address, max_size=len(pool), unique=True))}, {})
        member = st.sampled_from([*alert_ids, "missing-alert"])
        cluster_ids = keys(12, 20) if sized else keys(0, 6)
        clusters = rows(
            "clusters.parquet",
            day,
            {
                "cluster_id": cluster_ids,
                "primary_alert_id": draw(st.lists(member, min_size=len(cluster_ids), max_size=len(cluster_ids))),
                "addresses_involved": draw(
                    st.lists(
                        st.lists(address | st.just("unknown-member"), max_size=8), min_size=len(cluster_ids), max_size=len(cluster_ids)
                    )
                ),
            },
            {
                "primary_address": st.just("") | address,
                "related_alert_ids": st.lists(member, max_size=5),
                "severity_max": any_text | st.sampled_from(RISK_LEVELS),
                "confidence_avg": st.floats(0, 1, width=32),
                "earliest_alert_timestamp": st.integers(0, 2_000_000_000_000),
                "latest_alert_timestamp": st.integers(0, 2_000_000_000_000),
            },
        )
        pairs = draw(st.lists(st.tuples(address, address), max_size=30, unique=True))
        flows = rows("money_flows.parquet", day, {"from_address": [a for a, _ in pairs], "to_address": [b for _, b in pairs]}, {})
        # Labels arrive on any day, before the alert, after it or never; a sized window labels most addresses early.
        labelled = draw(st.lists(address, min_size=len(pool) if sized and offset == 0 else 0, max_size=len(pool)))
        labels = rows(
            "address_labels.parquet",
            day,
            {
                "address": labelled,
                "risk_level": draw(st.lists(st.sampled_from(RISK_LEVELS), min_size=len(labelled), max_size=len(labelled))),
            },
            {"network": st.sampled_from([network, network, "another_network"]), "confidence_score": st.floats(0, 1, width=32)},
        )
        window.days.append(
            {
                "alerts.parquet": alerts,
                "features.parquet": features,
                "clusters.parquet": clusters,
                "money_flows.parquet": flows,
                "address_labels.parquet": labels,
            }
        )
    return window


def write_drops(window: FuzzWindow, root: Path) -> Path:
    for offset, tables in enumerate(window.days):
        directory = root / window.network / (window.start + timedelta(days=offset)).isoformat() / f"{window.window_days}d"
        directory.mkdir(parents=True)
        for file_name, rows in tables.items():
            pq.write_table(pa.Table.from_pylist(rows, schema=DROP_FILES[file_name]), directory / file_name)
    return root


def run_dbt_nodes(*args: str) -> tuple[bool, list[tuple[str, str, str]], str]:
    """Run dbt in this process; returns (success, (resource type, name, status) per node, the log)."""
    import io
    from contextlib import redirect_stdout

    from dbt.cli.main import dbtRunner

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        result = dbtRunner().invoke(list(args) + ["--no-use-colors", "--log-format", "text"])
    assert result.exception is None, f"dbt raised: {result.exception}\n{buffer.getvalue()[-3000:]}"
    nodes = [(r.node.resource_type, r.node.name, str(r.status)) for r in (result.result or [])]
    return result.success, nodes, buffer.getvalue()


def note(message: str) -> None:
    """Shown with a failing example; printed as it happens with FUZZ_VERBOSE=1 (pytest -s)."""
    hypothesis_note(message)
    if os.environ.get("FUZZ_VERBOSE"):
        print(message, flush=True)


def one_line(error: PipelineError) -> str:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


@given(window=fuzz_windows())
def test_any_valid_drop_builds_trains_and_scores_or_fails_in_one_named_line(client, test_root: Path, window: FuzzWindow) -> None:
    note(repr(window))
    drops = write_drops(window, test_root / "fuzz_drops" / window.network)
    try:
        ingest(client, window.network, drops)
    except PipelineError as error:
        note(f"ingest refused: {one_line(error)}")
        return

    build_vars = dbt_vars(
        window.network, window.start, window.end, window_days=window.window_days, min_per_class=1,
        label_horizon_days=window.label_horizon_days, min_address_feature_coverage=window.coverage_gate,
    )  # fmt: skip
    ok, nodes, log = run_dbt_nodes("build", "--vars", build_vars)
    failed = [(kind, name, status) for kind, name, status in nodes if status in ("error", "fail", "runtime error")]
    note(f"dbt build {'passed' if ok else 'failed'}: {failed}")
    assert all(kind == "test" and status == "fail" and name in DATA_GATES for kind, name, status in failed), (failed, log[-4000:])
    assert ok == (not failed)

    built = {name for kind, name, status in nodes if kind == "model" and status == "success"}
    parameters = {"start": window.start, "end": window.end, "window_days": window.window_days}
    if "scoring_alerts" in built:
        raw = client.command(
            f"SELECT count() FROM {window.network}.raw_alerts "
            "WHERE processing_date BETWEEN {start:Date} AND {end:Date} AND window_days = {window_days:UInt16}",
            parameters=parameters,
        )
        scoring = client.query(f"SELECT count(), uniqExact(processing_date, alert_id) FROM {window.network}.scoring_alerts").result_rows[0]
        assert scoring == (raw, raw), (scoring, raw)
    if "training_alerts" in built:
        training = client.command(f"SELECT count() FROM {window.network}.training_alerts")
        labelled = client.command(f"SELECT count() FROM {window.network}.int_alert_labels")
        assert training == labelled, "the training table holds every labelled alert (mature dates only), and only those"
    if not ok:
        return

    output_dir = test_root / "fuzz_models" / window.network
    for model_type in ("alert_scorer", "cluster_scorer"):
        request = TrainRequest(model_type=model_type, network=window.network, output_dir=output_dir, min_per_class=1)
        try:
            outcome = train_model(request, client=client)
        except PipelineError as error:
            note(f"{model_type} not trained: {one_line(error)}")
            continue
        table = "scoring_alerts" if model_type == "alert_scorer" else "scoring_clusters"
        expected = client.command(
            f"SELECT count() FROM {window.network}.{table} WHERE processing_date = {{end:Date}}", parameters={"end": window.end}
        )
        if expected == 0:
            continue
        scored = score_date(model_type, window.end, network=window.network, model_id=outcome.model_id, output_dir=output_dir, client=client)
        assert scored.rows == expected

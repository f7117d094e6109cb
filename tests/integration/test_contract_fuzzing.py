"""Contract fuzzing: Hypothesis writes drops from the raw DDL alone, and the pipeline must take any of them.

Every column of every raw table gets values drawn from its type alone, as `DESCRIBE` shows the raw tables ClickHouse
builds from the DDL (`trainer/ingest/raw_tables.sql`), not as the sample generator parses it; only the relations
between tables (the addresses alerts, features, flows, clusters and labels share; the alert ids clusters name) are
drawn from common pools so that joins meet. Hypothesis draws each window's shape and up to three values per column
(its edge cases); every other row gets its own value from a stream Hypothesis seeds. Dates are any valid ones (leap
days, year ends, far future), drop windows of any length, strings any Unicode text (empty ones included) in
free-text and open-vocabulary columns, upstream features may be NaN, infinite or negative, addresses may lack
features, clusters may name members that are missing, labels may arrive after their alert or never, days may be
tiny and one-sided.

For every generated window: ingestion either loads it or fails with one line; `dbt build` either passes or fails
only on the completeness gates that name a data problem (never a unit test, never a model error); nothing is lost
or duplicated between raw and scoring tables; training either succeeds or fails with one line; a trained model
scores every alert of the last date.

Each example records the furthest stage it reached (`hypothesis.event`); the run's reach is printed in pytest's
warnings summary, and a minimum share of examples must have trained a model and scored with it. `make test` runs a
small, derandomised profile (`ci`); `make fuzz` runs the long one (HYPOTHESIS_PROFILE=long).
"""

from __future__ import annotations

import itertools
import math
import os
import random
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import note as hypothesis_note
from hypothesis import strategies as st

from tests.integration.support import dbt_vars
from trainer.errors import PipelineError
from trainer.ingest import ingest
from trainer.ingest.raw_tables import RAW_TABLES, ensure_raw_tables
from trainer.model_types import MODEL_SPECS
from trainer.score import score_date
from trainer.store.connection import qualified_name
from trainer.train.pipeline import TrainRequest, train_model

pytestmark = pytest.mark.usefixtures("with_unit_tests")

settings.register_profile(
    "ci",
    # Most examples train and score a model; four fixed ones reach both scoring and a refused training, and keep
    # make test within its time (the long profile explores).
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "4")),
    derandomize=True,  # the same examples on every CI run: no flaky builds
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking would re-run whole builds for minutes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=80, derandomize=False, database=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)

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

TYPOLOGIES = ("PEEL_CHAIN", "fan_in", "structuring")  # upstream's spellings of an open vocabulary
TIMESTAMPS = (datetime(1970, 1, 2), datetime(2105, 12, 31))  # within what DateTime holds
# Code points of the strings drawn from the seeded stream: ASCII, controls, Latin-1, the rest of the Basic
# Multilingual Plane and the astral planes; no surrogates, which UTF-8 cannot encode.
CODE_POINTS = ((0x20, 0x7E), (0x00, 0x1F), (0xA0, 0xFF), (0x100, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF))
NON_FINITE = (float("nan"), float("inf"), float("-inf"))
any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
key_text = any_text.filter(lambda value: value.strip() != "")  # keys: any non-blank text
_networks = itertools.count()

# The stages an example can reach, in order. Each example records the furthest (hypothesis.event) and the test
# asserts the share that trained a model and scored with it: a suite whose examples stop at the gates tests nothing
# past them.
REFUSED, GATED, NOT_TRAINED, TRAINED, SCORED = "refused at ingest", "gated by the data", "training refused", "trained", "scored"
STAGES = (REFUSED, GATED, NOT_TRAINED, TRAINED, SCORED)
MIN_SCORED_SHARE = 1 / 2 if PROFILE == "long" else 1 / 3
TRAINED_TYPES = tuple(MODEL_SPECS)
CONTRACT_DATABASE = "fuzz_contract"  # the raw tables built from the DDL alone, only to be described
ARROW_TYPES: dict[str, pa.DataType] = {
    "Bool": pa.bool_(),
    "String": pa.string(),
    "Date": pa.date32(),
    "DateTime": pa.timestamp("s"),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
}


class FuzzReach(UserWarning):
    """How far the examples of a run got; a warning, so that pytest's summary shows it, from xdist workers too."""


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type a drop file writes for a column of this ClickHouse type; Decimal as float64, as upstream does."""
    if clickhouse_type.startswith("Array(") and clickhouse_type.endswith(")"):
        return pa.list_(arrow_type(clickhouse_type[len("Array(") : -1]))
    if clickhouse_type.startswith("Decimal("):
        return pa.float64()
    if clickhouse_type not in ARROW_TYPES:
        raise AssertionError(f"the raw tables have a column of type {clickhouse_type}, which the fuzz suite cannot draw yet")
    return ARROW_TYPES[clickhouse_type]


@dataclass(frozen=True)
class RawColumn:
    """A column of a raw table as ClickHouse built it from the DDL."""

    name: str
    clickhouse_type: str

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_type(self.clickhouse_type)

    @property
    def decimal(self) -> bool:
        """Decimal holds no NaN or infinity, so its measures are drawn finite."""
        return self.clickhouse_type.startswith("Decimal(")


Contract = dict[str, list[RawColumn]]  # drop file name -> the columns of its raw table


def described_contract(client: Any) -> Contract:
    """Each drop file's columns as `DESCRIBE` shows the raw tables built from the DDL in a database of their own,
    not as the sample generator parses the DDL: a mistake in that parser cannot hide in both."""
    ensure_raw_tables(client, CONTRACT_DATABASE)
    return {
        table.file_name: [
            RawColumn(row[0], row[1]) for row in client.query(f"DESCRIBE TABLE {qualified_name(CONTRACT_DATABASE, table.name)}").result_rows
        ]
        for table in RAW_TABLES
    }


def random_text(rng: random.Random) -> str:
    return "".join(chr(rng.randint(*rng.choice(CODE_POINTS))) for _ in range(rng.randrange(13)))


@dataclass(frozen=True)
class Values:
    """How a column is drawn: up to three values by Hypothesis (`strategy`: the edge cases it favours), the other
    rows `fresh` from the window's seeded stream. Hypothesis' budget per example holds a few hundred values; a
    window holds tens of thousands."""

    strategy: st.SearchStrategy[Any]
    fresh: Callable[[random.Random], Any]


def one_of(options: Sequence[Any]) -> Values:
    return Values(st.sampled_from(options), lambda rng: rng.choice(options))


def text_or(options: Sequence[str]) -> Values:
    """Any text, or one of the spellings upstream uses."""
    return Values(any_text | st.sampled_from(options), lambda rng: random_text(rng) if rng.random() < 0.5 else rng.choice(options))


UNIT = Values(st.floats(0, 1, width=32), lambda rng: rng.random())
MILLISECONDS = Values(st.integers(0, 2_000_000_000_000), lambda rng: rng.randrange(2_000_000_000_000))


def typed(data_type: pa.DataType, measure: bool, decimal: bool) -> Values:
    """Any value of a column's type. Measures (upstream features) may be negative, and NaN or infinite unless the
    column is Decimal; other numbers are amounts and counts, finite and non-negative."""
    if pa.types.is_boolean(data_type):
        return Values(st.booleans(), lambda rng: rng.random() < 0.5)
    if pa.types.is_unsigned_integer(data_type):
        top = 2 ** (data_type.bit_width - 1)
        return Values(st.integers(0, top), lambda rng: rng.choice((0, top, rng.randrange(top), int(top ** rng.random()))))
    if pa.types.is_floating(data_type):
        width, bound = (32, 1e9) if pa.types.is_float32(data_type) else (64, MAX_USD)

        def fresh(rng: random.Random) -> float:
            value = rng.choice((0.0, bound, rng.uniform(0, bound), 10 ** rng.uniform(-6, math.log10(bound))))
            if measure and not decimal and rng.random() < 0.05:
                return rng.choice(NON_FINITE)
            return -value if measure and rng.random() < 0.5 else value

        if measure and decimal:
            return Values(st.floats(-bound, bound, width=width), fresh)
        if measure:
            return Values(st.floats(-bound, bound, width=width) | st.sampled_from(NON_FINITE), fresh)
        return Values(st.floats(0, bound, width=width), fresh)
    if pa.types.is_timestamp(data_type):
        seconds = int((TIMESTAMPS[1] - TIMESTAMPS[0]).total_seconds())
        return Values(st.datetimes(*TIMESTAMPS), lambda rng: TIMESTAMPS[0] + timedelta(seconds=rng.randrange(seconds)))
    if pa.types.is_list(data_type):
        item = typed(data_type.value_type, measure, decimal)
        return Values(st.lists(item.strategy, max_size=4), lambda rng: [item.fresh(rng) for _ in range(rng.randrange(5))])
    if pa.types.is_string(data_type):
        return Values(any_text, random_text)
    raise AssertionError(f"no strategy for {data_type}")


@dataclass
class FuzzWindow:
    network: str
    start: date
    window_days: int
    sized: bool
    label_horizon_days: int
    coverage_gate: float
    model_types: tuple[str, ...]  # trained in this order; the first that trains is scored
    # Not an init field: Hypothesis' report prints the init fields, and the rows would fill screens.
    days: list[dict[str, list[dict[str, Any]]]] = field(default_factory=list, init=False, repr=False)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=len(self.days) - 1)

    def __repr__(self) -> str:
        """Short enough to read in a failure report; the drops themselves stay on disk under fuzz_drops/<network>."""
        rows = {name.split(".")[0]: sum(len(day[name]) for day in self.days) for name in self.days[0]} if self.days else {}
        return (
            f"FuzzWindow({self.network}, {self.start}..{self.end}, {self.window_days}d, {'sized' if self.sized else 'free'}, "
            f"horizon {self.label_horizon_days}, coverage {self.coverage_gate}, models {self.model_types}, rows {rows})"
        )


@st.composite
def fuzz_windows(draw: st.DrawFn, contract: Contract) -> FuzzWindow:
    network = f"fuzz_{next(_networks)}"
    # Three windows in four (fewer in practice: Hypothesis favours 0) are sized to clear the completeness gates, so
    # that training and scoring run too: labels of both classes for most addresses on the first day, features for
    # every address, and days enough for the horizon twice (the last dates' labels are immature; training rows whose
    # label window reaches the held-out test date are purged), that test date and two training dates. The others are
    # as small and skewed as Hypothesis likes, and may draw a horizon that never matures within them.
    sized = draw(st.integers(0, 3)) > 0
    horizon = draw(st.integers(0, 3) if sized else st.sampled_from([0, 1, 2, 14]))
    window = FuzzWindow(
        network,
        start=draw(st.sampled_from(SPECIAL_STARTS) | st.dates(date(2000, 1, 1), date(2140, 12, 31))),
        window_days=draw(st.sampled_from([1, 7, 30, 195]) | st.integers(1, 400)),
        sized=sized,
        label_horizon_days=horizon,
        coverage_gate=draw(st.sampled_from([0.0, 0.95])),
        model_types=tuple(draw(st.permutations(TRAINED_TYPES))),
    )
    day_count = 2 * horizon + 1 + draw(st.integers(2, 3)) if sized else draw(st.integers(1, 5))
    rng = draw(st.randoms(use_true_random=True))  # seeded by Hypothesis: the same window on every derandomised run
    # The share of rows taking one of the values Hypothesis drew for their column; at 1 every day holds at most three.
    pinned_share = draw(st.sampled_from([0.0, 0.1, 0.5] if sized else [0.0, 0.5, 1.0]))
    pinned: dict[tuple[str, str], list[Any]] = {}

    def keys(low: int, high: int) -> list[str]:
        """Distinct non-blank keys of any text: a few drawn stems, numbered."""
        stems = draw(st.lists(key_text, min_size=1, max_size=3))
        return list(dict.fromkeys(f"{stems[i % len(stems)]}{i}" for i in range(draw(st.integers(low, high)))))

    def column(file_name: str, name: str, values: Values, count: int) -> list[Any]:
        if count == 0:
            return []
        if (file_name, name) not in pinned:
            pinned[file_name, name] = draw(st.lists(values.strategy, min_size=1, max_size=3))
        return [rng.choice(pinned[file_name, name]) if rng.random() < pinned_share else values.fresh(rng) for _ in range(count)]

    def rows(file_name: str, day: date, per_row: dict[str, list[Any]], special: dict[str, Values]) -> list[dict[str, Any]]:
        """Rows of one file: `per_row` columns as given (the relations), every other column drawn from its type as
        the built raw table declares it (or from `special`)."""
        count = len(next(iter(per_row.values())))
        table: list[dict[str, Any]] = [{"processing_date": day, "window_days": window.window_days} for _ in range(count)]
        for raw in contract[file_name]:
            if raw.name in ("processing_date", "window_days"):
                continue
            if raw.name in per_row:
                values = per_row[raw.name]
            else:
                kind = special.get(raw.name) or typed(raw.arrow_type, file_name == "features.parquet", raw.decimal)
                values = column(file_name, raw.name, kind, count)
            for row, value in zip(table, values, strict=True):
                row[raw.name] = value
        return table

    pool = keys(60, 120) if sized else keys(2, 40)
    for offset in range(day_count):
        day = window.start + timedelta(days=offset)
        alert_ids = keys(20, 40) if sized else keys(1, 30)
        alerts = rows(
            "alerts.parquet",
            day,
            {"alert_id": alert_ids, "address": [rng.choice(pool) for _ in alert_ids]},
            {"severity": one_of(RISK_LEVELS), "alert_confidence_score": UNIT, "typology_type": text_or(TYPOLOGIES)},
        )
        covered = pool if sized else rng.sample(pool, draw(st.integers(0, len(pool))))
        features = rows("features.parquet", day, {"address": covered}, {})
        members = [*alert_ids, "missing-alert"]
        cluster_ids = keys(12, 20) if sized else keys(0, 6)
        # A sized window's clusters have few members, so that some have no high-risk one: both classes.
        member_counts = (1, 3) if sized else (0, 8)
        clusters = rows(
            "clusters.parquet",
            day,
            {
                "cluster_id": cluster_ids,
                "primary_alert_id": [rng.choice(members) for _ in cluster_ids],
                "addresses_involved": [
                    [rng.choice(pool) if rng.random() < 0.95 else "unknown-member" for _ in range(rng.randint(*member_counts))]
                    for _ in cluster_ids
                ],
            },
            {
                "primary_address": Values(st.just("") | st.sampled_from(pool), lambda rng: rng.choice(("", rng.choice(pool)))),
                "related_alert_ids": Values(
                    st.lists(st.sampled_from(members), max_size=5),
                    lambda rng, members=members: [rng.choice(members) for _ in range(rng.randrange(6))],
                ),
                "severity_max": text_or(RISK_LEVELS),
                "confidence_avg": UNIT,
                "earliest_alert_timestamp": MILLISECONDS,
                "latest_alert_timestamp": MILLISECONDS,
            },
        )
        pairs = rng.sample(range(len(pool) ** 2), min(draw(st.integers(0, 30)), len(pool) ** 2))
        flows = rows(
            "money_flows.parquet",
            day,
            {"from_address": [pool[pair // len(pool)] for pair in pairs], "to_address": [pool[pair % len(pool)] for pair in pairs]},
            {},
        )
        # Labels arrive on any day, before the alert, after it or never, an address possibly twice; a sized window
        # labels most addresses on its first day.
        count = draw(st.integers(len(pool) * 3 // 4 if sized and offset == 0 else 0, len(pool)))
        labelled = rng.sample(pool, count) if sized else rng.choices(pool, k=count)
        labels = rows(
            "address_labels.parquet",
            day,
            {"address": labelled, "risk_level": [rng.choice(RISK_LEVELS) for _ in labelled]},
            {"network": one_of([network, network, "another_network"]), "confidence_score": UNIT},
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


def write_drops(window: FuzzWindow, root: Path, contract: Contract) -> Path:
    schemas = {file_name: pa.schema([(raw.name, raw.arrow_type) for raw in columns]) for file_name, columns in contract.items()}
    for offset, tables in enumerate(window.days):
        directory = root / window.network / (window.start + timedelta(days=offset)).isoformat() / f"{window.window_days}d"
        directory.mkdir(parents=True)
        for file_name, rows in tables.items():
            pq.write_table(pa.Table.from_pylist(rows, schema=schemas[file_name]), directory / file_name)
    return root


def run_dbt_nodes(*args: str) -> tuple[bool, list[tuple[str, str, str, str]], str]:
    """Run dbt in this process; returns (success, (resource type, name, status, message) per node, the log)."""
    import io
    from contextlib import redirect_stdout

    from dbt.cli.main import dbtRunner

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        result = dbtRunner().invoke(list(args) + ["--no-use-colors", "--log-format", "text"])
    assert result.exception is None, f"dbt raised: {result.exception}\n{buffer.getvalue()[-3000:]}"
    nodes = [(r.node.resource_type, r.node.name, str(r.status), str(r.message or "")[:300]) for r in (result.result or [])]
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


def run_window(client: Any, test_root: Path, contract: Contract, window: FuzzWindow) -> str:
    """Ingest, build, train and score one window, checking each stage's contract; returns the furthest stage reached."""
    note(repr(window))
    drops = write_drops(window, test_root / "fuzz_drops" / window.network, contract)
    try:
        ingest(client, window.network, drops)
    except PipelineError as error:
        note(f"ingest refused: {one_line(error)}")
        return REFUSED

    build_vars = dbt_vars(
        window.network, window.start, window.end, window_days=window.window_days, min_per_class=1,
        label_horizon_days=window.label_horizon_days, min_address_feature_coverage=window.coverage_gate,
    )  # fmt: skip
    ok, nodes, log = run_dbt_nodes("build", "--vars", build_vars)
    failed = [node for node in nodes if node[2] in ("error", "fail", "runtime error")]
    note(f"dbt build {'passed' if ok else 'failed'}: {failed}")
    assert all(kind == "test" and status == "fail" and name in DATA_GATES for kind, name, status, _ in failed), (failed, log[-4000:])
    assert ok == (not failed)

    built = {name for kind, name, status, _ in nodes if kind == "model" and status == "success"}
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

    # A model type trains when its label model's and training table's gates held, whatever the other type's did.
    gated = tuple(name for _, name, _, _ in failed)
    trainable = [
        model_type
        for model_type in window.model_types
        if {MODEL_SPECS[model_type].training_table, MODEL_SPECS[model_type].scoring_table} <= built
        and not any(name.startswith((MODEL_SPECS[model_type].training_table, MODEL_SPECS[model_type].label_model)) for name in gated)
    ]
    if not trainable:
        return GATED
    output_dir = test_root / "fuzz_models" / window.network
    for model_type in trainable:  # the first that trains is scored: one model per window keeps make test's cost
        request = TrainRequest(model_type=model_type, network=window.network, output_dir=output_dir, min_per_class=1)
        try:
            outcome = train_model(request, client=client)
        except PipelineError as error:
            note(f"{model_type} not trained: {one_line(error)}")
            continue
        table = MODEL_SPECS[model_type].scoring_table
        expected = client.command(
            f"SELECT count() FROM {window.network}.{table} WHERE processing_date = {{end:Date}}", parameters={"end": window.end}
        )
        if expected == 0:
            return TRAINED
        scored = score_date(model_type, window.end, network=window.network, model_id=outcome.model_id, output_dir=output_dir, client=client)
        assert scored.rows == expected
        return SCORED
    return NOT_TRAINED


def describe_reach(reach: Counter[str]) -> str:
    examples = sum(reach.values())
    stages = ", ".join(f"{stage} {reach[stage]}" for stage in STAGES)
    share = reach[SCORED] / examples if examples else 0.0
    return (
        f"contract fuzz reach over {examples} examples: {stages}; {share:.0%} trained and scored "
        f"(at least {MIN_SCORED_SHARE:.0%} must, profile {PROFILE})"
    )


def test_any_valid_drop_builds_trains_and_scores_or_fails_in_one_named_line(client, test_root: Path) -> None:
    contract = described_contract(client)
    reach: Counter[str] = Counter()

    @given(window=fuzz_windows(contract))
    def example(window: FuzzWindow) -> None:
        stage = run_window(client, test_root, contract, window)
        note(f"reached: {stage}")
        event(stage)
        reach[stage] += 1

    example()
    summary = describe_reach(reach)
    warnings.warn(summary, FuzzReach, stacklevel=1)
    assert reach[SCORED] >= MIN_SCORED_SHARE * sum(reach.values()) > 0, summary

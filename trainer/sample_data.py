"""Seeded, reproducible generator of sample raw drops for the alert triage pipeline.

A raw drop is the set of five Parquet files an upstream producer delivers for one
``(network, processing_date, window_days)``::

    <out>/<network>/<YYYY-MM-DD>/<window_days>d/
        alerts.parquet  features.parquet  clusters.parquet
        money_flows.parquet  address_labels.parquet

Column names, order and types follow ``trainer/sql/raw_tables.sql``; Decimal128(18)
columns are written as float64, which the raw contract allows.

The generator draws an address universe with a hidden risk (a bad flag plus a
continuous latent score). The hidden risk is never written to any column; it only
shifts, noisily, a handful of alert attributes, address features, counterparty
homophily in money flows, cluster composition and the analyst labels. A model trained
on features derived from these tables should therefore beat chance clearly without
being perfect. With ``random_labels=True`` every label's risk level is drawn
independently of the hidden risk (same marginal distribution), so nothing in the
data predicts the label: the leakage test relies on that. Addresses do recur across
drops (alert popularity is skewed), so a model can still memorise an address's label;
a leakage check must keep training and test addresses apart, as the out-of-time split does.

With ``label_delay_days=N`` (``--label-delay-days``; ``make demo`` uses 7) labels behave like closed
investigations: a label found during the window is published N days after its address's first alert, a
re-label N days after it is made; the history known on the first day is there from the start. Without it, a
label appears on the day it is found, whether or not its address was alerted.

Every other day is written in upstream's own style (typologies in upper case, clusters without
``primary_address``, cluster alert times in milliseconds), so the pipeline always reads both. What the generator
still assumes, and real drops need not hold: its vocabularies are the lists in this module (upstream's are open,
see the dbt vars), every drop holds every file with rows, labels are lower case, upstream features are finite and
non-negative, and one drop window (``--window-days``) per run. The contract fuzzing suite
(tests/test_contract_fuzzing.py) writes drops without any of these assumptions.

Everything is vectorised with numpy and pyarrow; there is no per-alert Python loop.
Each drop gets its own random stream derived from ``(seed, network, drop index)``,
so output is identical for identical arguments.

CLI::

    python -m trainer.sample_data --network ethereum --start 2024-01-01 \\
        --end 2024-03-31 --out DIR [--seed N] [--alerts-per-day N] [--window-days 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import re
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from trainer.cli_support import run_cli
from trainer.connection import sql_statements
from trainer.errors import PipelineError


class SampleDataError(PipelineError, ValueError):
    """Invalid generator arguments; the message is one sentence the CLI prints as is."""


NETWORK_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

SECONDS_PER_DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
MAX_DECIMAL_USD = 1e15  # far below the Decimal128(18) limit of ~1.7e20
FLOWS_PER_ALERT = 10
FEATURE_DROP_SHARE = 0.02
LABELLED_SHARE = 0.70
FIRST_DAY_DISCOVERY_SHARE = 0.60
RELABEL_SHARE = 0.05
# scales how strongly the hidden risk shifts raw columns (labels use the unscaled score);
# tuned so that a boosted model on derived features lands well inside (0.5, 1.0) AUC
SIGNAL_STRENGTH = 0.7

# --------------------------------------------------------------------------------------
# Schemas (mirror trainer/sql/raw_tables.sql, column order included)
# --------------------------------------------------------------------------------------

_ARROW_TYPES: dict[str, pa.DataType] = {
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Decimal128(18)": pa.float64(),
    "Date": pa.date32(),
    "DateTime": pa.timestamp("s"),
    "Bool": pa.bool_(),
    "String": pa.string(),
    "Array(String)": pa.list_(pa.string()),
    "Array(UInt16)": pa.list_(pa.uint16()),
}


def _schema(table: str) -> pa.Schema:
    """The Arrow schema of a raw table, read from its DDL in trainer/sql/raw_tables.sql (one source of truth)."""
    for statement in sql_statements("raw_tables.sql"):
        header, _, body = statement.partition("(")
        if header.split()[-1] != table:
            continue
        fields = []
        for line in body.rsplit(") ENGINE", 1)[0].splitlines():
            if line.strip():
                name, ddl_type = line.strip().rstrip(",").split()
                fields.append(pa.field(name, _ARROW_TYPES[ddl_type]))
        return pa.schema(fields)
    raise KeyError(f"raw_tables.sql has no table {table}")


ALERTS_SCHEMA = _schema("raw_alerts")
FEATURES_SCHEMA = _schema("raw_features")
CLUSTERS_SCHEMA = _schema("raw_clusters")
MONEY_FLOWS_SCHEMA = _schema("raw_money_flows")
ADDRESS_LABELS_SCHEMA = _schema("raw_address_labels")

DROP_FILES: dict[str, pa.Schema] = {
    "alerts.parquet": ALERTS_SCHEMA,
    "features.parquet": FEATURES_SCHEMA,
    "clusters.parquet": CLUSTERS_SCHEMA,
    "money_flows.parquet": MONEY_FLOWS_SCHEMA,
    "address_labels.parquet": ADDRESS_LABELS_SCHEMA,
}

# --------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------

TYPOLOGIES = ("fan_in", "fan_out", "peel_chain", "structuring", "mixer_hop", "layering", "rapid_movement")
_TYPOLOGY_BASE = np.log([0.20, 0.20, 0.12, 0.14, 0.06, 0.12, 0.16])
_TYPOLOGY_RISK_COEF = np.array([-0.35, -0.25, 0.35, 0.45, 0.90, 0.45, 0.10])
_TYPOLOGY_SEVERITY_OFFSET = np.array([0.0, 0.0, 0.15, 0.2, 0.4, 0.2, 0.05])
_PATTERN_TYPES = (
    "many_to_one",
    "one_to_many",
    "sequential_peeling",
    "threshold_avoidance",
    "mixing_service_interaction",
    "multi_hop_layering",
    "high_velocity_transfer",
)
_PATTERN_VARIANTS = 3
_TYPOLOGY_TITLES = (
    "Fan-in",
    "Fan-out",
    "Peel chain",
    "Structuring",
    "Mixer hop",
    "Layering",
    "Rapid movement",
)
# cluster type implied by a typology: fan_pattern, flow_chain or temporal_burst
_TYPOLOGY_CLUSTER_TYPE = np.array([1, 1, 2, 3, 2, 2, 3])

SEVERITIES = ("low", "medium", "high", "critical")
_SEVERITY_CUTS = np.array([-0.2, 0.9, 1.9])

ADDRESS_TYPES = ("eoa", "contract", "exchange", "mixer", "bridge", "unknown")
_TYPE_EXCHANGE, _TYPE_MIXER, _TYPE_CONTRACT = 2, 3, 1
_TYPE_P_GOOD = np.array([0.62, 0.15, 0.10, 0.01, 0.04, 0.08])
_TYPE_P_BAD = np.array([0.45, 0.12, 0.05, 0.13, 0.10, 0.15])
_SUBTYPES = (
    ("personal_wallet", "hot_wallet", "fresh_wallet"),
    ("token_contract", "defi_router", "multisig"),
    ("cex_deposit", "cex_hot_wallet", "dex_aggregator"),
    ("coinjoin_pool", "tornado_pool", "custodial_mixer"),
    ("lock_mint", "liquidity_bridge", "canonical_bridge"),
    ("unclassified", "insufficient_data", "new_entity"),
)

RISK_INDICATORS = (
    "high_velocity",
    "round_amounts",
    "new_counterparties",
    "mixer_exposure",
    "sanctioned_exposure",
    "cross_chain_hop",
    "dormant_reactivation",
    "threshold_avoidance",
    "night_activity",
    "rapid_in_out",
    "many_small_inputs",
    "high_value_transfer",
)
_RISKY_INDICATOR = np.array([0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
_MAX_INDICATORS = 6
_EVIDENCE_MAX_ITEMS = 12
_EVIDENCE_MAX_HOPS = 8

CLUSTER_TYPES = ("same_entity", "fan_pattern", "flow_chain", "temporal_burst")

# labels per risk level; address type implied by a label (-1: keep the address's own type)
_LABELS_BY_LEVEL = (
    (("retail", -1), ("exchange", _TYPE_EXCHANGE), ("defi_user", -1), ("nft_trader", -1)),
    (("gambling", -1), ("high_risk_exchange", _TYPE_EXCHANGE), ("unverified_service", -1)),
    (("scam", -1), ("phishing", -1), ("fraud", -1), ("mixer_user", -1)),
    (("sanctioned", -1), ("ransomware", -1), ("darknet_market", -1), ("mixer", _TYPE_MIXER)),
)
LABEL_SOURCES = ("analyst", "vendor_a", "vendor_b", "community")
_SOURCE_P = np.array([0.35, 0.30, 0.25, 0.10])
_SOURCE_TRUST = ("high", "medium", "medium", "low")
POSITIVE_RISK_LEVELS = ("high", "critical")

_ASSETS_DEFAULT = (("ETH", 2500.0), ("USDT", 1.0), ("USDC", 1.0), ("DAI", 1.0), ("WETH", 2500.0), ("WBTC", 45000.0), ("LINK", 15.0))
_ASSET_P = np.array([0.38, 0.25, 0.16, 0.06, 0.07, 0.04, 0.04])


def _vocab(values) -> pa.Array:
    return pa.array(list(values), type=pa.string())


_V_TYPOLOGY = _vocab(TYPOLOGIES)
_V_TYPOLOGY_UPPER = _vocab(t.upper() for t in TYPOLOGIES)
_V_PATTERN_TYPE = _vocab(_PATTERN_TYPES)
_V_PATTERN_ID = _vocab(f"pat_{t}_{k + 1:02d}" for t in TYPOLOGIES for k in range(_PATTERN_VARIANTS))
_V_SEVERITY = _vocab(SEVERITIES)
_V_ADDRESS_TYPE = _vocab(ADDRESS_TYPES)
_V_SUBTYPE = _vocab(s for group in _SUBTYPES for s in group)
_V_DESCRIPTION = _vocab(f"{title} activity flagged at {sev} severity" for title in _TYPOLOGY_TITLES for sev in SEVERITIES)
_V_EVIDENCE = _vocab(f'{{"items": {i}, "hops": {h}}}' for i in range(1, _EVIDENCE_MAX_ITEMS + 1) for h in range(1, _EVIDENCE_MAX_HOPS + 1))
_V_INDICATOR = _vocab(RISK_INDICATORS)
_V_CLUSTER_TYPE = _vocab(CLUSTER_TYPES)
_V_ASSET = _vocab(a for a, _ in _ASSETS_DEFAULT)
_ASSET_PRICE = np.array([p for _, p in _ASSETS_DEFAULT])
_V_SOURCE = _vocab(LABEL_SOURCES)
_V_TRUST = _vocab(_SOURCE_TRUST)
_V_RISK_LEVEL = _vocab(("low", "medium", "high", "critical"))

# --------------------------------------------------------------------------------------
# Vectorised helpers
# --------------------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _strings_from_matrix(mat: np.ndarray) -> pa.Array:
    """Fixed-width byte matrix (n, w) -> pa.string array, one row per string."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, width = mat.shape
    if (n + 1) * width >= 2**31:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))
        return arr.cast(pa.string())
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


def _numbered_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal numbers, built without a Python loop."""
    numbers = np.asarray(numbers, dtype=np.int64)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    mat = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    mat[:, : len(head)] = head
    mat[:, len(head) :] = (numbers[:, None] // powers) % 10 + 48
    return _strings_from_matrix(mat)


def _hex_addresses(rng: np.random.Generator, n: int) -> pa.Array:
    raw = rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
    mat = np.empty((n, 42), dtype=np.uint8)
    mat[:, 0] = ord("0")
    mat[:, 1] = ord("x")
    mat[:, 2::2] = _HEX[raw >> 4]
    mat[:, 3::2] = _HEX[raw & 15]
    return _strings_from_matrix(mat)


def _pick(vocab: pa.Array, idx: np.ndarray) -> pa.Array:
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row from softmax(logits) via the Gumbel-max trick."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _choice(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(size) * p.sum(), side="right"), len(p) - 1)


def _offsets(counts: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.array(offsets)


def _fixed_lists(mat: np.ndarray, value_type: pa.DataType) -> pa.Array:
    n, width = mat.shape
    values = pa.array(np.ascontiguousarray(mat).ravel(), type=value_type)
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values, type=pa.list_(value_type))


def _var_lists(counts: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(_offsets(counts), values, type=pa.list_(values.type))


def _u16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 65_535).astype(np.uint16)


def _u32(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 4_294_967_295).astype(np.uint32)


def _usd(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -MAX_DECIMAL_USD, MAX_DECIMAL_USD), 2)


def _normalised_entropy(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True).astype(np.float64)
    p = counts / np.maximum(total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return (h / np.log(counts.shape[1])).astype(np.float32)


def _table(schema: pa.Schema, columns: dict, n: int) -> pa.Table:
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arr = value if value.type == field.type else value.cast(field.type)
        elif np.ndim(value) == 0:
            arr = pa.array(np.full(n, value), type=field.type) if n else pa.array([], type=field.type)
        else:
            arr = pa.array(np.asarray(value), type=field.type)
        if len(arr) != n:
            raise AssertionError(f"column {field.name} has {len(arr)} rows instead of {n}")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------------------
# Address universe and labels
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Universe:
    n: int
    addresses: pa.Array  # '0x' + 40 hex
    is_bad: np.ndarray  # hidden
    risk: np.ndarray  # hidden continuous score, ~0 good / ~1 bad
    address_type: np.ndarray  # index into ADDRESS_TYPES
    community: np.ndarray  # uint32
    age_days: np.ndarray  # float, days since first activity
    alert_cdf: np.ndarray  # popularity for being alerted (skewed, bad favoured)
    good_pool: np.ndarray
    good_cdf: np.ndarray
    bad_pool: np.ndarray
    bad_cdf: np.ndarray


def _make_universe(rng: np.random.Generator, n: int) -> _Universe:
    is_bad = rng.random(n) < 0.2
    risk = is_bad.astype(np.float64) + 0.35 * rng.standard_normal(n)
    type_logits = np.log(np.where(is_bad[:, None], _TYPE_P_BAD, _TYPE_P_GOOD))
    address_type = _categorical(rng, type_logits).astype(np.int8)
    community = rng.integers(0, max(1, n // 100), n).astype(np.uint32)  # ids relabelled per drop
    age_days = np.exp(rng.normal(5.5 - 0.8 * is_bad, 1.3))
    popularity = rng.pareto(1.6, n) + 1.0
    alert_weight = popularity * np.where(is_bad, 1.8, 1.0)
    alert_cdf = np.cumsum(alert_weight)
    alert_cdf /= alert_cdf[-1]
    pools = []
    for mask in (~is_bad, is_bad):
        pool = np.flatnonzero(mask)
        if len(pool) == 0:  # tiny universes only
            pool = np.arange(n)
        cdf = np.cumsum(popularity[pool])
        pools.extend([pool, cdf / cdf[-1]])
    return _Universe(n, _hex_addresses(rng, n), is_bad, risk, address_type, community, age_days, alert_cdf, *pools)


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


@dataclass(frozen=True)
class _Labels:
    table: pa.Table  # all label rows, sorted by drop index (processing_date) of their discovery
    day_bounds: np.ndarray  # row offsets per drop index, len n_days + 1
    labelled: np.ndarray  # per address
    positive: np.ndarray  # per address, final risk level in POSITIVE_RISK_LEVELS
    row_address: np.ndarray  # per row: the address (universe index)
    row_day: np.ndarray  # per row: the drop index of its discovery (0: history known on the first day)
    row_relabel: np.ndarray  # per row: a later re-label of an address labelled before

    def published(self, day: int, date: dt.date, first_alert_day: np.ndarray, delay: int) -> pa.Table:
        """The label rows of one drop. Without a delay: those discovered that day. With one, investigations close
        after the alerts that opened them: a label found during the window is published `delay` days after its
        address's first alert (never, for an address without alerts), a re-label `delay` days after its discovery;
        the history known on the first day is there from the start."""
        if not delay:
            return self.table.slice(int(self.day_bounds[day]), int(self.day_bounds[day + 1] - self.day_bounds[day]))
        first_alert = first_alert_day[self.row_address]
        due = np.where(
            self.row_day == 0,
            0,
            np.where(self.row_relabel, self.row_day + delay, np.where(first_alert >= 0, first_alert + delay, -1)),
        )
        rows = self.table.take(pa.array(np.flatnonzero(due == day)))
        dates = pa.array([date] * rows.num_rows, pa.date32())
        return rows.set_column(rows.schema.get_field_index("processing_date"), "processing_date", dates)


def _make_labels(
    rng: np.random.Generator,
    univ: _Universe,
    network: str,
    window_days: int,
    start: dt.date,
    n_days: int,
    random_labels: bool,
) -> _Labels:
    n = univ.n
    labelled_idx = np.flatnonzero(rng.random(n) < LABELLED_SHARE)
    m = len(labelled_idx)
    s = univ.risk[labelled_idx]
    # analyst view of the hidden score: ~10 % disagree with the hidden bad flag, mostly
    # near the boundary; levels inside each class follow the score too
    seen = s + rng.normal(0.0, 0.15, m)
    positive = seen > 0.5
    upper = np.where(positive, seen > 1.25, seen > 0.05)
    level = 2 * positive + upper
    if random_labels:
        level = level[rng.permutation(m)]  # same marginal, independent of the hidden risk
    # label string inside the level, then the address type it implies
    label_vocab = [name for group in _LABELS_BY_LEVEL for name, _ in group]
    implied_type = np.array([t for group in _LABELS_BY_LEVEL for _, t in group])
    group_size = np.array([len(g) for g in _LABELS_BY_LEVEL])
    group_start = np.concatenate([[0], np.cumsum(group_size)[:-1]])
    label_idx = group_start[level] + np.floor(rng.random(m) * group_size[level]).astype(np.int64)
    addr_type = univ.address_type[labelled_idx].astype(np.int64)
    addr_type = np.where(implied_type[label_idx] >= 0, implied_type[label_idx], addr_type)
    subtype_idx = addr_type * 3 + rng.integers(0, 3, m)
    source = _choice(rng, _SOURCE_P, m)
    confidence = rng.uniform(0.5, 1.0, m)
    # discovery date: most labels are known on the first date, the rest trickle in
    first = rng.random(m) < FIRST_DAY_DISCOVERY_SHARE
    later = rng.integers(1, max(n_days, 2), m) if n_days > 1 else np.zeros(m, dtype=np.int64)
    day = np.where(first | (n_days == 1), 0, later)
    # occasional re-label on a later date with a different confidence
    relabel = (rng.random(m) < RELABEL_SHARE) & (day < n_days - 1)
    r = np.flatnonzero(relabel)
    r_day = day[r] + 1 + np.floor(rng.random(len(r)) * (n_days - 1 - day[r])).astype(np.int64)
    r_conf = 0.5 + np.mod(confidence[r] - 0.5 + rng.uniform(0.05, 0.45, len(r)), 0.5)
    r_source = _choice(rng, _SOURCE_P, len(r))

    rows = np.concatenate([np.arange(m), r])
    row_day = np.concatenate([day, r_day])
    row_conf = np.concatenate([confidence, r_conf])
    row_source = np.concatenate([source, r_source])
    order = np.argsort(row_day, kind="stable")
    rows, row_day, row_conf, row_source = rows[order], row_day[order], row_conf[order], row_source[order]
    total = len(rows)
    start_days = (start - EPOCH).days
    table = _table(
        ADDRESS_LABELS_SCHEMA,
        {
            "processing_date": (start_days + row_day).astype(np.int32),
            "window_days": np.uint16(window_days),
            "network": network,
            "address": univ.addresses.take(pa.array(labelled_idx[rows])),
            "label": _pick(_vocab(label_vocab), label_idx[rows]),
            "network_type": "evm",
            "address_type": _pick(_V_ADDRESS_TYPE, addr_type[rows]),
            "address_subtype": _pick(_V_SUBTYPE, subtype_idx[rows]),
            "risk_level": _pick(_V_RISK_LEVEL, level[rows]),
            "confidence_score": row_conf.astype(np.float32),
            "trust_level": _pick(_V_TRUST, row_source),
            "source": _pick(_V_SOURCE, row_source),
        },
        total,
    )
    day_bounds = np.searchsorted(row_day, np.arange(n_days + 1), side="left")
    labelled = np.zeros(n, dtype=bool)
    labelled[labelled_idx] = True
    pos = np.zeros(n, dtype=bool)
    pos[labelled_idx] = level >= 2
    return _Labels(table, day_bounds, labelled, pos, labelled_idx[rows], row_day, rows >= m)


# --------------------------------------------------------------------------------------
# One drop
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DropContext:
    network: str
    window_days: int
    date: dt.date
    alerts_per_day: int

    @property
    def day_index(self) -> int:
        return (self.date - EPOCH).days

    @property
    def upstream_style(self) -> bool:
        """Every other day is written the way upstream's own producer writes it: typologies in upper case, clusters
        without primary_address and with their alert times in milliseconds. The pipeline must read both styles."""
        return self.day_index % 2 == 1

    @property
    def day_ts(self) -> int:
        return self.day_index * SECONDS_PER_DAY


def _alerts(rng: np.random.Generator, ctx: _DropContext, univ: _Universe) -> tuple[pa.Table, dict]:
    a = ctx.alerts_per_day
    addr = _draw(rng, univ.alert_cdf, a)
    s = SIGNAL_STRENGTH * univ.risk[addr]
    noise = rng.standard_normal

    typology = _categorical(rng, _TYPOLOGY_BASE + s[:, None] * _TYPOLOGY_RISK_COEF)
    variant = rng.integers(0, _PATTERN_VARIANTS, a)
    pattern = typology * _PATTERN_VARIANTS + variant
    severity = np.searchsorted(_SEVERITY_CUTS, 0.9 * s + _TYPOLOGY_SEVERITY_OFFSET[typology] + noise(a), side="right")
    own_type = univ.address_type[addr].astype(np.int64)
    suspected = np.where(rng.random(a) < 0.7, own_type, rng.integers(0, len(ADDRESS_TYPES), a))
    subtype = suspected * 3 + rng.integers(0, 3, a)
    confidence = _sigmoid(0.9 * s - 0.4 + 0.9 * noise(a)).astype(np.float32)
    volume = _usd(np.exp(rng.normal(8.0 + 0.7 * s, 2.0)))
    items = np.clip(rng.poisson(np.exp(0.7 + 0.35 * s + 0.3 * noise(a))), 1, _EVIDENCE_MAX_ITEMS)
    layered = np.isin(typology, (2, 4, 5))
    hops = np.clip(1 + rng.poisson(1.0 + 0.8 * layered), 1, _EVIDENCE_MAX_HOPS)
    evidence = (items - 1) * _EVIDENCE_MAX_HOPS + (hops - 1)

    n_ind = rng.binomial(_MAX_INDICATORS, _sigmoid(-0.8 + 0.6 * s))
    keys = rng.random((a, len(RISK_INDICATORS))) - 0.3 * np.clip(s, 0, None)[:, None] * _RISKY_INDICATOR
    ranked = np.argsort(keys, axis=1)[:, :_MAX_INDICATORS]
    chosen = ranked[np.arange(_MAX_INDICATORS)[None, :] < n_ind[:, None]]
    indicators = _var_lists(n_ind, _pick(_V_INDICATOR, chosen))

    created = ctx.day_ts + np.sort(rng.integers(0, SECONDS_PER_DAY, a))
    width = max(7, len(str(a - 1)))
    alert_ids = _numbered_ids(f"{ctx.network}-{ctx.date.isoformat()}-", np.arange(a), width)
    addresses = univ.addresses.take(pa.array(addr))
    patterns = _pick(_V_PATTERN_ID, pattern)

    table = _table(
        ALERTS_SCHEMA,
        {
            "window_days": np.uint16(ctx.window_days),
            "processing_date": np.int32(ctx.day_index),
            "alert_id": alert_ids,
            "address": addresses,
            "typology_type": _pick(_V_TYPOLOGY_UPPER if ctx.upstream_style else _V_TYPOLOGY, typology),
            "pattern_id": patterns,
            "pattern_type": _pick(_V_PATTERN_TYPE, typology),
            "severity": _pick(_V_SEVERITY, severity),
            "suspected_address_type": _pick(_V_ADDRESS_TYPE, suspected),
            "suspected_address_subtype": _pick(_V_SUBTYPE, subtype),
            "alert_confidence_score": confidence,
            "description": _pick(_V_DESCRIPTION, typology * len(SEVERITIES) + severity),
            "volume_usd": volume,
            "evidence_json": _pick(_V_EVIDENCE, evidence),
            "risk_indicators": indicators,
            "created_at": created.astype(np.int64),
        },
        a,
    )
    parts = {
        "addr": addr,
        "typology": typology,
        "severity": severity,
        "confidence": confidence,
        "volume": volume,
        "created": created,
        "alert_ids": alert_ids,
        "patterns": patterns,
    }
    return table, parts


def _features(rng: np.random.Generator, ctx: _DropContext, univ: _Universe, alerted: np.ndarray) -> pa.Table:
    unique = np.unique(alerted)
    addr = unique[rng.random(len(unique)) >= FEATURE_DROP_SHARE]
    n = len(addr)
    s = SIGNAL_STRENGTH * univ.risk[addr]
    atype = univ.address_type[addr]
    w = ctx.window_days

    def nrm(scale: float = 1.0) -> np.ndarray:
        return rng.normal(0.0, scale, n)

    def f32(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    # counterparties and transaction counts
    counterparties = 1 + rng.poisson(np.exp(2.2 + 0.35 * s + nrm(0.9)))
    in_share = rng.beta(2.0, 2.0, n)
    senders = np.rint(counterparties * in_share).astype(np.int64)
    recipients = counterparties - senders
    tx_in = senders + rng.poisson(senders * np.exp(rng.normal(0.3, 0.7, n)))
    tx_out = recipients + rng.poisson(recipients * np.exp(rng.normal(0.3, 0.7, n)))
    tx_total = tx_in + tx_out

    # volumes (heavy tailed)
    volume = np.clip(np.exp(rng.normal(9.0 + 0.5 * s, 2.0)), 10.0, MAX_DECIMAL_USD)
    vol_in_share = np.clip(in_share + nrm(0.08), 0.02, 0.98)
    vol_in_share = np.where(tx_in == 0, 0.0, np.where(tx_out == 0, 1.0, vol_in_share))
    total_in = volume * vol_in_share
    total_out = volume - total_in
    avg_in = total_in / np.maximum(tx_in, 1)
    avg_out = total_out / np.maximum(tx_out, 1)
    med_in = avg_in * rng.uniform(0.2, 0.9, n)
    med_out = avg_out * rng.uniform(0.2, 0.9, n)
    max_tx = np.minimum(np.maximum(avg_in, avg_out) * (1.0 + np.exp(rng.normal(0.8, 0.6, n))), volume)
    positive_avgs = np.where(avg_in > 0, np.where(avg_out > 0, np.minimum(avg_in, avg_out), avg_in), avg_out)
    min_tx = positive_avgs * rng.uniform(0.01, 0.5, n)
    mean_tx = volume / tx_total
    volume_std = mean_tx * np.exp(rng.normal(0.3, 0.5, n))
    skew = rng.gamma(2.0, 1.0, n)
    kurt = skew**2 + 1.0 + rng.gamma(2.0, 1.5, n)

    # activity over time
    activity_days = 1 + rng.binomial(w - 1, _sigmoid(-0.5 + 0.25 * np.log(tx_total)))
    span = np.minimum(activity_days + np.floor(rng.random(n) * (w - activity_days + 1)), w)
    hours = np.arange(24)
    diurnal = 1.0 + 0.8 * np.sin((hours - 9) * np.pi / 12.0)
    night_boost = np.exp(0.45 * s + nrm(0.5))
    hour_w = diurnal[None, :] * rng.gamma(5.0, 0.2, (n, 24))
    hour_w[:, :6] *= night_boost[:, None]
    hourly = rng.multinomial(tx_total, hour_w / hour_w.sum(axis=1, keepdims=True))
    day_w = rng.gamma(5.0, 0.2, (n, 7))
    day_w[:, 5:] *= np.exp(nrm(0.4))[:, None]
    daily = rng.multinomial(tx_total, day_w / day_w.sum(axis=1, keepdims=True))
    peak_hour = np.argmax(hourly, axis=1).astype(np.uint8)
    peak_day = np.argmax(daily, axis=1).astype(np.uint8)

    structuring = _sigmoid(0.9 * s - 1.6 + nrm(1.0))
    small_ratio = np.clip(rng.beta(2.0, 5.0, n) + 0.35 * structuring + nrm(0.05), 0.0, 1.0)
    unique_in = 1 + rng.poisson(0.8, n)
    unique_out = 1 + rng.poisson(0.8, n)
    pagerank = np.exp(rng.normal(np.log(1.0 / univ.n), 1.0, n)) * (1.0 + np.log1p(counterparties) / 3.0)
    betweenness = rng.beta(0.6, 30.0, n)
    closeness = rng.beta(6.0, 6.0, n)
    khop2 = counterparties * (1.0 + np.exp(rng.normal(2.0, 0.6, n)))
    khop3 = khop2 * (1.0 + np.exp(rng.normal(1.5, 0.6, n)))
    khop2_vol = volume * (1.0 + np.exp(rng.normal(1.5, 1.0, n)))
    khop3_vol = khop2_vol * (1.0 + np.exp(rng.normal(1.0, 1.0, n)))
    behavioral = _sigmoid(1.0 * s - 1.3 + nrm(1.0))
    graph = _sigmoid(0.8 * s - 1.3 + nrm(1.0))
    neighborhood = _sigmoid(0.3 * s - 1.2 + nrm(1.0))
    global_score = np.clip((behavioral + graph + neighborhood) / 3.0 + nrm(0.05), 0.0, 1.0)
    regularity = rng.beta(2.0, 2.0, n)
    age = univ.age_days[addr]
    is_whale = volume > 1e6
    retail = volume < 1e4
    # first / last activity inside the window, consistent with activity_span_days
    last_ts = ctx.day_ts + rng.integers(0, SECONDS_PER_DAY, n)
    window_start = ctx.day_ts - (w - 1) * SECONDS_PER_DAY
    first_ts = np.maximum(last_ts - (span - 1) * SECONDS_PER_DAY - rng.integers(0, SECONDS_PER_DAY, n), window_start)
    # community detection runs per drop, so community ids are arbitrary labels per drop
    n_communities = int(univ.community.max()) + 1
    community = rng.permutation(n_communities).astype(np.uint32)[univ.community[addr]]

    return _table(
        FEATURES_SCHEMA,
        {
            "window_days": np.uint16(w),
            "processing_date": np.int32(ctx.day_index),
            "address": univ.addresses.take(pa.array(addr)),
            "degree_in": _u32(senders),
            "degree_out": _u32(recipients),
            "degree_total": _u32(counterparties),
            "unique_counterparties": _u32(counterparties),
            "total_in_usd": _usd(total_in),
            "total_out_usd": _usd(total_out),
            "net_flow_usd": _usd(total_in - total_out),
            "total_volume_usd": _usd(volume),
            "avg_tx_in_usd": _usd(avg_in),
            "avg_tx_out_usd": _usd(avg_out),
            "median_tx_in_usd": _usd(med_in),
            "median_tx_out_usd": _usd(med_out),
            "max_tx_usd": _usd(max_tx),
            "min_tx_usd": _usd(min_tx),
            "amount_variance": volume_std**2,
            "amount_skewness": skew,
            "amount_kurtosis": kurt,
            "volume_std": volume_std,
            "volume_cv": volume_std / mean_tx,
            "flow_concentration": rng.beta(2.0, 3.0, n),
            "tx_in_count": tx_in.astype(np.uint64),
            "tx_out_count": tx_out.astype(np.uint64),
            "tx_total_count": tx_total.astype(np.uint64),
            "activity_days": _u32(activity_days),
            "activity_span_days": _u32(span),
            "avg_daily_volume_usd": _usd(volume / activity_days),
            "peak_hour": peak_hour,
            "peak_day": peak_day,
            "regularity_score": f32(regularity),
            "burst_factor": f32(1.0 + np.exp(rng.normal(-0.5, 0.8, n))),
            "reciprocity_ratio": f32(rng.beta(1.2, 4.0, n)),
            "flow_diversity": f32(rng.beta(3.0, 2.0, n)),
            "counterparty_concentration": f32(rng.beta(2.0, 4.0, n)),
            "concentration_ratio": f32(rng.beta(2.0, 3.0, n)),
            "velocity_score": f32(_sigmoid(0.4 * s - 0.5 + nrm(1.0))),
            "structuring_score": f32(structuring),
            "unique_assets_in": _u32(unique_in),
            "unique_assets_out": _u32(unique_out),
            "dominant_asset_in": _pick(_V_ASSET, _choice(rng, _ASSET_P, n)),
            "dominant_asset_out": _pick(_V_ASSET, _choice(rng, _ASSET_P, n)),
            "asset_diversity_score": f32((unique_in + unique_out - 2) / (unique_in + unique_out + 2)),
            "hourly_activity": _fixed_lists(_u16(hourly), pa.uint16()),
            "daily_activity": _fixed_lists(_u16(daily), pa.uint16()),
            "peak_activity_hour": peak_hour,
            "peak_activity_day": peak_day,
            "hourly_entropy": _normalised_entropy(hourly),
            "daily_entropy": _normalised_entropy(daily),
            "weekend_transaction_ratio": f32(daily[:, 5:].sum(axis=1) / tx_total),
            "night_transaction_ratio": f32(hourly[:, :6].sum(axis=1) / tx_total),
            "small_transaction_ratio": f32(small_ratio),
            "consistency_score": f32(rng.beta(4.0, 2.0, n)),
            "pagerank": f32(pagerank),
            "betweenness": f32(betweenness),
            "closeness": f32(closeness),
            "clustering_coefficient": f32(rng.beta(1.0, 5.0, n)),
            "kcore": _u32(1 + rng.poisson(np.log1p(counterparties))),
            "community_id": community,
            "centrality_score": f32(np.clip(0.6 * closeness + 8.0 * betweenness, 0.0, 1.0)),
            "khop1_count": _u32(counterparties),
            "khop2_count": _u32(khop2),
            "khop3_count": _u32(khop3),
            "khop1_volume_usd": _usd(volume),
            "khop2_volume_usd": _usd(khop2_vol),
            "khop3_volume_usd": _usd(khop3_vol),
            "flow_reciprocity_entropy": f32(rng.beta(2.0, 3.0, n)),
            "counterparty_stability": f32(rng.beta(3.0, 2.0, n)),
            "flow_burstiness": f32(_sigmoid(nrm(1.0))),
            "transaction_regularity": f32(rng.beta(2.0, 2.0, n)),
            "amount_predictability": f32(rng.beta(2.0, 2.0, n)),
            "behavioral_anomaly_score": f32(behavioral),
            "graph_anomaly_score": f32(graph),
            "neighborhood_anomaly_score": f32(neighborhood),
            "global_anomaly_score": f32(global_score),
            "outlier_transactions": _u32(np.minimum(rng.poisson(tx_total * 0.02 * np.exp(0.4 * s)), tx_total)),
            "suspicious_pattern_score": f32(_sigmoid(0.5 * s - 1.0 + nrm(1.0))),
            "is_exchange_like": ((atype == _TYPE_EXCHANGE) & (rng.random(n) < 0.8)) | (rng.random(n) < 0.02),
            "is_whale": is_whale,
            "is_mixer_like": ((atype == _TYPE_MIXER) & (rng.random(n) < 0.7)) | (rng.random(n) < _sigmoid(1.3 * s - 3.2)),
            "is_contract_like": ((atype == _TYPE_CONTRACT) & (rng.random(n) < 0.85)) | (rng.random(n) < 0.02),
            "is_new_address": age < 30.0,
            "is_dormant_reactivated": rng.random(n) < 0.03,
            "is_high_volume_trader": tx_total > 200,
            "is_hub_address": counterparties > 100,
            "is_retail_active": retail & (tx_total > 5),
            "is_whale_inactive": is_whale & (tx_total <= 5),
            "is_retail_inactive": retail & (tx_total <= 5),
            "is_regular_user": (regularity > 0.6) & ~is_whale,
            "unique_recipients_count": _u32(recipients),
            "unique_senders_count": _u32(senders),
            "completeness_score": f32(rng.beta(9.0, 1.5, n)),
            "quality_score": f32(rng.beta(7.0, 2.0, n)),
            "outlier_score": f32(_sigmoid(0.2 * s - 1.5 + nrm(1.0))),
            "confidence_score": f32(rng.beta(6.0, 2.0, n)),
            "first_activity_timestamp": first_ts.astype(np.uint64),
            "last_activity_timestamp": last_ts.astype(np.uint64),
            "created_at": (ctx.day_ts + rng.integers(0, SECONDS_PER_DAY, n)).astype(np.int64),
        },
        n,
    )


def _money_flows(rng: np.random.Generator, ctx: _DropContext, univ: _Universe, alerted: np.ndarray) -> pa.Table:
    n_univ = univ.n
    rows = FLOWS_PER_ALERT * len(alerted)
    anchor = np.repeat(alerted, FLOWS_PER_ALERT)
    background = rng.random(rows) < 0.1
    anchor[background] = _draw(rng, univ.alert_cdf, int(background.sum()))
    # homophily: risky anchors trade preferentially with other risky addresses
    to_bad = rng.random(rows) < _sigmoid(-1.7 + 1.6 * SIGNAL_STRENGTH * univ.risk[anchor])
    counterpart = np.empty(rows, dtype=np.int64)
    n_bad = int(to_bad.sum())
    counterpart[to_bad] = univ.bad_pool[_draw(rng, univ.bad_cdf, n_bad)]
    counterpart[~to_bad] = univ.good_pool[_draw(rng, univ.good_cdf, rows - n_bad)]
    outgoing = rng.random(rows) < 0.5
    src = np.where(outgoing, anchor, counterpart)
    dst = np.where(outgoing, counterpart, anchor)
    # some edges come back the other way
    n_rev = int(0.08 * rows)
    back = rng.integers(0, max(rows - n_rev, 1), n_rev)
    src[rows - n_rev :], dst[rows - n_rev :] = dst[back], src[back]
    anchor[rows - n_rev :] = anchor[back]
    keep = src != dst
    code = src[keep] * n_univ + dst[keep]
    code, first = np.unique(code, return_index=True)
    src, dst = code // n_univ, code % n_univ
    anchor_risk = SIGNAL_STRENGTH * univ.risk[anchor[keep][first]]
    n = len(code)

    tx_count = 1 + np.floor(np.exp(rng.normal(0.3, 1.0, n))).astype(np.int64)
    amount_usd = _usd(np.exp(rng.normal(6.5 + 0.05 * anchor_risk, 2.0, n)) * np.sqrt(tx_count))
    asset = _choice(rng, _ASSET_P, n)
    amount = amount_usd / (_ASSET_PRICE[asset] * rng.uniform(0.97, 1.03, n))
    # individual transaction timestamps inside the window give consistent patterns
    window_start = ctx.day_ts - (ctx.window_days - 1) * SECONDS_PER_DAY
    window_len = ctx.window_days * SECONDS_PER_DAY
    edge_start = window_start + np.floor(rng.random(n) * window_len * 0.8).astype(np.int64)
    edge_span = np.floor(rng.random(n) * (window_start + window_len - edge_start)).astype(np.int64)
    owner = np.repeat(np.arange(n), tx_count)
    tx_ts = edge_start[owner] + np.floor(rng.random(len(owner)) * (edge_span[owner] + 1)).astype(np.int64)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(tx_count[:-1], out=starts[1:])
    first_seen = np.minimum.reduceat(tx_ts, starts) if n else tx_ts[:0]
    last_seen = np.maximum.reduceat(tx_ts, starts) if n else tx_ts[:0]
    hour = (tx_ts // 3600) % 24
    weekday = (tx_ts // SECONDS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    hourly = np.bincount(owner * 24 + hour, minlength=n * 24).reshape(n, 24)
    weekly = np.bincount(owner * 7 + weekday, minlength=n * 7).reshape(n, 7)
    active_days = np.minimum(tx_count, last_seen // SECONDS_PER_DAY - first_seen // SECONDS_PER_DAY + 1)

    reverse = dst * n_univ + src
    pos = np.minimum(np.searchsorted(code, reverse), max(n - 1, 0))
    bidirectional = code[pos] == reverse if n else np.zeros(0, dtype=bool)
    other = amount_usd[pos]
    reciprocity = np.where(bidirectional, np.minimum(amount_usd, other) / np.maximum(np.maximum(amount_usd, other), 0.01), 0.0)

    return _table(
        MONEY_FLOWS_SCHEMA,
        {
            "window_days": np.uint16(ctx.window_days),
            "processing_date": np.int32(ctx.day_index),
            "from_address": univ.addresses.take(pa.array(src)),
            "to_address": univ.addresses.take(pa.array(dst)),
            "tx_count": tx_count.astype(np.uint64),
            "amount_sum": np.round(amount, 6),
            "amount_usd_sum": amount_usd,
            "first_seen_timestamp": first_seen.astype(np.uint64),
            "last_seen_timestamp": last_seen.astype(np.uint64),
            "active_days": _u32(active_days),
            "avg_tx_size_usd": _usd(amount_usd / tx_count),
            "unique_assets": _u32(1 + rng.binomial(2, 0.15, n)),
            "dominant_asset": _pick(_V_ASSET, asset),
            "hourly_pattern": _fixed_lists(_u16(hourly), pa.uint16()),
            "weekly_pattern": _fixed_lists(_u16(weekly), pa.uint16()),
            "reciprocity_ratio": reciprocity.astype(np.float32),
            "is_bidirectional": bidirectional,
            "created_at": (ctx.day_ts + rng.integers(0, SECONDS_PER_DAY, n)).astype(np.int64),
        },
        n,
    )


def _clusters(rng: np.random.Generator, ctx: _DropContext, univ: _Universe, parts: dict) -> pa.Table:
    a = ctx.alerts_per_day
    addr = parts["addr"]
    m = int(round(a / 5)) if a >= 2 else 0
    sizes = 2 + rng.binomial(6, 1.0 / 6.0, m)
    sizes = sizes[np.cumsum(sizes) <= a]
    m = len(sizes)
    total = int(sizes.sum())
    s = SIGNAL_STRENGTH * univ.risk[addr]
    # membership leans towards risky alerts; grouping by a noisy risk key makes bad
    # alerts cluster with bad ones; cluster numbers are shuffled so they carry no order
    members = np.argsort(rng.random(a) - 0.15 * univ.is_bad[addr], kind="stable")[:total]
    members = members[np.argsort(s[members] + rng.normal(0.0, 0.6, total), kind="stable")]
    cluster = rng.permutation(m)[np.repeat(np.arange(m), sizes)] if m else np.zeros(0, dtype=np.int64)
    severity = parts["severity"]
    volume = parts["volume"]
    order = np.lexsort((-volume[members], -severity[members], cluster))
    members, cluster = members[order], cluster[order]
    counts = np.bincount(cluster, minlength=m)
    starts = np.zeros(m, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    primary = members[starts]

    pair = np.unique(cluster * univ.n + addr[members])
    pair_cluster, pair_addr = pair // univ.n, pair % univ.n
    distinct = np.bincount(pair_cluster, minlength=m)
    implied = _TYPOLOGY_CLUSTER_TYPE[parts["typology"][primary]]
    repeated = (distinct == 1) | ((distinct < counts) & (rng.random(m) < 0.5))
    cluster_type = np.where(repeated, 0, np.where(rng.random(m) < 0.8, implied, rng.integers(1, 4, m)))
    created = parts["created"]

    def reduce(func, values):
        return func.reduceat(values, starts) if m else values[:0]

    latest = reduce(np.maximum, created[members])
    day_end = ctx.day_ts + SECONDS_PER_DAY - 1
    primary_address = univ.addresses.take(pa.array(addr[primary]))
    time_unit = 1
    if ctx.upstream_style:
        primary_address, time_unit = pa.array([""] * m, pa.string()), 1000
    return _table(
        CLUSTERS_SCHEMA,
        {
            "window_days": np.uint16(ctx.window_days),
            "processing_date": np.int32(ctx.day_index),
            "cluster_id": _numbered_ids(f"{ctx.network}-{ctx.date.isoformat()}-c", np.arange(m), max(6, len(str(max(m - 1, 0))))),
            "cluster_type": _pick(_V_CLUSTER_TYPE, cluster_type),
            "primary_address": primary_address,
            "pattern_id": parts["patterns"].take(pa.array(primary)),
            "primary_alert_id": parts["alert_ids"].take(pa.array(primary)),
            "related_alert_ids": _var_lists(counts, parts["alert_ids"].take(pa.array(members))),
            "addresses_involved": _var_lists(distinct, univ.addresses.take(pa.array(pair_addr))),
            "total_alerts": counts.astype(np.uint32),
            "total_volume_usd": _usd(reduce(np.add, volume[members])),
            "severity_max": _pick(_V_SEVERITY, reduce(np.maximum, severity[members])),
            "confidence_avg": (reduce(np.add, parts["confidence"][members].astype(np.float64)) / np.maximum(counts, 1)).astype(np.float32),
            "earliest_alert_timestamp": reduce(np.minimum, created[members]).astype(np.uint64) * time_unit,
            "latest_alert_timestamp": latest.astype(np.uint64) * time_unit,
            "created_at": np.minimum(latest + rng.integers(0, 600, m), day_end).astype(np.int64),
        },
        m,
    )


# near-unique string columns: dictionary encoding only costs time on them
_NO_DICTIONARY = frozenset(
    {
        "alert_id",
        "address",
        "from_address",
        "to_address",
        "cluster_id",
        "primary_address",
        "primary_alert_id",
        "related_alert_ids",
        "addresses_involved",
    }
)


def _write(table: pa.Table, path: pathlib.Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    dictionary = [name for name in table.column_names if name not in _NO_DICTIONARY]
    pq.write_table(table, tmp, compression="snappy", use_dictionary=dictionary)
    os.replace(tmp, path)


def _write_drop(drop_dir: pathlib.Path, tables: dict[str, pa.Table]) -> None:
    drop_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write(table, drop_dir / f"{name}.parquet")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _validate(network: str, start: dt.date, end: dt.date, alerts_per_day: int, window_days: int, seed: int, label_delay_days: int) -> None:
    if not isinstance(network, str) or not NETWORK_PATTERN.match(network):
        raise SampleDataError(
            f"network {network!r} must match {NETWORK_PATTERN.pattern} (lowercase letter, then up to 63 "
            "lowercase letters, digits or underscores)."
        )
    if start > end:
        raise SampleDataError(f"start date {start.isoformat()} is after end date {end.isoformat()}.")
    if int(alerts_per_day) < 1:
        raise SampleDataError(f"alerts_per_day must be at least 1, got {alerts_per_day}.")
    if not 1 <= int(window_days) <= 65_535:
        raise SampleDataError(f"window_days must be between 1 and 65535, got {window_days}.")
    if int(seed) < 0:
        raise SampleDataError(f"seed must be a non-negative integer, got {seed}.")
    if int(label_delay_days) < 0:
        raise SampleDataError(f"label_delay_days must be a non-negative integer, got {label_delay_days}.")


def generate_drops(
    network: str,
    start: dt.date,
    end: dt.date,
    out_dir: pathlib.Path,
    seed: int = 42,
    alerts_per_day: int = 150,
    window_days: int = 7,
    random_labels: bool = False,
    label_delay_days: int = 0,
) -> dict:
    """Write one sample raw drop per processing date in [start, end] and return a summary.

    Files land in ``out_dir/<network>/<YYYY-MM-DD>/<window_days>d/``; existing files are
    replaced atomically. Output depends only on the arguments. The summary holds the
    number of drops, row counts per table, and the share of positive (high or critical)
    labels, both over labelled addresses and over alerts on labelled addresses.

    Raises SampleDataError (a ValueError and a PipelineError) with a one-sentence message
    when the network name, the date range, alerts_per_day, window_days or seed is invalid.
    """
    _validate(network, start, end, alerts_per_day, window_days, seed, label_delay_days)
    alerts_per_day, window_days, seed = int(alerts_per_day), int(window_days), int(seed)
    out_dir = pathlib.Path(out_dir)
    began = time.perf_counter()
    n_days = (end - start).days + 1
    n_addresses = max(2000, n_days * alerts_per_day // 4)
    log = logger.bind(network=network, window_days=window_days)

    root = np.random.SeedSequence([seed, zlib.crc32(network.encode()), window_days])
    universe_seq, label_seq, drops_seq = root.spawn(3)
    univ = _make_universe(np.random.default_rng(universe_seq), n_addresses)
    labels = _make_labels(np.random.default_rng(label_seq), univ, network, window_days, start, n_days, random_labels)
    first_alert_day = np.full(univ.n, -1, dtype=np.int64)
    drop_seqs = drops_seq.spawn(n_days)

    rows = dict.fromkeys(("alerts", "features", "clusters", "money_flows", "address_labels"), 0)
    alerts_labelled = alerts_positive = 0
    log.bind(
        start=start.isoformat(),
        end=end.isoformat(),
        drops=n_days,
        addresses=n_addresses,
        alerts_per_day=alerts_per_day,
        random_labels=random_labels,
    ).info("generating sample drops")
    # Parquet encoding releases the GIL: one writer thread writes drop i while drop i + 1
    # is generated. Each drop has its own random stream, so output does not depend on timing.
    pending: Future | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-writer") as writer:
        for i in range(n_days):
            date = start + dt.timedelta(days=i)
            ctx = _DropContext(network, window_days, date, alerts_per_day)
            rng = np.random.default_rng(drop_seqs[i])
            alerts, parts = _alerts(rng, ctx, univ)
            first_alert_day[parts["addr"][first_alert_day[parts["addr"]] < 0]] = i
            tables = {
                "alerts": alerts,
                "features": _features(rng, ctx, univ, parts["addr"]),
                "clusters": _clusters(rng, ctx, univ, parts),
                "money_flows": _money_flows(rng, ctx, univ, parts["addr"]),
                "address_labels": labels.published(i, date, first_alert_day, label_delay_days),
            }
            for name, table in tables.items():
                rows[name] += table.num_rows
            alerted = parts["addr"]
            alerts_labelled += int(labels.labelled[alerted].sum())
            alerts_positive += int(labels.positive[alerted].sum())
            if pending is not None:
                pending.result()
            drop_dir = out_dir / network / date.isoformat() / f"{window_days}d"
            pending = writer.submit(_write_drop, drop_dir, tables)
            if (i + 1) % 10 == 0 and i + 1 < n_days:
                log.bind(drop=date.isoformat(), done=i + 1, drops=n_days, elapsed_s=round(time.perf_counter() - began, 1)).info(
                    "sample drops progress"
                )
        if pending is not None:
            pending.result()

    n_labelled = int(labels.labelled.sum())
    summary = {
        "network": network,
        "window_days": window_days,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "drops": n_days,
        "addresses": n_addresses,
        "labelled_addresses": n_labelled,
        "rows": rows,
        "positive_label_share": round(float(labels.positive.sum()) / max(n_labelled, 1), 4),
        "alert_positive_label_share": round(alerts_positive / max(alerts_labelled, 1), 4),
        "random_labels": bool(random_labels),
        "label_delay_days": int(label_delay_days),
        "out_dir": str(out_dir),
        "seconds": round(time.perf_counter() - began, 2),
    }
    log.bind(
        drops=n_days,
        **{f"{k}_rows": v for k, v in rows.items()},
        positive_label_share=summary["positive_label_share"],
        seconds=summary["seconds"],
    ).info("sample drops written")
    return summary


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _parse_date(option: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SampleDataError(f"{option} {value!r} is not a valid date in YYYY-MM-DD form.") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.sample_data",
        description="Write seeded sample raw drops (alerts, features, clusters, money flows, address labels).",
    )
    parser.add_argument("--network", required=True, help="network name, e.g. ethereum")
    parser.add_argument("--start", required=True, help="first processing date (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, help="last processing date (YYYY-MM-DD)")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="output root directory")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--alerts-per-day", type=int, default=150, help="alerts per processing date (default 150)")
    parser.add_argument("--window-days", type=int, default=7, help="drop window in days (default 7)")
    parser.add_argument(
        "--random-labels",
        action="store_true",
        help="draw label risk levels independently of the hidden risk (leakage checks)",
    )
    parser.add_argument(
        "--label-delay-days",
        type=int,
        default=0,
        help="publish each label found during the window this many days later, as closed investigations are (default 0)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _build_parser().parse_args(argv)
    generate_drops(
        args.network,
        _parse_date("--start", args.start),
        _parse_date("--end", args.end),
        args.out,
        seed=args.seed,
        alerts_per_day=args.alerts_per_day,
        window_days=args.window_days,
        random_labels=args.random_labels,
        label_delay_days=args.label_delay_days,
    )


if __name__ == "__main__":
    run_cli(main)

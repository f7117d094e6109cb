"""The address universe every drop of a run draws from, with its hidden risk, and the analyst labels on it.

The hidden risk (a bad flag plus a continuous score) is never written to any column: the drop tables only shift,
noisily, with it (trainer/sample_data/tables.py), and the labels follow it unless ``random_labels`` is set."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from trainer.sample_data.arrays import arrow_table, categorical, choice, hex_addresses, pick, vocab
from trainer.sample_data.schemas import ADDRESS_LABELS_SCHEMA, EPOCH

LABELLED_SHARE = 0.70
FIRST_DAY_DISCOVERY_SHARE = 0.60
RELABEL_SHARE = 0.05

# address types; bad addresses lean towards mixers and bridges. Three subtypes per type: subtype = 3 * type + k
ADDRESS_TYPES = ("eoa", "contract", "exchange", "mixer", "bridge", "unknown")
TYPE_EXCHANGE, TYPE_MIXER, TYPE_CONTRACT = 2, 3, 1
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

# labels per risk level; address type implied by a label (-1: keep the address's own type)
_LABELS_BY_LEVEL = (
    (("retail", -1), ("exchange", TYPE_EXCHANGE), ("defi_user", -1), ("nft_trader", -1)),
    (("gambling", -1), ("high_risk_exchange", TYPE_EXCHANGE), ("unverified_service", -1)),
    (("scam", -1), ("phishing", -1), ("fraud", -1), ("mixer_user", -1)),
    (("sanctioned", -1), ("ransomware", -1), ("darknet_market", -1), ("mixer", TYPE_MIXER)),
)
LABEL_SOURCES = ("analyst", "vendor_a", "vendor_b", "community")
_SOURCE_P = np.array([0.35, 0.30, 0.25, 0.10])
_SOURCE_TRUST = ("high", "medium", "medium", "low")
RISK_LEVELS = ("low", "medium", "high", "critical")  # a label's level: 2 * positive + upper half of its class
POSITIVE_RISK_LEVELS = ("high", "critical")

V_ADDRESS_TYPE = vocab(ADDRESS_TYPES)
V_SUBTYPE = vocab(s for group in _SUBTYPES for s in group)
_V_SOURCE = vocab(LABEL_SOURCES)
_V_TRUST = vocab(_SOURCE_TRUST)
_V_RISK_LEVEL = vocab(RISK_LEVELS)


@dataclass(frozen=True)
class Universe:
    """Every address a run can alert on, with the hidden risk the tables and labels follow (never written out)."""

    n: int
    addresses: pa.Array  # '0x' + 40 hex
    is_bad: np.ndarray  # hidden
    risk: np.ndarray  # hidden continuous score, ~0 good / ~1 bad
    address_type: np.ndarray  # index into ADDRESS_TYPES
    community: np.ndarray  # uint32
    age_days: np.ndarray  # float, days since first activity
    alert_cdf: np.ndarray  # popularity for being alerted (skewed, bad favoured)
    good_pool: np.ndarray  # money-flow counterparties by kind, each with its popularity cdf
    good_cdf: np.ndarray
    bad_pool: np.ndarray
    bad_cdf: np.ndarray


def make_universe(rng: np.random.Generator, n: int) -> Universe:
    """n addresses, a fifth of them bad; bad ones are younger, lean to risky types and are alerted more often.
    Alert popularity is heavy tailed, so addresses recur across drops as real alerted addresses do."""
    is_bad = rng.random(n) < 0.2
    risk = is_bad.astype(np.float64) + 0.35 * rng.standard_normal(n)
    type_logits = np.log(np.where(is_bad[:, None], _TYPE_P_BAD, _TYPE_P_GOOD))
    address_type = categorical(rng, type_logits).astype(np.int8)
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
    return Universe(n, hex_addresses(rng, n), is_bad, risk, address_type, community, age_days, alert_cdf, *pools)


def draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """size indices drawn from a normalised cumulative distribution (one of the Universe's *_cdf arrays)."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


@dataclass(frozen=True)
class Labels:
    """Every label row of a run, drawn once up front so each drop only selects the rows it publishes."""

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


def make_labels(
    rng: np.random.Generator,
    univ: Universe,
    network: str,
    window_days: int,
    start: dt.date,
    n_days: int,
    random_labels: bool,
) -> Labels:
    """The analyst labels of a run: about 70 % of addresses, their risk level a noisy view of the hidden score (or,
    with random_labels, independent of it), most known on the first day and the rest discovered later, a few
    re-labelled. Each row keeps the drop index it is found on; `Labels.published` decides when it is delivered."""
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
    source = choice(rng, _SOURCE_P, m)
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
    r_source = choice(rng, _SOURCE_P, len(r))

    rows = np.concatenate([np.arange(m), r])
    row_day = np.concatenate([day, r_day])
    row_conf = np.concatenate([confidence, r_conf])
    row_source = np.concatenate([source, r_source])
    order = np.argsort(row_day, kind="stable")
    rows, row_day, row_conf, row_source = rows[order], row_day[order], row_conf[order], row_source[order]
    total = len(rows)
    start_days = (start - EPOCH).days
    table = arrow_table(
        ADDRESS_LABELS_SCHEMA,
        {
            "processing_date": (start_days + row_day).astype(np.int32),
            "window_days": np.uint16(window_days),
            "network": network,
            "address": univ.addresses.take(pa.array(labelled_idx[rows])),
            "label": pick(vocab(label_vocab), label_idx[rows]),
            "network_type": "evm",
            "address_type": pick(V_ADDRESS_TYPE, addr_type[rows]),
            "address_subtype": pick(V_SUBTYPE, subtype_idx[rows]),
            "risk_level": pick(_V_RISK_LEVEL, level[rows]),
            "confidence_score": row_conf.astype(np.float32),
            "trust_level": pick(_V_TRUST, row_source),
            "source": pick(_V_SOURCE, row_source),
        },
        total,
    )
    day_bounds = np.searchsorted(row_day, np.arange(n_days + 1), side="left")
    labelled = np.zeros(n, dtype=bool)
    labelled[labelled_idx] = True
    pos = np.zeros(n, dtype=bool)
    pos[labelled_idx] = level >= 2
    return Labels(table, day_bounds, labelled, pos, labelled_idx[rows], row_day, rows >= m)

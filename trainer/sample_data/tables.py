"""The tables of one drop, one function per drop file (alerts, features, money flows, clusters), drawn from the
address universe: the hidden risk shifts a handful of their columns, noisily and never directly. The label rows of a
drop come from trainer/sample_data/universe.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from trainer.sample_data.arrays import (
    arrow_table,
    categorical,
    choice,
    fixed_lists,
    normalised_entropy,
    numbered_ids,
    pick,
    sigmoid,
    u16,
    u32,
    usd,
    var_lists,
    vocab,
)
from trainer.sample_data.schemas import (
    ALERTS_SCHEMA,
    CLUSTERS_SCHEMA,
    EPOCH,
    FEATURES_SCHEMA,
    MAX_DECIMAL_USD,
    MONEY_FLOWS_SCHEMA,
    SECONDS_PER_DAY,
)
from trainer.sample_data.universe import ADDRESS_TYPES, TYPE_CONTRACT, TYPE_EXCHANGE, TYPE_MIXER, V_ADDRESS_TYPE, V_SUBTYPE, Universe, draw

FLOWS_PER_ALERT = 10
FEATURE_DROP_SHARE = 0.02
# scales how strongly the hidden risk shifts raw columns (labels use the unscaled score);
# tuned so that a boosted model on derived features lands well inside (0.5, 1.0) AUC
SIGNAL_STRENGTH = 0.7

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

_ASSETS_DEFAULT = (("ETH", 2500.0), ("USDT", 1.0), ("USDC", 1.0), ("DAI", 1.0), ("WETH", 2500.0), ("WBTC", 45000.0), ("LINK", 15.0))
_ASSET_P = np.array([0.38, 0.25, 0.16, 0.06, 0.07, 0.04, 0.04])

# vocabularies as Arrow arrays, so categorical columns are built by index
_V_TYPOLOGY = vocab(TYPOLOGIES)
_V_TYPOLOGY_UPPER = vocab(t.upper() for t in TYPOLOGIES)
_V_PATTERN_TYPE = vocab(_PATTERN_TYPES)
_V_PATTERN_ID = vocab(f"pat_{t}_{k + 1:02d}" for t in TYPOLOGIES for k in range(_PATTERN_VARIANTS))
_V_SEVERITY = vocab(SEVERITIES)
_V_DESCRIPTION = vocab(f"{title} activity flagged at {sev} severity" for title in _TYPOLOGY_TITLES for sev in SEVERITIES)
_V_EVIDENCE = vocab(f'{{"items": {i}, "hops": {h}}}' for i in range(1, _EVIDENCE_MAX_ITEMS + 1) for h in range(1, _EVIDENCE_MAX_HOPS + 1))
_V_INDICATOR = vocab(RISK_INDICATORS)
_V_CLUSTER_TYPE = vocab(CLUSTER_TYPES)
_V_ASSET = vocab(a for a, _ in _ASSETS_DEFAULT)
_ASSET_PRICE = np.array([p for _, p in _ASSETS_DEFAULT])


@dataclass(frozen=True)
class DropContext:
    """What every table of one drop shares: the network, the window and the processing date."""

    network: str
    window_days: int
    date: dt.date
    alerts_per_day: int

    @property
    def day_index(self) -> int:
        """The processing date as a Date column holds it: days since the epoch."""
        return (self.date - EPOCH).days

    @property
    def upstream_style(self) -> bool:
        """Every other day is written the way upstream's own producer writes it: typologies in upper case, clusters
        without primary_address and with their alert times in milliseconds. The pipeline must read both styles."""
        return self.day_index % 2 == 1

    @property
    def day_ts(self) -> int:
        """Midnight of the processing date in DateTime seconds."""
        return self.day_index * SECONDS_PER_DAY


def make_alerts(rng: np.random.Generator, ctx: DropContext, univ: Universe) -> tuple[pa.Table, dict]:
    """alerts.parquet: alerts_per_day alerts on popular (and more often bad) addresses; the hidden risk tilts their
    typology, severity, confidence, volume, evidence and indicators. Also returns the drawn per-alert arrays
    (address index, typology, severity, ...) that the other tables of the drop are built around."""
    a = ctx.alerts_per_day
    addr = draw(rng, univ.alert_cdf, a)
    s = SIGNAL_STRENGTH * univ.risk[addr]
    noise = rng.standard_normal

    typology = categorical(rng, _TYPOLOGY_BASE + s[:, None] * _TYPOLOGY_RISK_COEF)
    variant = rng.integers(0, _PATTERN_VARIANTS, a)
    pattern = typology * _PATTERN_VARIANTS + variant
    severity = np.searchsorted(_SEVERITY_CUTS, 0.9 * s + _TYPOLOGY_SEVERITY_OFFSET[typology] + noise(a), side="right")
    own_type = univ.address_type[addr].astype(np.int64)
    suspected = np.where(rng.random(a) < 0.7, own_type, rng.integers(0, len(ADDRESS_TYPES), a))
    subtype = suspected * 3 + rng.integers(0, 3, a)
    confidence = sigmoid(0.9 * s - 0.4 + 0.9 * noise(a)).astype(np.float32)
    volume = usd(np.exp(rng.normal(8.0 + 0.7 * s, 2.0)))
    items = np.clip(rng.poisson(np.exp(0.7 + 0.35 * s + 0.3 * noise(a))), 1, _EVIDENCE_MAX_ITEMS)
    layered = np.isin(typology, (2, 4, 5))
    hops = np.clip(1 + rng.poisson(1.0 + 0.8 * layered), 1, _EVIDENCE_MAX_HOPS)
    evidence = (items - 1) * _EVIDENCE_MAX_HOPS + (hops - 1)

    n_ind = rng.binomial(_MAX_INDICATORS, sigmoid(-0.8 + 0.6 * s))
    keys = rng.random((a, len(RISK_INDICATORS))) - 0.3 * np.clip(s, 0, None)[:, None] * _RISKY_INDICATOR
    ranked = np.argsort(keys, axis=1)[:, :_MAX_INDICATORS]
    chosen = ranked[np.arange(_MAX_INDICATORS)[None, :] < n_ind[:, None]]
    indicators = var_lists(n_ind, pick(_V_INDICATOR, chosen))

    created = ctx.day_ts + np.sort(rng.integers(0, SECONDS_PER_DAY, a))
    width = max(7, len(str(a - 1)))
    alert_ids = numbered_ids(f"{ctx.network}-{ctx.date.isoformat()}-", np.arange(a), width)
    addresses = univ.addresses.take(pa.array(addr))
    patterns = pick(_V_PATTERN_ID, pattern)

    table = arrow_table(
        ALERTS_SCHEMA,
        {
            "window_days": np.uint16(ctx.window_days),
            "processing_date": np.int32(ctx.day_index),
            "alert_id": alert_ids,
            "address": addresses,
            "typology_type": pick(_V_TYPOLOGY_UPPER if ctx.upstream_style else _V_TYPOLOGY, typology),
            "pattern_id": patterns,
            "pattern_type": pick(_V_PATTERN_TYPE, typology),
            "severity": pick(_V_SEVERITY, severity),
            "suspected_address_type": pick(V_ADDRESS_TYPE, suspected),
            "suspected_address_subtype": pick(V_SUBTYPE, subtype),
            "alert_confidence_score": confidence,
            "description": pick(_V_DESCRIPTION, typology * len(SEVERITIES) + severity),
            "volume_usd": volume,
            "evidence_json": pick(_V_EVIDENCE, evidence),
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


def make_features(rng: np.random.Generator, ctx: DropContext, univ: Universe, alerted: np.ndarray) -> pa.Table:
    """features.parquet: upstream's per-address features for the alerted addresses (a few dropped, as upstream
    sometimes misses one), internally consistent (counts, volumes, activity patterns) and shifted by the hidden risk."""
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
    activity_days = 1 + rng.binomial(w - 1, sigmoid(-0.5 + 0.25 * np.log(tx_total)))
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

    structuring = sigmoid(0.9 * s - 1.6 + nrm(1.0))
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
    behavioral = sigmoid(1.0 * s - 1.3 + nrm(1.0))
    graph = sigmoid(0.8 * s - 1.3 + nrm(1.0))
    neighborhood = sigmoid(0.3 * s - 1.2 + nrm(1.0))
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

    return arrow_table(
        FEATURES_SCHEMA,
        {
            "window_days": np.uint16(w),
            "processing_date": np.int32(ctx.day_index),
            "address": univ.addresses.take(pa.array(addr)),
            "degree_in": u32(senders),
            "degree_out": u32(recipients),
            "degree_total": u32(counterparties),
            "unique_counterparties": u32(counterparties),
            "total_in_usd": usd(total_in),
            "total_out_usd": usd(total_out),
            "net_flow_usd": usd(total_in - total_out),
            "total_volume_usd": usd(volume),
            "avg_tx_in_usd": usd(avg_in),
            "avg_tx_out_usd": usd(avg_out),
            "median_tx_in_usd": usd(med_in),
            "median_tx_out_usd": usd(med_out),
            "max_tx_usd": usd(max_tx),
            "min_tx_usd": usd(min_tx),
            "amount_variance": volume_std**2,
            "amount_skewness": skew,
            "amount_kurtosis": kurt,
            "volume_std": volume_std,
            "volume_cv": volume_std / mean_tx,
            "flow_concentration": rng.beta(2.0, 3.0, n),
            "tx_in_count": tx_in.astype(np.uint64),
            "tx_out_count": tx_out.astype(np.uint64),
            "tx_total_count": tx_total.astype(np.uint64),
            "activity_days": u32(activity_days),
            "activity_span_days": u32(span),
            "avg_daily_volume_usd": usd(volume / activity_days),
            "peak_hour": peak_hour,
            "peak_day": peak_day,
            "regularity_score": f32(regularity),
            "burst_factor": f32(1.0 + np.exp(rng.normal(-0.5, 0.8, n))),
            "reciprocity_ratio": f32(rng.beta(1.2, 4.0, n)),
            "flow_diversity": f32(rng.beta(3.0, 2.0, n)),
            "counterparty_concentration": f32(rng.beta(2.0, 4.0, n)),
            "concentration_ratio": f32(rng.beta(2.0, 3.0, n)),
            "velocity_score": f32(sigmoid(0.4 * s - 0.5 + nrm(1.0))),
            "structuring_score": f32(structuring),
            "unique_assets_in": u32(unique_in),
            "unique_assets_out": u32(unique_out),
            "dominant_asset_in": pick(_V_ASSET, choice(rng, _ASSET_P, n)),
            "dominant_asset_out": pick(_V_ASSET, choice(rng, _ASSET_P, n)),
            "asset_diversity_score": f32((unique_in + unique_out - 2) / (unique_in + unique_out + 2)),
            "hourly_activity": fixed_lists(u16(hourly), pa.uint16()),
            "daily_activity": fixed_lists(u16(daily), pa.uint16()),
            "peak_activity_hour": peak_hour,
            "peak_activity_day": peak_day,
            "hourly_entropy": normalised_entropy(hourly),
            "daily_entropy": normalised_entropy(daily),
            "weekend_transaction_ratio": f32(daily[:, 5:].sum(axis=1) / tx_total),
            "night_transaction_ratio": f32(hourly[:, :6].sum(axis=1) / tx_total),
            "small_transaction_ratio": f32(small_ratio),
            "consistency_score": f32(rng.beta(4.0, 2.0, n)),
            "pagerank": f32(pagerank),
            "betweenness": f32(betweenness),
            "closeness": f32(closeness),
            "clustering_coefficient": f32(rng.beta(1.0, 5.0, n)),
            "kcore": u32(1 + rng.poisson(np.log1p(counterparties))),
            "community_id": community,
            "centrality_score": f32(np.clip(0.6 * closeness + 8.0 * betweenness, 0.0, 1.0)),
            "khop1_count": u32(counterparties),
            "khop2_count": u32(khop2),
            "khop3_count": u32(khop3),
            "khop1_volume_usd": usd(volume),
            "khop2_volume_usd": usd(khop2_vol),
            "khop3_volume_usd": usd(khop3_vol),
            "flow_reciprocity_entropy": f32(rng.beta(2.0, 3.0, n)),
            "counterparty_stability": f32(rng.beta(3.0, 2.0, n)),
            "flow_burstiness": f32(sigmoid(nrm(1.0))),
            "transaction_regularity": f32(rng.beta(2.0, 2.0, n)),
            "amount_predictability": f32(rng.beta(2.0, 2.0, n)),
            "behavioral_anomaly_score": f32(behavioral),
            "graph_anomaly_score": f32(graph),
            "neighborhood_anomaly_score": f32(neighborhood),
            "global_anomaly_score": f32(global_score),
            "outlier_transactions": u32(np.minimum(rng.poisson(tx_total * 0.02 * np.exp(0.4 * s)), tx_total)),
            "suspicious_pattern_score": f32(sigmoid(0.5 * s - 1.0 + nrm(1.0))),
            "is_exchange_like": ((atype == TYPE_EXCHANGE) & (rng.random(n) < 0.8)) | (rng.random(n) < 0.02),
            "is_whale": is_whale,
            "is_mixer_like": ((atype == TYPE_MIXER) & (rng.random(n) < 0.7)) | (rng.random(n) < sigmoid(1.3 * s - 3.2)),
            "is_contract_like": ((atype == TYPE_CONTRACT) & (rng.random(n) < 0.85)) | (rng.random(n) < 0.02),
            "is_new_address": age < 30.0,
            "is_dormant_reactivated": rng.random(n) < 0.03,
            "is_high_volume_trader": tx_total > 200,
            "is_hub_address": counterparties > 100,
            "is_retail_active": retail & (tx_total > 5),
            "is_whale_inactive": is_whale & (tx_total <= 5),
            "is_retail_inactive": retail & (tx_total <= 5),
            "is_regular_user": (regularity > 0.6) & ~is_whale,
            "unique_recipients_count": u32(recipients),
            "unique_senders_count": u32(senders),
            "completeness_score": f32(rng.beta(9.0, 1.5, n)),
            "quality_score": f32(rng.beta(7.0, 2.0, n)),
            "outlier_score": f32(sigmoid(0.2 * s - 1.5 + nrm(1.0))),
            "confidence_score": f32(rng.beta(6.0, 2.0, n)),
            "first_activity_timestamp": first_ts.astype(np.uint64),
            "last_activity_timestamp": last_ts.astype(np.uint64),
            "created_at": (ctx.day_ts + rng.integers(0, SECONDS_PER_DAY, n)).astype(np.int64),
        },
        n,
    )


def make_money_flows(rng: np.random.Generator, ctx: DropContext, univ: Universe, alerted: np.ndarray) -> pa.Table:
    """money_flows.parquet: about FLOWS_PER_ALERT distinct directed edges per alert around the alerted addresses, risky
    ones trading more with other bad addresses (homophily), some edges in both directions."""
    n_univ = univ.n
    rows = FLOWS_PER_ALERT * len(alerted)
    anchor = np.repeat(alerted, FLOWS_PER_ALERT)
    background = rng.random(rows) < 0.1
    anchor[background] = draw(rng, univ.alert_cdf, int(background.sum()))
    # homophily: risky anchors trade preferentially with other risky addresses
    to_bad = rng.random(rows) < sigmoid(-1.7 + 1.6 * SIGNAL_STRENGTH * univ.risk[anchor])
    counterpart = np.empty(rows, dtype=np.int64)
    n_bad = int(to_bad.sum())
    counterpart[to_bad] = univ.bad_pool[draw(rng, univ.bad_cdf, n_bad)]
    counterpart[~to_bad] = univ.good_pool[draw(rng, univ.good_cdf, rows - n_bad)]
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
    amount_usd = usd(np.exp(rng.normal(6.5 + 0.05 * anchor_risk, 2.0, n)) * np.sqrt(tx_count))
    asset = choice(rng, _ASSET_P, n)
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

    return arrow_table(
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
            "active_days": u32(active_days),
            "avg_tx_size_usd": usd(amount_usd / tx_count),
            "unique_assets": u32(1 + rng.binomial(2, 0.15, n)),
            "dominant_asset": pick(_V_ASSET, asset),
            "hourly_pattern": fixed_lists(u16(hourly), pa.uint16()),
            "weekly_pattern": fixed_lists(u16(weekly), pa.uint16()),
            "reciprocity_ratio": reciprocity.astype(np.float32),
            "is_bidirectional": bidirectional,
            "created_at": (ctx.day_ts + rng.integers(0, SECONDS_PER_DAY, n)).astype(np.int64),
        },
        n,
    )


def make_clusters(rng: np.random.Generator, ctx: DropContext, univ: Universe, parts: dict) -> pa.Table:
    """clusters.parquet: groups of 2 to 8 of the drop's alerts (`parts` from make_alerts), bad alerts grouping with bad
    ones more often than chance; every other day in upstream's own style (see DropContext.upstream_style)."""
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
    return arrow_table(
        CLUSTERS_SCHEMA,
        {
            "window_days": np.uint16(ctx.window_days),
            "processing_date": np.int32(ctx.day_index),
            "cluster_id": numbered_ids(f"{ctx.network}-{ctx.date.isoformat()}-c", np.arange(m), max(6, len(str(max(m - 1, 0))))),
            "cluster_type": pick(_V_CLUSTER_TYPE, cluster_type),
            "primary_address": primary_address,
            "pattern_id": parts["patterns"].take(pa.array(primary)),
            "primary_alert_id": parts["alert_ids"].take(pa.array(primary)),
            "related_alert_ids": var_lists(counts, parts["alert_ids"].take(pa.array(members))),
            "addresses_involved": var_lists(distinct, univ.addresses.take(pa.array(pair_addr))),
            "total_alerts": counts.astype(np.uint32),
            "total_volume_usd": usd(reduce(np.add, volume[members])),
            "severity_max": pick(_V_SEVERITY, reduce(np.maximum, severity[members])),
            "confidence_avg": (reduce(np.add, parts["confidence"][members].astype(np.float64)) / np.maximum(counts, 1)).astype(np.float32),
            "earliest_alert_timestamp": reduce(np.minimum, created[members]).astype(np.uint64) * time_unit,
            "latest_alert_timestamp": latest.astype(np.uint64) * time_unit,
            "created_at": np.minimum(latest + rng.integers(0, 600, m), day_end).astype(np.int64),
        },
        m,
    )

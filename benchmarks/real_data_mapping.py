"""The XBlock Ethereum phishing subgraph (T-EDGE sample) as upstream drops, the way an upstream analytics job would
deliver it: the real-data benchmark's input (benchmarks/real_data.py).

The source (its README says what each column is): `edges.csv`, one row per (from, to) account pair with the pair's
amount in ETH, its transaction count and one timestamp; `nodes_labels.txt`, 890 labelled accounts (1 phishing, 0
normal). The mapping, and why:

- **Processing dates are weekly**: the Sunday that ends the UTC week of a timestamp, with `window_days` 7 (Monday to
  Sunday). 445 + 445 alerts over three and a half years are a few a week; daily drops would be mostly single alerts.
- **Alerts**: one per labelled account, raised by a detector that fires when the account's `alert_after_flows`-th
  money flow (its k-th pair, in time order, ties by row) is seen; it belongs to that flow's week. The detector only
  counts flows, so it never knows an account's future: an account with fewer than k flows is never alerted (alerting
  it "at its last flow" would tell the model its history ends there). The alert's own columns are what such a
  detector knows at its processing date: the account's volume in the week (`volume_usd`), `fan_in` or `fan_out` by
  whether it had more senders or recipients so far, the flows and counterparties seen so far as evidence; its
  severity, confidence and suspected type are constants (the source has no detector scores).
- **Drops** exist for the weeks that have alerts (a drop without alerts means "detectors did not run" to ingestion).
  A drop's `money_flows` are the source rows whose timestamp falls in its week (each pair's transactions sit at its one
  timestamp; amounts stay in ETH in the USD columns: the source has no price); flows of weeks without a drop are not
  delivered, but still count in the raw features below.
- **Raw features** (`features.parquet`): one row per alerted account of the drop, computed from every source row of
  the account with a timestamp at or before the end of the processing date, nothing later: counts, volumes, per-flow
  transaction sizes (amount / transactions), their spread, concentration on counterparties, reciprocity, activity days
  and hours. Columns the source cannot give (graph centralities beyond one hop, anomaly scores, quality scores, assets
  beyond ETH) are 0, so they carry nothing.
- **Clusters**: none; the source has no alert grouping, so `clusters.parquet` is empty.
- **Labels** arrive as an investigation's outcome in the first drop after the alert's (risk level `high` with label
  `phishing`, else `low` with label `normal`). One that arrives more than `label_horizon_days` after its alert (the next
  drop is weeks away) misses the pipeline's label horizon, and one whose alert is in the last drop never arrives:
  those alerts are not training rows, and `DropSet` counts them.

Account ids become `0x` + the id in 40 hex digits, the shape of the contract's addresses.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trainer.errors import PipelineError
from trainer.sample_data.schemas import DROP_FILES, EPOCH, SECONDS_PER_DAY

WINDOW_DAYS = 7
ALERT_AFTER_FLOWS = 3
LABEL_HORIZON_DAYS = 14  # the project's var label_horizon_days
SMALL_TRANSACTION_ETH = 0.1  # small_transaction_ratio: the share of flows whose transactions average below this
NEW_ADDRESS_DAYS = 30  # is_new_address: first activity within this many days of the processing date
NIGHT_HOURS = range(0, 6)  # night_transaction_ratio, in UTC
# The source gives no label confidence: full confidence for every label, so the label weights weigh nothing.
LABEL_CONFIDENCE = 1.0


@dataclass(frozen=True)
class Subgraph:
    """The source's rows as arrays (one entry per (from, to) pair) and its labelled accounts."""

    source: np.ndarray  # int64 account id
    target: np.ndarray
    amount: np.ndarray  # float64 ETH
    transactions: np.ndarray  # int64
    timestamp: np.ndarray  # int64 unix seconds
    labels: dict[int, int]  # account id -> 1 phishing, 0 normal


@dataclass
class DropSet:
    """The drops of a mapping, oldest first, with what the mapping could not deliver."""

    drops: dict[dt.date, dict[str, pa.Table]]  # processing date -> drop file name -> table
    alerts: dict[int, dt.date] = field(default_factory=dict)  # account -> processing date of its alert
    unalerted_accounts: int = 0  # labelled accounts with fewer than alert_after_flows flows
    labels_past_horizon: int = 0  # labels that arrive more than the horizon after their alert
    labels_never_arriving: int = 0  # alerts in the last drop: no later drop carries their label


def address(account: int) -> str:
    return f"0x{account:040x}"


def week_end(timestamp: int) -> dt.date:
    """The processing date of a timestamp: the Sunday ending its UTC week."""
    day = EPOCH + dt.timedelta(days=int(timestamp) // SECONDS_PER_DAY)
    return day + dt.timedelta(days=6 - day.weekday())


def end_of_day(day: dt.date) -> int:
    """The last second of a processing date, in unix seconds: what a drop may know about."""
    return ((day - EPOCH).days + 1) * SECONDS_PER_DAY - 1


def read_subgraph(source: pathlib.Path) -> Subgraph:
    """Read edges.csv and nodes_labels.txt from `source`; fails in one line on a missing file or a malformed row."""
    edges_path, labels_path = source / "edges.csv", source / "nodes_labels.txt"
    for path in (edges_path, labels_path):
        if not path.is_file():
            raise PipelineError(f"{path}: missing; --source must hold edges.csv and nodes_labels.txt")
    try:
        table = np.loadtxt(edges_path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        label_rows = np.loadtxt(labels_path, dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise PipelineError(f"{source}: malformed row: {str(error).splitlines()[0]}") from None
    if table.shape[1] != 6 or label_rows.shape[1] != 2:
        raise PipelineError(f"{source}: edges.csv needs 6 columns (index, from, to, amount, n_transactions, timestamp), nodes_labels.txt 2")
    if (table[:, 3] < 0).any() or (table[:, 4] < 1).any():
        raise PipelineError(f"{edges_path}: negative amounts or pairs with no transaction")
    return Subgraph(
        source=table[:, 1].astype(np.int64),
        target=table[:, 2].astype(np.int64),
        amount=table[:, 3],
        transactions=table[:, 4].astype(np.int64),
        timestamp=table[:, 5].astype(np.int64),
        labels={int(account): int(label) for account, label in label_rows},
    )


def truncated(graph: Subgraph, last_second: int) -> Subgraph:
    """The source as it stood at `last_second`: the rows up to it (the leak test maps this and compares)."""
    keep = graph.timestamp <= last_second
    return Subgraph(
        graph.source[keep], graph.target[keep], graph.amount[keep], graph.transactions[keep], graph.timestamp[keep], graph.labels
    )


def map_drops(
    graph: Subgraph, network: str = "ethereum", alert_after_flows: int = ALERT_AFTER_FLOWS, label_horizon_days: int = LABEL_HORIZON_DAYS
) -> DropSet:
    """The drops of the source, by the mapping of the module docstring."""
    if alert_after_flows < 1:
        raise PipelineError(f"alert_after_flows must be at least 1, got {alert_after_flows}")
    order = np.lexsort((np.arange(graph.timestamp.size), graph.timestamp))
    alert_rows: dict[int, int] = {}  # account -> the source row of its k-th flow
    seen: dict[int, int] = {}
    for row in order:
        for account in (int(graph.source[row]), int(graph.target[row])):
            if account in graph.labels and account not in alert_rows:
                seen[account] = seen.get(account, 0) + 1
                if seen[account] == alert_after_flows:
                    alert_rows[account] = int(row)
    alert_dates = {account: week_end(graph.timestamp[row]) for account, row in alert_rows.items()}
    dates = sorted(set(alert_dates.values()))
    result = DropSet(drops={}, alerts=alert_dates, unalerted_accounts=len(graph.labels) - len(alert_rows))
    days = graph.timestamp // SECONDS_PER_DAY
    weeks = days + 6 - (days + 3) % 7  # each row's week_end, in days since the epoch (1970-01-01 was a Thursday)
    label_rows: dict[dt.date, list[dict]] = {day: [] for day in dates}
    for account, day in sorted(alert_dates.items()):
        later = [d for d in dates if d > day]
        if not later:
            result.labels_never_arriving += 1
            continue
        if (later[0] - day).days > label_horizon_days:
            result.labels_past_horizon += 1
        label_rows[later[0]].append(_label_row(network, account, graph.labels[account], later[0]))
    for day in dates:
        accounts = sorted(account for account, alerted_on in alert_dates.items() if alerted_on == day)
        known = graph.timestamp <= end_of_day(day)
        in_week = weeks == (day - EPOCH).days
        result.drops[day] = {
            "alerts.parquet": _alerts(graph, known, in_week, accounts, alert_rows, day, network, alert_after_flows),
            "features.parquet": _features(graph, known, accounts, day),
            "clusters.parquet": DROP_FILES["clusters.parquet"].empty_table(),
            "money_flows.parquet": _money_flows(graph, in_week, day),
            "address_labels.parquet": pa.Table.from_pylist(label_rows[day], schema=DROP_FILES["address_labels.parquet"]),
        }
    return result


def write_drops(drop_set: DropSet, out_dir: pathlib.Path, network: str) -> None:
    """The drops in the generator's layout: out_dir/<network>/<YYYY-MM-DD>/<window_days>d/<file>.parquet."""
    for day, files in drop_set.drops.items():
        drop_dir = out_dir / network / day.isoformat() / f"{WINDOW_DAYS}d"
        drop_dir.mkdir(parents=True, exist_ok=True)
        for name, table in files.items():
            pq.write_table(table, drop_dir / name)


def _label_row(network: str, account: int, label: int, day: dt.date) -> dict:
    return {
        "processing_date": day, "window_days": WINDOW_DAYS, "network": network, "address": address(account),
        "label": "phishing" if label else "normal", "network_type": "evm", "address_type": "unknown", "address_subtype": "",
        "risk_level": "high" if label else "low", "confidence_score": LABEL_CONFIDENCE, "trust_level": "high", "source": "xblock_tedge",
    }  # fmt: skip


def _incident(graph: Subgraph, mask: np.ndarray, account: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of `mask` where the account sends, and where it receives."""
    return np.flatnonzero(mask & (graph.source == account)), np.flatnonzero(mask & (graph.target == account))


def _alerts(
    graph: Subgraph,
    known: np.ndarray,
    in_week: np.ndarray,
    accounts: list[int],
    alert_rows: dict[int, int],
    day: dt.date,
    network: str,
    alert_after_flows: int,
) -> pa.Table:
    rows = []
    for account in accounts:
        sent, received = _incident(graph, known, account)
        week_sent, week_received = _incident(graph, in_week, account)
        recipients, senders = np.unique(graph.target[sent]).size, np.unique(graph.source[received]).size
        fan_in = senders > recipients
        counterparties = np.unique(np.concatenate([graph.target[sent], graph.source[received]])).size
        rows.append({
            "window_days": WINDOW_DAYS, "processing_date": day, "alert_id": f"{network}-{day.isoformat()}-{account}",
            "address": address(account), "typology_type": "fan_in" if fan_in else "fan_out",
            "pattern_id": f"flow_count_{alert_after_flows}", "pattern_type": "many_to_one" if fan_in else "one_to_many",
            "severity": "medium", "suspected_address_type": "unknown", "suspected_address_subtype": "",
            "alert_confidence_score": 0.5, "description": f"account reached {alert_after_flows} money flows",
            "volume_usd": float(graph.amount[week_sent].sum() + graph.amount[week_received].sum()),
            "evidence_json": json.dumps({"flows": int(sent.size + received.size), "counterparties": int(counterparties)}),
            "risk_indicators": [],
            "created_at": dt.datetime.fromtimestamp(int(graph.timestamp[alert_rows[account]]), dt.UTC).replace(tzinfo=None),
        })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=DROP_FILES["alerts.parquet"])


def _money_flows(graph: Subgraph, in_week: np.ndarray, day: dt.date) -> pa.Table:
    rows = np.flatnonzero(in_week)
    pairs = set(zip(graph.source[rows].tolist(), graph.target[rows].tolist(), strict=True))
    amount_of = {(int(graph.source[r]), int(graph.target[r])): float(graph.amount[r]) for r in rows}
    created = dt.datetime.combine(day, dt.time())
    records = []
    for r in rows:
        src, dst, ts, n = int(graph.source[r]), int(graph.target[r]), int(graph.timestamp[r]), int(graph.transactions[r])
        amount = float(graph.amount[r])
        back = amount_of.get((dst, src))
        hourly, weekly = [0] * 24, [0] * 7
        hourly[ts // 3600 % 24] = min(n, 65_535)
        weekly[(ts // SECONDS_PER_DAY + 3) % 7] = min(n, 65_535)  # 1970-01-01 was a Thursday; Monday = 0
        records.append({
            "window_days": WINDOW_DAYS, "processing_date": day, "from_address": address(src), "to_address": address(dst),
            "tx_count": n, "amount_sum": amount, "amount_usd_sum": amount, "first_seen_timestamp": ts, "last_seen_timestamp": ts,
            "active_days": 1, "avg_tx_size_usd": amount / n, "unique_assets": 1, "dominant_asset": "ETH",
            "hourly_pattern": hourly, "weekly_pattern": weekly,
            "reciprocity_ratio": min(amount, back) / max(amount, back, 1e-18) if back is not None else 0.0,
            "is_bidirectional": (dst, src) in pairs, "created_at": created,
        })  # fmt: skip
    return pa.Table.from_pylist(records, schema=DROP_FILES["money_flows.parquet"])


def _moments(values: np.ndarray) -> tuple[float, float, float]:
    """Variance, skewness and excess kurtosis (0 where undefined)."""
    variance = float(values.var()) if values.size else 0.0
    if variance <= 0:
        return variance, 0.0, 0.0
    z = (values - values.mean()) / np.sqrt(variance)
    return variance, float((z**3).mean()), float((z**4).mean() - 3.0)


def _entropy(counts: np.ndarray) -> float:
    """Shannon entropy of the counts over its maximum: 0 one bucket, 1 uniform."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum() / np.log(counts.size))


def _features(graph: Subgraph, known: np.ndarray, accounts: list[int], day: dt.date) -> pa.Table:
    """Each alerted account's raw features from its source rows at or before the end of `day` (`known`)."""
    schema = DROP_FILES["features.parquet"]
    rows = []
    for account in accounts:
        sent, received = _incident(graph, known, account)
        flows = np.concatenate([sent, received])
        amount_in, amount_out = graph.amount[received], graph.amount[sent]
        tx_in, tx_out = int(graph.transactions[received].sum()), int(graph.transactions[sent].sum())
        size = graph.amount[flows] / graph.transactions[flows]  # the mean transaction of each pair
        total_in, total_out = float(amount_in.sum()), float(amount_out.sum())
        volume = total_in + total_out
        counterparty = np.concatenate([graph.target[sent], graph.source[received]])
        parties, inverse = np.unique(counterparty, return_inverse=True)
        by_party = np.bincount(inverse, weights=graph.amount[flows], minlength=parties.size)
        shares = np.sort(by_party / volume)[::-1] if volume > 0 else np.zeros(parties.size)
        both_ways = np.intersect1d(graph.target[sent], graph.source[received]).size
        ts = graph.timestamp[flows]
        days = ts // SECONDS_PER_DAY
        hourly = np.bincount(ts // 3600 % 24, minlength=24)
        daily = np.bincount((days + 3) % 7, minlength=7)
        active_days = np.unique(days).size
        variance, skewness, kurtosis = _moments(graph.amount[flows])
        mean_amount = float(graph.amount[flows].mean())
        per_day = np.bincount(days - days.min())
        row = {
            "window_days": WINDOW_DAYS, "processing_date": day, "address": address(account),
            "degree_in": np.unique(graph.source[received]).size, "degree_out": np.unique(graph.target[sent]).size,
            "degree_total": flows.size, "unique_counterparties": parties.size,
            "total_in_usd": total_in, "total_out_usd": total_out, "net_flow_usd": total_in - total_out, "total_volume_usd": volume,
            "avg_tx_in_usd": total_in / tx_in if tx_in else 0.0, "avg_tx_out_usd": total_out / tx_out if tx_out else 0.0,
            "median_tx_in_usd": float(np.median(size[sent.size:])) if received.size else 0.0,
            "median_tx_out_usd": float(np.median(size[: sent.size])) if sent.size else 0.0,
            "max_tx_usd": float(size.max()), "min_tx_usd": float(size.min()),
            "amount_variance": variance, "amount_skewness": skewness, "amount_kurtosis": kurtosis,
            "volume_std": float(np.sqrt(variance)), "volume_cv": float(np.sqrt(variance)) / mean_amount if mean_amount > 0 else 0.0,
            "flow_concentration": float((shares**2).sum()), "counterparty_concentration": float(shares[0]),
            "concentration_ratio": float(shares[:3].sum()),
            "tx_in_count": tx_in, "tx_out_count": tx_out, "tx_total_count": tx_in + tx_out,
            "activity_days": active_days, "activity_span_days": int(days.max() - days.min() + 1),
            "avg_daily_volume_usd": volume / active_days,
            "peak_hour": int(hourly.argmax()), "peak_day": int(daily.argmax()),
            "peak_activity_hour": int(hourly.argmax()), "peak_activity_day": int(daily.argmax()),
            "hourly_activity": hourly.tolist(), "daily_activity": daily.tolist(),
            "hourly_entropy": _entropy(hourly), "daily_entropy": _entropy(daily),
            "burst_factor": float(per_day.max() / per_day[per_day > 0].mean()),
            "reciprocity_ratio": both_ways / parties.size,
            "weekend_transaction_ratio": float(daily[5:].sum() / flows.size),
            "night_transaction_ratio": float(hourly[list(NIGHT_HOURS)].sum() / flows.size),
            "small_transaction_ratio": float((size < SMALL_TRANSACTION_ETH).mean()),
            "unique_assets_in": int(received.size > 0), "unique_assets_out": int(sent.size > 0),
            "dominant_asset_in": "ETH" if received.size else "", "dominant_asset_out": "ETH" if sent.size else "",
            "khop1_count": parties.size, "khop1_volume_usd": volume,
            "is_new_address": bool(end_of_day(day) - ts.min() < NEW_ADDRESS_DAYS * SECONDS_PER_DAY),
            "unique_recipients_count": np.unique(graph.target[sent]).size, "unique_senders_count": np.unique(graph.source[received]).size,
            "first_activity_timestamp": int(ts.min()), "last_activity_timestamp": int(ts.max()),
            "created_at": dt.datetime.combine(day, dt.time()),
        }  # fmt: skip
        rows.append({name: row[name] if name in row else _ZERO[str(schema.field(name).type)] for name in schema.names})
    return pa.Table.from_pylist(rows, schema=schema)


# What a column the source cannot give holds, by Arrow type: nothing that varies.
_ZERO = {"float": 0.0, "double": 0.0, "uint8": 0, "uint32": 0, "uint64": 0, "bool": False, "string": ""}

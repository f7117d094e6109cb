"""Writing a run's drops: argument validation, one drop per processing date generated in order, and every file
written atomically (a temporary file, then a rename), so a reader never sees half a file."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from trainer.arguments import NETWORK_PATTERN
from trainer.errors import PipelineError
from trainer.sample_data.tables import DropContext, make_alerts, make_clusters, make_features, make_money_flows
from trainer.sample_data.universe import make_labels, make_universe


class SampleDataError(PipelineError, ValueError):
    """Invalid generator arguments; the message is one sentence the CLI prints as is."""


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
    """Write to a hidden temporary file, then rename over `path`: a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    dictionary = [name for name in table.column_names if name not in _NO_DICTIONARY]
    pq.write_table(table, tmp, compression="snappy", use_dictionary=dictionary)
    os.replace(tmp, path)


def _write_drop(drop_dir: pathlib.Path, tables: dict[str, pa.Table]) -> None:
    """Write one drop's tables as <name>.parquet into drop_dir (created if missing)."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write(table, drop_dir / f"{name}.parquet")


def _validate(network: str, start: dt.date, end: dt.date, alerts_per_day: int, window_days: int, seed: int, label_delay_days: int) -> None:
    """Reject bad arguments before anything is drawn or written, with one sentence the CLI prints as is."""
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
    univ = make_universe(np.random.default_rng(universe_seq), n_addresses)
    labels = make_labels(np.random.default_rng(label_seq), univ, network, window_days, start, n_days, random_labels)
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
            ctx = DropContext(network, window_days, date, alerts_per_day)
            rng = np.random.default_rng(drop_seqs[i])
            alerts, parts = make_alerts(rng, ctx, univ)
            first_alert_day[parts["addr"][first_alert_day[parts["addr"]] < 0]] = i
            tables = {
                "alerts": alerts,
                "features": make_features(rng, ctx, univ, parts["addr"]),
                "clusters": make_clusters(rng, ctx, univ, parts),
                "money_flows": make_money_flows(rng, ctx, univ, parts["addr"]),
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

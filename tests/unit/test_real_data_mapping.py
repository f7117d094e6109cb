"""The real-data mapping leaks nothing: every drop it makes from a source is the drop it makes from the source cut at
that drop's processing date, and every label arrives after its alert. Runs on a tiny synthetic graph written here in
the source's file format (a clean clone has no copy of the real data)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from benchmarks.real_data_mapping import WINDOW_DAYS, address, end_of_day, map_drops, read_subgraph, truncated, write_drops
from trainer.errors import PipelineError

START = 1_500_000_000  # 2017-07-14, a Friday


def write_source(directory: pathlib.Path, seed: int = 7, accounts: int = 40, rows: int = 400, days: int = 120) -> pathlib.Path:
    """edges.csv and nodes_labels.txt as the XBlock sample writes them: unique (from, to) pairs, one timestamp each.
    One more labelled account has only two flows, weeks apart: fewer than the detector waits for."""
    rng = np.random.default_rng(seed)
    pairs = {(int(a), int(b)) for a, b in rng.integers(1, accounts + 1, (rows, 2)) if a != b}
    lines = [",from,to,amount,n_transactions,timestamp"]
    for index, (src, dst) in enumerate(sorted(pairs)):
        lines.append(f"{index},{src},{dst},{rng.exponential(3.0)},{1 + rng.poisson(1.0)},{START + int(rng.integers(0, days * 86_400))}")
    sparse = accounts + 1
    lines += [f"{len(pairs)},{sparse},1,1.5,1,{START + 86_400}", f"{len(pairs) + 1},2,{sparse},2.5,1,{START + 60 * 86_400}"]
    (directory / "edges.csv").write_text("\n".join(lines) + "\n")
    labelled = [*rng.choice(np.arange(1, accounts + 1), 16, replace=False), sparse]
    (directory / "nodes_labels.txt").write_text("".join(f"{account} {index % 2}\n" for index, account in enumerate(labelled)))
    return directory


def test_no_drop_knows_its_future_and_labels_follow_alerts(tmp_path: pathlib.Path) -> None:
    graph = read_subgraph(write_source(tmp_path))
    mapped = map_drops(graph)
    assert len(mapped.drops) >= 3 and len(mapped.alerts) >= 8  # the graph exercises the mapping
    for day, files in mapped.drops.items():
        # The source as it stood at the end of the processing date gives the same alerts, features and flows.
        as_then = map_drops(truncated(graph, end_of_day(day))).drops[day]
        for name in ("alerts.parquet", "features.parquet", "money_flows.parquet"):
            assert files[name].equals(as_then[name]), f"{name} of {day} reads source rows after {day}"
        flows = files["money_flows.parquet"].to_pydict()
        assert all(end_of_day(day) - WINDOW_DAYS * 86_400 < ts <= end_of_day(day) for ts in flows["last_seen_timestamp"])
        assert files["features.parquet"].column("address").to_pylist() == files["alerts.parquet"].column("address").to_pylist()
    alerted_on = {address(account): day for account, day in mapped.alerts.items()}
    labelled = 0
    for day, files in mapped.drops.items():
        for row in files["address_labels.parquet"].to_pylist():
            assert row["processing_date"] == day and day > alerted_on[row["address"]], f"{row['address']}'s label is not after its alert"
            labelled += 1
    assert labelled == len(mapped.alerts) - mapped.labels_never_arriving
    assert mapped.unalerted_accounts == 1  # the account with two flows: the detector never fires on it


def test_written_drops_follow_the_generator_layout(tmp_path: pathlib.Path) -> None:
    mapped = map_drops(read_subgraph(write_source(tmp_path)))
    write_drops(mapped, tmp_path / "drops", "ethereum")
    first = min(mapped.drops)
    files = sorted(p.name for p in (tmp_path / "drops" / "ethereum" / first.isoformat() / f"{WINDOW_DAYS}d").iterdir())
    assert files == ["address_labels.parquet", "alerts.parquet", "clusters.parquet", "features.parquet", "money_flows.parquet"]


def test_a_source_without_labels_file_fails_in_one_line(tmp_path: pathlib.Path) -> None:
    write_source(tmp_path)
    (tmp_path / "nodes_labels.txt").unlink()
    with pytest.raises(PipelineError, match="nodes_labels.txt: missing"):
        read_subgraph(tmp_path)

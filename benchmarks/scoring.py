"""Scoring one processing date with and without the drift computation, side by side in one process.

    python -m benchmarks.scoring --store /tmp/aml-bench/1000000 [--network ethereum] [--date 2024-03-31] [--repeat 5]

`--store` is a size directory of `python -m benchmarks.run` (its chdb/ store with the built window and models/ with
the trained alert_scorer). Runs alternate (drift on, drift off) so the machine's state affects both alike; prints the
median wall time of each, the ratio, and the drift step's own share. Not a test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring")
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--network", default="ethereum")
    parser.add_argument("--date", default="2024-03-31", type=date.fromisoformat)
    parser.add_argument("--repeat", default=5, type=int)
    args = parser.parse_args()
    os.environ["CHDB_PATH"] = str(args.store / "chdb")
    from trainer.score import score_date
    from trainer.store.connection import connect

    with connect() as client:
        walls: dict[bool, list[float]] = {True: [], False: []}
        drift_ms: list[int] = []
        rows = 0
        for _ in range(args.repeat + 1):  # the first round warms the engine and the page cache
            for drift in (True, False):
                started = time.perf_counter()
                outcome = score_date("alert_scorer", args.date, args.network, "latest", args.store / "models", client=client, drift=drift)
                walls[drift].append(time.perf_counter() - started)
                rows = outcome.rows
                if drift:
                    drift_ms.append(outcome.latency_ms.get("drift", 0))
        on, off = statistics.median(walls[True][1:]), statistics.median(walls[False][1:])
    print(f"scoring {rows} alerts of {args.date} ({args.network}), median of {args.repeat}: drift on {on:.3f} s, off {off:.3f} s, "
          f"ratio {on / off:.2f} (drift step median {statistics.median(drift_ms[1:])} ms)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmarks at 1M, 3M and 10M alerts: generation, ingestion, feature build, training, the daily increment.

    python -m benchmarks.run [--sizes 1000000,3000000,10000000] [--workdir /tmp/aml-bench] [--report-only]

Each size gets its own embedded store. Every phase runs as its own process (as a user would run it), timed
by wall clock, with its peak resident memory from the kernel (wait4): the build's process is dbt with the embedded
engine, the trainer's is the trainer with the engine it reads through. The window is 2024-01-01..2024-03-31 (91
processing dates); money flows come at about 10 per alert. After training, the daily increment: one new drop for
2024-04-01 is ingested, the window is built through it (incremental: only what the new date touches; its data tests
from var checks_from on, not the unit tests, as in the README's daily loop), and that date is scored with the model just trained, by three
commands (trainer.ingest, dbt build, trainer.score); then the same for 2024-04-02 and 2024-04-03 by the one-process
daily loop (trainer.daily). The first of those two parses the dbt project in full (the `dbt build` before it parsed
with other vars); the second parses it partially, as every day of a daily routine does: the steady state. Prints
markdown tables with the machine and the date, the cost-growth exponents over the sizes and the daily increment's
share of the full build; not a test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

START, END, DAYS, NEXT, AFTER_NEXT, THIRD = "2024-01-01", "2024-03-31", 91, "2024-04-01", "2024-04-02", "2024-04-03"
DAILY = ("daily_ingest", "daily_build", "daily_score")
RESULT_FILE = "result.json"  # each size's figures, kept beside its store: --report-only prints them again
EXTRACTION_MAX_ALERTS = 3_000_000  # the largest size the extraction comparison runs at: some of its paths hold a whole result
REPO = Path(__file__).resolve().parent.parent


def run_phase(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark phase failed: {' '.join(command)}\n{stderr[-2000:]}{stdout[-2000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def machine() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.machine()}, Python {platform.python_version()}, {date.today()}"


def bench_size(alerts: int, workdir: Path, with_extraction: bool, memory_gb: float | None = None) -> dict[str, object]:
    root = workdir / str(alerts)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = {**os.environ, "CHDB_PATH": str(root / "chdb"), "DBT_TARGET_PATH": str(root / "target"), "DBT_LOG_PATH": str(root / "logs")}
    python, dbt = sys.executable, str(Path(sys.executable).with_name("dbt"))
    per_day = max(1, alerts // DAYS)
    result: dict[str, object] = {"alerts": per_day * DAYS}
    memory = f", query_memory_limit_gb: {memory_gb}" if memory_gb else ""
    phases = {
        "generate": [python, "-m", "trainer.sample_data", "--network", "ethereum", "--start", START, "--end", END,
                     "--out", str(root / "drops"), "--alerts-per-day", str(per_day)],
        "ingest": [python, "-m", "trainer.ingest", "--network", "ethereum", "--source", str(root / "drops")],
        "build": [dbt, "build", "--vars", f"{{network: ethereum, start: '{START}', end: '{END}'{memory}}}"],
        "rebuild": [dbt, "build", "--vars", f"{{network: ethereum, start: '{START}', end: '{END}'{memory}}}"],
        "train": [python, "-m", "trainer", "--model-type", "alert_scorer", "--output-dir", str(root / "models")],
        "generate_next": [python, "-m", "trainer.sample_data", "--network", "ethereum", "--start", NEXT, "--end", NEXT,
                          "--out", str(root / "next"), "--alerts-per-day", str(per_day)],
        "daily_ingest": [python, "-m", "trainer.ingest", "--network", "ethereum", "--source", str(root / "next")],
        "daily_build": [dbt, "build", "--exclude-resource-type", "unit_test",
                        "--vars", f"{{network: ethereum, start: '{START}', end: '{NEXT}', checks_from: '{NEXT}'{memory}}}"],
        "daily_score": [python, "-m", "trainer.score", "--model-type", "alert_scorer", "--processing-date", NEXT,
                        "--model-id", "latest", "--output-dir", str(root / "models")],
        "generate_after_next": [python, "-m", "trainer.sample_data", "--network", "ethereum", "--start", AFTER_NEXT,
                                "--end", AFTER_NEXT, "--out", str(root / "after_next"), "--alerts-per-day", str(per_day)],
        "daily_loop": [python, "-m", "trainer.daily", "--network", "ethereum", "--source", str(root / "after_next"),
                       "--start", START, "--model-type", "alert_scorer", "--model-id", "latest", "--output-dir", str(root / "models")],
        "generate_third": [python, "-m", "trainer.sample_data", "--network", "ethereum", "--start", THIRD, "--end", THIRD,
                           "--out", str(root / "third"), "--alerts-per-day", str(per_day)],
        "daily_loop_steady": [python, "-m", "trainer.daily", "--network", "ethereum", "--source", str(root / "third"),
                              "--start", START, "--model-type", "alert_scorer", "--model-id", "latest",
                              "--output-dir", str(root / "models")],
    }  # fmt: skip
    for name, command in phases.items():
        wall, rss, _ = run_phase(command, env)
        result[f"{name}_s"], result[f"{name}_rss_mb"] = round(wall, 1), round(rss)
        print(f"  {alerts:>9} alerts  {name:<9} {wall:8.1f} s  peak RSS {rss:8.0f} MB", file=sys.stderr, flush=True)
    metadata = json.loads(next((root / "models").glob("*.json")).read_text())
    result["trainer"] = {
        "timings_s": metadata["timings_s"],
        "rows": metadata["data_stats"]["rows"],
        "extracted_rows": metadata["data_stats"]["train_rows"] + metadata["data_stats"]["test_rows"],
        "features": len(metadata["feature_names"]),
        "start_rss_mb": metadata["peak_rss_mb_by_phase"]["start"],
    }
    if with_extraction:
        _, _, stdout = run_phase([python, "-m", "benchmarks.extraction", "--network", "ethereum"], env)
        result["extraction"] = json.loads(stdout.strip().splitlines()[-1])
    shutil.rmtree(root / "drops", ignore_errors=True)
    shutil.rmtree(root / "next", ignore_errors=True)
    shutil.rmtree(root / "after_next", ignore_errors=True)
    shutil.rmtree(root / "third", ignore_errors=True)
    (root / RESULT_FILE).write_text(json.dumps(result))
    return result


def growth_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys on xs."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): 1 is linear, 2 quadratic."""
    return growth_slope([math.log(s) for s in sizes], [math.log(t) for t in seconds])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aml-bench"))
    parser.add_argument(
        "--query-memory-gb", default="", help="SIZE=GB,...: the build's var query_memory_limit_gb at a size (default: the project's)"
    )
    parser.add_argument("--report-only", action="store_true", help="print the figures the last run saved for the sizes, run nothing")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    memory = {int(size): float(gb) for size, gb in (pair.split("=") for pair in args.query_memory_gb.split(",") if pair)}
    if args.report_only:
        results = [json.loads((args.workdir / str(size) / RESULT_FILE).read_text()) for size in sizes]
    else:
        # The extraction comparison runs at the smallest size, up to EXTRACTION_MAX_ALERTS: its non-streaming paths hold
        # the whole result at once (at 10M alerts clickhouse-connect's query_arrow passed 23 GB and was killed by the
        # kernel), so a run of 10M alone leaves it out.
        results = [bench_size(size, args.workdir, size == min(sizes) <= EXTRACTION_MAX_ALERTS, memory.get(size)) for size in sizes]
    report(results, memory)


def report(results: list[dict], memory: dict[int, float]) -> None:
    """Print the figures of every size as markdown, with the machine and the date."""
    print(f"Machine: {machine()}\n")
    if memory:
        raised = ", ".join(f"{size:,} alerts {gb} GB" for size, gb in memory.items())
        print(f"Build memory ceiling (var query_memory_limit_gb) raised at: {raised}\n")
    print("Wall seconds (peak RSS of the phase's process, MB); end to end = generate + ingest + build + train:\n")
    print("| alerts | generate | ingest | dbt build | re-build | train alert_scorer | end to end "
          "| daily: ingest | build | score | daily total (share of the build) | daily loop in one process (share) "
          "| its next day (share) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        r["end_to_end_s"] = r["generate_s"] + r["ingest_s"] + r["build_s"] + r["train_s"]
        r["daily_s"] = sum(r[f"{name}_s"] for name in DAILY)
        cells = [f"{r[f'{name}_s']} ({r[f'{name}_rss_mb']:,})" for name in ("generate", "ingest", "build", "rebuild", "train")]
        daily = [f"{r[f'{name}_s']} ({r[f'{name}_rss_mb']:,})" for name in DAILY]
        loops = [
            f"{r[f'{name}_s']} ({r[f'{name}_rss_mb']:,}; {r[f'{name}_s'] / r['build_s']:.1%})" if f"{name}_s" in r else "-"
            for name in ("daily_loop", "daily_loop_steady")
        ]
        print(f"| {r['alerts']:,} | {' | '.join(cells)} | {r['end_to_end_s']:.1f} | {' | '.join(daily)} "
              f"| {r['daily_s']:.1f} ({r['daily_s'] / r['build_s']:.1%}) | {' | '.join(loops)} |")  # fmt: skip
    peak = max(max(v for k, v in r.items() if k.endswith("_rss_mb")) for r in results)
    print(f"\nLargest peak RSS of any process: {peak:,} MB")
    if len(results) > 1:
        alerts = [r["alerts"] for r in results]
        print("\nCost growth over the sizes (least squares of log time on log alerts; 1 is linear):")
        for name in ("generate", "ingest", "build", "train", "end_to_end", "daily", "daily_loop", "daily_loop_steady"):
            if any(f"{name}_s" not in r for r in results):
                continue
            exponent = growth_exponent(alerts, [r[f"{name}_s"] for r in results])
            print(f"- {name}: time ~ alerts^{exponent:.2f}, so 10x the alerts costs {10**exponent:.1f}x the time")
    largest = results[-1]
    trained = largest["trainer"]
    timings = trained["timings_s"]
    outside = largest["train_s"] - sum(timings.values())
    lightgbm = timings["cross_validation"] + timings["final_fit"]
    print(f"\nTrainer at {largest['alerts']:,} alerts ({trained['rows']:,} labelled rows x {trained['features']} features; "
          f"{trained['extracted_rows']:,} read as training and test rows, the rest share an address with the test dates):")  # fmt: skip
    print("| phase | s | share of the process |\n|---|---:|---:|")
    for phase, seconds in {**timings, "outside the phases (imports, engine start, checks, fingerprint)": outside}.items():
        print(f"| {phase} | {seconds:.2f} | {seconds / largest['train_s']:.0%} |")
    print(f"LightGBM's own training (cross-validation and final fit): {lightgbm / largest['train_s']:.0%} of the process's "
          f"{largest['train_s']} s; everything else {1 - lightgbm / largest['train_s']:.0%}")  # fmt: skip
    matrix_mb = trained["rows"] * trained["features"] * 4 / 2**20
    extracted_mb = trained["extracted_rows"] * trained["features"] * 4 / 2**20
    net = largest["train_rss_mb"] - trained["start_rss_mb"]
    print(f"\nTrainer peak RSS {largest['train_rss_mb']} MB; {trained['start_rss_mb']:.0f} MB of it held before any data is read "
          f"(Python libraries and the embedded engine), so the data costs {net:.0f} MB.")  # fmt: skip
    if len(results) > 1:
        matrices = [r["trainer"]["rows"] * r["trainer"]["features"] * 4 / 2**20 for r in results]
        slope = growth_slope(matrices, [r["train_rss_mb"] for r in results])
        print(f"Trainer peak RSS grows by {slope:.2f} MB per MB of float32 matrix of the labelled window over the "
              f"{len(results)} sizes (least squares).")  # fmt: skip
    print(f"Float32 matrix of the labelled window {matrix_mb:.0f} MB: peak {largest['train_rss_mb'] / matrix_mb:.1f}x, "
          f"data {net / matrix_mb:.1f}x. Matrices read (training + test rows) {extracted_mb:.0f} MB: "
          f"data {net / extracted_mb:.1f}x.")  # fmt: skip
    for measured in (r for r in results if "extraction" in r):
        seconds = measured["extraction"]["seconds"]
        print(f"\nExtraction of training_alerts at {measured['alerts']:,} alerts ({measured['extraction']['rows']:,} rows x "
              f"{measured['extraction']['features']} features):")  # fmt: skip
        print("| path | s | vs Arrow |\n|---|---:|---:|")
        for path, value in seconds.items():
            print(f"| {path} | {value:.2f} | {value / seconds['arrow_stream']:.1f}x |")


if __name__ == "__main__":
    main()

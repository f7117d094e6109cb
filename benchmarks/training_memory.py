"""Training memory: the float-matrix path and the streamed path side by side in one run, each in a child process.

    flock /tmp/heavy-bench.lock python -m benchmarks.training_memory --rows 1400000 [--streamed-only-rows 30000000]
        [--rounds 100 | --cv [--max-rounds N]] [--workdir /tmp/aml-training-memory]

The training table is synthetic, made inside an embedded store in `--workdir` by one INSERT ... SELECT (the shape of
`training_alerts`: 162 float features, a few thousand rows per date, addresses with several alerts, a label that
depends on some features), so that sizes far beyond what the sample generator makes in minutes can be measured.
Each path runs in its own child process, which reads the training part (the first 80 % of dates), builds LightGBM's
Dataset, trains (a fixed number of rounds, or with `--cv` the trainer's grouped cross-validation and final fit) and
scores the test part, keeping what the trainer keeps meanwhile; the parent prints its wall seconds, the child's peak
RSS (wait4) and test AUC, and the child's peak after binning, after the cross-validation and after the final fit, so
that the phase of the peak shows. `--max-rounds` caps the boosting rounds of every fold and of the final fit
(modeling.MAX_ROUNDS), so that a huge table's cross-validation ends in reasonable time. Nothing is asserted.

- `matrix`: the path until issue 33: `extract_rows` streams every training row into one float32 matrix, then
  `modeling.bin_rows` bins it, with row-wise histograms; the test part is read into a matrix too, before the fit, and scored whole;
- `streamed`: the trainer's path: `streamed_folds.training_part` (bins from a sample drawn in ClickHouse, then the rows
  binned as they stream; from `streamed_folds.STREAMED_FOLDS_ROWS` training rows on the arrays alone, each fold and the
  final fit binned from the table again), column-wise histograms, and the test part scored as it streams
  (`held_out.score_test_part`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

FEATURES = 162
NETWORK = "bench"
TABLE = "training_alerts"
ROWS_PER_DATE = 20_000
FIRST_DATE = date(2024, 1, 1)


def create_table(client, rows: int, compact: bool = False) -> None:
    """The synthetic training table of `rows` rows, made in ClickHouse. `compact`: the features stored with ZSTD instead
    of LZ4 (18 % smaller: about 18 GB at 37.5M rows instead of 22) in parts of at most 2 GB, for a disk with less room;
    the same rows, read more slowly."""
    from trainer.store.connection import qualified_name

    table = qualified_name(NETWORK, TABLE)
    client.command(f"CREATE DATABASE IF NOT EXISTS {NETWORK}")
    client.command(f"DROP TABLE IF EXISTS {table}")
    codec = " CODEC(ZSTD(1))" if compact else ""
    features = ", ".join(f"f{j} Float32{codec}" for j in range(FEATURES))
    client.command(
        f"CREATE TABLE {table} (network String, processing_date Date, alert_id String, address String, label UInt8, "
        f"label_weight Float32, relevance_grade UInt8, {features}) ENGINE = MergeTree ORDER BY (processing_date, alert_id)"
        # A merge writes its part before it drops the old ones: merges up to 2 GB need no more room than that.
        + (" SETTINGS max_bytes_to_merge_at_max_space_in_pool = 2000000000" if compact else "")
    )
    # Features: a hidden risk per address (informative columns) and noise; some columns coarse (few distinct values)
    # as counts are, some with missing values.
    values = []
    for j in range(FEATURES):
        noise = f"randNormal(0, 1, {j})"
        if j % 4 == 0:
            values.append(f"toFloat32(risk * {1 + j % 7} + {noise}) AS f{j}")
        elif j % 4 == 1:
            values.append(f"toFloat32(floor(abs({noise}) * 3)) AS f{j}")
        elif j % 4 == 2:
            values.append(f"if(rand({j}) % 10 = 0, nan, toFloat32({noise})) AS f{j}")
        else:
            values.append(f"toFloat32({noise} * 100) AS f{j}")
    client.command(
        f"INSERT INTO {table} SELECT network, processing_date, alert_id, address, label, label_weight, relevance_grade, "
        f"{', '.join(f'f{j}' for j in range(FEATURES))} FROM ("
        f"SELECT '{NETWORK}' AS network, toDate('{FIRST_DATE}') + intDiv(number, {ROWS_PER_DATE}) AS processing_date, "
        "toString(number) AS alert_id, toString(cityHash64(number) % greatest(1, intDiv({rows:UInt64}, 5))) AS address, "
        "(cityHash64(address) % 1000) / 1000.0 - 0.5 AS risk, toUInt8(risk + randNormal(0, 0.4, 999) > 0.35) AS label, "
        "toFloat32(0.5 + (cityHash64(number, 1) % 50) / 100.0) AS label_weight, toUInt8(label * (1 + number % 3)) AS relevance_grade, "
        f"{', '.join(values)} FROM numbers({{rows:UInt64}}))",
        parameters={"rows": rows},
        settings={"max_insert_threads": 2},
    )


def child(path: str, rows: int, rounds: int, cross_validate: bool, max_rounds: int | None) -> None:
    """One path in this process: read and bin the training part, train, score the test part; print JSON."""
    from trainer.evaluation.extract import extract_rows
    from trainer.evaluation.held_out import score_test_part
    from trainer.evaluation.metrics import auc_or_half
    from trainer.features.contract import Feature, FeatureContract
    from trainer.model_types import model_spec
    from trainer.store.connection import connect, qualified_name
    from trainer.train import modeling, streamed_folds
    from trainer.train.timing import own_peak_rss_mb

    client = connect()
    spec = model_spec("alert_scorer")
    contract = FeatureContract(TABLE, tuple(Feature(f"f{j}", "synthetic", TABLE) for j in range(FEATURES)))
    test_start = FIRST_DATE + timedelta(days=int(rows * 0.8) // ROWS_PER_DATE)
    parameters = {"network": NETWORK, "start": FIRST_DATE, "end": date(2099, 1, 1), "test_start": test_start}
    window = "network = {network:String} AND processing_date BETWEEN {start:Date} AND {end:Date}"
    train_where, test_where = window + " AND processing_date < {test_start:Date}", window + " AND processing_date >= {test_start:Date}"
    count = "SELECT count() FROM bench.training_alerts WHERE "
    train_rows = int(client.command(count + train_where, parameters=parameters))
    test_rows = int(client.command(count + test_where, parameters=parameters))
    params = modeling.training_params(spec, 42, train_rows, tuned=False)
    if max_rounds:
        modeling.MAX_ROUNDS = max_rounds  # every fold's cap; the final fit trains the folds' mean best rounds
    started = time.perf_counter()
    if path == "matrix":
        params = {**{k: v for k, v in params.items() if k != "force_col_wise"}, "force_row_wise": True}
        train = extract_rows(client, NETWORK, spec, contract, train_where, parameters, train_rows)
        binned = modeling.bin_rows(train, spec, params)
        test = extract_rows(client, NETWORK, spec, contract, test_where, parameters, test_rows)  # before the fit, as it was
        sample_rows, folds = None, binned
    else:
        streamed = streamed_folds.training_part(client, NETWORK, spec, contract.names, TABLE, train_where, parameters, train_rows, params)
        train, folds, sample_rows = streamed.data, streamed.fold_sets, streamed.sample_rows
    binned_s = time.perf_counter() - started
    peak_binned = own_peak_rss_mb()
    if cross_validate:
        rounds = modeling.cross_validate(train, folds, spec, params).rounds
    cv_s, peak_cv = time.perf_counter() - started, own_peak_rss_mb()
    booster = modeling.fit(binned if path == "matrix" else streamed.final_set(), params, rounds)
    trained_s = time.perf_counter() - started
    peak_trained = own_peak_rss_mb()
    if path == "matrix":
        auc = auc_or_half(test.label, booster.predict(test.features))
    else:
        del streamed, folds  # the trainer lets the bins go before it scores the test part
        table = qualified_name(NETWORK, TABLE)
        scored = score_test_part(client, table, spec, contract.names, test_where, parameters, test_rows, booster, TABLE)
        auc = auc_or_half(scored.data.label, scored.score)
    print(json.dumps({
        "path": path, "train_rows": train_rows, "test_rows": test_rows, "sample_rows": sample_rows, "rounds": rounds,
        "bin_s": round(binned_s, 1), "cv_s": round(cv_s, 1), "train_s": round(trained_s, 1), "test_auc": round(float(auc), 5),
        "peak_binned_mb": round(peak_binned), "peak_cv_mb": round(peak_cv), "peak_trained_mb": round(peak_trained),
    }))  # fmt: skip


def run_child(path: str, rows: int, rounds: int, cross_validate: bool, max_rounds: int | None, env: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, "-m", "benchmarks.training_memory", "--child", path, "--rows", str(rows), "--rounds", str(rounds)]
    command += ["--cv"] if cross_validate else []
    command += ["--max-rounds", str(max_rounds)] if max_rounds else []
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{path} failed:\n{stderr[-3000:]}")
    return {
        **json.loads(stdout.strip().splitlines()[-1]),
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_400_000, help="rows of the table both paths train on")
    parser.add_argument("--streamed-only-rows", type=int, default=0, help="then a table this large, streamed path only")
    parser.add_argument("--rounds", type=int, default=100, help="boosting rounds of the fit (without --cv)")
    parser.add_argument("--cv", action="store_true", help="the trainer's grouped cross-validation picks the rounds")
    parser.add_argument("--max-rounds", type=int, help="with --cv: at most this many rounds per fold and final fit")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aml-training-memory"))
    parser.add_argument("--child", choices=["matrix", "streamed"], help=argparse.SUPPRESS)
    parser.add_argument("--compact-table", action="store_true", help="features stored with ZSTD: less disk, slower reads")
    parser.add_argument("--make-table", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_table:
        from trainer.store.connection import connect

        create_table(connect(), args.rows, args.compact_table)
        return
    if args.child:
        child(args.child, args.rows, args.rounds, args.cv, args.max_rounds)
        return
    env = {**os.environ, "CHDB_PATH": str(args.workdir / "chdb")}
    results = []
    for rows, paths in ((args.rows, ("matrix", "streamed")), (args.streamed_only_rows, ("streamed",))):
        if not rows:
            continue
        started = time.perf_counter()
        make = [sys.executable, "-m", "benchmarks.training_memory", "--make-table", "--rows", str(rows)]
        subprocess.run(make + (["--compact-table"] if args.compact_table else []), env=env, check=True)
        print(f"table of {rows:,} rows made in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        for path in paths:
            results.append(run_child(path, rows, args.rounds, args.cv, args.max_rounds, env))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, {date.today()}\n")
    print("| path | training rows | test rows | reference sample | rounds | binned s | cv s | trained s | wall s | peak RSS MB "
          "| test AUC |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['path']} | {r['train_rows']:,} | {r['test_rows']:,} | {r['sample_rows'] or 'all rows'} | {r['rounds']} | {r['bin_s']} "
              f"| {r['cv_s']} | {r['train_s']} | {r['wall_s']} | {r['peak_rss_mb']:,} | {r['test_auc']:.4f} |")  # fmt: skip
    print("\nWhere the peak came (the child's VmHWM after each phase, MB): " + "; ".join(
        f"{r['path']} {r['train_rows']:,} rows: binned {r['peak_binned_mb']:,}, cross-validated {r['peak_cv_mb']:,}, "
        f"trained {r['peak_trained_mb']:,}, test part scored {r['peak_rss_mb']:,}" for r in results
    ))  # fmt: skip
    pairs = [r for r in results if r["train_rows"] == results[0]["train_rows"]]
    if len(pairs) == 2:
        matrix, streamed = pairs
        print(f"\nstreamed / matrix, {matrix['train_rows']:,} training rows: RSS {streamed['peak_rss_mb'] / matrix['peak_rss_mb']:.2f}, "
              f"wall {streamed['wall_s'] / matrix['wall_s']:.2f}, test AUC {streamed['test_auc'] - matrix['test_auc']:+.4f}")  # fmt: skip


if __name__ == "__main__":
    main()

"""`python -m trainer.daily --network N --source DIR --start D [--end D] --model-type T [--model-type T ...]`: one turn
of the daily loop in one process. It ingests the drops under DIR, builds the window from D to their newest date with
dbt (incrementally: every layer recomputes only the dates the new drops touch; unit tests are left out, CI runs them),
then scores each new date of the window with the registered model (the champion by default) of each model type.

The same steps run as three commands (trainer.ingest, `dbt build`, trainer.score); this one opens the store once
and imports its libraries once, where each command does both again (on the embedded engine at 10M alerts, about
2 s to open the store and 1-2 s of imports per command). dbt runs in this process through dbtRunner and prints its
usual log (on two threads on the embedded engine when the drops add days to a built window: build_threads); a failed
build stops the loop before scoring, with the names of the failed nodes.

dbt parses the project while the drops are ingested (the engine runs the ingestion and releases Python's lock
meanwhile), with the network and var checks_from (the first new drop's date: the build's data tests read the dates
from it on, their `where` configs) as its vars: no parsed node depends on the window, so the build reuses that parse.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.arguments import check_at_least, check_window, iso_date, validate_network
from trainer.cli import run_cli
from trainer.errors import PipelineError, first_line
from trainer.ingest.drops import find_drops
from trainer.ingest.load import ingest
from trainer.model_types import MODEL_TYPES, model_spec
from trainer.registry.artifacts import DEFAULT_OUTPUT_DIR
from trainer.score.scoring import ScoringOutcome, score_date
from trainer.score.summary import print_outcome
from trainer.store.connection import connect
from trainer.store.partitions import partition_date_range
from trainer.store.settings import StoreSettings, load_store_settings

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

DAILY_BUILD = ["build", "--exclude-resource-type", "unit_test"]
TEST_PROBLEM = "Problem in test "  # how macro report_test_problems begins each failed test's line in dbt's log
# dbt threads of a day's build on the embedded engine, whose profile has one. When the new drops only add days to a
# window already built, the build's queries read a few dates: two nodes side by side fit in memory and keep both cores
# busy, where one thread leaves the engine idle while dbt renders the next node (at 10M alerts, 18 % off a day's build;
# benchmarks/README.md). Any other build keeps the profile's one thread, so that its peak memory stays one query's
# (var query_memory_limit_gb).
EMBEDDED_DAILY_THREADS = 2


def parse_vars(network: str, checks_from: date) -> dict[str, str]:
    """The vars the project is parsed with: the network, and checks_from, the first date the build's data tests read
    (their `where` configs name it; the dates before it were checked when they were built)."""
    return {"network": network, "checks_from": checks_from.isoformat()}


def parse_project(network: str, checks_from: date) -> Manifest:
    """The project parsed by dbt for `network` and `checks_from`, without a window: a build of any window of the
    network can reuse it (no parsed node reads the window)."""
    from dbt.cli.main import dbtRunner

    # --no-write-json: the build writes manifest.json when it ends; only the partial-parse file is needed before.
    result = dbtRunner().invoke(["parse", "--no-write-json", "--vars", json.dumps(parse_vars(network, checks_from))])
    if not result.success:
        reason = first_line(result.exception) if result.exception else "see dbt's log above"
        raise PipelineError(f"dbt parse of the project failed: {reason}")
    return result.result


def ingest_while_parsing(client: Client, network: str, source: Path, checks_from: date) -> Manifest:
    """Ingest the drops under `source` in a second thread while dbt parses the project in this one. The ingestion
    waits on the engine, which releases Python's lock while it runs a query, and the parse is Python, so on two
    cores they overlap. An ingestion error is raised first: it names the data problem."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as pool:
        ingesting = pool.submit(ingest, client, network, source)
        try:
            manifest = parse_project(network, checks_from)
        except PipelineError:
            ingesting.result()
            raise
        ingesting.result()
    return manifest


def build_window(
    network: str, start: date, end: date, checks_from: date, threads: int | None = None, manifest: Manifest | None = None
) -> None:
    """`dbt build` of the window (without unit tests) in this process, its data tests reading the dates from
    `checks_from` on, on `threads` dbt threads (None: the profile's), from `manifest` (parse_project with the same
    `checks_from`) when given; one line naming the failed nodes if it fails, each failed test with the problem it
    reports (the project's on-run-end hook logs it: macro report_test_problems)."""
    from dbt.cli.main import dbtRunner

    problems: dict[str, list[str]] = {}

    def collect_problem(event) -> None:  # noqa: ANN001 - dbt's EventMsg
        if event.info.name == "JinjaLogInfo" and event.data.msg.startswith(TEST_PROBLEM):
            test, _, problem = event.data.msg.removeprefix(TEST_PROBLEM).partition(": ")
            problems.setdefault(test, []).append(problem)

    window = json.dumps({**parse_vars(network, checks_from), "start": start.isoformat(), "end": end.isoformat()})
    threads_option = ["--threads", str(threads)] if threads else []
    result = dbtRunner(manifest=manifest, callbacks=[collect_problem]).invoke([*DAILY_BUILD, *threads_option, "--vars", window])
    if result.success:
        return
    failed = [
        f"{name} ({'; '.join(problems[name])})" if name in problems else name
        for name in (str(node.node.name) for node in getattr(result.result, "results", []) or [] if str(node.status) in ("error", "fail"))
    ]
    reason = ", ".join(failed) if failed else first_line(result.exception) if result.exception else "see dbt's log above"
    raise PipelineError(f"dbt build of {network} {start}..{end} failed: {reason}")


def build_threads(
    client: Client, settings: StoreSettings, network: str, start: date, drop_dates: list[date], model_types: list[str]
) -> int | None:
    """EMBEDDED_DAILY_THREADS on the embedded engine when the scoring mart of each of `model_types` already holds the
    window from `start` and every drop under the source is dated after its last day; None (the profile's threads)
    otherwise."""
    if settings.kind != "chdb":
        return None
    for scoring_table in {model_spec(model_type).scoring_table for model_type in model_types}:
        built = partition_date_range(client, network, scoring_table)
        if built is None or not (built[0] <= start and built[1] < min(drop_dates)):
            return None
    return EMBEDDED_DAILY_THREADS


def run_daily(
    network: str,
    source: Path,
    start: date,
    model_types: list[str],
    end: date | None = None,
    model_id: str = "champion",
    output_dir: Path = DEFAULT_OUTPUT_DIR,
    explain_top: int | None = None,
) -> list[tuple[str, ScoringOutcome]]:
    """Ingest the drops under `source`, build the window `start`..`end` (default: the newest drop's date) and score
    every drop date inside it with `model_id` of each of `model_types`; returns (model type, outcome) per scored date."""
    network = validate_network(network)
    drop_dates = sorted({drop.processing_date for drop in find_drops(source, network)})  # at least one, or it raises
    end = end or drop_dates[-1]
    check_window(start, end)
    new_dates = [day for day in drop_dates if start <= day <= end]
    if not new_dates:
        raise PipelineError(f"no drop under {source} is dated inside the window {start}..{end}: nothing to score")
    settings = load_store_settings()
    outcomes = []
    with connect(settings) as client:
        threads = build_threads(client, settings, network, start, drop_dates, model_types)
        manifest = ingest_while_parsing(client, network, source, drop_dates[0])
        logger.bind(network=network, window_start=str(start), window_end=str(end), dbt_threads=threads or "profile").info(
            "building the window"
        )
        build_window(network, start, end, drop_dates[0], threads, manifest)
        for model_type in model_types:
            for day in new_dates:
                outcome = score_date(model_type, day, network, model_id, output_dir, client, settings, explain_top=explain_top)
                outcomes.append((model_type, outcome))
    logger.bind(network=network, window_start=str(start), window_end=str(end), dates=len(new_dates), batches=len(outcomes)).info(
        "daily loop done"
    )
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.daily", description="Ingest new drops, build the window up to them and score their dates."
    )
    parser.add_argument("--network", required=True, help="network = ClickHouse database, e.g. ethereum")
    parser.add_argument("--source", required=True, type=Path, help="directory holding the new <network>/<date>/<N>d/ drops")
    parser.add_argument("--start", required=True, type=iso_date, help="first date of the window (YYYY-MM-DD)")
    parser.add_argument("--end", type=iso_date, help="last date of the window (default: the newest drop's date)")
    parser.add_argument("--model-type", required=True, action="append", choices=MODEL_TYPES, help="score with this type (repeatable)")
    parser.add_argument("--model-id", default="champion", help="champion (default), challenger, latest, or a registered model id")
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="files of models from before the warehouse (default trained_models/)"
    )
    parser.add_argument("--explain-top", type=int, help="explain the N highest scores of each date (default: the review capacity)")
    args = parser.parse_args()
    if args.explain_top is not None:
        check_at_least("--explain-top", args.explain_top, 0)
    outcomes = run_daily(
        args.network,
        args.source.resolve(),
        args.start,
        list(dict.fromkeys(args.model_type)),
        args.end,
        args.model_id,
        args.output_dir,
        args.explain_top,
    )
    for model_type, outcome in outcomes:
        print_outcome(outcome, model_type)


if __name__ == "__main__":
    run_cli(main)

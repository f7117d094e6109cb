"""The daily loop in one process (trainer.daily): ingest a new drop, build the window up to it and score its date; a
failed build stops the loop before any score is written, with one line naming the failed test."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.support import dbt_vars, run_dbt
from trainer.daily import EMBEDDED_DAILY_THREADS, build_threads, parse_project, run_daily
from trainer.errors import PipelineError
from trainer.ingest import ingest
from trainer.sample_data import generate_drops
from trainer.store.connection import table_exists
from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainRequest, train_model

NETWORK = "loopnet"
START, END = date(2023, 6, 1), date(2023, 7, 10)  # 40 days, in another year than the sample's


def alert_scores(client, day: date) -> list[tuple]:
    if not table_exists(client, NETWORK, "alert_scores"):
        return []
    return client.query(
        f"SELECT model_version, count() FROM {NETWORK}.alert_scores WHERE processing_date = {{d:Date}} GROUP BY model_version",
        parameters={"d": day},
    ).result_rows


@pytest.fixture(scope="module")
def loop(client, test_root: Path, tmp_path_factory) -> dict:
    """A window built and trained through the day before END; END's drop held back as the day's new drop."""
    drops, new_drop = test_root / "drops_loop", test_root / "drops_loop_new"
    generate_drops(NETWORK, START, END, drops, seed=11, alerts_per_day=80)
    (new_drop / NETWORK).mkdir(parents=True)
    shutil.move(drops / NETWORK / END.isoformat(), new_drop / NETWORK / END.isoformat())
    ingest(client, NETWORK, drops)
    ok, log = run_dbt("build", "--vars", dbt_vars(NETWORK, START, END - timedelta(days=1)))
    assert ok, log[-3000:]
    output_dir = tmp_path_factory.mktemp("loop_models")
    model = train_model(TrainRequest(model_type="alert_scorer", network=NETWORK, output_dir=output_dir), client=client)
    return {"new_drop": new_drop, "output_dir": output_dir, "model": model}


def test_the_daily_loop_ingests_builds_and_scores_the_new_date(client, loop, capfd) -> None:
    assert alert_scores(client, END) == []
    # Two dbt threads only when the drops add days to the window built from START; the profile's one otherwise.
    settings = load_store_settings()
    scorer, both = ["alert_scorer"], ["alert_scorer", "cluster_scorer"]
    assert build_threads(client, settings, NETWORK, START, [END], both) == EMBEDDED_DAILY_THREADS
    assert build_threads(client, settings, NETWORK, START, [END - timedelta(days=3), END], scorer) is None, "a re-ingested built day"
    assert build_threads(client, settings, NETWORK, START - timedelta(days=1), [END], scorer) is None, "a window from before the built one"
    assert build_threads(client, settings, "nonet", START, [END], scorer) is None, "nothing built yet"
    capfd.readouterr()
    outcomes = run_daily(NETWORK, loop["new_drop"], START, ["alert_scorer"], model_id="latest", output_dir=loop["output_dir"])
    dbt_log = capfd.readouterr().out
    assert f"Concurrency: {EMBEDDED_DAILY_THREADS} threads" in dbt_log
    assert len(re.findall(r"Found \d+ models", dbt_log)) == 1, "the build reuses the parse made while ingesting"
    [(model_type, outcome)] = outcomes
    assert model_type == "alert_scorer" and outcome.model_version == loop["model"].model_id
    alerts = client.command(f"SELECT count() FROM {NETWORK}.stg_alerts WHERE processing_date = {{d:Date}}", parameters={"d": END})
    assert alert_scores(client, END) == [(loop["model"].model_id, alerts)] and outcome.rows == alerts > 0
    built = client.query(f"SELECT max(processing_date), max(built_at) FROM {NETWORK}.scoring_alerts").result_rows[0]
    older = client.query(
        f"SELECT max(built_at) FROM {NETWORK}.scoring_alerts WHERE processing_date < {{d:Date}}", parameters={"d": END}
    ).result_rows[0][0]
    assert built[0] == END and older < built[1], "the build reached the new date and left the earlier dates as they were"


def test_a_parse_does_not_depend_on_the_window(loop) -> None:
    """The daily's build reuses a parse made with the network and checks_from alone: no parsed node may read the
    window (a test's `where` config names checks_from, never start or end)."""
    from dbt.cli.main import dbtRunner

    def parsed_nodes(manifest) -> dict:
        return {unique_id: node.to_dict() | {"created_at": None} for unique_id, node in manifest.nodes.items()}

    without_window = parsed_nodes(parse_project(NETWORK, END))
    result = dbtRunner().invoke(["parse", "--vars", dbt_vars(NETWORK, date(2019, 12, 30), date(2020, 3, 1), checks_from=END)])
    assert result.success, result.exception
    with_window = parsed_nodes(result.result)
    assert with_window.keys() == without_window.keys()
    assert [unique_id for unique_id in with_window if with_window[unique_id] != without_window[unique_id]] == []


def test_a_failed_build_stops_the_loop_before_scoring_naming_the_failed_test(client, loop, test_root: Path) -> None:
    day = END + timedelta(days=1)
    bad_drop = test_root / "drops_loop_bad"
    generate_drops(NETWORK, day, day, bad_drop, seed=12, alerts_per_day=80)
    [alerts_file] = (bad_drop / NETWORK / day.isoformat()).glob("*/alerts.parquet")
    alerts = pq.read_table(alerts_file)
    severity = alerts.column("severity").to_pylist()
    column = alerts.schema.get_field_index("severity")
    # A value ingestion lets through (it checks keys, dates and numbers) and the build's source test refuses.
    pq.write_table(
        alerts.set_column(column, "severity", pa.array(["extreme", *severity[1:]], alerts.schema.field(column).type)), alerts_file
    )
    failed = r"^dbt build of loopnet 2023-06-01\.\.2023-07-11 failed: .*source_accepted_values_raw_raw_alerts_severity"
    with pytest.raises(PipelineError, match=failed):
        run_daily(NETWORK, bad_drop, START, ["alert_scorer"], model_id="latest", output_dir=loop["output_dir"])
    assert alert_scores(client, day) == [], "nothing is scored after a failed build"

"""The daily build: one new drop rebuilds one day in every layer, marts and label history included, and equals a full
build; a build's data tests read the dates from var checks_from on (their `where` configs), and `dbt test` reads all."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.integration.support import assert_same_rows, dbt_vars, run_dbt
from trainer.ingest import ingest
from trainer.sample_data import generate_drops

NETWORK = "dailynet"
START, END = date(2025, 2, 1), date(2025, 3, 15)  # 43 days of another year than the sample's
HORIZON = 10
BUILD_VARS = {"label_horizon_days": HORIZON}
KEYS = {name: "cluster_id" for name in ("int_cluster_labels", "int_cluster_profiles", "scoring_clusters", "training_clusters")}
KEYS["int_address_label_history"] = "address"
KEYS.update(dict.fromkeys(["int_address_counterparty_edges", "int_address_counterparty_reach"], "address_key, counterparty_key"))
LABEL_HISTORY = "int_address_label_history"
DATE_COLUMN = {LABEL_HISTORY: "labelled_on"}  # the date of the drop a label came in; every other table's is processing_date
LABELS = ["int_alert_labels", "int_cluster_labels"]
INCREMENTAL = [
    LABEL_HISTORY,
    *LABELS,
    "int_alert_attributes",
    "int_alert_address_features",
    "int_address_counterparty_edges",
    "int_address_counterparty_reach",
    "int_alert_network_features",
    "int_alert_temporal_features",
    "int_alert_statistical_features",
    "int_alert_cluster_features",
    "int_cluster_profiles",
    "scoring_alerts",
    "scoring_clusters",
    "training_alerts",
    "training_clusters",
]

# How far a re-ingested drop reaches in each feature family's dates (its look-back, read forwards).
FAMILY_REACH = {
    "int_alert_attributes": "same day",
    "int_alert_address_features": "same day",
    "int_cluster_profiles": "same day",
    "int_alert_statistical_features": "30 days",
    "int_address_counterparty_edges": "same day",
    "int_address_counterparty_reach": "all later",
    "int_alert_network_features": "all later",
    "int_alert_temporal_features": "all later",
}


def built_at_by_date(client, model: str) -> dict[date, object]:
    day = DATE_COLUMN.get(model, "processing_date")
    return dict(client.query(f"SELECT {day}, max(built_at) FROM {NETWORK}.{model} GROUP BY {day}").result_rows)


def rows_without_built_at(client, model: str):
    key, day = KEYS.get(model, "alert_id"), DATE_COLUMN.get(model, "processing_date")
    return client.query_arrow(f"SELECT * EXCEPT (built_at) FROM {NETWORK}.{model} ORDER BY {day}, {key}")


@pytest.fixture(scope="module")
def daily(client, test_root: Path) -> dict[str, dict[date, object]]:
    """A window built through the day before END, then END's drop ingested and the window built through END: the
    build dates of every incremental model before the daily build."""
    drops, held_back = test_root / "drops_daily", test_root / "drops_daily_last"
    generate_drops(NETWORK, START, END, drops, seed=5, alerts_per_day=120, label_delay_days=3)
    (held_back / NETWORK).mkdir(parents=True)
    shutil.move(drops / NETWORK / END.isoformat(), held_back / NETWORK / END.isoformat())
    ingest(client, NETWORK, drops)
    ok, log = run_dbt("build", "--vars", dbt_vars(NETWORK, START, END - timedelta(days=1), **BUILD_VARS))
    assert ok, log[-3000:]
    before = {model: built_at_by_date(client, model) for model in INCREMENTAL}
    ingest(client, NETWORK, held_back)
    ok, log = run_dbt("build", "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert ok, log[-3000:]
    return before


def test_one_new_drop_rebuilds_one_day_in_every_layer(client, daily) -> None:
    matured = END - timedelta(days=HORIZON)  # the new drop completes this date's label horizon
    expected = {model: {END} for model in INCREMENTAL}  # the label history: the labels the new drop brings
    # Labels exist for mature dates only: the new drop labels the one date it matures, and so do the training marts.
    for model in (*LABELS, "training_alerts", "training_clusters"):
        expected[model] = {matured}
    for model in INCREMENTAL:
        after = built_at_by_date(client, model)
        rebuilt = {day for day, built in after.items() if built != daily[model].get(day)}
        assert rebuilt == expected[model], model
    for model in (*LABELS, "training_alerts"):
        assert max(built_at_by_date(client, model)) == matured, f"immature dates hold no rows in {model}"


def test_a_drop_ingested_again_for_an_old_date_rebuilds_that_date_in_every_layer_as_a_full_build_would(
    client, daily, test_root: Path
) -> None:
    """After the daily build, the drop of an old date comes again with other values: every layer rewrites that date
    (the label tables and training marts every date whose horizon reaches it or later; the history families the dates
    after it as far as their look-back reaches, no others), and the tables equal a full build's value by value."""
    old = START + timedelta(days=20)
    drops = test_root / "drops_daily_again"
    generate_drops(NETWORK, old, old, drops, seed=7, alerts_per_day=90, label_delay_days=3)
    before = {model: built_at_by_date(client, model) for model in INCREMENTAL}
    ingest(client, NETWORK, drops)
    window = dbt_vars(NETWORK, START, END, **BUILD_VARS)
    ok, log = run_dbt("build", "--vars", window)
    assert ok, log[-3000:]
    rebuilt = {
        model: {day for day, built in built_at_by_date(client, model).items() if built != before[model].get(day)} for model in INCREMENTAL
    }
    for model in INCREMENTAL:
        assert old in rebuilt[model], model
    # Each feature family rewrites the dates whose history reaches the drop: its own, the 30 days after it, or all later.
    reach = {
        "same day": {old},
        "30 days": {day for day in before["int_alert_statistical_features"] if old <= day <= old + timedelta(days=30)},
        "all later": {day for day in before["int_alert_temporal_features"] if day >= old},
    }
    for model, reached in FAMILY_REACH.items():
        assert rebuilt[model] == reach[reached], model
    # A label reads every label known by its cutoff: the dates from the horizon before the drop on.
    assert rebuilt["int_alert_labels"] == {day for day in before["int_alert_labels"] if day >= old - timedelta(days=HORIZON)}
    partial = {model: rows_without_built_at(client, model) for model in INCREMENTAL}
    ok, log = run_dbt("build", "--full-refresh", "--vars", window)
    assert ok, log[-3000:]
    for model in INCREMENTAL:
        assert_same_rows(rows_without_built_at(client, model), partial[model], model)


def test_a_build_checks_the_dates_from_checks_from_on_and_dbt_test_checks_all(client, daily) -> None:
    # A broken value on an old date, which no later build rewrites: the daily build does not re-check it ...
    old_date = START + timedelta(days=3)
    client.command(
        f"ALTER TABLE {NETWORK}.int_alert_network_features UPDATE net_counterparty_hhi = nan "
        f"WHERE processing_date = '{old_date}' SETTINGS mutations_sync = 2"
    )
    checks_from_end = dbt_vars(NETWORK, START, END, checks_from=END, **BUILD_VARS)
    ok, log = run_dbt("build", "--select", "int_alert_network_features+", "--vars", checks_from_end)
    assert ok, log[-3000:]
    # ... while the full check, one command, finds it and names the test.
    ok, log = run_dbt("test", "--select", "int_alert_network_features", "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert not ok
    assert "int_alert_network_features_finite" in log
    window = dbt_vars(NETWORK, START, END, **BUILD_VARS)
    ok, log = run_dbt("build", "--full-refresh", "--select", "int_alert_network_features+", "--vars", window)
    assert ok, log[-3000:]


def test_a_query_over_the_memory_bound_fails_naming_its_model_and_the_var_to_raise(client, daily) -> None:
    before = client.command(f"SELECT count() FROM {NETWORK}.int_alert_network_features")
    tiny = dbt_vars(NETWORK, START, END, query_memory_limit_gb=0.0002, **BUILD_VARS)
    ok, log = run_dbt("run", "--full-refresh", "--select", "int_alert_network_features", "--vars", tiny)
    assert not ok
    assert "Database Error in model int_alert_network_features" in log
    assert "raise the var query_memory_limit_gb" in log and "MEMORY_LIMIT_EXCEEDED" in log
    assert client.command(f"SELECT count() FROM {NETWORK}.int_alert_network_features") == before, "the built table is left as it was"
    # An incremental mart too: another horizon makes every date stale, and the failed rebuild drops none of them.
    mart_before = client.command(f"SELECT count() FROM {NETWORK}.training_alerts")
    other_horizon = dbt_vars(NETWORK, START, END, query_memory_limit_gb=0.0002, label_horizon_days=HORIZON + 1)
    ok, log = run_dbt("run", "--select", "training_alerts", "--vars", other_horizon)
    assert not ok and "Database Error in model training_alerts" in log
    assert client.command(f"SELECT count() FROM {NETWORK}.training_alerts") == mart_before > 0


def test_a_first_build_that_failed_is_built_whole_by_the_next_build(client, daily) -> None:
    """dbt-clickhouse's first build creates the table, then inserts into it: one that failed or was killed leaves the
    rows it had inserted, each dated as built. Its table comment (persist_docs, written once a build finished) is then
    empty, and the next build empties the table and builds every date instead of taking those dates as built."""
    model = "int_alert_network_features"
    table = f"{NETWORK}.{model}"

    def comment() -> str:
        return client.command("SELECT comment FROM system.tables WHERE database = {db:String} AND name = {name:String}",
                              parameters={"db": NETWORK, "name": model})  # fmt: skip

    built = rows_without_built_at(client, model)
    assert comment(), "a finished build leaves the model's description as its table comment"
    client.command(f"CREATE TABLE {NETWORK}.leftover ENGINE = Memory AS SELECT * FROM {table} WHERE processing_date = '{END}' LIMIT 5")
    try:
        client.command(f"DROP TABLE {table}")
        tiny = dbt_vars(NETWORK, START, END, query_memory_limit_gb=0.0002, **BUILD_VARS)
        ok, log = run_dbt("run", "--select", model, "--vars", tiny)
        assert not ok and "MEMORY_LIMIT_EXCEEDED" in log
        assert comment() == ""
        client.command(f"INSERT INTO {table} SELECT * FROM {NETWORK}.leftover")  # what an insert stopped part-way leaves
        ok, log = run_dbt("run", "--select", model, "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
        assert ok, log[-3000:]
        assert f"{model}: its first build did not finish" in log
        assert_same_rows(rows_without_built_at(client, model), built, model)
        assert comment()
    finally:
        client.command(f"DROP TABLE {NETWORK}.leftover")


def test_a_data_test_runs_under_the_memory_bound_too(daily) -> None:
    uniqueness = "int_alert_network_features_one_row_per_key"
    tiny = dbt_vars(NETWORK, START, END, query_memory_limit_gb=0.0002, **BUILD_VARS)
    ok, log = run_dbt("test", "--select", uniqueness, "--vars", tiny)
    assert not ok
    assert uniqueness in log
    assert "raise the var query_memory_limit_gb" in log and "MEMORY_LIMIT_EXCEEDED" in log
    ok, log = run_dbt("test", "--select", uniqueness, "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert ok, log[-3000:]


def test_a_shorter_window_leaves_no_dates_behind_in_the_marts(client, daily) -> None:
    later_start = START + timedelta(days=5)
    marts = ("scoring_alerts", "scoring_clusters", "training_alerts", "training_clusters", *LABELS)
    ok, log = run_dbt("run", "--select", *marts, "--vars", dbt_vars(NETWORK, later_start, END, **BUILD_VARS))
    assert ok, log[-3000:]
    for model in marts:
        assert min(built_at_by_date(client, model)) >= later_start, model
    ok, log = run_dbt("run", "--select", *marts, "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert ok, log[-3000:]
    assert min(built_at_by_date(client, "scoring_alerts")) == START, "the dates come back with the window"


def test_source_tests_read_the_drops_from_checks_from_on_and_dbt_test_reads_all(client, daily) -> None:
    old_date = START + timedelta(days=4)
    bad_address = f"ALTER TABLE {NETWORK}.raw_alerts UPDATE address = '' WHERE processing_date = '{old_date}' SETTINGS mutations_sync = 2"
    client.command(bad_address)
    unknown_type = "suspected_address_type outside var 'suspected_address_types' (counted as other): \"never_seen_type\""
    retype = (
        f"ALTER TABLE {NETWORK}.raw_alerts UPDATE suspected_address_type = {{to:String}} "
        f"WHERE processing_date = '{old_date}' AND suspected_address_type = {{of:String}} SETTINGS mutations_sync = 2"
    )
    client.command(retype, parameters={"of": "eoa", "to": "never_seen_type"})
    try:
        # A daily build's source tests read its new drops only (trainer.daily sets checks_from) ...
        ok, log = run_dbt("build", "--select", "source:raw", "--vars", dbt_vars(NETWORK, START, END, checks_from=END, **BUILD_VARS))
        assert ok, log[-3000:]
        assert unknown_type not in log
        # ... from the old date on, they find both problems ...
        ok, log = run_dbt("build", "--select", "source:raw", "--vars", dbt_vars(NETWORK, START, END, checks_from=old_date, **BUILD_VARS))
        assert not ok and "source_not_empty_string_raw_raw_alerts_address" in log and unknown_type in log
        # ... and `dbt test` reads every drop.
        ok, log = run_dbt("test", "--select", "source:raw", "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
        assert not ok and "source_not_empty_string_raw_raw_alerts_address" in log and unknown_type in log
    finally:
        client.command(bad_address.replace("address = ''", "address = alert_id"))
        client.command(retype, parameters={"of": "never_seen_type", "to": "eoa"})
        # The drop now holds other addresses: recorded as loaded again, so that the next builds rebuild its date.
        client.command(
            f"INSERT INTO {NETWORK}.ingested_drops (processing_date, window_days, complete, source, row_counts_json, ingested_at) "
            f"VALUES ('{old_date}', 7, 1, 'loaded by hand', '{{}}', now64(3))"
        )


def test_a_date_rebuilt_to_no_rows_holds_none_as_in_a_full_build(client, daily) -> None:
    """A drop ingested again whose alerts can no longer get a label: the label table and training mart rewrite its
    date to no rows, so the build drops the date's old rows (insert_overwrite alone replaces only dates it writes)."""
    old_date = START + timedelta(days=6)
    marts = ("int_alert_labels", "training_alerts")

    def rows(model: str) -> int:
        return client.command(f"SELECT count() FROM {NETWORK}.{model} WHERE processing_date = {{day:Date}}", parameters={"day": old_date})

    assert all(rows(model) for model in marts)
    # Addresses no label source knows, and the drop recorded as loaded again.
    client.command(
        f"ALTER TABLE {NETWORK}.raw_alerts UPDATE address = alert_id WHERE processing_date = {{day:Date}} SETTINGS mutations_sync = 2",
        parameters={"day": old_date},
    )
    client.command(
        f"INSERT INTO {NETWORK}.ingested_drops (processing_date, window_days, complete, source, row_counts_json, ingested_at) "
        "VALUES ({day:Date}, 7, 1, 'loaded by hand', '{}', now64(3))",
        parameters={"day": old_date},
    )
    ok, log = run_dbt("run", "--select", *marts, "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert ok, log[-3000:]
    for model in marts:
        assert rows(model) == 0, model


def test_rebuild_dates_read_each_tables_projection_and_a_missing_date_is_rebuilt(client, daily) -> None:
    """Every incremental table answers `max(built_at)` per date from its built_dates projection (macro
    rebuild_dates reads it); a date the table lacks is rebuilt by the next incremental build."""
    built_dates = "SELECT {day}, max(built_at) FROM {table} GROUP BY {day}"
    for model in INCREMENTAL:
        query = built_dates.format(day=DATE_COLUMN.get(model, "processing_date"), table=f"{NETWORK}.{model}")
        plan = "\n".join(row[0] for row in client.query("EXPLAIN " + query).result_rows)
        assert "ReadFromMergeTree (built_dates)" in plan, model
    model = "int_alert_attributes"
    before = rows_without_built_at(client, model)
    client.command(f"ALTER TABLE {NETWORK}.{model} DROP PARTITION '{END}'")
    ok, log = run_dbt("run", "--select", model, "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert ok, log[-3000:]
    assert_same_rows(rows_without_built_at(client, model), before, model)


def test_a_mart_from_before_its_columns_asks_for_a_full_refresh_and_keeps_its_rows(client, daily) -> None:
    window = dbt_vars(NETWORK, START, END, **BUILD_VARS)
    # A mart from before the column existed had no projection reading it either.
    client.command(
        f"ALTER TABLE {NETWORK}.training_alerts DROP PROJECTION built_dates, DROP COLUMN label_horizon_days SETTINGS mutations_sync = 2"
    )
    rows = client.command(f"SELECT count() FROM {NETWORK}.training_alerts")
    ok, log = run_dbt("run", "--select", "training_alerts", "--vars", window)
    assert not ok and "schemas on this incremental model are out of sync" in log and "full_refresh" in log
    assert client.command(f"SELECT count() FROM {NETWORK}.training_alerts") == rows > 0
    ok, log = run_dbt("run", "--full-refresh", "--select", "training_alerts", "--vars", window)
    assert ok, log[-3000:]


def test_labels_mature_when_a_drop_skips_the_day_their_cutoff_falls_on(client, daily, test_root: Path) -> None:
    """The next drop comes three days after END, none between. The date whose label cutoff falls on the skipped day
    END + 1 matures, though no new drop is dated at or before its cutoff: the incremental build labels it as a full
    build does."""
    later, cutoff_skipped = END + timedelta(days=3), END + timedelta(days=1 - HORIZON)
    drops = test_root / "drops_daily_skip"
    generate_drops(NETWORK, later, later, drops, seed=6, alerts_per_day=120, label_delay_days=3)
    ingest(client, NETWORK, drops)
    labelled = f"SELECT count() FROM {NETWORK}.int_alert_labels WHERE processing_date = '{cutoff_skipped}'"
    assert client.command(labelled) == 0, "immature: not labelled yet"
    labels = ("--select", "int_address_label_history", *LABELS, "--vars", dbt_vars(NETWORK, START, later, **BUILD_VARS))
    ok, log = run_dbt("run", *labels)
    assert ok, log[-3000:]
    assert client.command(labelled) > 0
    partial = {model: rows_without_built_at(client, model) for model in LABELS}
    ok, log = run_dbt("run", "--full-refresh", *labels)
    assert ok, log[-3000:]
    for model in LABELS:
        assert_same_rows(rows_without_built_at(client, model), partial[model], model)


def test_a_window_that_ends_earlier_leaves_no_label_past_its_cutoff_in_the_label_history(client, daily) -> None:
    earlier = END - timedelta(days=HORIZON + 5)  # its last label cutoff is END - 5: the label dates after it go
    newest = max(built_at_by_date(client, LABEL_HISTORY))
    window = ("--select", LABEL_HISTORY, "--vars", dbt_vars(NETWORK, START, earlier, **BUILD_VARS))
    ok, log = run_dbt("run", *window)
    assert ok, log[-3000:]
    assert max(built_at_by_date(client, LABEL_HISTORY)) == earlier + timedelta(days=HORIZON)
    partial = rows_without_built_at(client, LABEL_HISTORY)
    ok, log = run_dbt("run", "--full-refresh", *window)
    assert ok, log[-3000:]
    assert_same_rows(rows_without_built_at(client, LABEL_HISTORY), partial, LABEL_HISTORY)
    ok, log = run_dbt("run", "--select", LABEL_HISTORY, "--vars", dbt_vars(NETWORK, START, END, **BUILD_VARS))
    assert ok, log[-3000:]
    assert max(built_at_by_date(client, LABEL_HISTORY)) == newest, "the label dates come back with the window"


def test_the_label_history_tests_of_a_build_read_the_label_dates_from_checks_from_on(client, daily) -> None:
    old = min(built_at_by_date(client, LABEL_HISTORY))
    duplicate = f"INSERT INTO {NETWORK}.{LABEL_HISTORY} SELECT * FROM {NETWORK}.{LABEL_HISTORY} WHERE labelled_on = '{old}' LIMIT 1"
    client.command(duplicate)
    assert client.command(f"SELECT count() - uniqExact(address, labelled_on) FROM {NETWORK}.{LABEL_HISTORY}") == 1
    window = dbt_vars(NETWORK, START, END, **BUILD_VARS)
    ok, log = run_dbt("build", "--select", LABEL_HISTORY, "--vars", dbt_vars(NETWORK, START, END, checks_from=END, **BUILD_VARS))
    assert ok, log[-3000:]  # the build's tests read the label dates from checks_from on: the old duplicate is not read ...
    ok, log = run_dbt("test", "--select", LABEL_HISTORY, "--vars", window)
    assert not ok and "int_address_label_history_one_label_per_address_and_date" in log  # ... but dbt test finds it
    ok, log = run_dbt("run", "--full-refresh", "--select", LABEL_HISTORY, "--vars", window)
    assert ok, log[-3000:]

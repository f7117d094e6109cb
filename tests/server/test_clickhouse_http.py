"""ClickHouse's HTTP interface as clickhouse-connect uses it, against the tier's server (tests.support.clickhouse_http
unless CLICKHOUSE_HOST names a real one): what dbt-clickhouse and the trainer rely on."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlencode

import clickhouse_connect
import pyarrow as pa
import pytest
import urllib3
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

DATABASE = "server_protocol"  # a database of its own: on a real server the tier touches no other one


def new_client(**options) -> Client:
    return clickhouse_connect.get_client(
        host=os.environ["CLICKHOUSE_HOST"],
        port=int(os.environ.get("CLICKHOUSE_PORT", "8123")),
        username=os.environ.get("CLICKHOUSE_USER", "default"),
        password=os.environ.get("CLICKHOUSE_PASSWORD", ""),
        **options,
    )


def http(method: str, query: str = "", body: bytes = b"", **params: str) -> urllib3.BaseHTTPResponse:
    """A bare request, to see the status and headers a client would read."""
    url = f"http://{os.environ['CLICKHOUSE_HOST']}:{os.environ.get('CLICKHOUSE_PORT', '8123')}/"
    fields = {**({"query": query} if query else {}), **params}
    headers = urllib3.make_headers(basic_auth=f"{os.environ.get('CLICKHOUSE_USER', 'default')}:{os.environ.get('CLICKHOUSE_PASSWORD', '')}")
    return urllib3.request(method, url + "?" + urlencode(fields) if fields else url, body=body or None, headers=headers)


@pytest.fixture(scope="module")
def table(clickhouse_server: str) -> Iterator[str]:
    client = new_client()
    client.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    client.command(f"DROP TABLE IF EXISTS {DATABASE}.events")
    columns = "id UInt64, name String, day Date, tags Array(String), score Float64"
    client.command(f"CREATE TABLE {DATABASE}.events ({columns}) ENGINE = MergeTree ORDER BY id")
    yield f"{DATABASE}.events"
    client.command(f"DROP DATABASE IF EXISTS {DATABASE}")


def rows(start: int, count: int) -> list[list[object]]:
    return [[i, f"name {i}\t'quoted'\n", date(2024, 1, 1 + i % 28), [f"t{i % 3}", "x"], i / 7] for i in range(start, start + count)]


def test_startup_and_command(clickhouse_server: str) -> None:
    client = new_client()
    assert client.server_version and client.server_tz is not None
    assert client.ping()
    assert client.command("SELECT 1 + 1") == 2
    assert client.command("SELECT 'a', 'b'") == ["a", "b"]
    assert http("GET").data == b"Ok.\n"


def test_bound_parameters_of_several_types(clickhouse_server: str) -> None:
    client = new_client()
    text = "it's a\ttab, a\nnewline and a back\\slash"
    result = client.query(
        "SELECT {s:String} AS s, {d:Date} AS d, {a:Array(String)} AS a, {n:UInt64} AS n, {d:Date} + 1 AS next",
        parameters={"s": text, "d": date(2024, 2, 29), "a": ["x", "y'z", ""], "n": 2**64 - 1},
    )
    assert result.result_rows == [(text, date(2024, 2, 29), ["x", "y'z", ""], 2**64 - 1, date(2024, 3, 1))]
    with pytest.raises(DatabaseError, match="not set|UNKNOWN_QUERY_PARAMETER"):
        client.query("SELECT {missing:String}")


def test_long_parameters_go_as_a_form_and_bind(clickhouse_server: str) -> None:
    """Bound values longer than a URL takes are sent as multipart/form-data fields."""
    values = [f"value-{i:05d}" for i in range(2000)]
    assert new_client().command("SELECT length({v:Array(String)})", parameters={"v": values}) == 2000


def test_settings_apply_to_their_query_only(clickhouse_server: str) -> None:
    client = new_client()
    default = client.command("SELECT getSetting('max_block_size')")
    assert client.command("SELECT getSetting('max_block_size')", settings={"max_block_size": 1234}) == 1234
    assert client.command("SELECT getSetting('max_block_size')") == default
    with pytest.raises(DatabaseError) as raised:
        client.command("SELECT 1", settings={"no_such_setting_anywhere": 1})
    assert "UNKNOWN_SETTING" in str(raised.value) or "no_such_setting_anywhere" in str(raised.value)


def test_a_session_keeps_its_own_state(clickhouse_server: str) -> None:
    """SET and temporary tables stay with the session (one client), not with another one; URL settings do not stay."""
    first, second = new_client(), new_client()
    first.command("SET max_block_size = 4321")
    first.command("CREATE TEMPORARY TABLE scratch (x UInt8)")
    first.command("INSERT INTO scratch VALUES (1), (2)")
    assert first.command("SELECT getSetting('max_block_size')", settings={"max_block_size": 99}) == 99
    assert first.command("SELECT getSetting('max_block_size')") == 4321
    assert first.command("SELECT sum(x) FROM scratch") == 3
    assert second.command("SELECT getSetting('max_block_size')") != 4321
    with pytest.raises(DatabaseError):
        second.command("SELECT sum(x) FROM scratch")


def test_database_of_the_request(table: str) -> None:
    assert new_client(database=DATABASE).command("SELECT currentDatabase()") == DATABASE
    client = new_client()
    assert client.command("SELECT currentDatabase()", settings={"database": DATABASE}) == DATABASE
    assert client.command("SELECT currentDatabase()") == "default", "the request's database does not stay with the session"
    client.command(f"USE {DATABASE}")
    assert client.command("SELECT currentDatabase()") == DATABASE, "USE stays with the session"
    with pytest.raises(DatabaseError) as raised:
        new_client(database="no_such_database_here")
    assert raised.value.code == 81


@pytest.mark.parametrize("compress", [False, True, "lz4", "zstd", "gzip"])
def test_native_inserts_with_and_without_compression(table: str, compress: bool | str) -> None:
    client = new_client(compress=compress)
    client.command(f"TRUNCATE TABLE {table}")
    expected = rows(0, 5000)
    summary = client.insert(table, expected, column_names=["id", "name", "day", "tags", "score"])
    assert summary.written_rows == 5000
    got = client.query(f"SELECT id, name, day, tags, score FROM {table} ORDER BY id").result_rows
    assert [list(row) for row in got] == expected


def test_arrow_insert_and_arrow_reads(table: str) -> None:
    client = new_client()
    client.command(f"TRUNCATE TABLE {table}")
    data = rows(0, 300_000)
    arrow = pa.table(
        {
            "id": pa.array([r[0] for r in data], pa.uint64()),
            "name": [r[1] for r in data],
            "day": pa.array([r[2] for r in data], pa.date32()),
            "tags": [r[3] for r in data],
            "score": [r[4] for r in data],
        }
    )
    client.insert_arrow(table, arrow)
    whole = client.query_arrow(f"SELECT id, name, day, tags, score FROM {table} ORDER BY id")
    assert whole.num_rows == 300_000 and whole.column("id").to_pylist() == list(range(300_000))
    assert whole.column("name").to_pylist()[:2] == [data[0][1], data[1][1]]
    with client.query_arrow_stream(f"SELECT id, score FROM {table} ORDER BY id", settings={"max_block_size": 65536}) as stream:
        batches = list(stream)
    assert len(batches) > 1, "a large result streams in several batches"
    streamed = pa.Table.from_batches(batches)
    assert streamed.column("id").to_pylist() == list(range(300_000))
    assert streamed.column("score").to_pylist() == [r[4] for r in data]


def test_an_error_carries_clickhouse_code_and_text(table: str) -> None:
    client = new_client()
    with pytest.raises(DatabaseError) as raised:
        client.query(f"SELECT * FROM {DATABASE}.no_such_table")
    assert raised.value.code == 60 and "UNKNOWN_TABLE" in str(raised.value) and "no_such_table" in str(raised.value)
    response = http("POST", body=b"SELECT * FROM system.no_such_table")
    assert response.status == 404 and response.headers["X-ClickHouse-Exception-Code"] == "60"
    assert response.data.startswith(b"Code: 60. DB::Exception: ") and b"(UNKNOWN_TABLE)" in response.data
    syntax = http("POST", body=b"SELEC 1")
    assert syntax.status == 400 and syntax.headers["X-ClickHouse-Exception-Code"] == "62"


def test_several_statements_in_one_request_are_refused(clickhouse_server: str) -> None:
    with pytest.raises(DatabaseError, match="Multi-statements are not allowed"):
        new_client().command("SELECT 1; SELECT 2")


def test_the_client_files_are_not_the_servers(clickhouse_server: str, tmp_path) -> None:
    """A server's file() reads its own user_files directory: a path of the client's host is refused, which is why
    ingest uploads the drop files (trainer.ingest.sources)."""
    local = tmp_path / "local.csv"
    local.write_text("1\n")
    with pytest.raises(DatabaseError) as refused:
        new_client().query("SELECT * FROM file({path:String}, 'CSV')", parameters={"path": str(local)})
    assert "PATH_ACCESS_DENIED" in str(refused.value) or "DATABASE_ACCESS_DENIED" in str(refused.value)


def test_an_error_in_the_middle_of_a_stream_reaches_the_client(clickhouse_server: str) -> None:
    client = new_client()
    query = "SELECT throwIf(number = 250000, 'broken at 250000') AS x FROM numbers(300000)"
    with pytest.raises(Exception, match="broken at 250000"):
        with client.query_row_block_stream(query, settings={"max_block_size": 10000}) as stream:
            for _ in stream:
                pass


def test_response_headers(clickhouse_server: str) -> None:
    response = http("POST", body=b"SELECT 1 FORMAT TabSeparated", query_id="my-query")
    assert response.status == 200 and response.data == b"1\n"
    assert response.headers["X-ClickHouse-Query-Id"] == "my-query"
    assert response.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert response.headers["X-ClickHouse-Timezone"] and response.headers["X-ClickHouse-Server-Display-Name"]
    assert '"read_rows"' in response.headers["X-ClickHouse-Summary"]


def test_insert_statement_in_the_url_and_data_in_the_body(table: str) -> None:
    http("POST", f"TRUNCATE TABLE {table}")
    inserted = http("POST", f"INSERT INTO {table} (id, name, day, tags, score) FORMAT TabSeparated", b"7\tseven\t2024-01-07\t['a']\t0.5\n")
    assert inserted.status == 200, inserted.data
    assert "X-ClickHouse-Format" not in inserted.headers, "an insert returns no result"
    assert '"written_rows":"1"' in inserted.headers["X-ClickHouse-Summary"]
    values = http("POST", f"INSERT INTO {table} (id, name, day, tags, score) VALUES", b"(8, 'eight', '2024-01-08', [], 1)")
    assert values.status == 200, values.data
    assert http("POST", f"SELECT groupArray(name) FROM (SELECT name FROM {table} ORDER BY id)").data == b"['seven','eight']\n"


def test_queries_of_several_clients_run_at_the_same_time(clickhouse_server: str) -> None:
    """Two one-second queries on two clients take about a second, not two."""
    elapsed: list[float] = []

    def run() -> None:
        started = time.monotonic()
        new_client().command("SELECT sleep(1)")
        elapsed.append(time.monotonic() - started)

    threads = [threading.Thread(target=run) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(elapsed) == 2 and time.monotonic() - started < 1.8


def test_concurrent_inserts_and_reads_stay_consistent(table: str) -> None:
    """Four clients insert and count at once; every row arrives once, and no client sees another's settings."""
    new_client().command(f"TRUNCATE TABLE {table}")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            client = new_client(compress=worker % 2 == 0)
            for batch in range(10):
                client.insert(table, rows(worker * 100_000 + batch * 500, 500), column_names=["id", "name", "day", "tags", "score"])
                assert client.command("SELECT getSetting('max_block_size')", settings={"max_block_size": 1000 + worker}) == 1000 + worker
                assert client.command(f"SELECT count() FROM {table} WHERE intDiv(id, 100000) = {worker}") == (batch + 1) * 500
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert new_client().command(f"SELECT count(), uniqExact(id) FROM {table}") == ["20000", "20000"]

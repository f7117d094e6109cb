"""A ClickHouse HTTP interface served by the embedded engine (chDB). TEST INFRASTRUCTURE ONLY.

Users run a real ClickHouse server; this process stands in for one on machines where none can be installed, so
that dbt-clickhouse (`type: clickhouse`, `driver: http`) and the trainer's clickhouse-connect client run their
server code path, unmodified, against the same ClickHouse engine the embedded store uses:

    python -m tests.support.clickhouse_http --path DIR --port 0     # prints "listening on 127.0.0.1:PORT"

It serves the part of the HTTP interface that clickhouse-connect 1.12 and dbt-clickhouse 1.10 use:

- `GET|POST /` with the query in the `query` URL parameter, in the body, or both (the body then continues the URL
  query after a newline, or is the data of `INSERT ... FORMAT X`); `multipart/form-data` bodies (query and
  parameters as form fields); `GET /ping` and `GET /` answer `Ok.`.
- `param_NAME` bound to `{NAME:Type}` by the engine; every other unrecognised URL parameter is a setting of that one
  query (applied with SET on the query's handle and restored afterwards); `database`; `default_format` and the
  query's own FORMAT clause (the engine writes the bytes of whatever format is named); `query_id` (echoed).
- Inserts `INSERT INTO t [(cols)] [SETTINGS ...] FORMAT X` + data in any input format the engine reads (Native,
  RowBinary, Arrow, ArrowStream, Parquet, TSV...), through chDB's streaming inserter.
- Request bodies with `Content-Encoding` lz4 (frames, as clickhouse-connect writes them), zstd, gzip, deflate, and
  br when the brotli module is installed; chunked request bodies.
- Responses are never compressed (no Content-Encoding): clients that asked for compression accept that. Results
  are buffered and sent with a length when the client asked `wait_end_of_query=1` (as clickhouse-connect does for
  everything but its streaming queries); otherwise Native and ArrowStream results stream block by block (chunked),
  and an error after the first block ends the stream with ClickHouse's tagged exception block
  (`X-ClickHouse-Exception-Tag`), as servers from 25.11 on do.
- Errors: ClickHouse's status for the error (400, 404, 501, else 500), header `X-ClickHouse-Exception-Code`, body
  `Code: N. DB::Exception: ... (NAME) (version V)`.
- Headers X-ClickHouse-Summary (rows and bytes read and written, elapsed), X-ClickHouse-Query-Id,
  X-ClickHouse-Timezone, X-ClickHouse-Format (for statements that return a result), X-ClickHouse-Server-Display-Name.
- Sessions (`session_id`, `session_timeout`, default 60 s, `session_check`): a session is one engine handle, so
  what a session's statements leave behind stays for its next requests, as on a server: the current database
  (USE), SET settings, temporary tables. URL settings and `database` are per request and do not stay. Requests of
  one session run one at a time (a second one waits up to 5 s, then fails with SESSION_IS_LOCKED); requests
  without a session get a fresh handle each.
- Concurrency: each request runs on its own thread and its own engine handle, and chDB runs queries of different
  handles of one process at the same time. A handle never runs two statements at once: a session's lock is held
  from its request's first statement to the end of its response (a streamed result or a streaming insert included).
- Like the embedded store, every handle sets trainer.store.embedded.EMBEDDED_SETTINGS, and the process holds the
  store directory's process lock (so no other process opens it, and the test session's cleanup sees it in use).
- Like a server, and unlike chDB, a request holding several statements fails (Multi-statements are not allowed).

- Authentication, when started with `--password-env NAME`: every request but `/ping` must carry the password held in
  the environment variable NAME (HTTP basic auth, `X-ClickHouse-Key`, or the `password` URL parameter), else it gets
  ClickHouse's AUTHENTICATION_FAILED (code 516, status 403); any user name is accepted.

Not implemented: users and access control (without `--password-env` any user and password are accepted; `role`,
`quota_key` ignored), TLS, read-only GET requests, ClickHouse's native compression (`compress=1`, `decompress=1`: refused with
NOT_IMPLEMENTED), compressed responses, external data (file parts of a form: NOT_IMPLEMENTED), `INSERT ... SELECT
... FROM input()` with a body, bound parameters inside the INSERT statement of a data insert, progress headers
(`send_progress_in_http_headers` is accepted and does nothing), query cancellation on client close and KILL QUERY by
the client's query_id (the engine does not know it), the native protocol's block info (`client_protocol_version`
is ignored, so clients use protocol 0), `/play`, `/replicas_status` and other handlers, and the `file()` table
function: a server reads only under its own user_files_path, never the client's files, and chDB would read any path
of this machine, so it is refused (PATH_ACCESS_DENIED) rather than served wrongly.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.parser
import email.policy
import gzip
import io
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb
from clickhouse_connect.driver.binding import format_bind_value

from trainer.store import embedded

log = logging.getLogger("clickhouse_http")

# URL parameters that steer the request; every other one (but param_*) names a setting of the query.
REQUEST_PARAMS = {"query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id", "user",
                  "password", "quota_key", "role", "buffer_size", "wait_end_of_query", "client_protocol_version", "compress",
                  "decompress"}  # fmt: skip
# Settings that steer ClickHouse's HTTP layer, which this server does not have: accepted, and not applied.
HTTP_SETTINGS = {"enable_http_compression", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
                 "cancel_http_readonly_queries_on_client_close", "http_response_buffer_size", "http_wait_end_of_query"}  # fmt: skip
RESULT_STATEMENTS = {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK"}
STREAMED_FORMATS = {"Native", "ArrowStream"}
SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Linear patterns only: a request is parsed holding the GIL, and a backtracking one stalls every thread of the server.
FIRST_KEYWORD = re.compile(r"\s*(?:(?:--[^\n]*|/\*.*?\*/)\s*)*\(?\s*([A-Za-z]+)", re.S)
OUTPUT_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*\Z", re.I)
# A data insert's FORMAT name; the data starts after the spaces and the one newline that follow it.
INSERT_FORMAT = re.compile(r"\sFORMAT\s+(\w+)[ \t]*(?:\r?\n)?", re.I)
INLINE_DATA = re.compile(r"\b(?:VALUES|SELECT)\b", re.I)
FILE_FUNCTION = re.compile(r"\bfile\s*\(", re.I)
INSERT_CHUNK = 1 << 20
SESSION_WAIT_SECONDS = 5


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it."""

    def __init__(self, code: int, name: str, message: str):
        super().__init__(f"Code: {code}. DB::Exception: {message}. ({name})")
        self.code = code


def error_text(error: BaseException, version: str) -> tuple[int, str, str]:
    """(code, NAME, body) of an engine error (chDB raises RuntimeError with ClickHouse's message) or of any other one."""
    text = str(error)
    found = re.search(r"Code: (\d+)\.", text)
    if found is None:
        code, text = 1001, f"Code: 1001. DB::Exception: {type(error).__name__}: {text}. (STD_EXCEPTION)"
    else:
        code, text = int(found.group(1)), text[found.start() :].strip()
    text = re.sub(r"\s*\(version [^()]*(?:\([^()]*\))?\)\s*\Z", "", text)  # chDB adds it to some messages only
    name = re.search(r"\(([A-Z][A-Z0-9_]+)\)\s*\Z", text)
    return code, name.group(1) if name else "", f"{text} (version {version})\n"


def http_status(name: str) -> int:
    """ClickHouse's HTTP status for an error (exceptionCodeToHTTPStatus, abridged)."""
    if name in {"AUTHENTICATION_FAILED", "UNKNOWN_USER", "WRONG_PASSWORD"}:
        return 403
    if name.startswith("UNKNOWN_"):
        return 404
    if name.startswith("CANNOT_PARSE") or name in {"SYNTAX_ERROR", "TYPE_MISMATCH", "ILLEGAL_COLUMN", "THERE_IS_NO_COLUMN",
                                                   "INCORRECT_DATA", "DUPLICATE_COLUMN", "BAD_ARGUMENTS"}:  # fmt: skip
        return 400
    return 501 if name == "NOT_IMPLEMENTED" else 500


def decode_body(body: bytes, encoding: str) -> bytes:
    """The request body without its Content-Encoding; clickhouse-connect writes one lz4 or zstd frame per block."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "zstd":
            try:
                from backports import zstd  # what clickhouse-connect uses before Python 3.14
            except ImportError:
                from compression import zstd  # type: ignore[no-redef]
            return zstd.decompress(body)
        if encoding == "lz4":
            import lz4.frame

            parts = []
            while body:
                decompressor = lz4.frame.LZ4FrameDecompressor()
                parts.append(decompressor.decompress(body))
                if not decompressor.eof:
                    raise ValueError("truncated lz4 frame")
                body = decompressor.unused_data
            return b"".join(parts)
        if encoding == "br":
            import brotli  # optional: clickhouse-connect only offers br when it is installed

            return brotli.decompress(body)
    except ImportError as error:
        raise ClickHouseError(48, "NOT_IMPLEMENTED", f"Content-Encoding {encoding} needs the module {error.name}") from None
    except Exception as error:
        raise ClickHouseError(271, "CANNOT_DECOMPRESS", f"Cannot decode the {encoding} request body: {error}") from None
    raise ClickHouseError(48, "NOT_IMPLEMENTED", f"Unknown Content-Encoding {encoding}")


def quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass
class Request:
    sql: str
    binds: dict[str, str]
    settings: dict[str, str]
    database: str
    default_format: str
    stream: bool
    insert_format: str | None = None  # a data insert: `sql` is the statement without FORMAT, `data` its data
    data: bytes = b""


def parse_request(params: dict[str, str], body: bytes) -> Request:
    for unsupported in ("compress", "decompress"):
        if params.get(unsupported, "0") not in ("", "0"):
            raise ClickHouseError(48, "NOT_IMPLEMENTED", f"{unsupported}=1 (ClickHouse's native compression) is not served here")
    ignored = REQUEST_PARAMS | HTTP_SETTINGS
    settings = {name: value for name, value in params.items() if name not in ignored and not name.startswith("param_")}
    for name in settings:
        if not SETTING_NAME.match(name):
            raise ClickHouseError(115, "UNKNOWN_SETTING", f"Unknown setting {name!r}")
    request = Request(
        sql="",
        binds={name[len("param_") :]: value for name, value in params.items() if name.startswith("param_")},
        settings=settings,
        database=params.get("database", ""),
        default_format=params.get("default_format") or "TabSeparated",
        stream=params.get("wait_end_of_query", "0") != "1",
    )
    url_query = params.get("query", "").encode()
    # The statement of a data insert is in the URL (the body is all data) or at the head of the body.
    head = (url_query or body[:65536]).decode("latin-1")  # one character per byte: positions in the text are positions in the bytes
    keyword = FIRST_KEYWORD.match(head)
    insert = INSERT_FORMAT.search(head, keyword.end()) if keyword and keyword.group(1).upper() == "INSERT" else None
    if keyword and insert and not INLINE_DATA.search(head, keyword.end(), insert.start()):
        request.sql, request.insert_format = head[: insert.start()].encode("latin-1").decode(), insert.group(1)
        request.data = url_query[insert.end() :] + body if url_query else body[insert.end() :]
        return request
    text = url_query + b"\n" + body if url_query and body else url_query or body
    try:
        request.sql = text.decode()
    except UnicodeDecodeError:
        raise ClickHouseError(36, "BAD_ARGUMENTS", "The query is not valid UTF-8") from None
    if not request.sql.strip():
        raise ClickHouseError(62, "SYNTAX_ERROR", "Empty query")
    return request


@dataclass
class Session:
    handle: Any
    timeout: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


class Store:
    """The engine on one directory: a handle kept open for the process's life (closing the last one would stop the
    engine), a fresh handle per request without session, one handle per live session."""

    def __init__(self, path: Path):
        embedded._acquire_process_lock(path)  # the embedded store's own lock, shared on purpose
        self.path = str(path)
        self.base = chdb.connect(self.path)
        version, self.timezone = self.base.query("SELECT version(), timezone()", "TabSeparated").bytes().decode().split()
        self.version = version
        self.display_name = socket.gethostname()
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def open_handle(self) -> Any:
        handle = chdb.connect(self.path)
        if embedded.EMBEDDED_SETTINGS:
            handle.query("SET " + ", ".join(f"{name} = {quoted(str(value))}" for name, value in embedded.EMBEDDED_SETTINGS.items()))
        return handle

    @contextmanager
    def handle(self, session_id: str, timeout: float, check: bool) -> Iterator[tuple[Any, Callable[[], None] | None]]:
        """(handle, discard) for a request: discard (None without session) ends a session whose state is unknown."""
        if not session_id:
            handle = self.open_handle()
            try:
                yield handle, None
            finally:
                handle.close()
            return
        with self.lock:
            self._expire()
            session = self.sessions.get(session_id)
            if session is None:
                if check:
                    raise ClickHouseError(372, "SESSION_NOT_FOUND", f"Session {session_id} not found")
                session = self.sessions[session_id] = Session(self.open_handle(), timeout)
            session.users += 1
            session.timeout = timeout
        try:
            if not session.lock.acquire(timeout=SESSION_WAIT_SECONDS):
                raise ClickHouseError(373, "SESSION_IS_LOCKED", f"Session {session_id} is locked by a concurrent client")
            try:
                yield session.handle, lambda: self._discard(session_id, session)
            finally:
                session.last_used = time.monotonic()
                session.lock.release()
        finally:
            with self.lock:
                session.users -= 1
                if session.users == 0 and self.sessions.get(session_id) is not session:  # discarded meanwhile
                    session.handle.close()

    def _discard(self, session_id: str, session: Session) -> None:
        """Ends a session whose handle's state is unknown; its handle is closed when its last request is done."""
        with self.lock:
            if self.sessions.get(session_id) is session:
                del self.sessions[session_id]
        log.warning("session %s ended: its settings could not be restored", session_id)

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id, session in list(self.sessions.items()):
            if session.users == 0 and now - session.last_used > session.timeout:
                del self.sessions[session_id]
                session.handle.close()

    def close(self) -> None:
        with self.lock:
            for session in self.sessions.values():
                with suppress(Exception):
                    session.handle.close()
            self.sessions.clear()
        self.base.close()


@contextmanager
def request_context(handle: Any, request: Request, discard: Callable[[], None] | None) -> Iterator[None]:
    """The request's database and settings on the handle; in a session, the session's own values come back after."""
    if not request.settings and not request.database:
        yield
        return
    restore, settings = [], request.settings
    if discard is not None:
        # getSetting (names are checked identifiers) is several times faster than reading system.settings.
        values = ", ".join(f"toString(getSetting({quoted(name)}))" for name in request.settings)
        database, values = json.loads(handle.query(f"SELECT currentDatabase(), [{values}]", "JSONCompactEachRow").bytes())
        saved = dict(zip(request.settings, values, strict=True))
        settings = {name: value for name, value in settings.items() if saved[name] != value}  # the session has the others
        if settings:
            restore.append("SET " + ", ".join(f"{name} = {quoted(saved[name])}" for name in settings))
        if request.database and request.database != database:
            restore.append(f"USE {identifier(database)}")
    try:
        if request.database:
            handle.query(f"USE {identifier(request.database)}")
        if settings:
            handle.query("SET " + ", ".join(f"{name} = {quoted(value)}" for name, value in settings.items()))
        yield
    finally:
        for statement in restore:
            try:
                handle.query(statement)
            except RuntimeError:
                discard()  # type: ignore[misc]
                break


def summary(result: Any = None, result_bytes: int = 0, written: Any = None) -> str:
    """X-ClickHouse-Summary: what the engine counted for the query (chDB's result or insert result)."""
    values = {"read_rows": 0, "read_bytes": 0, "written_rows": 0, "written_bytes": 0, "total_rows_to_read": 0, "result_rows": 0,
              "result_bytes": 0, "elapsed_ns": 0}  # fmt: skip
    if result is not None:
        values.update(read_rows=result.rows_read(), read_bytes=result.bytes_read(), result_bytes=result_bytes)
        values["elapsed_ns"] = int(result.elapsed() * 1e9)
    if written is not None:
        values.update(written_rows=written.rows_written, written_bytes=written.bytes_written, elapsed_ns=int(written.elapsed * 1e9))
    return json.dumps({name: str(value) for name, value in values.items()}, separators=(",", ":"))


class ArrowStreamJoiner:
    """chDB streams each block of an ArrowStream result as a stream of its own (schema, batches, end marker); one
    response must be one stream, so the blocks' batches go through one stream writer."""

    def __init__(self) -> None:
        self.sink = io.BytesIO()
        self.writer: Any = None

    def _take(self) -> bytes:
        data = self.sink.getvalue()
        self.sink.seek(0)
        self.sink.truncate()
        return data

    def feed(self, block: bytes) -> bytes:
        import pyarrow as pa

        reader = pa.ipc.open_stream(block)
        if self.writer is None:
            self.writer = pa.ipc.new_stream(self.sink, reader.schema)
        for batch in reader:
            self.writer.write_batch(batch)
        return self._take()

    def close(self) -> bytes:
        if self.writer is not None:
            self.writer.close()
        return self._take()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked responses, as clickhouse-connect's pool expects
    disable_nagle_algorithm = True  # headers and body are separate writes: Nagle would hold the body for the client's ACK
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def authenticate(self, params: dict[str, str]) -> None:
        """With a password set, a request whose password is missing or wrong is refused, as ClickHouse refuses it."""
        required = self.server.password
        if required is None:
            return
        user, given = params.get("user", "default"), params.get("password")
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                user, _, given = base64.b64decode(authorization[len("Basic ") :], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                given = None
        if "X-ClickHouse-Key" in self.headers:
            user, given = self.headers.get("X-ClickHouse-User", user), self.headers["X-ClickHouse-Key"]
        if given is None or not secrets.compare_digest(given.encode(), required.encode()):
            message = f"{user}: Authentication failed: password is incorrect, or there is no user with such name"
            raise ClickHouseError(516, "AUTHENTICATION_FAILED", message)

    def form_fields(self, body: bytes) -> dict[str, str]:
        """The text fields of a multipart/form-data body (clickhouse-connect sends long bound parameters so)."""
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        fields = {}
        for part in email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body).iter_parts():
            if part.get_filename():
                raise ClickHouseError(48, "NOT_IMPLEMENTED", "External data (file parts of a form) is not served here")
            fields[str(part.get_param("name", header="content-disposition"))] = part.get_payload(decode=True).decode()
        return fields

    def serve(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        self.base_headers = {"X-ClickHouse-Server-Display-Name": self.server.store.display_name, "X-ClickHouse-Query-Id": query_id}
        self.streaming = False
        try:
            body = self.read_body()
            if url.path == "/ping" or (url.path == "/" and self.command == "GET" and "query" not in params):
                return self.reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            if url.path != "/":
                raise ClickHouseError(48, "NOT_IMPLEMENTED", f"No handler for {url.path}")
            self.authenticate(params)
            body = decode_body(body, self.headers.get("Content-Encoding", ""))
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                params.update(self.form_fields(body))
                body = b""
            request = parse_request(params, body)
            session_timeout = float(params.get("session_timeout") or 60)
            with self.server.store.handle(params.get("session_id", ""), session_timeout, params.get("session_check") == "1") as (
                handle,
                discard,
            ):
                with request_context(handle, request, discard):
                    self.execute(handle, request)
            log.info("%s %.3fs %s", query_id, time.monotonic() - started, request.sql[:200].replace("\n", " "))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:
            self.fail(error)

    def execute(self, handle: Any, request: Request) -> None:
        binds = request.binds or None
        if request.insert_format:
            inserter = handle.send_insert(request.sql, request.insert_format)
            try:
                for start in range(0, len(request.data), INSERT_CHUNK):
                    inserter.append(request.data[start : start + INSERT_CHUNK])
                written = inserter.finish()
            except BaseException:
                with suppress(Exception):
                    inserter.cancel()
                raise
            return self.reply(200, b"", {"X-ClickHouse-Summary": summary(written=written)})
        self.single_statement(handle, request.sql)
        if FILE_FUNCTION.search(request.sql):
            # A server's file() reads its own user_files directory, never the client's disk; chDB would read any path.
            raise ClickHouseError(291, "PATH_ACCESS_DENIED", "file() is not served: a server reads only its own user_files_path")
        keyword = FIRST_KEYWORD.match(request.sql)
        if not keyword or keyword.group(1).upper() not in RESULT_STATEMENTS:
            result = handle.query(request.sql, "TabSeparated", params=binds)
            body = result.bytes()
            return self.reply(200, body, {"X-ClickHouse-Summary": summary(result, len(body))})
        named = OUTPUT_FORMAT.search(request.sql)
        output_format = named.group(1) if named else request.default_format
        headers = {"X-ClickHouse-Format": output_format, "X-ClickHouse-Timezone": self.server.store.timezone,
                   "Content-Type": "text/plain; charset=UTF-8" if output_format.startswith(("TabSeparated", "TSV", "CSV", "JSON"))
                   else "application/octet-stream"}  # fmt: skip
        if request.stream and output_format in STREAMED_FORMATS:
            return self.stream(handle, request, output_format, headers)
        result = handle.query(request.sql, output_format, params=binds)
        body = result.bytes()
        self.reply(200, body, headers | {"X-ClickHouse-Summary": summary(result, len(body))})

    def single_statement(self, handle: Any, sql: str) -> None:
        """A server refuses several statements in one request; chDB would run them all."""
        if ";" not in sql.rstrip().rstrip(";"):
            return
        try:
            handle.query("SELECT formatQuery({sql:String})", "TabSeparated", params={"sql": format_bind_value(sql)})
        except RuntimeError as error:
            if "Multi-statements are not allowed" in str(error):
                raise
            # Any other complaint is left to the query itself.

    def stream(self, handle: Any, request: Request, output_format: str, headers: dict[str, str]) -> None:
        """Block by block, chunked; an error after the first block ends the stream with a tagged exception block."""
        joiner = ArrowStreamJoiner() if output_format == "ArrowStream" else None
        with handle.send_query(request.sql, output_format, params=request.binds or None) as stream:
            blocks = iter(stream)
            block = next(blocks, None)  # errors before the first block are answered with an error status
            if block is not None:
                tag = secrets.token_hex(8)
                self.send_response(200)
                streamed = {"X-ClickHouse-Summary": summary(), "X-ClickHouse-Exception-Tag": tag, "Transfer-Encoding": "chunked"}
                for name, value in (self.base_headers | headers | streamed).items():
                    self.send_header(name, value)
                self.end_headers()
                self.streaming = True
                try:
                    while block is not None:
                        data = block.bytes()
                        self.write_chunk(joiner.feed(data) if joiner else data)
                        block = next(blocks, None)
                    if joiner:
                        self.write_chunk(joiner.close())
                except RuntimeError as error:
                    text = error_text(error, self.server.store.version)[2].encode()
                    marker = tag.encode()
                    self.write_chunk(b"__exception__\r\n%s\r\n%s\n%d %s\r\n__exception__\r\n" % (marker, text, len(text), marker))
                    log.info("stream failed: %s", text.decode().strip())
                self.wfile.write(b"0\r\n\r\n")
                return
        # An empty result comes as no block at all, but a format may still write a header: ask for it whole (after the
        # stream is closed: a handle with an open stream answers other queries with nothing).
        result = handle.query(request.sql, output_format, params=request.binds or None)
        body = result.bytes()
        self.reply(200, body, headers | {"X-ClickHouse-Summary": summary(result, len(body))})

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in (self.base_headers | headers).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fail(self, error: BaseException) -> None:
        code, name, text = error_text(error, self.server.store.version)
        log.info("error: %s", text.strip())
        if self.streaming:  # the status is sent: only closing the connection tells the client
            self.close_connection = True
            return
        with suppress(BrokenPipeError, ConnectionResetError):
            headers = {"X-ClickHouse-Exception-Code": str(code), "Content-Type": "text/plain; charset=UTF-8"}
            self.reply(http_status(name), text.encode(), headers)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, port: int, store: Store, password: str | None = None):
        super().__init__(("127.0.0.1", port), Handler)
        self.store = store
        self.password = password  # None: any password is accepted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve an embedded ClickHouse directory over ClickHouse's HTTP interface (tests only).")
    parser.add_argument("--path", required=True, type=Path, help="the chDB directory (created if absent)")
    parser.add_argument("--port", type=int, default=8123, help="0: any free port (the chosen one is printed)")
    parser.add_argument("--password-env", metavar="NAME", help="require the password held in this environment variable")
    parser.add_argument("--log-level", default="WARNING", help="INFO: one line per query; DEBUG: every HTTP request too")
    arguments = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=arguments.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = Store(arguments.path.expanduser().resolve())
    if arguments.password_env and arguments.password_env not in os.environ:
        parser.error(f"--password-env {arguments.password_env}: the environment variable is not set")
    password = os.environ[arguments.password_env] if arguments.password_env else None
    server = Server(arguments.port, store, password)
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="clickhouse-http", daemon=True).start()
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    while not stop.wait(0.2):
        pass
    server.shutdown()
    server.server_close()
    store.close()
    log.info("stopped")


if __name__ == "__main__":
    main()

"""Read a query's result as Arrow record batches, and stream them into one float32 matrix: the path every feature
read takes (training extraction and scoring), on the embedded engine and on a server alike."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.store import embedded

# Arrow output for feature extraction: no LZ4 inside the Arrow stream (in-process there is no wire, and over
# HTTP the transport is compressed already), strings as Arrow strings, and no read-ahead buffering of the in-order
# read (it held more engine memory for no gain). Blocks of one granule (8,192 rows) instead of 65,409: a read in
# table order holds a block of every part it merges, and the rows arrive in batches of about that size either way
# (benchmarks/README.md, issue 33).
ARROW_SETTINGS = {
    "output_format_arrow_compression_method": "none",
    "output_format_arrow_string_as_string": 1,
    "read_in_order_use_buffering": 0,
    "max_block_size": 8192,
}
ARROW_SETTINGS_CLAUSE = "SETTINGS " + ", ".join(f"{name} = {value!r}" for name, value in ARROW_SETTINGS.items())


@contextmanager
def arrow_batches(client: Client, query: str, parameters: Mapping[str, Any]) -> Iterator[Iterator[pa.RecordBatch | pa.Table]]:
    """The result of `query` ({name:Type} placeholders bound from `parameters`) as a stream of Arrow batches.

    On the embedded engine the batches come from chDB's own Arrow stream, block by block; on a server from
    clickhouse-connect's HTTP Arrow stream.
    """
    if embedded.is_embedded(client):
        with embedded.arrow_batches(client, f"{query} {ARROW_SETTINGS_CLAUSE}", parameters) as batches:
            yield batches
    else:
        with client.query_arrow_stream(query, parameters=dict(parameters), settings=ARROW_SETTINGS) as stream:
            yield stream


def stream_rows(
    client: Client,
    query: str,
    parameters: dict[str, Any],
    rows: int,
    leading: list[str],
    width: int,
    what: str,
) -> tuple[dict[str, pa.ChunkedArray], np.ndarray]:
    """Run `query`, whose first columns are `leading` and whose last `width` columns are float32 features.

    The features are copied batch by batch into one preallocated float32 matrix of `rows` rows; the leading
    columns stay Arrow, copied out of each batch. A batch's columns share one buffer with the whole block it
    came in, so keeping them as they are would keep every block of the result alive.
    The matrix is column-major, so each batch column lands in one contiguous run (LightGBM takes either order).
    """
    features = np.empty((rows, width), dtype=np.float32, order="F")
    chunks: dict[str, list[pa.Array]] = {name: [] for name in leading}
    filled = 0
    with arrow_batches(client, query, parameters) as batches:
        for batch in batches:
            size = batch.num_rows
            if filled + size > rows:
                raise PipelineError(f"{what} changed while it was read; run again")
            for position, name in enumerate(leading):
                chunks[name].append(pa.concat_arrays([batch.column(position)]))  # a copy: see the docstring
            for j in range(width):
                features[filled : filled + size, j] = batch.column(len(leading) + j).to_numpy(zero_copy_only=False)
            filled += size
    if filled != rows:
        raise PipelineError(f"{what} changed while it was read; run again")
    return {name: pa.chunked_array(arrays, type=arrays[0].type if arrays else None) for name, arrays in chunks.items()}, features


def write_ipc_file(client: Client, query: str, parameters: Mapping[str, Any], path: Path) -> int:
    """Write the result of `query` to an Arrow IPC file at `path`, batch by batch (never the whole result in memory);
    returns its rows. A process that cannot open the store (the embedded engine allows one) reads the file instead."""
    rows, writer = 0, None
    try:
        with arrow_batches(client, query, parameters) as batches:
            for batch in batches:
                for part in batch.to_batches() if isinstance(batch, pa.Table) else [batch]:
                    writer = writer or pa.ipc.new_file(str(path), part.schema)
                    writer.write_batch(part)
                    rows += part.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no rows: an empty file still names no schema, so the reader sees zero batches
        path.write_bytes(b"")
    return rows


@contextmanager
def ipc_batches(path: Path) -> Iterator[Iterator[pa.RecordBatch]]:
    """The record batches of an Arrow IPC file written by `write_ipc_file`, memory-mapped, one at a time."""
    if path.stat().st_size == 0:
        yield iter(())
        return
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        yield (reader.get_batch(index) for index in range(reader.num_record_batches))

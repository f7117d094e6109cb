"""Small vectorised builders of Arrow columns from numpy arrays: ids and addresses as fixed-width byte matrices,
vocabulary lookups, list columns from counts, clipped integer and USD columns, and a table checked against its schema.
They exist so that no generator step needs a per-row Python loop."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from trainer.sample_data.schemas import MAX_DECIMAL_USD


def vocab(values: Iterable[str]) -> pa.Array:
    """A string vocabulary as an Arrow array, so columns are built by index with `pick` instead of per row."""
    return pa.array(list(values), type=pa.string())


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Maps a risk-shifted score to a probability or a bounded score column."""
    return 1.0 / (1.0 + np.exp(-x))


def strings_from_matrix(mat: np.ndarray) -> pa.Array:
    """Fixed-width byte matrix (n, w) -> pa.string array, one row per string."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, width = mat.shape
    if (n + 1) * width >= 2**31:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))
        return arr.cast(pa.string())
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


def numbered_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal numbers, built without a Python loop."""
    numbers = np.asarray(numbers, dtype=np.int64)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    mat = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    mat[:, : len(head)] = head
    mat[:, len(head) :] = (numbers[:, None] // powers) % 10 + 48
    return strings_from_matrix(mat)


def hex_addresses(rng: np.random.Generator, n: int) -> pa.Array:
    """n random EVM-style addresses ('0x' + 40 lower-case hex digits), drawn as bytes and spelled out in one pass."""
    raw = rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
    mat = np.empty((n, 42), dtype=np.uint8)
    mat[:, 0] = ord("0")
    mat[:, 1] = ord("x")
    mat[:, 2::2] = _HEX[raw >> 4]
    mat[:, 3::2] = _HEX[raw & 15]
    return strings_from_matrix(mat)


def pick(vocab: pa.Array, idx: np.ndarray) -> pa.Array:
    """vocab[idx] as an Arrow array: a categorical column from the indices the generator draws."""
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row from softmax(logits) via the Gumbel-max trick."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def choice(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    """size draws of an index with (unnormalised) probabilities p; the clamp guards against rounding at the top end."""
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(size) * p.sum(), side="right"), len(p) - 1)


def _offsets(counts: np.ndarray) -> pa.Array:
    """List offsets (int32, len(counts) + 1) for lists of the given lengths."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.array(offsets)


def fixed_lists(mat: np.ndarray, value_type: pa.DataType) -> pa.Array:
    """A list column with one row of the (n, w) matrix per list, e.g. the 24 hourly counts of an address."""
    n, width = mat.shape
    values = pa.array(np.ascontiguousarray(mat).ravel(), type=value_type)
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values, type=pa.list_(value_type))


def var_lists(counts: np.ndarray, values: pa.Array) -> pa.Array:
    """A list column cutting the flat values into consecutive lists of the given lengths."""
    return pa.ListArray.from_arrays(_offsets(counts), values, type=pa.list_(values.type))


def u16(x: np.ndarray) -> np.ndarray:
    """Clipped to the UInt16 range before the cast, so a heavy-tailed draw saturates instead of wrapping."""
    return np.clip(x, 0, 65_535).astype(np.uint16)


def u32(x: np.ndarray) -> np.ndarray:
    """Clipped to the UInt32 range before the cast, so a heavy-tailed draw saturates instead of wrapping."""
    return np.clip(x, 0, 4_294_967_295).astype(np.uint32)


def usd(x: np.ndarray) -> np.ndarray:
    """A USD amount: cents, and within the range the Decimal128(18) columns hold."""
    return np.round(np.clip(x, -MAX_DECIMAL_USD, MAX_DECIMAL_USD), 2)


def normalised_entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row's counts divided by its maximum, so 0 is one bucket and 1 is uniform."""
    total = counts.sum(axis=1, keepdims=True).astype(np.float64)
    p = counts / np.maximum(total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return (h / np.log(counts.shape[1])).astype(np.float32)


def arrow_table(schema: pa.Schema, columns: dict, n: int) -> pa.Table:
    """The table of `schema` from columns by name: scalars are broadcast to n rows, arrays cast to the field type,
    and a column of the wrong length fails here rather than as a puzzling ingestion error."""
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arr = value if value.type == field.type else value.cast(field.type)
        elif np.ndim(value) == 0:
            arr = pa.array(np.full(n, value), type=field.type) if n else pa.array([], type=field.type)
        else:
            arr = pa.array(np.asarray(value), type=field.type)
        if len(arr) != n:
            raise AssertionError(f"column {field.name} has {len(arr)} rows instead of {n}")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)

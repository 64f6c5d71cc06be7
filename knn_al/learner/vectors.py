"""Validation and normalisation of embedding vectors."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from knn_al.errors import InvalidInputError

__all__ = ["RowBuffer", "as_unit_vectors", "check_vectors", "float32_blocks", "float32_rows", "item_vectors"]

#: Values per block of rows normalised at a time: temporaries stay at a few tens of MB
#: however large the input (a 1M × 512 pool would need GBs for whole-array temporaries).
_BLOCK_ELEMENTS = 1 << 22

_FLOAT32_MAX = float(np.finfo(np.float32).max)

def float32_blocks(pool: np.ndarray, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block) over ``pool`` in order, ``rows`` rows each: float32 views, or for
    a float16 pool its rows converted into one reused float32 buffer (valid until the next
    block; a 65,536 × 512 block converts in ~3 ms, :mod:`knn_al.learner.half`)."""
    if pool.dtype == np.float32:
        for start in range(0, len(pool), rows):
            yield start, pool[start : start + rows]
        return
    from knn_al.learner.half import to_float32  # compiled: the server extra

    buffer = np.empty((min(rows, len(pool)), pool.shape[1]), dtype=np.float32)
    for start in range(0, len(pool), rows):
        part = pool[start : start + rows]
        yield start, to_float32(part, out=buffer[: len(part)])


def float32_rows(pool: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """``pool[rows]`` as float32 (a copy for a float16 pool or a fancy index)."""
    if pool.dtype == np.float32:
        return pool[rows]
    from knn_al.learner.half import to_float32

    return to_float32(np.ascontiguousarray(pool[rows]))


def as_unit_vectors(vectors: np.ndarray, *, dimension: int, dtype: np.dtype | str = "float32") -> np.ndarray:
    """Return ``vectors`` as a new C-contiguous array of L2-normalised rows: float32, or
    ``dtype`` float16 (normalised in float32 a block at a time, then rounded, so no float32
    copy of the whole input is ever made).

    Raises :class:`InvalidInputError` naming the first bad row for a wrong shape or
    dimension, NaN/inf, a value beyond float32's range, or an all-zero row (it has no
    direction, so no cosine). Any finite float32 row with a non-zero value has a direction
    and is normalised, however large or small its values.
    """
    x = _checked_matrix(vectors, dimension=dimension)
    out = np.empty(x.shape, dtype=dtype)
    step = max(1, _BLOCK_ELEMENTS // max(dimension, 1))
    scratch = None if out.dtype == np.float32 else np.empty((min(step, len(x)), dimension), dtype=np.float32)
    for start in range(0, len(x), step):
        block = x[start : start + step]
        unit = out[start : start + step] if scratch is None else scratch[: len(block)]
        _normalise_block(block, out=unit, first_row=start)
        if scratch is not None:
            out[start : start + step] = unit
    return out


def item_vectors(ids: Sequence[str], vectors: np.ndarray, *, dimension: int,
                 dtype: np.dtype | str = "float32") -> np.ndarray:
    """The unit vectors of items ``ids`` to add (:func:`as_unit_vectors`, as ``dtype``),
    after checking there is at least one item and exactly one vector per id."""
    if not ids:
        raise InvalidInputError("no items to add: the batch is empty")
    x = as_unit_vectors(vectors, dimension=dimension, dtype=dtype)
    if len(x) != len(ids):
        raise InvalidInputError(f"{len(ids)} ids but {len(x)} vectors")
    return x


def check_vectors(vectors: np.ndarray, *, dimension: int) -> None:
    """Raise what :func:`as_unit_vectors` would raise, without making the normalised copy
    (for a transport that checks its input as it arrives and normalises it once, later)."""
    x = _checked_matrix(vectors, dimension=dimension)
    step = max(1, _BLOCK_ELEMENTS // max(dimension, 1))
    for start in range(0, len(x), step):
        block = x[start : start + step]
        if np.issubdtype(block.dtype, np.integer):
            block = block.astype(np.float32)
        _check_peaks(np.max(np.abs(block), axis=1) if block.shape[1] else np.zeros(len(block)), first_row=start)


def _checked_matrix(vectors: np.ndarray, *, dimension: int) -> np.ndarray:
    x = np.asarray(vectors)
    if x.ndim == 1 and x.size == dimension:
        x = x[None, :]
    if x.ndim != 2:
        raise InvalidInputError(f"vectors must be a 2-D array (items × {dimension}), got shape {x.shape}")
    if x.shape[1] != dimension:
        raise InvalidInputError(f"vectors have dimension {x.shape[1]}, this pool expects {dimension}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise InvalidInputError(f"vectors must be numeric, got dtype {x.dtype}")
    return x


def _normalise_block(block: np.ndarray, *, out: np.ndarray, first_row: int) -> None:
    """Write the unit rows of ``block`` into ``out`` (float32, same shape)."""
    if np.issubdtype(block.dtype, np.integer):
        # Any integer fits float32's range, and abs() of the most negative int64 would overflow.
        block = block.astype(np.float32)
    # Squares of float32 values overflow above ~1.8e19 and vanish below ~1e-19, so the norm
    # is taken of each row divided by its largest magnitude (values then in [-1, 1], the
    # largest exactly ±1): the sum of squares lies in [1, dimension], with no float64 copy.
    # The peak is computed in the input's own precision, so NaN/inf and values float32
    # cannot hold are told apart (a cast to float32 first would turn 1e300 into inf).
    peak = np.max(np.abs(block), axis=1) if block.shape[1] else np.zeros(len(block))
    _check_peaks(peak, first_row=first_row)
    np.divide(block, peak[:, None], out=out, casting="same_kind")
    out /= np.linalg.norm(out, axis=1)[:, None]


def _check_peaks(peak: np.ndarray, *, first_row: int) -> None:
    """Refuse the first row whose largest magnitude is NaN/inf, beyond float32 or zero."""
    bad = ~np.isfinite(peak) | (peak > _FLOAT32_MAX) | (peak == 0)
    if not bad.any():
        return
    local = int(np.flatnonzero(bad)[0])
    row, value = first_row + local, peak[local]
    if not np.isfinite(value):
        raise InvalidInputError(f"vector at row {row} contains NaN or inf")
    if value > _FLOAT32_MAX:
        # Vectors are kept and sent (gRPC) as float32: such a value is almost surely a bug
        # upstream (wrong units, uninitialised memory), not a direction to keep.
        raise InvalidInputError(f"vector at row {row} has a value of magnitude {float(value):.3g}, outside float32's "
                                f"range (±{_FLOAT32_MAX:.3g}); rescale the vector before sending it")
    raise InvalidInputError(f"vector at row {row} is all zeros and has no direction")


class RowBuffer:
    """``dimension``-long rows of ``dtype`` appended over time. Rows beyond the count are
    spare capacity, so items streamed in one at a time do not copy them all each."""

    def __init__(self, *, dimension: int, dtype: np.dtype) -> None:
        self._buffer = np.empty((0, dimension), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def view(self) -> np.ndarray:
        """The rows (a view)."""
        return self._buffer[: self._n]

    @property
    def nbytes(self) -> int:
        """Bytes held, spare rows included."""
        return self._buffer.nbytes

    def append(self, x: np.ndarray) -> None:
        """Append ``x``, a fresh array of the buffer's dtype it may keep."""
        n, needed = self._n, self._n + len(x)
        if n == 0:
            self._buffer = x  # no copy of what may be the whole pool
        else:
            if needed > len(self._buffer):
                # The first addition is stored exactly; later ones grow by a quarter, so many
                # small additions copy the rows O(log N) times, at 25% spare memory at most.
                buffer = np.empty((max(needed, n + n // 4), self._buffer.shape[1]), dtype=self._buffer.dtype)
                buffer[:n] = self._buffer[:n]
                self._buffer = buffer
            self._buffer[n:needed] = x
        self._n = needed

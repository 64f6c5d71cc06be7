"""Half-precision pool vectors read at the speed of their bytes.

numpy converts float16 to float32 one value at a time (2.5 s for a 1M × 512 pool here:
30x the float32 label pass it was meant to halve), and numba has no float16 type. So the
conversion is an LLVM ``fpext half → float`` on the raw 16 bits, which the compiler turns
into the CPU's vector conversion instructions (F16C / AVX-512), inside compiled loops:

- :func:`half_dots`: similarities of every row with a few vectors, fused, so a label pass
  reads 2 bytes per value and nothing else. 1M × 512 with one vector, one thread: 37-43 ms,
  against 83-86 ms for numpy's float32 GEMV over the float32 pool (2 threads).
- :func:`to_float32`: rows converted into a float32 buffer, for the passes that hand the
  rows on to BLAS or FAISS (bulk labels, surveys, searches).
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["half_dots", "to_float32"]


def _half_to_float_typing(typingctx: Any, bits: Any) -> Any:
    if not isinstance(bits, types.Integer) or getattr(bits, "bitwidth", None) != 16:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(bits), codegen


#: The float32 value of the float16 whose 16 bits are ``bits`` (exact), in compiled code.
_half_to_float: Any = intrinsic(_half_to_float_typing)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _dots(bits: np.ndarray, vectors: np.ndarray, out: np.ndarray) -> None:
    for i in range(bits.shape[0]):
        row = bits[i]
        for v in range(vectors.shape[0]):
            w = vectors[v]
            total = np.float32(0)
            for j in range(row.shape[0]):
                total += _half_to_float(row[j]) * w[j]
            out[i, v] = total


@numba.njit(cache=True, nogil=True)
def _convert(bits: np.ndarray, out: np.ndarray) -> None:
    for i in range(bits.shape[0]):
        for j in range(bits.shape[1]):
            out[i, j] = _half_to_float(bits[i, j])


def half_dots(rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``rows @ vectors.T`` for float16 ``rows`` (n × d, C-contiguous) and float32
    ``vectors`` (m × d, m small: each row is read once per vector from cache), float32.
    Large inputs are split between this thread and one helper (1M × 512: 30 ms against 40)."""
    out = np.empty((len(rows), len(vectors)), dtype=np.float32)
    bits, w = rows.view(np.uint16), np.ascontiguousarray(vectors, dtype=np.float32)
    if len(rows) < _SPLIT_ROWS:
        _dots(bits, w, out)
        return out
    half = len(rows) // 2
    other = _helper().submit(_dots, bits[half:], w, out[half:])
    _dots(bits[:half], w, out[:half])
    other.result()
    return out


_SPLIT_ROWS = 1 << 16


@functools.cache
def _helper() -> ThreadPoolExecutor:
    """The one helper thread of :func:`half_dots` (created on first use)."""
    return ThreadPoolExecutor(1, thread_name_prefix="knn-al-half")


def to_float32(rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float16 ``rows`` (n × d, C-contiguous) as float32, into ``out`` when given."""
    if out is None:
        out = np.empty(rows.shape, dtype=np.float32)
    _convert(rows.view(np.uint16), out)
    return out

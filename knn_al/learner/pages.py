"""Per-class vectors over the pool's rows, stored in pages allocated where they are nonzero.

Label propagation keeps two numbers per class per pool row (:mod:`knn_al.learner.propagation`):
dense, that is 16 bytes per class per item, 1.6 GB at 1M items and 100 classes. A class's
scores are nonzero only where its labels' pushes reached, so rows are grouped in pages of
:data:`PAGE_ROWS` and a class gets a page the first time a push writes into it. With few
classes every page is soon allocated and this costs what dense arrays do (plus a page
table of 8 bytes per class per page); with many, each class holds the pages its region
spans.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PAGE_ROWS", "PAGE_SHIFT", "Pages"]

#: Rows per page, as a power of 2: 64. Rows are in the order items were added, so a class's
#: reach is scattered over the pages unless items came grouped by class. Measured with
#: ``bench/bench_propagation.py --sizes 100000 --classes 200`` (200 labels at random, a
#: class per cluster): scores 2,176 B/item with pages of 4,096 rows, 625 with 64 (dense:
#: 3,200); rows grouped by class, 124 and 38. With 20 classes, 336 and 310 (dense 320).
#: A label's p50 is the same (1.3 ms); p99 116 ms against 8 ms, as big pages grow the
#: store in big copies. The page table costs 8 bytes per class per page.
PAGE_SHIFT = 6
PAGE_ROWS = 1 << PAGE_SHIFT


class Pages:
    """``estimate`` and ``residual`` vectors of ``n_rows`` rows for each of a growing number
    of classes, in pages of 2**``shift`` rows. ``table_[c, k]`` is the page holding rows
    k·2**shift.. of class c, -1 for none (all zero); ``estimate_`` and ``residual_`` are
    (capacity, 2**shift) arrays of which the first ``used_[0]`` pages are allocated, the
    rest zero."""

    def __init__(self, n_rows: int, *, shift: int = PAGE_SHIFT, capacity: int = 0) -> None:
        self.n_rows, self.shift = n_rows, shift
        self.table_ = np.full((0, self.n_pages), -1, dtype=np.int64)
        self.estimate_ = np.zeros((capacity, self.page_rows), dtype=np.float64)
        self.residual_ = np.zeros((capacity, self.page_rows), dtype=np.float64)
        self.used_ = np.zeros(1, dtype=np.int64)  # an array: the push kernel allocates pages

    @classmethod
    def dense(cls, n_rows: int, *, shift: int = PAGE_SHIFT) -> Pages:
        """One class with every page allocated: scratch vectors a push never has to grow."""
        pages = cls(n_rows, shift=shift, capacity=-(-n_rows >> shift))
        pages.table_ = np.arange(pages.n_pages, dtype=np.int64)[None, :]
        pages.used_[0] = pages.n_pages
        return pages

    @property
    def page_rows(self) -> int:
        return 1 << self.shift

    @property
    def n_pages(self) -> int:
        return -(-self.n_rows >> self.shift)

    @property
    def n_classes(self) -> int:
        return len(self.table_)

    @property
    def nbytes(self) -> int:
        """Bytes held: the page table and the allocated capacity."""
        return self.table_.nbytes + self.estimate_.nbytes + self.residual_.nbytes

    def add_classes(self, n_classes: int) -> None:
        """Have at least ``n_classes`` classes (new ones all zero)."""
        if n_classes > self.n_classes:
            extra = np.full((n_classes - self.n_classes, self.n_pages), -1, dtype=np.int64)
            self.table_ = np.concatenate([self.table_, extra])

    def reserve(self, pages: int) -> None:
        """Room for ``pages`` more pages than are allocated. Capacity grows by a quarter (a
        geometric growth, so copies stay linear in all), not doubling: with few classes
        every page is soon taken, and a doubled capacity could hold twice what dense arrays
        would; never beyond a page per class and slot."""
        free = len(self.estimate_) - int(self.used_[0])
        if pages > free:
            most = max(self.n_classes * self.n_pages - len(self.estimate_), pages - free)
            grow = min(max(pages - free, len(self.estimate_) // 4, 1), most)
            zeros = np.zeros((grow, self.page_rows), dtype=np.float64)
            self.estimate_ = np.concatenate([self.estimate_, zeros])
            self.residual_ = np.concatenate([self.residual_, zeros.copy()])

    def clear(self, code: int) -> None:
        """Zero class ``code`` everywhere; its pages stay allocated (a class emptied now is
        likely labeled again)."""
        pages = self.table_[code][self.table_[code] >= 0]
        self.estimate_[pages] = 0.0
        self.residual_[pages] = 0.0

    def at(self, rows: Any) -> Any:
        """The position of ``rows`` (a row or an array of them) within their pages."""
        return rows & (self.page_rows - 1)

    def page_of(self, code: int, row: int) -> int:
        """The page of ``row`` in class ``code``, allocated now if it was not."""
        slot = row >> self.shift
        if self.table_[code, slot] < 0:
            self.reserve(1)
            self.table_[code, slot] = self.used_[0]
            self.used_[0] += 1
        return int(self.table_[code, slot])

    def gather(self, code: int, rows: np.ndarray, *, residual: bool = False) -> np.ndarray:
        """Class ``code``'s estimates (or residuals) at ``rows`` (any shape), 0 on no page."""
        page = self.table_[code, rows >> self.shift]
        store = self.residual_ if residual else self.estimate_
        if not len(store):  # no page yet: a class whose labels were all removed, say
            return np.zeros(page.shape)
        values = store[np.maximum(page, 0), self.at(rows)]
        return np.where(page >= 0, values, 0.0)

    def vector(self, code: int, *, residual: bool = False) -> np.ndarray:
        """Class ``code``'s whole estimate (or residual) vector, dense."""
        return self.gather(code, np.arange(self.n_rows), residual=residual)

    def set_vectors(self, code: int, estimate: np.ndarray, residual: np.ndarray) -> None:
        """Store dense vectors as class ``code``'s, in pages where either is nonzero (on a
        class with no page yet: :meth:`Propagation.regraph` fills fresh pages)."""
        padded = self.n_pages * self.page_rows
        blocks = [np.pad(v, (0, padded - self.n_rows)).reshape(-1, self.page_rows) for v in (estimate, residual)]
        nonzero = np.flatnonzero((blocks[0] != 0).any(axis=1) | (blocks[1] != 0).any(axis=1))
        self.reserve(len(nonzero))
        first = int(self.used_[0])
        pages = np.arange(first, first + len(nonzero))
        self.table_[code, nonzero] = pages
        self.estimate_[pages] = blocks[0][nonzero]
        self.residual_[pages] = blocks[1][nonzero]
        self.used_[0] += len(nonzero)

"""Label propagation over the pool graph, one label at a time.

Class scores are sums of personalized PageRank vectors: with P = D⁻¹W the random walk on
the pool graph (:mod:`knn_al.learner.graph`) and teleport probability ``alpha``,

    F[c] = Σ over items i labeled c of π_i,    π_i = alpha · e_i (I − (1 − alpha) P)⁻¹,

so F is linear in the labels: a label adds its item's vector to its class. An unlabel or a
relabel computes the class it leaves again from its other labels (:meth:`Propagation.withdraw`
says why). (Teleport 0.1 is label spreading's alpha 0.9.)

Each class keeps an estimate ``p`` and a residual ``r`` with the forward-push invariant
(Andersen, Chung and Lang 2006) F[c] = p + Σ_u r(u) π_u. A label puts ±1 of residual on its
item and pushes: a node u whose |r(u)| exceeds ``tolerance`` · d(u) moves alpha · r(u) into
p(u) and spreads the rest to its neighbours by edge weight. The invariant holds throughout,
and once no node exceeds the threshold, |F[c](v) − p(v)| ≤ tolerance · d(v) for every v. A
label costs at most 1 / (alpha · tolerance) edge visits, whatever the pool's size. Residuals
of both signs push alike (``regraph`` makes negative ones).

The residual is a function of p and the graph (r = s − p (I − (1 − alpha) P) / alpha, s the
seeds), so when items join the graph, ``regraph`` recomputes it from p under the new graph
and pushes what now exceeds the threshold: the state stays what a computation from scratch
on the new graph would give, within the tolerance.

Leave-one-out is exact in this model, up to the push's tolerance: the graph does not
depend on labels, so without item i's label the scores are F − π_i, and at i itself that
is F[c_i](i) − π_i(i). π_i(i), the walk's return to its seed, is pushed once per label and
kept (``self_scores_``); ``GraphModel.leave_one_out`` says what the tolerance does to it.

The push loops are compiled with numba: a label visits thousands of edges one at a time,
which numpy cannot vectorise and Python runs ~100x slower.
"""
from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from knn_al.learner.graph import PoolGraph
from knn_al.learner.pages import PAGE_SHIFT, Pages

__all__ = ["DEFAULT_TELEPORT", "DEFAULT_TOLERANCE", "Propagation"]

DEFAULT_TELEPORT = 0.1
DEFAULT_TOLERANCE = 1e-4


@numba.njit(cache=True, nogil=True)
def _push(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, degree: np.ndarray, table: np.ndarray,
          shift: int, p: np.ndarray, r: np.ndarray, used: np.ndarray, start: np.ndarray, alpha: float,
          tolerance: float, queued: np.ndarray, queue: np.ndarray, state: np.ndarray, touched: np.ndarray,
          pushed: np.ndarray) -> int:
    """Push from the nodes ``start`` (and those left queued by a previous call) until no
    residual exceeds tolerance · degree.

    Row u of the class lives at ``p[table[u >> shift], u & (2**shift - 1)]`` (and ``r``
    alike; :class:`~knn_al.learner.pages.Pages`); the pages of ``start`` must exist. A page
    a push reaches is taken from the free ones after ``used[0]``. Returns 0 when done, or
    how many free pages it needs to go on: then nothing is lost, and a call with more
    pages (``start`` empty) continues. ``queued`` (all False), ``queue`` (n slots, a ring)
    and ``state`` (head, size, and how many nodes were written to ``touched`` and
    ``pushed``, all 0 at first) carry over between such calls. ``touched``: nodes other
    than ``start`` whose p and r were both zero when residual reached them (what a scratch
    p and r need reset); ``pushed``: every push, repeats included (whose p changed); each
    up to its length."""
    n = len(degree)
    mask = (1 << shift) - 1
    head, size, n_touched, n_pushed = state[0], state[1], state[2], state[3]
    for u in start:
        if not queued[u]:
            queued[u] = True
            queue[(head + size) % n] = u
            size += 1
    need = 0
    while size > 0:
        u = queue[head]
        pu, iu = table[u >> shift], u & mask
        ru = r[pu, iu]
        d = degree[u]
        above = abs(ru) > tolerance * (d if d > 0 else 1.0)
        # Count the pages it would need only when it could run out of them.
        if above and d > 0 and len(p) - used[0] < indptr[u + 1] - indptr[u]:
            missing = 0
            for e in range(indptr[u], indptr[u + 1]):
                if table[indices[e] >> shift] < 0:
                    missing += 1
            if missing > len(p) - used[0]:
                need = missing
                break  # u stays at the head of the queue
        head = (head + 1) % n
        size -= 1
        queued[u] = False
        if not above:
            continue
        r[pu, iu] = 0.0
        if n_pushed < len(pushed):
            pushed[n_pushed] = u
            n_pushed += 1
        if d <= 0:
            p[pu, iu] += ru  # an isolated item keeps its whole share
            continue
        p[pu, iu] += alpha * ru
        share = (1.0 - alpha) * ru / d
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            pv = table[v >> shift]
            if pv < 0:
                pv = used[0]
                table[v >> shift] = pv
                used[0] += 1
            iv = v & mask
            if r[pv, iv] == 0.0 and p[pv, iv] == 0.0 and n_touched < len(touched):
                touched[n_touched] = v
                n_touched += 1
            r[pv, iv] += share * weights[e]
            if not queued[v] and abs(r[pv, iv]) > tolerance * degree[v]:
                queued[v] = True
                queue[(head + size) % n] = v
                size += 1
    state[0], state[1], state[2], state[3] = head, size, n_touched, n_pushed
    return need


class Propagation:
    """Class scores F (classes × pool rows) of the labels given, over ``graph``, kept in
    pages where they are nonzero (:mod:`knn_al.learner.pages`).

    ``alpha``: teleport probability; ``tolerance``: push threshold per unit of degree;
    ``page_shift``: rows per page, as a power of 2 (small ones test the page allocation)."""

    def __init__(self, graph: PoolGraph, *, alpha: float = DEFAULT_TELEPORT, tolerance: float = DEFAULT_TOLERANCE,
                 page_shift: int = PAGE_SHIFT) -> None:
        self.alpha = float(alpha)
        self.tolerance = float(tolerance)
        self.page_shift = page_shift
        self._use(graph)
        #: Per class, the pushed scores (the estimate of F) and what is left to push.
        self.pages_ = Pages(len(graph), shift=page_shift)
        #: π_i(i) of labeled rows, by row (the own share leave-one-out removes).
        self.self_scores_: dict[int, float] = {}
        #: The class code of each labeled row.
        self.labels_: dict[int, int] = {}

    def _use(self, graph: PoolGraph) -> None:
        """Take ``graph``, with scratch space of its size."""
        self.graph = graph
        n = len(graph)
        self._queued = np.zeros(n, dtype=np.bool_)
        self._queue = np.empty(n, dtype=np.int64)
        self._touched = np.empty(n, dtype=np.int64)
        self._pushed = np.empty(4 * n + 64, dtype=np.int64)
        self._scratch = Pages.dense(n, shift=self.page_shift)

    def __len__(self) -> int:
        return len(self.graph)

    @property
    def n_classes(self) -> int:
        return self.pages_.n_classes

    @property
    def nbytes(self) -> int:
        """Bytes of the class scores and residuals."""
        return self.pages_.nbytes

    def scores(self, code: int) -> np.ndarray:
        """Class ``code``'s scores of every pool row (a dense copy; zeros for a class no label has reached)."""
        return self.pages_.vector(code) if code < self.n_classes else np.zeros(len(self))

    def _run(self, pages: Pages, code: int, start: np.ndarray) -> tuple[int, int]:
        """Push class ``code`` of ``pages`` from ``start``, growing the pages as it asks;
        returns how many nodes it wrote to ``_touched`` and to ``_pushed``."""
        g = self.graph
        state = np.zeros(4, dtype=np.int64)
        start = start.astype(np.int64)
        while True:
            need = _push(g.indptr, g.indices, g.weights, g.degree, pages.table_[code], pages.shift,
                         pages.estimate_, pages.residual_, pages.used_, start, self.alpha, self.tolerance,
                         self._queued, self._queue, state, self._touched, self._pushed)
            if not need:
                return int(state[2]), int(state[3])
            pages.reserve(need)
            start = start[:0]

    def _push_class(self, code: int, start: np.ndarray) -> np.ndarray | None:
        """Push class ``code`` from ``start``; the rows whose scores changed (None: too
        many to list, take every row)."""
        _, n_pushed = self._run(self.pages_, code, start)
        return None if n_pushed == len(self._pushed) else np.unique(self._pushed[:n_pushed])

    def add(self, row: int, code: int) -> np.ndarray | None:
        """Add a label of class ``code`` on ``row``; returns the rows whose scores changed
        (None: too many to list, take every row)."""
        self.pages_.add_classes(code + 1)
        self.labels_[row] = code
        page = self.pages_.page_of(code, row)
        self.pages_.residual_[page, self.pages_.at(row)] += 1.0
        changed = self._push_class(code, np.array([row]))
        self.self_scores_[row] = self._self_score(row)
        return changed

    def withdraw(self, rows: Sequence[int], code: int) -> np.ndarray | None:
        """Withdraw the labels of class ``code`` on ``rows``: the class is computed again
        from its other labels. Returns the rows whose scores changed (None: every row).

        Pushing −1 from each row would leave, wherever its label had reached, residues
        within tolerance of zero, of both signs; far from the class's other labels they are
        all an item's score holds, and they decided its prediction (measured: after an
        unlabel, a cluster of 25 items no label of the class reaches predicted it with p
        0.78, where a computation from scratch gives it nothing). So a withdrawal costs a
        push per remaining label of the class (a relabel at 100k × 64 with 25 labels a
        class: 79 ms against 3.3 ms for a new label); labels are given far more often than
        withdrawn, and a batch withdraws each class once.
        """
        for row in rows:
            self.labels_.pop(row, None)
            self.self_scores_.pop(row, None)
        # The slots (row ranges) where the class had pages: every row there may lose its score.
        was = np.flatnonzero(self.pages_.table_[code] >= 0) if code < self.n_classes else np.empty(0, dtype=np.int64)
        if not len(was):
            return np.empty(0, dtype=np.int64)
        self.pages_.clear(code)
        seeds = np.array([r for r, c in self.labels_.items() if c == code], dtype=np.int64)
        for seed in seeds.tolist():
            self.pages_.residual_[self.pages_.page_of(code, seed), self.pages_.at(seed)] = 1.0
        pushed = self._push_class(code, seeds) if len(seeds) else np.empty(0, dtype=np.int64)
        if pushed is None:
            return None
        held = (was[:, None] * self.pages_.page_rows + np.arange(self.pages_.page_rows)).ravel()
        return np.union1d(held[held < len(self)], pushed)

    def _self_score(self, row: int) -> float:
        """π_row(row) by a push from ``row`` alone, in scratch vectors reset afterwards."""
        scratch = self._scratch
        p, r = scratch.estimate_.reshape(-1), scratch.residual_.reshape(-1)  # views: pages in row order
        r[row] = 1.0
        n_touched, _ = self._run(scratch, 0, np.array([row]))
        value = float(p[row])
        touched = self._touched[:n_touched]
        p[touched] = 0.0
        r[touched] = 0.0
        p[row] = r[row] = 0.0
        return value

    def regraph(self, graph: PoolGraph, rows: np.ndarray, codes: np.ndarray) -> None:
        """Move to ``graph`` (the old rows first, new ones appended), the labels being
        ``rows`` of classes ``codes``: residuals are recomputed from the scores under the
        new graph, then pushed (see the module docstring), and the self-scores again.
        One class at a time, so the dense vectors this needs are a few of the pool's length."""
        n_old, n = len(self), len(graph)
        old = self.pages_
        self._use(graph)
        self.pages_ = Pages(n, shift=self.page_shift)
        self.pages_.add_classes(old.n_classes)
        isolated = graph.degree <= 0
        threshold = self.tolerance * np.where(isolated, 1.0, graph.degree)
        matrix = graph.matrix()
        for code in range(old.n_classes):
            scores = np.zeros(n)
            scores[:n_old] = old.vector(code)
            seeds = np.zeros(n)
            seeds[rows[codes == code]] = 1.0
            # r = s − (p − (1 − alpha) p D⁻¹ W) / alpha
            spread = np.divide(scores, graph.degree, out=np.zeros(n), where=~isolated)
            walked = np.asarray(matrix.T @ spread).ravel()
            moved = np.where(isolated, scores, (scores - (1.0 - self.alpha) * walked) / self.alpha)
            residual = seeds - moved
            self.pages_.set_vectors(code, scores, residual)
            self._push_class(code, np.flatnonzero(np.abs(residual) > threshold))
        self.self_scores_ = {int(row): self._self_score(int(row)) for row in rows}
        self.labels_ = dict(zip(np.asarray(rows).tolist(), np.asarray(codes).tolist()))

    def class_scores(self, rows: np.ndarray, n_classes: int) -> np.ndarray:
        """The scores of pool ``rows`` (an array of any shape) in ``n_classes`` classes, a
        class no label has reached yet scoring 0: shape ``rows.shape + (n_classes,)``."""
        out = np.zeros((*rows.shape, n_classes), dtype=np.float64)
        for code in range(min(n_classes, self.n_classes)):
            out[..., code] = self.pages_.gather(code, rows)
        return out

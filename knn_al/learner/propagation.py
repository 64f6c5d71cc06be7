"""Label propagation over the pool graph, one label at a time.

Class scores are sums of personalized PageRank vectors: with P = D⁻¹W the random walk on
the pool graph (:mod:`knn_al.learner.graph`) and teleport probability ``alpha``,

    F[c] = Σ over items i labeled c of π_i,    π_i = alpha · e_i (I − (1 − alpha) P)⁻¹,

so F is linear in the labels: a label adds its item's vector to its class, an unlabel
subtracts it, a relabel moves it. (Teleport 0.1 is label spreading's alpha 0.9.)

Each class keeps an estimate ``p`` and a residual ``r`` with the forward-push invariant
(Andersen, Chung and Lang 2006) F[c] = p + Σ_u r(u) π_u. A label puts ±1 of residual on its
item and pushes: a node u whose |r(u)| exceeds ``tolerance`` · d(u) moves alpha · r(u) into
p(u) and spreads the rest to its neighbours by edge weight. The invariant holds throughout,
and once no node exceeds the threshold, |F[c](v) − p(v)| ≤ tolerance · d(v) for every v. A
label costs at most 1 / (alpha · tolerance) edge visits, whatever the pool's size. Residuals
of both signs push alike, so an unlabel is a label of −1.

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

import numba
import numpy as np

from knn_al.learner.graph import PoolGraph

__all__ = ["DEFAULT_TELEPORT", "DEFAULT_TOLERANCE", "Propagation"]

DEFAULT_TELEPORT = 0.1
DEFAULT_TOLERANCE = 1e-4


@numba.njit(cache=True, nogil=True)
def _push(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, degree: np.ndarray, p: np.ndarray,
          r: np.ndarray, start: np.ndarray, alpha: float, tolerance: float, queued: np.ndarray, queue: np.ndarray,
          touched: np.ndarray, pushed: np.ndarray) -> tuple[int, int]:
    """Push from the nodes ``start`` until no residual exceeds tolerance · degree.

    ``queued`` (all False), ``queue`` (n slots, used as a ring) are scratch. Returns how
    many nodes it wrote to ``touched`` (those other than ``start`` whose p and r were both
    zero when residual reached them: what a scratch p and r need reset) and to ``pushed``
    (every push, repeats included: whose p changed), each up to its length."""
    n = len(degree)
    head, size = 0, 0
    n_touched, n_pushed = 0, 0
    for u in start:
        if not queued[u]:
            queued[u] = True
            queue[(head + size) % n] = u
            size += 1
    while size > 0:
        u = queue[head]
        head = (head + 1) % n
        size -= 1
        queued[u] = False
        ru = r[u]
        d = degree[u]
        if abs(ru) <= tolerance * (d if d > 0 else 1.0):
            continue
        r[u] = 0.0
        if n_pushed < len(pushed):
            pushed[n_pushed] = u
            n_pushed += 1
        if d <= 0:
            p[u] += ru  # an isolated item keeps its whole share
            continue
        p[u] += alpha * ru
        share = (1.0 - alpha) * ru / d
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if r[v] == 0.0 and p[v] == 0.0 and n_touched < len(touched):
                touched[n_touched] = v
                n_touched += 1
            r[v] += share * weights[e]
            if not queued[v] and abs(r[v]) > tolerance * degree[v]:
                queued[v] = True
                queue[(head + size) % n] = v
                size += 1
    return n_touched, n_pushed


class Propagation:
    """Class scores F (classes × pool rows) of the labels given, over ``graph``.

    ``alpha``: teleport probability; ``tolerance``: push threshold per unit of degree."""

    def __init__(self, graph: PoolGraph, *, alpha: float = DEFAULT_TELEPORT,
                 tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.alpha = float(alpha)
        self.tolerance = float(tolerance)
        self.graph = graph
        n = len(graph)
        #: Per class, the pushed scores (the estimate of F) and what is left to push.
        self.scores_ = np.zeros((0, n), dtype=np.float64)
        self.residual_ = np.zeros((0, n), dtype=np.float64)
        #: π_i(i) of labeled rows, by row (the own share leave-one-out removes).
        self.self_scores_: dict[int, float] = {}
        self._queued = np.zeros(n, dtype=np.bool_)
        self._queue = np.empty(n, dtype=np.int64)
        self._touched = np.empty(n, dtype=np.int64)
        self._pushed = np.empty(4 * n + 64, dtype=np.int64)
        self._p = np.zeros(n, dtype=np.float64)
        self._r = np.zeros(n, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.graph)

    @property
    def n_classes(self) -> int:
        return len(self.scores_)

    def _grow_classes(self, n_classes: int) -> None:
        if n_classes > self.n_classes:
            extra = np.zeros((n_classes - self.n_classes, len(self)), dtype=np.float64)
            self.scores_ = np.concatenate([self.scores_, extra])
            self.residual_ = np.concatenate([self.residual_, extra.copy()])

    def _push_class(self, code: int, start: np.ndarray) -> np.ndarray | None:
        """Push class ``code`` from ``start``; the rows whose scores changed (None: too
        many to list, take every row)."""
        g = self.graph
        _, n_pushed = _push(g.indptr, g.indices, g.weights, g.degree, self.scores_[code], self.residual_[code],
                            start.astype(np.int64), self.alpha, self.tolerance, self._queued, self._queue,
                            self._touched, self._pushed)
        return None if n_pushed == len(self._pushed) else np.unique(self._pushed[:n_pushed])

    def add(self, row: int, code: int, sign: float = 1.0) -> np.ndarray | None:
        """Add (``sign`` 1) or withdraw (−1) a label of class ``code`` on ``row``; returns
        the rows whose scores changed (None: too many to list, take every row)."""
        self._grow_classes(code + 1)
        self.residual_[code, row] += sign
        changed = self._push_class(code, np.array([row]))
        if sign > 0:
            self.self_scores_[row] = self._self_score(row)
        else:
            self.self_scores_.pop(row, None)
        return changed

    def _self_score(self, row: int) -> float:
        """π_row(row) by a push from ``row`` alone, in scratch vectors reset afterwards."""
        g, p, r = self.graph, self._p, self._r
        r[row] = 1.0
        n_touched, _ = _push(g.indptr, g.indices, g.weights, g.degree, p, r, np.array([row], dtype=np.int64),
                             self.alpha, self.tolerance, self._queued, self._queue, self._touched, self._pushed)
        value = float(p[row])
        touched = self._touched[:n_touched]
        p[touched] = 0.0
        r[touched] = 0.0
        p[row] = r[row] = 0.0
        return value

    def regraph(self, graph: PoolGraph, rows: np.ndarray, codes: np.ndarray) -> None:
        """Move to ``graph`` (the old rows first, new ones appended), the labels being
        ``rows`` of classes ``codes``: residuals are recomputed from the scores under the
        new graph, then pushed (see the module docstring), and the self-scores again."""
        n_old, n = len(self), len(graph)
        self.graph = graph
        self.scores_ = np.concatenate([self.scores_, np.zeros((self.n_classes, n - n_old))], axis=1)
        seeds = np.zeros_like(self.scores_)
        seeds[codes, rows] = 1.0
        # r = s − (p − (1 − alpha) p D⁻¹ W) / alpha, for every class at once.
        spread = np.divide(self.scores_, graph.degree, out=np.zeros_like(self.scores_), where=graph.degree > 0)
        walked = np.asarray((graph.matrix() @ spread.T).T)
        isolated = graph.degree <= 0
        walked[:, isolated] = 0.0
        moved = np.where(isolated, self.scores_, (self.scores_ - (1.0 - self.alpha) * walked) / self.alpha)
        self.residual_ = seeds - moved
        for scratch in ("_queued", "_queue", "_touched", "_p", "_r"):
            old = getattr(self, scratch)
            setattr(self, scratch, np.zeros(n, dtype=old.dtype))
        self._pushed = np.empty(4 * n + 64, dtype=np.int64)
        threshold = self.tolerance * np.where(graph.degree > 0, graph.degree, 1.0)
        for code in range(self.n_classes):
            self._push_class(code, np.flatnonzero(np.abs(self.residual_[code]) > threshold))
        self.self_scores_ = {int(row): self._self_score(int(row)) for row in rows}

    def class_scores(self, rows: np.ndarray, n_classes: int) -> np.ndarray:
        """The scores of pool ``rows`` (an array of any shape) in ``n_classes`` classes, a
        class no label has reached yet scoring 0: shape ``rows.shape + (n_classes,)``."""
        out = np.zeros((*rows.shape, n_classes), dtype=np.float64)
        known = min(n_classes, self.n_classes)
        out[..., :known] = np.moveaxis(self.scores_[:known][:, rows], 0, -1)
        return out

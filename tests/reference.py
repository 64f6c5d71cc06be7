"""A from-scratch, brute-force model of what the learner should compute.

Nothing incremental: every quantity is recomputed from the vectors and the list of
labels, with full similarity matrices. Tests compare the learner against it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def ecdf_direct(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Fraction of ``reference`` ≤ each value, by comparing every pair."""
    return (reference[None, :] <= values[:, None]).mean(axis=1)


def uncertainty(proba: np.ndarray, measure: str) -> np.ndarray:
    if proba.shape[1] == 0:
        return np.ones(len(proba))
    p = np.sort(proba, axis=1)[:, ::-1]
    if measure == "least_confidence":
        return 1 - p[:, 0]
    if measure == "margin":
        return 1 - (p[:, 0] - (p[:, 1] if p.shape[1] > 1 else 0))
    return -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)


@dataclass
class Reference:
    vectors: np.ndarray  # unit rows
    k: int
    smoothing: float
    m: int
    outlier_quantile: float = 0.0
    #: (row, label) of every active label, in the order the row was (last) labeled from unlabeled.
    labeled: list[tuple[int, str]] = field(default_factory=list)
    handed_out: set[int] = field(default_factory=set)
    classes: list[str] = field(default_factory=list)

    def label(self, row: int, name: str) -> None:
        if name not in self.classes:
            self.classes.append(name)
        for i, (r, _) in enumerate(self.labeled):
            if r == row:
                self.labeled[i] = (row, name)
                return
        self.labeled.append((row, name))
        self.handed_out.discard(row)

    def unlabel(self, row: int) -> None:
        self.labeled = [(r, n) for r, n in self.labeled if r != row]

    def neighbors(self, queries: np.ndarray) -> tuple[np.ndarray, list[list[str]]]:
        """Top-k labeled similarities and labels of each query (ties: earlier label first)."""
        if not self.labeled:
            return np.empty((len(queries), 0)), [[] for _ in queries]
        lab = self.vectors[[r for r, _ in self.labeled]]
        sims = queries.astype(np.float64) @ lab.T.astype(np.float64)
        order = np.argsort(-sims, axis=1, kind="stable")[:, : self.k]
        names = [[self.labeled[j][1] for j in row] for row in order]
        return np.take_along_axis(sims, order, axis=1), names

    def proba(self, queries: np.ndarray) -> np.ndarray:
        sims, names = self.neighbors(queries)
        out = np.zeros((len(queries), len(self.classes)))
        for i, (row_sims, row_names) in enumerate(zip(sims, names)):
            for s, n in zip(row_sims, row_names):
                out[i, self.classes.index(n)] += max(s, 0.0)
        total = np.array([np.maximum(s, 0).sum() for s in sims]) if len(self.labeled) else np.zeros(len(queries))
        return (out + self.smoothing) / (total[:, None] + self.smoothing * len(self.classes))

    def density(self) -> np.ndarray:
        gram = self.vectors.astype(np.float64) @ self.vectors.T.astype(np.float64)
        np.fill_diagonal(gram, -np.inf)
        m = min(self.m, len(gram) - 1)
        return np.sort(gram, axis=1)[:, ::-1][:, :m].mean(axis=1)

    def candidates(self, *, skip_outliers: bool = False) -> np.ndarray:
        busy = {r for r, _ in self.labeled} | self.handed_out
        density = self.density()
        floor = np.quantile(density, self.outlier_quantile, method="lower") if skip_outliers else -np.inf
        return np.array([r for r in range(len(self.vectors)) if r not in busy and density[r] >= floor],
                        dtype=np.int64)

    def loo_correct(self) -> int:
        """Labeled items whose label a vote of their k nearest *other* labeled items gets right."""
        correct = 0
        for i, (row, name) in enumerate(self.labeled):
            others = self.labeled[:i] + self.labeled[i + 1:]
            if not others:
                continue
            peer = Reference(vectors=self.vectors, k=self.k, smoothing=self.smoothing, m=self.m,
                             labeled=others, classes=self.classes)
            correct += self.classes[int(np.argmax(peer.proba(self.vectors[[row]])[0]))] == name
        return correct

    def diversity_labeled(self, rows: np.ndarray) -> np.ndarray:
        if not self.labeled:
            return np.full(len(rows), 2.0)
        lab = self.vectors[[r for r, _ in self.labeled]].astype(np.float64)
        return 1 - np.maximum((self.vectors[rows].astype(np.float64) @ lab.T).max(axis=1), -1)

    def combined_scores(self, extra_handed_out: list[int], measure: str = "margin",
                        exponents: tuple[float, float, float] = (1, 1, 1)) -> tuple[np.ndarray, np.ndarray]:
        """Candidates and their combined score with ``extra_handed_out`` counted as handed out."""
        rows = self.candidates(skip_outliers=True)
        u = uncertainty(self.proba(self.vectors[rows]), measure)
        dens = self.density()[rows]
        d_l = self.diversity_labeled(rows)
        a, b, g = exponents
        base = ecdf_direct(u, u) ** a * ecdf_direct(dens, dens) ** b
        handed = sorted(self.handed_out) + list(extra_handed_out)
        d_h = d_l.copy()
        if handed:
            sims = self.vectors[rows].astype(np.float64) @ self.vectors[handed].T.astype(np.float64)
            d_h = np.minimum(d_l, 1 - sims.max(axis=1))
        remaining = np.where(d_l > 0, np.clip(d_h / np.where(d_l > 0, d_l, 1), 0, 1), 1.0)
        score = base * (ecdf_direct(d_l, d_l) * remaining) ** g
        score[np.isin(rows, extra_handed_out)] = -np.inf
        return rows, score

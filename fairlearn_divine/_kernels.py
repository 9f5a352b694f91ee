"""Similarity kernels evaluated in blocks: never an n x n matrix for large n."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from sklearn.utils import check_random_state

#: Memory for cached kernel columns (bytes).
COLUMN_CACHE_BYTES = 256 * 2**20
#: Memory for one block of a blocked kernel computation (bytes).
BLOCK_BYTES = 64 * 2**20


def median_pairwise_distance(X, *, max_samples=1000, random_state=None):
    """Median Euclidean distance between distinct points of a (seeded) sample of ``X``."""
    rng = check_random_state(random_state)
    n = X.shape[0]
    idx = rng.choice(n, size=max_samples, replace=False) if n > max_samples else np.arange(n)
    S = X[idx]
    sq = np.einsum("ij,ij->i", S, S)
    D2 = sq[:, None] + sq[None, :] - 2 * S @ S.T
    iu = np.triu_indices(len(idx), k=1)
    d = np.sqrt(np.clip(D2[iu], 0, None))
    return float(np.median(d)) if d.size else 1.0


class BlockKernel:
    """phi(u, v) on the rows of ``X``, evaluated by columns and blocks.

    ``kernel="rbf"``: :math:`\\phi(u, v) = \\exp(-\\|u - v\\|^2 / (2\\sigma^2))` with
    ``bandwidth`` :math:`\\sigma`. A callable ``kernel(A, B)`` must return the
    ``(len(A), len(B))`` similarity matrix.
    """

    def __init__(self, X, *, kernel="rbf", bandwidth=1.0):
        self.X = X
        self.n = X.shape[0]
        self.kernel = kernel
        self.bandwidth = bandwidth
        if kernel == "rbf":
            self._sq = np.einsum("ij,ij->i", X, X)
            self._gamma = 1.0 / (2.0 * bandwidth**2)
        self._cache = OrderedDict()
        self._max_cached = max(8, COLUMN_CACHE_BYTES // (8 * max(self.n, 1)))
        self._colsums = None
        self._total = None
        self.n_column_evaluations = 0

    def block(self, rows, cols):
        """phi(X[rows], X[cols]) as a dense (len(rows), len(cols)) array.

        ``rows`` may be a slice (a view of X, no copy) or an index array.
        """
        A = self.X[rows]
        B = self.X[cols]
        if self.kernel == "rbf":
            # -gamma * ||a - b||^2 = 2 gamma a.b - gamma |a|^2 - gamma |b|^2, in place
            E = A @ B.T
            E *= 2.0 * self._gamma
            E -= self._gamma * self._sq[rows][:, None]
            E -= self._gamma * self._sq[cols][None, :]
            np.minimum(E, 0.0, out=E)
            return np.exp(E, out=E)
        return np.asarray(self.kernel(A, B), dtype=float)

    def columns(self, cols):
        """phi(X, X[cols]), shape (n, len(cols)); single columns are cached."""
        cols = np.atleast_1d(np.asarray(cols, dtype=np.intp))
        out = np.empty((self.n, len(cols)))
        missing = []
        for j, c in enumerate(cols):
            col = self._cache.get(int(c))
            if col is None:
                missing.append(j)
            else:
                self._cache.move_to_end(int(c))
                out[:, j] = col
        if missing:
            fresh = self._blocked_columns(cols[missing])
            self.n_column_evaluations += len(missing)
            for k, j in enumerate(missing):
                out[:, j] = fresh[:, k]
                if len(missing) <= self._max_cached // 4:
                    self._cache[int(cols[j])] = fresh[:, k].copy()
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return out

    def column(self, c):
        return self.columns([c])[:, 0]

    def _row_block(self, n_cols):
        return max(1, min(self.n, BLOCK_BYTES // (8 * max(n_cols, 1))))

    def _blocked_columns(self, cols):
        n_cols = len(range(self.n)[cols]) if isinstance(cols, slice) else len(cols)
        out = np.empty((self.n, n_cols))
        step = self._row_block(n_cols)
        for start in range(0, self.n, step):
            rows = slice(start, min(start + step, self.n))
            out[rows] = self.block(rows, cols)
        return out

    def diagonal(self, idx=None):
        """phi(v, v)."""
        idx = np.arange(self.n) if idx is None else np.asarray(idx)
        if self.kernel == "rbf":
            return np.ones(len(idx))
        return np.array([self.block([i], [i])[0, 0] for i in idx])

    def column_sums(self):
        """sum_u phi(u, v) for every v, in blocks of columns: O(n * block) memory."""
        if self._colsums is None:
            step = max(1, BLOCK_BYTES // (8 * max(self.n, 1)))
            sums = np.empty(self.n)
            for start in range(0, self.n, step):
                cols = slice(start, min(start + step, self.n))
                sums[cols] = self._blocked_columns(cols).sum(axis=0)
            self._colsums = sums
        return self._colsums

    def total_sum(self, *, max_exact=5000, n_pairs=200_000, random_state=0):
        """kappa = sum_{u,v} phi(u, v): exact for n <= max_exact, else a sampled estimate.

        Returns ``(kappa, exact)``; computed once per kernel.
        """
        if self._total is None:
            self._total = self._total_sum(max_exact, n_pairs, random_state)
        return self._total

    def _total_sum(self, max_exact, n_pairs, random_state):
        if self.n <= max_exact or self._colsums is not None:
            return float(self.column_sums().sum()), True
        rng = check_random_state(random_state)
        u = rng.randint(self.n, size=n_pairs)
        v = rng.randint(self.n, size=n_pairs)
        if self.kernel == "rbf":
            d2 = np.einsum("ij,ij->i", self.X[u] - self.X[v], self.X[u] - self.X[v])
            vals = np.exp(-self._gamma * d2)
        else:
            vals = np.array([self.block([a], [b])[0, 0] for a, b in zip(u, v, strict=True)])
        return float(self.n**2 * vals.mean()), False

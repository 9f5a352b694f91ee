"""Similarity kernels evaluated in blocks: never an n x n matrix for large n."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
from sklearn.utils import check_random_state

#: Memory for cached kernel columns (bytes).
COLUMN_CACHE_BYTES = 256 * 2**20
#: Tile shape of blocked kernel computations (fits in cache; 8 MiB in float64).
ROW_TILE = 2048
COL_TILE = 512
#: Above this many points kernel tiles are computed in float32.
FLOAT32_ABOVE = 5000
#: Sums over the rows of a tile run in the tile's dtype over chunks of this many rows, then in
#: float64 (error at most SUM_CHUNK * eps of the dtype per term, against 2048 * eps for a
#: plain float32 sum; three times cheaper than converting every entry to float64).
SUM_CHUNK = 256


def tile_column_sums(tile):
    """Sums over the rows of ``tile`` (float64), accumulated in the tile's dtype over chunks of
    ``SUM_CHUNK`` rows."""
    r = tile.shape[0]
    full = (r // SUM_CHUNK) * SUM_CHUNK
    out = np.zeros(tile.shape[1])
    if full:
        part = tile[:full].reshape(full // SUM_CHUNK, SUM_CHUNK, tile.shape[1]).sum(axis=1)
        out += part.sum(axis=0, dtype=np.float64)
    if full < r:
        out += tile[full:].sum(axis=0)
    return out


def tile_row_sums(tile):
    """Sums over the columns of ``tile`` (float64; numpy's pairwise summation in the tile's
    dtype)."""
    return tile.sum(axis=1).astype(np.float64)


def median_pairwise_distance(X, *, max_samples=1000, random_state=None):
    """Median Euclidean distance between distinct points of a (seeded) sample of ``X``."""
    rng = check_random_state(random_state)
    n = X.shape[0]
    idx = rng.choice(n, size=max_samples, replace=False) if n > max_samples else np.arange(n)
    S = X[idx]
    S = S - S.mean(axis=0)  # distances are translation invariant; centred norms cannot overflow
    sq = np.einsum("ij,ij->i", S, S)
    D2 = sq[:, None] + sq[None, :] - 2 * S @ S.T
    iu = np.triu_indices(len(idx), k=1)
    d = np.sqrt(np.clip(D2[iu], 0, None))
    return float(np.median(d)) if d.size else 1.0


class BlockKernel:
    """phi(u, v) on the rows of ``X``, evaluated by columns and tiles.

    ``kernel="rbf"``: :math:`\\phi(u, v) = \\exp(-\\|u - v\\|^2 / (2\\sigma^2))` with
    ``bandwidth`` :math:`\\sigma`. A callable ``kernel(A, B)`` must return the
    ``(len(A), len(B))`` similarity matrix.

    Memory is O(n * tile): kernel values are produced in ``ROW_TILE x COL_TILE`` tiles and
    reduced at once. For ``n > FLOAT32_ABOVE`` tiles are computed in float32 (relative error
    about 1e-6, reductions accumulate in float64), which halves time and memory.
    """

    def __init__(self, X, *, kernel="rbf", bandwidth=1.0):
        self.n = X.shape[0]
        self.dtype = np.float32 if self.n > FLOAT32_ABOVE else np.float64
        if kernel == "rbf":
            # the RBF kernel is translation invariant: centring keeps |a|^2 of the order of
            # ||a - b||^2, so the float32 expansion below does not cancel digits away
            X = np.asarray(X, dtype=np.float64)
            X = X - X.mean(axis=0)
        self.X = np.ascontiguousarray(X, dtype=self.dtype)
        self.kernel = kernel
        self.bandwidth = bandwidth
        if kernel == "rbf":
            self._gamma = 1.0 / (2.0 * bandwidth**2)
            self._sq = self._gamma * np.einsum("ij,ij->i", self.X, self.X)
            # -gamma ||a - b||^2 = [2 gamma a, -gamma |a|^2, 1] . [b, 1, -gamma |b|^2]: one GEMM
            # gives the exponent of a whole tile (no passes to scale and shift it)
            ones = np.ones((self.n, 1), dtype=self.dtype)
            sq = self._sq.astype(self.dtype)[:, None]
            self._left = np.hstack([(2.0 * self._gamma) * self.X, -sq, ones]).astype(self.dtype)
            self._right = np.hstack([self.X, ones, -sq]).astype(self.dtype)
        self._cache = OrderedDict()
        self._max_cached = max(8, COLUMN_CACHE_BYTES // (8 * max(self.n, 1)))
        self._colsums = None
        self._total = None
        self.n_column_evaluations = 0

    def copy(self):
        """The same kernel with its own column cache (for another thread): the data, the
        column sums and the total, once computed, are shared (they are never written again)."""
        other = copy.copy(self)
        other._cache = OrderedDict()
        other.n_column_evaluations = 0
        return other

    def block(self, rows, cols, *, clamp=True):
        """phi(X[rows], X[cols]) as a dense (len(rows), len(cols)) array.

        ``rows`` and ``cols`` may be slices (views of X, no copy) or index arrays. With
        ``clamp=False`` the RBF exponent is not clamped at 0 first: entries may exceed 1 by a
        few units of roundoff (facility location's reductions, whose error bounds cover it,
        save the pass).
        """
        if self.kernel == "rbf":
            # -gamma ||a - b||^2 = 2 gamma a.b - gamma |a|^2 - gamma |b|^2 in one product
            E = self._left[rows] @ self._right[cols].T
            if clamp:
                np.minimum(E, 0.0, out=E)
            return np.exp(E, out=E)
        A = self.X[rows]
        B = self.X[cols]
        out = np.asarray(self.kernel(A, B), dtype=self.dtype)
        if out.shape != (A.shape[0], B.shape[0]):
            raise ValueError(
                f"kernel(A, B) must return an array of shape (len(A), len(B)) = "
                f"{(A.shape[0], B.shape[0])}, got {out.shape}."
            )
        if not np.all(np.isfinite(out)):
            raise ValueError(
                "kernel(A, B) returned NaN or infinite similarities (e.g. of rows "
                f"{np.argwhere(~np.isfinite(out))[0].tolist()} of this block): the diversity "
                "cannot be computed. Standardise X (e.g. sklearn.preprocessing.StandardScaler) "
                "or make the kernel finite for these inputs."
            )
        return out

    def reduce_columns(self, cols, reduce, *, clamp=True):
        """For each column v in ``cols``: sum over row tiles of ``reduce(tile, rows)``.

        ``reduce(tile, rows)`` gets ``phi(X[rows], X[cols])`` and returns per-column values
        (shape ``(len(cols),)``); the result accumulates them in float64.
        """
        cols = np.asarray(cols, dtype=np.intp)
        out = np.zeros(len(cols))
        for c0 in range(0, len(cols), COL_TILE):
            cc = cols[c0 : c0 + COL_TILE]
            acc = np.zeros(len(cc))
            for r0 in range(0, self.n, ROW_TILE):
                rows = slice(r0, min(r0 + ROW_TILE, self.n))
                acc += reduce(self.block(rows, cc, clamp=clamp), rows)
            out[c0 : c0 + COL_TILE] = acc
        self.n_column_evaluations += len(cols)
        return out

    def columns(self, cols):
        """phi(X, X[cols]), shape (n, len(cols)), float64; single columns are cached."""
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
            fresh = cols[missing]
            for r0 in range(0, self.n, ROW_TILE):
                rows = slice(r0, min(r0 + ROW_TILE, self.n))
                out[rows, missing] = self.block(rows, fresh)
            self.n_column_evaluations += len(missing)
            if len(missing) <= self._max_cached // 4:
                for j in missing:
                    self._cache[int(cols[j])] = out[:, j].copy()
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return out

    def column(self, c):
        return self.columns([c])[:, 0]

    def diagonal(self, idx=None):
        """phi(v, v)."""
        idx = np.arange(self.n) if idx is None else np.asarray(idx)
        if self.kernel == "rbf":
            return np.ones(len(idx))
        return np.array([float(self.block([i], [i])[0, 0]) for i in idx])

    def column_sums(self):
        """sum_u phi(u, v) for every v (tiles; O(n * tile) memory); computed once.

        The RBF kernel is symmetric, so only the tiles on and above the diagonal are computed
        and each off-diagonal tile adds to both its rows' and its columns' sums.
        """
        if self._colsums is None:
            self._colsums = self.coverage_gains(None)
        return self._colsums

    def coverage_gains(self, coverage):
        """``sum_u max(0, phi(u, v) - coverage[u])`` for every v (``None``: the column sums).

        Facility location's gains of all candidates at once. For the RBF kernel only the tiles
        on and above the diagonal are computed; each off-diagonal tile adds to its columns'
        gains (against the coverage of its rows) and to its rows' gains (against the coverage
        of its columns), so a pass costs n^2 / 2 kernel entries. ``coverage`` may be a
        ``(k, n)`` array: the gains at k coverages from one pass over the kernel (``(k, n)``).
        """
        if coverage is None:
            covs, single = None, True
        else:
            covs = np.atleast_2d(np.asarray(coverage)).astype(self.dtype)
            single = np.ndim(coverage) == 1
        if self.kernel != "rbf":
            outs = []
            for cov in [None] if covs is None else covs:

                def reduce(tile, rows, cov=cov):
                    if cov is not None:
                        tile -= cov[rows, None]
                        np.maximum(tile, 0.0, out=tile)
                    return tile_column_sums(tile)

                outs.append(self.reduce_columns(np.arange(self.n), reduce))
            return outs[0] if single else np.array(outs)
        sums = np.zeros((1 if covs is None else len(covs), self.n))
        work = None
        for c0 in range(0, self.n, COL_TILE):
            cols = slice(c0, min(c0 + COL_TILE, self.n))
            for r0 in range(0, c0 + 1, COL_TILE):
                rows = slice(r0, min(r0 + COL_TILE, self.n))
                tile = self.block(rows, cols, clamp=covs is None)
                if covs is None:
                    sums[0, cols] += tile_column_sums(tile)
                    if r0 != c0:
                        sums[0, rows] += tile_row_sums(tile)
                    continue
                if work is None or work.shape != tile.shape:
                    work = np.empty_like(tile)
                for j, cov in enumerate(covs):
                    np.subtract(tile, cov[rows, None], out=work)
                    np.maximum(work, 0.0, out=work)
                    sums[j, cols] += tile_column_sums(work)
                    if r0 != c0:
                        np.subtract(tile, cov[None, cols], out=work)
                        np.maximum(work, 0.0, out=work)
                        sums[j, rows] += tile_row_sums(work)
        self.n_column_evaluations += self.n
        return sums[0] if single else sums

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
            vals = np.empty(n_pairs)
            for p0 in range(0, n_pairs, 16384):  # chunks: O(16384 d) memory, not O(pairs d)
                uu, vv = u[p0 : p0 + 16384], v[p0 : p0 + 16384]
                diff = self.X[uu].astype(float) - self.X[vv]
                vals[p0 : p0 + 16384] = np.exp(-self._gamma * np.einsum("ij,ij->i", diff, diff))
        else:
            vals = np.array([float(self.block([a], [b])[0, 0]) for a, b in zip(u, v, strict=True)])
        return float(self.n**2 * vals.mean()), False

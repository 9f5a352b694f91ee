"""Facility location near its floor: certified lazy greedy with incremental, batched gains.

The facility-location gain of a candidate :math:`v` given the coverage vector
:math:`c_u = \\max_{w \\in S} \\phi(u, w)` is :math:`g_v(c) = \\sum_u \\max(0, \\phi(u, v) - c_u)`.
The first greedy step needs every kernel value once: :math:`g_v(0)` are the column sums (one
pass over the symmetric tiles, :math:`n^2 / 2` entries). After that this engine evaluates only
the candidates whose bound can still win, and it evaluates them cheaply:

* **Bounds.** :math:`g_v` is non-increasing in :math:`c` (submodularity), so any value computed
  at an earlier coverage bounds the current one. Each candidate keeps its latest value and the
  step it was computed at.
* **Incremental exact values.** Between step :math:`t` and now the coverage changed only on
  the rows :math:`R_t = \\{u : c_u \\text{ increased after step } t\\}` (after pick :math:`k`
  typically about :math:`n / k` rows), and

  .. math:: g_v(c) = g_v(c^{(t)}) - \\sum_{u \\in R_t}
            \\left(\\min(\\max(\\phi(u, v), c^{(t)}_u), c_u) - c^{(t)}_u\\right),

  so a stale candidate is brought up to date with :math:`|R_t|` kernel entries instead of
  :math:`n`. Candidates are updated in batches (one GEMM per row tile, grouped by :math:`t`);
  the coverage after each step is kept while it fits in ``SNAPSHOT_BYTES`` (older candidates
  are evaluated in full).
* **Certified picks.** Every value carries a bound ``err`` on its floating-point error
  against the exact-arithmetic gain (the GEMM-and-exp error of each kernel entry,
  :math:`\\epsilon\\,(2(d + 2)(\\gamma|x_u|^2 + \\gamma|x_v|^2) + 8)` per entry, twice that
  for safety, summed over the rows used). With :math:`L` the largest lower bound
  :math:`I_v + \\gamma(g_v - \\mathrm{err}_v)` of a candidate that is up to date, every
  candidate whose upper bound :math:`I_v + \\gamma(g_v + \\mathrm{err}_v)` reaches :math:`L` is
  brought up to date; if more than one remains, their gains are recomputed by the very function
  plain greedy uses (:meth:`FacilityLocation.gains`) and the pick is the first maximum of
  :math:`I_v + \\gamma\\, g_v` among them. Every other candidate's greedy total is below
  :math:`L`, so it cannot be greedy's pick, nor tie with it: **the picks are plain greedy's**,
  ties broken by the lowest index as greedy breaks them, whatever values were cached.
* **Shared across gamma.** Gains depend on the selection, not on gamma. The values computed at
  a selected set S (the coverage is a maximum over S, whatever the order of the picks) are
  stored (:class:`GainCache`, one per :class:`FacilityLocation` state, up to
  ``CACHE_BYTES``); a run at another gamma that reaches the same set starts from them. Runs
  at neighbouring gammas share most of their sets, and the large-gamma runs share the
  diversity-only run of the sweep's normalisation. By the argument above the cache changes
  the cost, never the picks.

Stochastic greedy (``strategy="stochastic"``) runs through the same engine restricted at each
step to its seeded sample: the pick is the sample's greedy maximum, as before, at a fraction
of the cost.
"""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["GainCache", "lazy_facility_location"]

#: Memory for the coverage vectors of past steps (incremental updates need them).
SNAPSHOT_BYTES = 64 * 2**20
#: Memory for the gains shared across gamma values (per facility-location state).
CACHE_BYTES = 256 * 2**20
#: Stale candidates evaluated at once: the first batch, doubling up to the last.
FIRST_BATCH = 128
MAX_BATCH = 4096
#: Above this fraction of changed rows a candidate is evaluated over all rows.
FULL_FRACTION = 0.6
#: Every gain is recomputed in one pass over the symmetric tiles (n^2 / 2 kernel entries)
#: when bringing the stale contenders up to date would cost more than this many n^2 entries.
ALL_COST = 0.8
#: Safety factor on the floating-point error bounds.
SAFETY = 2.0
_TRACE = None


class _Node:
    __slots__ = ("err", "idx", "val")

    def __init__(self):
        self.idx = []
        self.val = []
        self.err = []


class GainCache:
    """Facility-location gains computed for selections, shared by runs (the gamma sweep).

    The gains depend on the selected *set* only (the coverage vector is a maximum over it), so
    the node of a set S holds ``(indices, gains, error bounds)`` computed at S, whichever order
    of picks reached it. Only :func:`lazy_facility_location` reads and writes it; a state of
    :class:`FacilityLocation` owns one (a copy for each thread or chunk of a sweep).
    """

    def __init__(self, max_bytes=None):
        self.nodes = {}
        self.nbytes = 0
        self.max_bytes = CACHE_BYTES if max_bytes is None else max_bytes

    def node(self, selected):
        key = frozenset(int(v) for v in selected)
        found = self.nodes.get(key)
        if found is None and self.nbytes < self.max_bytes:
            found = self.nodes[key] = _Node()
            self.nbytes += 8 * len(key) + 200
        return found

    def store(self, node, idx, val, err):
        if node is None or self.nbytes >= self.max_bytes or len(idx) == 0:
            return
        node.idx.append(np.array(idx, dtype=np.intp))
        node.val.append(np.array(val, dtype=float))
        node.err.append(np.array(err, dtype=float))
        self.nbytes += 24 * len(idx)


def _error_weights(kernel):
    """Per-row and per-candidate weights of the error bound of one kernel entry."""
    eps = float(np.finfo(kernel.dtype).eps)
    n = kernel.n
    if kernel.kernel == "rbf":
        d = kernel.X.shape[1]
        sq = np.asarray(kernel._sq, dtype=float)
        row = SAFETY * eps * (2.0 * (d + 2) * sq + 8.0 + _kernels.SUM_CHUNK)
        col = SAFETY * eps * 2.0 * (d + 2) * sq
    else:
        row = np.full(n, SAFETY * eps * (16.0 + _kernels.SUM_CHUNK))
        col = np.zeros(n)
    return row, col


def _decrease(kernel, rows, cols, old, new):
    """sum_{u in rows} (clip(phi(u, v), old_u, new_u) - old_u) for every v in ``cols``."""
    dt = kernel.dtype
    out = np.zeros(len(cols))
    for c0 in range(0, len(cols), _kernels.COL_TILE):
        cc = cols[c0 : c0 + _kernels.COL_TILE]
        acc = np.zeros(len(cc))
        for r0 in range(0, len(rows), _kernels.ROW_TILE):
            rr = rows[r0 : r0 + _kernels.ROW_TILE]
            lo = old[r0 : r0 + _kernels.ROW_TILE].astype(dt)
            hi = new[r0 : r0 + _kernels.ROW_TILE].astype(dt)
            tile = kernel.block(rr, cc)
            np.maximum(tile, lo[:, None], out=tile)
            np.minimum(tile, hi[:, None], out=tile)
            acc += _kernels.tile_column_sums(tile)
            acc -= lo.sum(dtype=np.float64)
        out[c0 : c0 + len(cc)] = acc
    kernel.n_column_evaluations += len(cols) * len(rows) / max(kernel.n, 1)
    return out


def lazy_facility_location(scores, div, gamma, m, quota, *, sample=None):
    """Plain greedy's picks for ``scores + gamma * R_FL`` (see the module docstring).

    ``sample(step, allowed)``, when given, returns the boolean mask of the candidates of this
    step (stochastic greedy's seeded sample among ``allowed``).
    """
    K = div.kernel
    n = len(scores)
    cache = div.gain_cache
    row_w, col_w = _error_weights(K)
    total_row_w = float(row_w.sum())
    full_err = total_row_w + n * col_w
    ub = np.array(div.initial_gains(), dtype=float)  # exact (canonical) at step 0
    err = full_err.copy()
    evald = np.zeros(n, dtype=np.intp)  # the step each value was computed at
    last_change = np.full(n, -1, dtype=np.intp)  # the last step after which c_u increased
    snaps = {0: np.zeros(n)}
    max_snaps = max(2, SNAPSHOT_BYTES // (8 * max(n, 1)))
    node = None
    available = quota.start(n)
    div.n_evaluations = getattr(div, "n_evaluations", 0)
    for step in range(m):
        node = cache.node(div.selected) if step > 0 else None
        if node is not None:
            for idx, val, e in zip(node.idx, node.val, node.err, strict=True):
                ub[idx] = val
                err[idx] = e
                evald[idx] = step
        allowed = quota.allowed(div.selected, available)
        if sample is not None:
            allowed = allowed & sample(step, allowed)
        batch = FIRST_BATCH
        rows_since = {}
        while True:
            up = scores + gamma * (ub + err)
            fresh_allowed = allowed & (evald == step)
            has_fresh = bool(fresh_allowed.any())
            if has_fresh:
                lo = scores[fresh_allowed] + gamma * (ub[fresh_allowed] - err[fresh_allowed])
                L = float(lo.max())
                L -= 1e-12 * max(1.0, abs(L))  # the rounding of these sums themselves
                contenders = allowed & (up >= L)
            else:
                contenders = allowed.copy()
            stale = np.flatnonzero(contenders & (evald != step))
            if not stale.size:
                break
            if (
                has_fresh
                and hasattr(div, "all_gains")
                and _update_cost(evald[stale], snaps, last_change, n) > ALL_COST * n * n
            ):
                everyone = np.arange(n)
                if _TRACE is not None:
                    _TRACE.append((step, -2, n, int(stale.size)))
                vals = div.all_gains()
                div.n_evaluations += n
                ub[:], err[:], evald[:] = vals, full_err, step
                cache.store(node, everyone, vals, full_err)
                continue
            if stale.size > batch:
                stale = stale[np.argpartition(-up[stale], batch - 1)[:batch]]
                stale.sort()
            _update(
                K,
                div,
                stale,
                step,
                ub,
                err,
                evald,
                snaps,
                last_change,
                rows_since,
                row_w,
                col_w,
                full_err,
                cache,
                node,
            )
            batch = min(2 * batch, MAX_BATCH)
        V = np.flatnonzero(contenders)
        if V.size == 1:
            v = int(V[0])
        else:
            g = div.gains(V)  # what plain greedy computes
            div.n_evaluations += V.size
            ub[V], err[V] = g, full_err[V]
            cache.store(node, V, g, full_err[V])
            v = int(V[int(np.argmax(scores[V] + gamma * g))])
        before = div._cur.copy()
        div.add(v)
        available[v] = False
        last_change[div._cur > before] = step + 1
        snaps[step + 1] = div._cur.copy()
        if len(snaps) > max_snaps:
            del snaps[min(snaps)]
    return np.array(div.selected, dtype=np.intp)


def _update_cost(depths, snaps, last_change, n):
    """Kernel entries needed to bring candidates of these depths up to date (see _update)."""
    top = max(int(depths.max()), int(last_change.max())) + 2
    per_depth = np.bincount(depths, minlength=top)
    changed = np.bincount(last_change + 1, minlength=top + 1)  # rows by last change + 1
    since = changed[::-1].cumsum()[::-1]  # since[t + 2] = rows with last_change > t
    rows = np.array([since[t + 2] if t + 2 < len(since) else 0 for t in range(top)])
    rows = np.where(rows > FULL_FRACTION * n, n, rows)
    missing = np.array([t not in snaps for t in range(top)])
    rows[missing] = n
    return float(per_depth @ rows)


def _update(
    K,
    div,
    idx,
    step,
    ub,
    err,
    evald,
    snaps,
    last_change,
    rows_since,
    row_w,
    col_w,
    full_err,
    cache,
    node,
):
    """Bring the gains of candidates ``idx`` up to date with the current coverage."""
    n = K.n
    depths = evald[idx]
    for t in np.unique(depths):
        group = idx[depths == t]
        t = int(t)
        if t not in rows_since:
            rows_since[t] = np.flatnonzero(last_change > t) if t in snaps else None
        rows = rows_since[t]
        if rows is None or rows.size > FULL_FRACTION * n:
            vals = div.gains(group)
            errs = full_err[group]
        else:
            dec = _decrease(K, rows, group, snaps[t][rows], div._cur[rows])
            vals = ub[group] - dec
            errs = err[group] + float(row_w[rows].sum()) + rows.size * col_w[group]
        div.n_evaluations += group.size
        if _TRACE is not None:
            _TRACE.append((step, t, group.size, -1 if rows is None else rows.size))
        ub[group], err[group], evald[group] = vals, errs, step
        cache.store(node, group, vals, errs)

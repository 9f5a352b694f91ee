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
  each group takes the cheaper way by a measured cost model (``ROW_COST``: gathering the
  changed rows makes small groups dearer incrementally than in full), the groups evaluated in
  full in one call; the coverage after each step is kept while it fits in ``SNAPSHOT_BYTES``
  (older candidates are evaluated in full).
* **Certified picks.** Every value carries a bound ``err`` on its floating-point error
  against the exact-arithmetic gain (see :func:`_error_weights`: the GEMM-and-exp error of
  each kernel entry, :math:`u\\,(2(d + 2)(\\gamma|x_u|^2 + \\gamma|x_v|^2) + 16)` with u the
  unit roundoff, summed over the rows used, plus ``SUM_CHUNK`` u times the sum for the
  chunked sums of non-negative terms; twice that for safety). With :math:`L` the largest
  lower bound :math:`I_v + \\gamma(g_v - \\mathrm{err}_v)` of a candidate that is up to date, every
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
  diversity-only run of the sweep's normalisation (the sweep runs the largest gamma first).
  By the argument above the cache changes the cost, never the picks.

Stochastic greedy (``strategy="stochastic"``) runs through the same engine restricted at each
step to its seeded sample: the pick is the sample's greedy maximum, as before, at a fraction
of the cost.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from . import _kernels

__all__ = ["GainCache", "lazy_facility_location", "prefill_first_picks"]

#: Memory for the coverage vectors of past steps (incremental updates need them).
SNAPSHOT_BYTES = 64 * 2**20
#: Memory for the gains shared across gamma values (per facility-location state).
CACHE_BYTES = 256 * 2**20
#: Stale candidates evaluated at once: the first batch, doubling up to the last.
FIRST_BATCH = 128
MAX_BATCH = 4096
BATCH_GROWTH = 2.0
#: What bringing gains up to date costs, in kernel entries of a full evaluation (measured on
#: one core with float32 tiles, d of about 100; only the cost depends on them, never the
#: picks). An incremental update of c gains exact at one coverage pays ``ROW_COST`` per changed
#: row (gathering its features: the fixed cost that makes small groups dear) plus
#: ``INCREMENTAL_COST`` per entry; a full evaluation pays one per entry over all n rows, and
#: the full evaluations of a batch run in one call. Each group takes the cheaper way.
ROW_COST = 22.0
INCREMENTAL_COST = 1.3
#: Every gain is recomputed in one pass over the symmetric tiles (n^2 / 2 kernel entries, one
#: coverage) when bringing the stale contenders up to date would cost more than this many
#: n^2 entries of a full evaluation.
ALL_COST = 0.7
#: Safety factor on the floating-point error bounds.
SAFETY = 2.0


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
        self.by_size = {}
        self.nbytes = 0
        self.max_bytes = CACHE_BYTES if max_bytes is None else max_bytes

    def node(self, selected):
        key = frozenset(int(v) for v in selected)
        found = self.nodes.get(key)
        if found is None and self.nbytes < self.max_bytes:
            found = self.nodes[key] = _Node()
            self.by_size.setdefault(len(key), []).append(key)
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
    """Weights of the floating-point error bound of the gains (against exact arithmetic).

    With u the unit roundoff of the kernel's dtype, an RBF entry is exp of a dot product of
    length d + 2 (:meth:`BlockKernel.block`) whose error is at most (d + 2) u times the sum
    of the absolute products, itself at most 2 (gamma|x_u|^2 + gamma|x_v|^2); exp, the casts
    and the subtraction of the coverage add at most 16 u. The error of a sum of non-negative
    terms in chunks of ``SUM_CHUNK`` is at most ``SUM_CHUNK`` u times the sum. Returns
    ``(row, col, rel)``: the bound of a gain over the rows R is
    ``sum(row[R]) + |R| col[v] + rel * |gain|``, all times ``SAFETY``.
    """
    u = float(np.finfo(kernel.dtype).eps) / 2.0
    n = kernel.n
    if kernel.kernel == "rbf":
        d = kernel.X.shape[1]
        sq = np.asarray(kernel._sq, dtype=float)
        row = SAFETY * u * (2.0 * (d + 2) * sq + 16.0)
        col = SAFETY * u * 2.0 * (d + 2) * sq
    else:
        row = np.full(n, SAFETY * u * 32.0)
        col = np.zeros(n)
    # float64 sums of the chunks' and the tiles' partial sums: one rounding each
    n_partial = n / _kernels.SUM_CHUNK + n / _kernels.ROW_TILE + 64.0
    rel = SAFETY * (u * _kernels.SUM_CHUNK + n_partial * float(np.finfo(np.float64).eps))
    return row, col, rel


def _decrease(kernel, rows, cols, old, new):
    """sum_{u in rows} (clip(phi(u, v), old_u, new_u) - old_u) for every v in ``cols``."""
    dt = kernel.dtype
    out = np.zeros(len(cols))
    lo_all, hi_all = old.astype(dt)[:, None], new.astype(dt)[:, None]
    rbf = kernel.kernel == "rbf"
    if rbf:  # the rows' factors gathered once, not once per column tile (kernel.block's GEMM)
        left = kernel._left[rows]
    for c0 in range(0, len(cols), _kernels.COL_TILE):
        cc = cols[c0 : c0 + _kernels.COL_TILE]
        if rbf:
            right = kernel._right[cc].T
        acc = np.zeros(len(cc))
        for r0 in range(0, len(rows), _kernels.ROW_TILE):
            r1 = r0 + _kernels.ROW_TILE
            lo, hi = lo_all[r0:r1], hi_all[r0:r1]
            if rbf:
                tile = np.exp(left[r0:r1] @ right)  # kernel.block(rows, cc, clamp=False)
            else:
                tile = kernel.block(rows[r0:r1], cc, clamp=False)
            np.maximum(tile, lo, out=tile)
            np.minimum(tile, hi, out=tile)
            tile -= lo  # non-negative terms: the sum's error is relative to the sum
            acc += _kernels.tile_column_sums(tile)
        out[c0 : c0 + len(cc)] = acc
    kernel.n_column_evaluations += len(cols) * len(rows) / max(kernel.n, 1)
    return out


def prefill_first_picks(div, picks):
    """Cache the gains of every point after each first pick in ``picks`` (one pass over the
    kernel for all of them: the kernel entries are computed once, the reductions once per
    pick). A sweep's runs start from few distinct first picks (known from the column sums),
    and a run whose first step leaves many contenders would otherwise evaluate them one by one
    or in a pass of its own."""
    cache, K = div.gain_cache, div.kernel
    picks = [int(p) for p in picks if not _is_full(cache.nodes.get(frozenset([int(p)])), K.n)]
    if not picks or K.kernel != "rbf":
        return
    covs = np.array([K.column(p) for p in picks])
    row_w, col_w, rel = _error_weights(K)
    kernel_err = float(row_w.sum()) + K.n * col_w
    vals = K.coverage_gains(covs)
    div.n_evaluations = getattr(div, "n_evaluations", 0) + len(picks) * K.n
    everyone = np.arange(K.n)
    for p, g in zip(picks, vals, strict=True):
        cache.store(cache.node([p]), everyone, g, kernel_err + rel * np.abs(g))


def _is_full(node, n):
    return node is not None and any(len(idx) == n for idx in node.idx)


class _Sources:
    """Coverage vectors that stored gains are exact at, and the rows changed since each.

    Keys: ``t >= 0`` is this run's coverage after t picks; negative keys are the coverages
    of other cached sets contained in the current selection (their gains come from other
    runs). Kept while they fit in ``SNAPSHOT_BYTES``; a gain whose coverage is gone is
    recomputed in full.
    """

    def __init__(self, n):
        self.n = n
        self.cov = {0: np.zeros(n)}
        self.max = max(2, SNAPSHOT_BYTES // (8 * max(n, 1)))
        self.rows = {}
        self.next_key = -1

    def add(self, key, cov):
        self.cov[key] = cov
        while len(self.cov) > self.max:  # the oldest other set first, then the oldest step
            others = [k for k in self.cov if k < 0]
            gone = others[0] if others else next(iter(self.cov))
            del self.cov[gone]
            self.rows.pop(gone, None)

    def new_step(self):
        self.rows = {}

    def changed_rows(self, key, cur):
        """``(down, up)``: rows whose coverage is higher now than at ``key`` and rows where it
        is lower (only for a set that is not a subset of the current one); None if gone."""
        if key not in self.rows:
            old = self.cov.get(key)
            if old is None:
                self.rows[key] = None
            else:
                self.rows[key] = (np.flatnonzero(cur > old), np.flatnonzero(cur < old))
        return self.rows[key]

    def n_rows(self, key, cur):
        """Kernel entries per candidate to convert a gain at ``key`` (n: in full)."""
        rows = self.changed_rows(key, cur)
        if rows is None:
            return self.n
        return min(rows[0].size + rows[1].size, self.n)

    def incremental(self, key, cur, count):
        """Whether ``count`` gains exact at ``key`` are cheaper to convert over the changed
        rows than to evaluate in full (see ``ROW_COST``)."""
        return self._cost(key, cur, count)[0]

    def _cost(self, key, cur, count):
        """``(incremental, cost)``: the cheaper way for ``count`` gains at ``key``, and its
        cost in full-evaluation kernel entries."""
        full = float(self.n) * count
        rows = self.changed_rows(key, cur)
        if rows is None:
            return False, full
        r = rows[0].size + rows[1].size
        inc = r * (ROW_COST + INCREMENTAL_COST * count) if r else 0.0
        return (True, inc) if inc <= full else (False, full)

    def cost(self, keys, cur):
        """Full-evaluation kernel entries to bring gains of these sources up to date, each
        group the cheaper way (see _update)."""
        uniq, counts = np.unique(keys, return_counts=True)
        return float(
            sum(
                self._cost(k, cur, c)[1]
                for k, c in zip(uniq.tolist(), counts.tolist(), strict=True)
            )
        )


def lazy_facility_location(scores, div, gamma, m, quota, *, sample=None):
    """Plain greedy's picks for ``scores + gamma * R_FL`` (see the module docstring).

    ``sample(step, allowed)``, when given, returns the boolean mask of the candidates of this
    step (stochastic greedy's seeded sample among ``allowed``).
    """
    K = div.kernel
    n = len(scores)
    cache = div.gain_cache
    row_w, col_w, rel = _error_weights(K)
    kernel_err = float(row_w.sum()) + n * col_w  # of a gain over all rows, but the sum's

    def full_err(idx, vals):
        return kernel_err[idx] + rel * np.abs(vals)

    first = np.array(div.initial_gains(), dtype=float)  # exact (canonical) at step 0
    state = Bunch(
        ub=first,
        err=full_err(slice(None), first),
        evald=np.zeros(n, dtype=np.intp),  # the step each value is fresh at
        src=np.zeros(n, dtype=np.intp),  # the coverage (a _Sources key) it is exact at
        sources=_Sources(n),
        alt_val=np.zeros(n),  # an exact gain at a set close to the current one (not a bound)
        alt_err=np.zeros(n),
        alt_key=np.zeros(n, dtype=np.intp),
        has_alt=np.zeros(n, dtype=bool),
        alt_rows=np.zeros(n, dtype=np.intp),
        alt_step=-1,  # the step the alternatives were gathered for
        row_w=row_w,
        col_w=col_w,
        rel=rel,
        full_err=full_err,
    )
    ub, err, evald, src, sources = state.ub, state.err, state.evald, state.src, state.sources
    available = quota.start(n)
    div.n_evaluations = getattr(div, "n_evaluations", 0)
    node = None
    for step in range(m):
        sources.new_step()
        if step > 0:
            node = cache.node(div.selected)
            _use_cache(K, div, cache, node, state, step)
        allowed = quota.allowed(div.selected, available)
        if sample is not None:
            allowed = allowed & sample(step, allowed)
        batch = FIRST_BATCH
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
                and sources.cost(src[stale], div._cur) > ALL_COST * n * n
            ):
                vals = div.all_gains()
                div.n_evaluations += n
                errs = full_err(slice(None), vals)
                ub[:], err[:], evald[:], src[:] = vals, errs, step, step
                cache.store(node, np.arange(n), vals, errs)
                continue
            if stale.size > batch:
                stale = stale[np.argpartition(-up[stale], batch - 1)[:batch]]
                stale.sort()
            _update(K, div, stale, step, state, cache, node)
            batch = min(int(BATCH_GROWTH * batch), MAX_BATCH)
        V = np.flatnonzero(contenders)
        if V.size == 1:
            v = int(V[0])
        else:
            g = div.gains(V)  # what plain greedy computes
            div.n_evaluations += V.size
            errs = full_err(V, g)
            ub[V], err[V], src[V] = g, errs, step
            cache.store(node, V, g, errs)
            v = int(V[int(np.argmax(scores[V] + gamma * g))])
        div.add(v)
        available[v] = False
        sources.add(step + 1, div._cur.copy())
    return np.array(div.selected, dtype=np.intp)


def _use_cache(K, div, cache, node, state, step):
    """Gains cached at the current set are fresh; those cached at its subsets of one element
    less (reached by other runs) are tighter bounds, exact at a coverage close to ours."""
    ub, err, evald, src, sources = state.ub, state.err, state.evald, state.src, state.sources
    if node is not None:
        for idx, val, e in zip(node.idx, node.val, node.err, strict=True):
            ub[idx], err[idx], evald[idx], src[idx] = val, e, step, step
    if step < 2:
        return
    chosen = div.selected
    for x in chosen[:-1]:  # without the last pick: this run's own previous set
        other = cache.nodes.get(frozenset(chosen) - {x})
        if other is None or not other.idx:
            continue
        key = None
        for idx, val, e in zip(other.idx, other.val, other.err, strict=True):
            better = (val + e < ub[idx] + err[idx]) & (evald[idx] != step)
            if not better.any():
                continue
            if key is None:
                key = sources.next_key
                sources.next_key -= 1
                cov = np.zeros(K.n)
                for w in chosen:
                    if w != x:
                        np.maximum(cov, K.column(w), out=cov)
                sources.add(key, cov)
            sel = idx[better]
            ub[sel], err[sel], src[sel] = val[better], e[better], key


def _gather_alternatives(K, div, cache, state, step):
    """Exact gains cached at sets of the current size that differ from it by one element
    (another gamma's run swapped one pick): converting them costs the rows where the two
    coverages differ, often far fewer than the rows changed since the candidate's own value."""
    state.alt_step = step
    state.has_alt[:] = False
    chosen = list(div.selected)
    k = len(chosen)
    keys = cache.by_size.get(k, ())
    if k < 1 or not keys:
        return
    here = frozenset(chosen)
    sources, cur = state.sources, div._cur
    suffix = [None] * (k + 1)  # suffix[i] = max of the columns of chosen[i:]
    for i in range(k - 1, -1, -1):
        col = K.column(chosen[i])
        suffix[i] = col if suffix[i + 1] is None else np.maximum(suffix[i + 1], col)
    for key in keys:
        if key == here or len(key - here) != 1:
            continue
        other = cache.nodes[key]
        if not other.idx:
            continue
        (x,) = tuple(here - key)
        (y,) = tuple(key - here)
        i = chosen.index(x)
        prefix = sources.cov.get(i)
        if prefix is None:
            continue
        cov = prefix if suffix[i + 1] is None else np.maximum(prefix, suffix[i + 1])
        cov = np.maximum(cov, K.column(y))
        akey = sources.next_key
        sources.next_key -= 1
        sources.add(akey, cov)
        r = sources.n_rows(akey, cur)
        for idx, val, e in zip(other.idx, other.val, other.err, strict=True):
            better = (state.evald[idx] != step) & (~state.has_alt[idx] | (state.alt_rows[idx] > r))
            sel = idx[better]
            state.alt_val[sel], state.alt_err[sel] = val[better], e[better]
            state.alt_key[sel], state.has_alt[sel], state.alt_rows[sel] = akey, True, r


def _update(K, div, idx, step, state, cache, node):
    """Bring the gains of candidates ``idx`` up to date with the current coverage."""
    ub, err, src, sources = state.ub, state.err, state.src, state.sources
    cur = div._cur
    if state.alt_step != step:
        _gather_alternatives(K, div, cache, state, step)
    base, base_err, keys = ub[idx].copy(), err[idx].copy(), src[idx].copy()
    alt = np.flatnonzero(state.has_alt[idx])
    if alt.size:
        uniq, inverse = np.unique(keys[alt], return_inverse=True)
        own = np.array([sources.n_rows(int(k), cur) for k in uniq])[inverse]
        use = alt[state.alt_rows[idx[alt]] < own]
        base[use], base_err[use] = state.alt_val[idx[use]], state.alt_err[idx[use]]
        keys[use] = state.alt_key[idx[use]]
    in_full = np.zeros(idx.size, dtype=bool)
    for key in np.unique(keys).tolist():
        member = keys == key
        group = idx[member]
        if not sources.incremental(key, cur, group.size):
            in_full |= member  # evaluated below, with the other such groups in one call
            continue
        old = sources.cov[key]
        down, up = sources.changed_rows(key, cur)
        dec = _decrease(K, down, group, old[down], cur[down])
        vals = base[member] - dec
        changed = down.size + up.size
        amount = np.abs(dec)
        if up.size:  # coverage lower here than there: the gains grow
            inc = _decrease(K, up, group, cur[up], old[up])
            vals = vals + inc
            amount = amount + np.abs(inc)
        errs = (
            base_err[member]
            + float(state.row_w[down].sum() + state.row_w[up].sum())
            + changed * state.col_w[group]
            + state.rel * (amount + np.abs(vals))
        )
        _set_fresh(div, state, cache, node, step, group, vals, errs)
    if in_full.any():
        group = idx[in_full]
        vals = div.gains(group)
        _set_fresh(div, state, cache, node, step, group, vals, state.full_err(group, vals))


def _set_fresh(div, state, cache, node, step, group, vals, errs):
    """Record exact gains (with their error bounds) of ``group`` at this step."""
    div.n_evaluations += group.size
    state.ub[group], state.err[group] = vals, errs
    state.evald[group], state.src[group] = step, step
    cache.store(node, group, vals, errs)

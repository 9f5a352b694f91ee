"""DIVINE selection: m training points that are influential *and* diverse.

Greedy maximisation (DIVINE, Algorithm 1) of

.. math:: F(S) = I(S) + \\gamma R(S), \\qquad I(S) = \\sum_{i \\in S} I_i ,

with :math:`R` one of the diversity functions of :mod:`fairlearn_divine._diversity` over an RBF
kernel :math:`\\phi(u, v) = \\exp(-\\|u - v\\|^2 / (2\\sigma^2))`. A modular :math:`I` plus a
submodular :math:`R` is submodular, so greedy is within :math:`1 - 1/e` of the optimum for
monotone instances.

Choosing gamma
--------------
With a float ``gamma`` the objective is exactly :math:`I(S) + \\gamma R(S)` on the raw scores and
the raw :math:`R`; ``gamma=0`` returns exactly the top-m scores. With ``gamma="pairwise_distance"``
or ``"influence_budget"`` a sweep runs over ``gammas`` (default ``np.logspace(-4, 5, 37)``, the
paper's range) in **normalised units**: scores are divided by the influence mass of the top-m
points, :math:`s_I = \\sum_{i \\in \\mathrm{top}_m} |I_i|`, and R by its range between the top-m
set and the diversity-only greedy set, :math:`s_R = |R(S_R) - R(\\mathrm{top}_m)|`, so that
:math:`\\gamma_{raw} = \\gamma_{norm}\\, s_I / s_R`. Then

* ``"pairwise_distance"`` picks the gamma whose S has the largest mean pairwise Euclidean
  distance (the smallest such gamma on ties; the paper's package default);
* ``"influence_budget"`` picks the largest gamma whose S keeps at least
  ``1 - influence_budget`` of the top-m influence (the largest such sweep point, refined by
  bisection in log gamma towards the next sweep point):
  :math:`I(S) \\ge I(\\mathrm{top}_m) - b\\, |I(\\mathrm{top}_m)|`.

The result reports ``gamma`` on the raw scale (``select_diverse(..., gamma=result.gamma)``
reproduces the selection) and ``gamma_normalized``.

Strategies
----------
``"greedy"`` evaluates every candidate at every step (vectorised: :math:`O(n)` per step for
sum-redundancy and MMD given one kernel column per pick; :math:`O(n^2 d)` per step for facility
location). ``"lazy"`` (Minoux) keeps stale gains as upper bounds, exact for submodular R
(sum-redundancy, facility location) and the fast choice for facility location, which runs
through the certified engine of :mod:`._facility` (incremental gains over the rows whose
coverage changed, batched through BLAS, symmetric passes when most gains are stale, and
floating-point error bounds that make its picks plain greedy's, ties included).
``"stochastic"`` (Mirzasoleiman et al. 2015) evaluates a seeded random sample of
:math:`\\lceil (n/m) \\log(1/\\epsilon) \\rceil` candidates per step (for facility location
through the same engine, restricted to the sample: the same picks, at a fraction of the cost).
No strategy is switched automatically: stochastic greedy's picks differ from greedy's, so it
runs only when asked for.

The sweep
---------
The sweep is one selection per gamma, and its rows are exactly the selections of independent
calls at each raw gamma (tested). What they share costs nothing in exactness: the kernel, its
column sums and kappa, the kernel columns of picked points (an LRU cache), and for facility
location the gains computed at every selected set (:class:`._facility.GainCache`: runs at
neighbouring gammas reach the same sets, in any order) and the gains after every possible first
pick (the vertices of the upper hull of column sums vs scores), computed in one pass over the
kernel. The gammas run from the largest down (after the diversity-only run, whose sets the
large gammas reach), the rows reported in the order of ``gammas``. With ``n_jobs`` the gammas
run in parallel, each chunk in its own state. The sweep never stops early: for
``"pairwise_distance"`` any other gamma may still have the largest mean pairwise distance
(nothing short of its selection bounds it), and the result reports the whole curve
(``tradeoff``), which ``"influence_budget"`` needs too; a stop that could change the choice or
the curve is not made.

To select *harmful* points for a cost ``f`` (negative scores), pass ``-scores``.
"""

from __future__ import annotations

import heapq
import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from .._core.parallel import check_progress, parallel_map, progress_bar, resolve_n_jobs, run_seed
from .._core.results import Result, row_index
from .._core.validation import (
    NumberTypeError,
    check_integer,
    check_random_state_arg,
    check_real,
)
from ._diversity import FacilityLocation, make_diversity
from ._facility import lazy_facility_location, prefill_first_picks
from ._features import diversity_features
from ._kernels import BlockKernel, median_pairwise_distance

__all__ = ["DiverseSelection", "Problem", "select_diverse", "tradeoff_curve"]

GAMMA_STRATEGIES = ("pairwise_distance", "influence_budget")
STRATEGIES = ("greedy", "lazy", "stochastic")
_LAZY_BATCH = 4
_LAZY_MAX_BATCH = 64


class DiverseSelection(Result):
    """Result of :func:`select_diverse` (a dict with attribute access).

    Keys: ``indices`` (pick order, positions), ``labels`` (the same rows by the row labels of
    ``X``: its index for a DataFrame), ``gamma`` (raw scale), ``gamma_normalized``, ``influence``
    (:math:`I(S)`), ``top_influence`` (:math:`I` of the top-m), ``influence_retained``
    (:math:`1 - (I(\\mathrm{top}_m) - I(S)) / |I(\\mathrm{top}_m)|`), ``diversity``
    (:math:`R(S)`), ``relative_diversity`` (:math:`R(S)` minus its constant, e.g. minus
    :math:`\\kappa` for sum-redundancy), ``mean_pairwise_distance``, ``bandwidth``, and
    ``tradeoff`` (the sweep, a Bunch) when a gamma strategy ran.
    """

    def to_frame(self):
        """The selected rows in pick order, indexed by the row labels of ``X`` (``labels``):
        their ``position`` in ``X`` and, when the selection scored the points, their
        ``score``."""
        import pandas as pd

        idx = np.asarray(self["indices"], dtype=np.intp)
        data = {"position": idx}
        if "scores" in self:
            data["score"] = np.asarray(self["scores"], dtype=float)[idx]
        frame = pd.DataFrame(data, index=self.get("labels", pd.RangeIndex(len(idx))))
        frame.index.name = "label"
        return frame

    def __repr__(self):
        return (
            f"DiverseSelection(indices={np.asarray(self.indices).tolist()}, "
            f"gamma={self.gamma:.4g}, influence_retained={self.influence_retained:.3f}, "
            f"mean_pairwise_distance={self.mean_pairwise_distance:.4g})"
        )


# ---------------------------------------------------------------------------------------------
# validation


def _as_floats(values, argname):
    """``values`` as a float array; a ValueError naming ``argname`` for non-numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        shown = np.asarray(values, dtype=object).ravel()[:3].tolist()
        raise ValueError(
            f"{argname} must be numeric, got values such as {shown!r} ({err})."
        ) from err


def _check_inputs(scores, X, n_points, diversity):
    scores = _as_floats(scores, "scores")
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}.")
    if not np.all(np.isfinite(scores)):
        bad = np.flatnonzero(~np.isfinite(scores))[:5].tolist()
        raise ValueError(f"scores contains NaN or infinity (e.g. at indices {bad}).")
    needs_X = isinstance(diversity, str)
    if X is None:
        if needs_X:
            raise ValueError(f"X is required for diversity={diversity!r}.")
    else:
        X = diversity_features(None, X, argname="X")
        if X.shape[0] != scores.shape[0]:
            raise ValueError(f"scores has {scores.shape[0]} entries but X has {X.shape[0]} rows.")
    n = scores.shape[0]
    n_points = check_integer(n_points, "n_points")
    if not 1 <= n_points <= n:
        raise ValueError(f"n_points must be in [1, {n}] (the number of scores), got {n_points}.")
    return scores, X


def _check_gamma(gamma):
    if isinstance(gamma, str):
        if gamma not in GAMMA_STRATEGIES:
            raise ValueError(
                f"gamma must be a non-negative float or one of {GAMMA_STRATEGIES}, got {gamma!r}."
            )
        return gamma
    if isinstance(gamma, bool | np.bool_) or not isinstance(gamma, numbers.Real):
        raise NumberTypeError(
            f"gamma must be a non-negative number or a strategy name {GAMMA_STRATEGIES}, got "
            f"{gamma!r}."
        )
    return check_real(gamma, "gamma", minimum=0)


def _check_gammas(gammas):
    if gammas is None:
        return np.logspace(-4, 5, 37)
    if isinstance(gammas, str):
        raise ValueError(
            f"gammas must be a non-empty array of non-negative floats, got {gammas!r}."
        )
    g = _as_floats(gammas, "gammas").ravel()
    if g.size == 0 or not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError(
            f"gammas must be a non-empty array of non-negative floats, got {gammas!r}."
        )
    return np.unique(g)


def _make_kernel(X, kernel, bandwidth, random_state):
    if X is None:
        return None, None
    if isinstance(kernel, str):
        if kernel != "rbf":
            raise ValueError(f"kernel must be 'rbf' or a callable, got {kernel!r}.")
        if isinstance(bandwidth, str):
            if bandwidth != "median":
                raise ValueError(
                    f"bandwidth must be a positive float or 'median', got {bandwidth!r}."
                )
            bandwidth = median_pairwise_distance(X, random_state=random_state)
            if bandwidth <= 0:
                bandwidth = 1.0
        else:
            bandwidth = check_real(bandwidth, "bandwidth", minimum=0, include_minimum=False)
        return BlockKernel(X, kernel="rbf", bandwidth=float(bandwidth)), float(bandwidth)
    if callable(kernel):
        return BlockKernel(X, kernel=kernel), None
    raise TypeError(f"kernel must be 'rbf' or a callable, got {type(kernel).__name__}.")


def _check_candidates(candidates, n, m):
    if candidates is None:
        return None
    arr = np.asarray(candidates)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"candidates as a mask must have shape ({n},), got {arr.shape}.")
        mask = arr.copy()
    else:
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError("candidates must be a boolean mask or an array of row indices.")
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise ValueError(f"candidates holds indices outside [0, {n}).")
        mask = np.zeros(n, dtype=bool)
        mask[arr] = True
    if mask.sum() < m:
        raise ValueError(f"candidates holds {int(mask.sum())} rows, fewer than n_points={m}.")
    return mask


class _Quota:
    """Per-group minimum counts: restrict candidates once the remaining slots are needed."""

    def __init__(self, groups, min_per_group, n, m, candidates=None):
        self.candidates = _check_candidates(candidates, n, m)
        self.active = groups is not None and min_per_group is not None
        if groups is not None and min_per_group is None:
            raise ValueError("groups was given without min_per_group.")
        if groups is None and min_per_group is not None:
            raise ValueError("min_per_group was given without groups.")
        if not self.active:
            return
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have shape ({n},), got {groups.shape}.")
        missing = pd.isna(groups)
        if missing.any():
            raise ValueError(
                f"groups contains NaN or None (at positions "
                f"{np.flatnonzero(missing)[:5].tolist()}): every point needs a group."
            )
        labels, codes = np.unique(groups, return_inverse=True)
        self.codes = codes.reshape(-1)
        if isinstance(min_per_group, dict):
            unknown = set(min_per_group) - set(labels.tolist())
            if unknown:
                raise ValueError(f"min_per_group names unknown groups: {sorted(unknown)!r}.")
            need = np.array(
                [
                    check_integer(min_per_group.get(g, 0), f"min_per_group[{g!r}]")
                    for g in labels.tolist()
                ],
                dtype=int,
            )
        elif isinstance(min_per_group, numbers.Integral) and not isinstance(
            min_per_group, bool | np.bool_
        ):
            need = np.full(len(labels), int(min_per_group))
        else:
            raise NumberTypeError(
                f"min_per_group must be an int or a dict, got {min_per_group!r}."
            )
        if np.any(need < 0):
            raise ValueError(f"min_per_group must be non-negative, got {min_per_group!r}.")
        pool = self.codes if self.candidates is None else self.codes[self.candidates]
        sizes = np.bincount(pool, minlength=len(labels))
        short = labels[need > sizes]
        if short.size:
            raise ValueError(f"groups {short.tolist()!r} have fewer points than min_per_group.")
        if need.sum() > m:
            raise ValueError(
                f"min_per_group asks for {int(need.sum())} points in total but n_points={m}."
            )
        self.need = need
        self.m = m

    def start(self, n):
        """Rows that may be selected at all (the candidates)."""
        return np.ones(n, dtype=bool) if self.candidates is None else self.candidates.copy()

    def allowed(self, selected, available):
        if not self.active:
            return available
        counts = np.bincount(self.codes[selected], minlength=len(self.need)) if selected else 0
        deficit = np.maximum(self.need - counts, 0)
        if deficit.sum() >= self.m - len(selected) and deficit.sum() > 0:
            return available & (deficit[self.codes] > 0)
        return available


# ---------------------------------------------------------------------------------------------
# greedy engines


def _greedy(scores, div, gamma, m, quota):
    n = len(scores)
    available = quota.start(n)
    for _ in range(m):
        cand = np.flatnonzero(quota.allowed(div.selected, available))
        total = scores[cand] + gamma * div.gains(cand) if gamma else scores[cand]
        v = int(cand[int(np.argmax(total))])
        div.add(v)
        available[v] = False
    return np.array(div.selected, dtype=np.intp)


def _stochastic_size(n, m, epsilon):
    return int(math.ceil(n / m * math.log(1.0 / epsilon)))


def _stochastic(scores, div, gamma, m, quota, epsilon, rng):
    n = len(scores)
    size = _stochastic_size(n, m, epsilon)
    available = quota.start(n)
    for _ in range(m):
        pool = np.flatnonzero(quota.allowed(div.selected, available))
        cand = np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False))
        total = scores[cand] + gamma * div.gains(cand) if gamma else scores[cand]
        v = int(cand[int(np.argmax(total))])
        div.add(v)
        available[v] = False
    return np.array(div.selected, dtype=np.intp)


def _lazy(scores, div, gamma, m, quota):
    if not div.is_submodular:
        raise ValueError(
            "strategy='lazy' is exact only for a submodular diversity; MMD (and user functions "
            "declaring is_submodular=False) need strategy='greedy' or 'stochastic'."
        )
    n = len(scores)
    first = div.initial_gains() if hasattr(div, "initial_gains") else div.gains(None)
    bounds = scores + gamma * first
    available = quota.start(n)
    heap = [(-bounds[i], i) for i in np.flatnonzero(available)]
    heapq.heapify(heap)
    fresh_at = np.full(n, 0)  # initial bounds are exact at step 0
    n_evaluations = n
    for step in range(m):
        allowed = quota.allowed(div.selected, available)
        held = []
        batch_size = _LAZY_BATCH
        while True:
            negb, i = heapq.heappop(heap)
            if not allowed[i]:
                held.append((negb, i))
                continue
            if fresh_at[i] == step:
                v = i
                break
            batch = [i]
            while heap and len(batch) < batch_size:
                nb, j = heapq.heappop(heap)
                if not allowed[j]:
                    held.append((nb, j))
                elif fresh_at[j] == step:
                    heapq.heappush(heap, (nb, j))
                    break
                else:
                    batch.append(j)
            batch = np.array(batch)
            values = scores[batch] + gamma * div.gains(batch)
            n_evaluations += len(batch)
            fresh_at[batch] = step
            for val, j in zip(values, batch, strict=True):
                heapq.heappush(heap, (-val, int(j)))
            batch_size = min(2 * batch_size, _LAZY_MAX_BATCH)  # many stale bounds: go wider
        for item in held:
            heapq.heappush(heap, item)
        div.add(v)  # every stored gain is stale from here on (fresh_at < step + 1)
        available[v] = False
    return np.array(div.selected, dtype=np.intp), n_evaluations


def _run(scores, div, gamma, m, quota, strategy, epsilon, random_state):
    div.reset()
    if gamma == 0 and not quota.active:
        order = np.argsort(-scores, kind="stable")
        if quota.candidates is not None:
            order = order[quota.candidates[order]]
        order = order[:m]
        for v in order:
            div.add(int(v))
        return order.astype(np.intp)
    if strategy == "greedy":
        return _greedy(scores, div, gamma, m, quota)
    if strategy == "lazy":
        if isinstance(div, FacilityLocation):
            return lazy_facility_location(scores, div, gamma, m, quota)
        return _lazy(scores, div, gamma, m, quota)[0]
    # a fresh generator from the run's seed (Problem draws it once): every run, at any gamma
    # and in any worker, samples as an independent call with that seed does
    rng = check_random_state(random_state)
    if isinstance(div, FacilityLocation):
        size = _stochastic_size(len(scores), m, epsilon)

        def sample(step, allowed):
            pool = np.flatnonzero(allowed)
            mask = np.zeros(len(allowed), dtype=bool)
            mask[rng.choice(pool, size=min(size, len(pool)), replace=False)] = True
            return mask

        return lazy_facility_location(scores, div, gamma, m, quota, sample=sample)
    return _stochastic(scores, div, gamma, m, quota, epsilon, rng)


def _mean_pairwise_distance(X, idx, *, block=1024):
    """Mean Euclidean distance over distinct pairs of S, in row blocks (no m x m matrix)."""
    m = len(idx)
    if X is None or m < 2:
        return 0.0
    S = X[idx]
    S = S - S.mean(axis=0)
    sq = np.einsum("ij,ij->i", S, S)
    total = 0.0
    for start in range(0, m, block):
        rows = slice(start, min(start + block, m))
        D2 = sq[rows, None] + sq[None, :] - 2.0 * (S[rows] @ S.T)
        local = np.arange(rows.stop - rows.start)
        D2[local, local + rows.start] = 0.0  # exact zeros on the diagonal
        total += float(np.sqrt(np.clip(D2, 0.0, None)).sum())
    # each distinct pair is counted twice
    return total / (m * (m - 1))


# ---------------------------------------------------------------------------------------------
# public functions


class Problem:
    """Validated inputs shared by select_diverse and tradeoff_curve."""

    def __init__(
        self,
        scores,
        X,
        n_points,
        diversity,
        kernel,
        bandwidth,
        strategy,
        epsilon,
        groups,
        min_per_group,
        random_state,
        candidates=None,
    ):
        self.scores, self.X = _check_inputs(scores, X, n_points, diversity)
        self.n = len(self.scores)
        self.m = int(n_points)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
        self.epsilon = check_real(
            epsilon, "epsilon", minimum=0, maximum=1, include_minimum=False, include_maximum=False
        )
        self.strategy = strategy
        # one integer seed, drawn up front (the package's rule, see _core.parallel.run_seed):
        # the bandwidth sample and every run's stochastic samples derive from it, so a
        # RandomState gives the result of the seed drawn from it, and the runs of a sweep
        # sample alike in any order, thread or process (none draws from a shared generator)
        self.random_state = run_seed(check_random_state_arg(random_state))
        self.quota = _Quota(groups, min_per_group, self.n, self.m, candidates)
        self.kernel, self.bandwidth = _make_kernel(self.X, kernel, bandwidth, self.random_state)
        self.div = make_diversity(diversity, self.kernel, self.n)
        if strategy == "lazy" and not self.div.is_submodular:
            raise ValueError(
                "strategy='lazy' is exact only for a submodular diversity; MMD (and user "
                "functions declaring is_submodular=False) need strategy='greedy' or "
                "'stochastic'."
            )
        self.diversity_name = diversity if isinstance(diversity, str) else type(diversity).__name__
        if strategy == "greedy" and self.diversity_name == "facility_location" and self.n > 5000:
            warnings.warn(
                "strategy='greedy' with facility location evaluates every candidate at every "
                f"step (O(n^2) kernel entries per pick, n={self.n}); strategy='lazy' returns "
                "the same selection far faster.",
                UserWarning,
                stacklevel=3,
            )
        self.top = self.run(0.0)
        self.top_influence = float(self.scores[self.top].sum())

    def run(self, gamma, div=None, progress=False):
        """The greedy selection for ``gamma``, in ``div`` (default: the problem's own state),
        with a bar over its picks under the progress rule (``progress``)."""
        div = self.div if div is None else div

        def select():
            return _run(
                self.scores,
                div,
                gamma,
                self.m,
                self.quota,
                self.strategy,
                self.epsilon,
                self.random_state,
            )

        if progress is False:
            return select()
        with progress_bar(progress, self.m, "diverse selection") as bar:
            div.on_add = lambda: bar.update(1)
            try:
                return select()
            finally:
                div.on_add = None

    def describe(self, idx, gamma, div=None):
        """I(S), R(S) and distances of a selection (replays it only if R's state differs)."""
        div = self.div if div is None else div
        if div.selected != [int(v) for v in idx]:
            div.reset()
            for v in idx:
                div.add(int(v))
        influence = float(self.scores[idx].sum())
        denom = abs(self.top_influence) or 1.0
        return {
            "indices": np.asarray(idx, dtype=np.intp),
            "gamma": float(gamma),
            "influence": influence,
            "top_influence": self.top_influence,
            "influence_retained": 1.0 - (self.top_influence - influence) / denom,
            "diversity": float(div.value()),
            "relative_diversity": float(div.relative_value()),
            "mean_pairwise_distance": _mean_pairwise_distance(self.X, idx),
        }

    def scales(self):
        """(s_I, s_R): the normalisation of the gamma sweep."""
        s_I = float(np.abs(self.scores[self.top]).sum()) or 1.0
        zero = np.zeros(self.n)
        # diversity-only greedy: lazy pays off for facility location (costly exact gains);
        # vectorised greedy is cheaper for the O(n)-per-step gains of SR and MMD.
        strategy = self.strategy
        if strategy != "stochastic":
            strategy = "lazy" if self.diversity_name == "facility_location" else "greedy"
        self.div.reset()
        r_only = _run(
            zero, self.div, 1.0, self.m, self.quota, strategy, self.epsilon, self.random_state
        )
        r_top = self.describe(self.top, 0.0)["relative_diversity"]
        r_div = self.describe(r_only, np.inf)["relative_diversity"]
        s_R = abs(r_div - r_top) or 1.0
        return s_I, s_R

    def _prefill_hull(self, max_picks=6):
        """Facility location, before the diversity-only run: the first pick of any gamma > 0
        is a vertex of the upper convex hull of the points (column sum, score) (the diversity-
        only run's is the last one). When there are few, their gains are computed in one pass
        over the kernel, shared by that run and the sweep's."""
        allowed = np.flatnonzero(self.quota.allowed([], self.quota.start(self.n)))
        x = self.div.initial_gains()[allowed]
        y = self.scores[allowed]
        hull = []
        for i in np.lexsort((y, x)).tolist():
            while len(hull) >= 2:
                o, a = hull[-2], hull[-1]
                if (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o]) >= 0:
                    hull.pop()
                else:
                    break
            hull.append(i)
        top = int(np.argmax([y[i] for i in hull]))
        picks = [int(allowed[i]) for i in hull[top:]]
        if len(picks) <= max_picks:
            prefill_first_picks(self.div, picks)

    def _prefill(self, raw_gammas):
        """Facility location: the gains after each distinct first pick of the sweep, in one
        pass over the kernel (the first picks follow from the column sums: greedy's first
        step, lowest index on ties). Only the cost changes: the runs certify their picks."""
        allowed = np.flatnonzero(self.quota.allowed([], self.quota.start(self.n)))
        first = self.div.initial_gains()[allowed]
        s = self.scores[allowed]
        picks = {int(allowed[int(np.argmax(s + g * first))]) for g in raw_gammas if g > 0}
        prefill_first_picks(self.div, sorted(picks))

    def _sweep_rows(self, gammas, s_I, s_R, div=None):
        rows = []
        for g in gammas:
            raw = float(g) * s_I / s_R
            idx = self.run(raw, div)
            row = self.describe(idx, raw, div)
            row["gamma_normalized"] = float(g)
            rows.append(row)
        return rows

    def sweep(self, gammas, n_jobs=None, progress=None):
        prefill = isinstance(self.div, FacilityLocation) and self.strategy == "lazy"
        if prefill:
            self._prefill_hull()
        s_I, s_R = self.scales()
        if prefill:
            self._prefill(np.asarray(gammas, dtype=float) * s_I / s_R)
        n_jobs = n_jobs if len(gammas) > 1 else None
        if resolve_n_jobs(n_jobs) == 1:
            task = lambda part: self._sweep_rows(part, s_I, s_R)  # noqa: E731
        else:
            # every chunk runs in its own diversity state (and kernel column cache): workers
            # may be threads of one process (joblib's threading backend) sharing this problem
            task = lambda part: self._sweep_rows(part, s_I, s_R, self.div.fresh())  # noqa: E731
        # largest gamma first: after the diversity-only run of the normalisation, each run
        # starts from the gains cached by its neighbour (facility location); the rows come
        # back in the order of ``gammas``
        results, _ = parallel_map(
            task,
            np.asarray(gammas)[::-1],
            n_jobs=n_jobs,
            progress=progress,
            desc="gamma sweep",
            per_worker=1,
        )
        rows = [r for chunk in results for r in chunk][::-1]
        curve = Bunch(
            gammas=np.array([r["gamma_normalized"] for r in rows]),
            gammas_raw=np.array([r["gamma"] for r in rows]),
            influence=np.array([r["influence"] for r in rows]),
            influence_retained=np.array([r["influence_retained"] for r in rows]),
            diversity=np.array([r["diversity"] for r in rows]),
            relative_diversity=np.array([r["relative_diversity"] for r in rows]),
            mean_pairwise_distance=np.array([r["mean_pairwise_distance"] for r in rows]),
            indices=[r["indices"] for r in rows],
            top_influence=self.top_influence,
            top_relative_diversity=self.describe(self.top, 0.0)["relative_diversity"],
            top_indices=self.top,
            influence_scale=s_I,
            diversity_scale=s_R,
            diversity_name=self.diversity_name,
            n_points=self.m,
        )
        return curve


def select_diverse(
    scores,
    X,
    n_points,
    *,
    diversity="sum_redundancy",
    gamma="pairwise_distance",
    influence_budget=0.1,
    gammas=None,
    kernel="rbf",
    bandwidth="median",
    strategy="greedy",
    epsilon=0.01,
    groups=None,
    min_per_group=None,
    random_state=None,
    n_jobs=None,
    candidates=None,
    progress=None,
):
    """Select ``n_points`` influential and diverse training points (DIVINE).

    Greedily maximises :math:`I(S) + \\gamma R(S)` with :math:`I(S) = \\sum_{i\\in S}`
    ``scores[i]`` (higher scores are preferred: pass ``-scores`` to select harmful points of a
    cost). See the module docstring for the diversity functions, the gamma sweep and its
    normalisation, and the strategies.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Importance scores, e.g. ``training_point_importance(...).scores``.
    X : array-like of shape (n, d)
        Inputs the kernel compares (e.g. standardised training features).
    n_points : int
        Number of points m to select, ``1 <= m <= n``.
    diversity : {"sum_redundancy", "facility_location", "mmd"} or object, default="sum_redundancy"
        R(S); an object with ``marginal_gains(selected, candidates)`` is accepted too.
    gamma : float or {"pairwise_distance", "influence_budget"}, default="pairwise_distance"
        Trade-off. A float is used as is on the raw scale; a name runs the sweep.
    influence_budget : float, default=0.1
        Fraction of the top-m influence that ``gamma="influence_budget"`` may give up.
    gammas : array-like, optional
        Sweep values in normalised units (default ``np.logspace(-4, 5, 37)``).
    kernel : "rbf" or callable, default="rbf"
    bandwidth : float or "median", default="median"
        RBF sigma; ``"median"`` = median pairwise distance of a (seeded) 1000-point sample.
    strategy : {"greedy", "lazy", "stochastic"}, default="greedy"
    epsilon : float, default=0.01
        Stochastic greedy's accuracy parameter.
    groups : array-like of shape (n,), optional
        Group of each point, for ``min_per_group`` quotas.
    min_per_group : int or dict, optional
        At least this many selected points from each group (or per group label).
    random_state : int, RandomState or None
        Seeds the bandwidth sample and stochastic greedy. One integer seed is drawn from it up
        front (an int is the seed itself) and both derive from that seed: a RandomState gives
        the same result as the seed drawn from it, and every gamma of a sweep draws the same
        samples, serially or with ``n_jobs``.
    n_jobs : int, optional
        Run the gamma sweep on this many joblib workers (same result for any ``n_jobs``).
    candidates : boolean mask or array of row indices, optional
        Select only among these rows (e.g. the harmful points); the diversity is still
        measured against all of ``X``.
    progress : bool or None
        Progress bar over the gamma sweep, or over the picks of a selection at one float
        ``gamma`` (``None``: on a terminal, once it has run for two seconds).

    Returns
    -------
    DiverseSelection

    Examples
    --------
    >>> import numpy as np
    >>> from fairlearn_divine import select_diverse
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> scores = X[:, 0]  # points on the right are "influential"
    >>> top = select_diverse(scores, X, 5, gamma=0.0)
    >>> np.array_equal(top.indices, np.argsort(-scores)[:5])
    True
    >>> sel = select_diverse(scores, X, 5, random_state=0)
    >>> sel.mean_pairwise_distance >= top.mean_pairwise_distance
    True
    """
    if hasattr(scores, "index") and hasattr(scores, "iloc"):  # a Series: its labels
        labels = scores.index
    else:
        labels = (
            row_index(X, np.shape(scores)[0]) if X is not None else row_index(np.asarray(scores))
        )
    gamma = _check_gamma(gamma)
    check_progress(progress)
    influence_budget = check_real(influence_budget, "influence_budget", minimum=0, maximum=1)
    problem = Problem(
        scores,
        X,
        n_points,
        diversity,
        kernel,
        bandwidth,
        strategy,
        epsilon,
        groups,
        min_per_group,
        random_state,
        candidates,
    )
    curve = None
    if isinstance(gamma, str):
        curve = problem.sweep(_check_gammas(gammas), n_jobs=n_jobs, progress=progress)
        k = _pick_gamma(curve, gamma, influence_budget)
        raw, normalized = curve.gammas_raw[k], curve.gammas[k]
        idx = curve.indices[k]
        if gamma == "influence_budget":
            raw, normalized, idx = _refine_budget(problem, curve, k, influence_budget)
    else:
        raw, normalized = gamma, np.nan
        idx = problem.run(gamma, progress=progress)
    out = problem.describe(idx, raw)
    result = DiverseSelection(
        **out,
        gamma_normalized=float(normalized),
        gamma_strategy=gamma if isinstance(gamma, str) else None,
        diversity_name=problem.diversity_name,
        bandwidth=problem.bandwidth,
        strategy=strategy,
    )
    if curve is not None:
        result["tradeoff"] = curve
    result["labels"] = labels[np.asarray(result["indices"], dtype=np.intp)]
    return result


def _refine_budget(problem, curve, k, budget, *, n_steps=12):
    """Bisect (in log gamma) between sweep points k and k + 1 for the largest gamma in budget.

    The sweep's grid is coarse where the selection changes fastest; the budget rule asks for
    the largest gamma whose selection keeps ``1 - budget`` of the top-m influence.
    """
    raw, normalized, idx = curve.gammas_raw[k], curve.gammas[k], curve.indices[k]
    if k + 1 >= len(curve.gammas) or curve.gammas_raw[k] <= 0:
        return raw, normalized, idx
    lo, hi = np.log(curve.gammas_raw[k]), np.log(curve.gammas_raw[k + 1])
    scale = curve.gammas[k] / curve.gammas_raw[k]
    floor = 1.0 - budget - 1e-12
    for _ in range(n_steps):
        mid = 0.5 * (lo + hi)
        sel = problem.run(float(np.exp(mid)))
        kept = problem.describe(sel, np.exp(mid))["influence_retained"]
        if kept >= floor:
            lo, raw, idx = mid, float(np.exp(mid)), sel
        else:
            hi = mid
    return raw, raw * scale, idx


def _pick_gamma(curve, rule, budget):
    if rule == "pairwise_distance":
        return int(np.argmax(curve.mean_pairwise_distance))  # first = smallest gamma on ties
    ok = np.flatnonzero(curve.influence_retained >= 1.0 - budget - 1e-12)
    return int(ok[-1]) if ok.size else 0


def tradeoff_curve(
    scores,
    X,
    n_points,
    *,
    diversity="sum_redundancy",
    gammas=None,
    kernel="rbf",
    bandwidth="median",
    strategy="greedy",
    epsilon=0.01,
    groups=None,
    min_per_group=None,
    random_state=None,
    n_jobs=None,
    candidates=None,
    progress=None,
):
    """Influence-diversity trade-off of DIVINE selections over a sweep of gamma.

    Parameters are those of :func:`select_diverse`; ``gammas`` are in normalised units (see the
    module docstring).

    Returns
    -------
    Bunch
        ``gammas`` (normalised), ``gammas_raw``, ``influence``, ``influence_retained``,
        ``diversity``, ``relative_diversity`` (R minus its constant), ``mean_pairwise_distance``,
        ``indices`` (one selection per gamma), ``top_influence``, ``top_indices`` and
        ``top_relative_diversity`` (the gamma = 0 selection), ``influence_scale``,
        ``diversity_scale``.
    """
    problem = Problem(
        scores,
        X,
        n_points,
        diversity,
        kernel,
        bandwidth,
        strategy,
        epsilon,
        groups,
        min_per_group,
        random_state,
        candidates,
    )
    return problem.sweep(_check_gammas(gammas), n_jobs=n_jobs, progress=progress)

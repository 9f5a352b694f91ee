"""Diversity functions R(S) for DIVINE selection, with incremental marginal gains.

With a kernel :math:`\\phi` on the training inputs (sums over S include u = v):

* sum-redundancy :math:`R_{SR}(S) = \\kappa - \\sum_{u, v \\in S} \\phi(u, v)`,
  :math:`\\kappa = \\sum_{u, v \\in D} \\phi(u, v)`. Gain of adding v:
  :math:`-(2 \\sum_{u \\in S} \\phi(u, v) + \\phi(v, v))`; the running sums cost one kernel
  column, :math:`O(n d)`, per pick.
* facility location :math:`R_{FL}(S) = \\sum_{u \\in D} \\max_{v \\in S} \\phi(u, v)`. Gain of
  adding v: :math:`\\sum_u \\max(0, \\phi(u, v) - c_u)` with :math:`c_u` the current best
  similarity of u. Monotone submodular, so lazy (Minoux) evaluation is exact.
* MMD :math:`R_{MMD}(S) = \\frac{2}{n |S|} \\sum_{u \\in D, v \\in S} \\phi(u, v) -
  \\frac{1}{|S|^2} \\sum_{u, v \\in S} \\phi(u, v)` (:math:`R(\\emptyset) = 0`). Needs the
  column sums :math:`\\sum_u \\phi(u, v)`, computed once in blocks; then gains for all
  candidates cost :math:`O(n)` per pick.

User-defined diversity: any object with ``marginal_gains(selected, candidates)`` returning
:math:`R(S \\cup \\{v\\}) - R(S)` for each candidate (``selected`` is the list of indices picked
so far) and, optionally, ``value(selected)`` and an ``is_submodular`` attribute (lazy greedy
is only exact for submodular R).
"""

from __future__ import annotations

import copy

import numpy as np

from ._kernels import tile_column_sums

DIVERSITY_NAMES = ("sum_redundancy", "facility_location", "mmd")


class _Diversity:
    """Stateful R with vectorised marginal gains.

    The state (the selection so far and its running sums) belongs to one greedy run at a
    time: concurrent runs (the gamma sweep on threads) each take a :meth:`fresh` copy.
    """

    is_submodular = True
    needs_kernel = True
    #: Called (no arguments) after each point is added, e.g. to advance a progress bar.
    on_add = None

    def __init__(self, kernel):
        self.kernel = kernel
        self.n = kernel.n if kernel is not None else None
        self.reset()

    def fresh(self):
        """A new, empty state of the same R (its own kernel column cache), for another
        thread."""
        return type(self)(self.kernel.copy())

    def reset(self):
        self.selected = []

    def gains(self, candidates=None):
        raise NotImplementedError

    def add(self, v):
        self.selected.append(int(v))
        if self.on_add is not None:
            self.on_add()

    def value(self):
        raise NotImplementedError


class SumRedundancy(_Diversity):
    def reset(self):
        super().reset()
        self._s = np.zeros(self.n)  # sum_{u in S} phi(u, v)
        self._diag = self.kernel.diagonal()
        self._pair_sum = 0.0  # sum_{u,v in S} phi(u, v)

    def gains(self, candidates=None):
        if candidates is None:
            return -(2.0 * self._s + self._diag)
        return -(2.0 * self._s[candidates] + self._diag[candidates])

    def add(self, v):
        self._pair_sum += 2.0 * self._s[v] + self._diag[v]
        self._s += self.kernel.column(v)
        super().add(v)

    def kappa(self):
        """(kappa, exact): see BlockKernel.total_sum."""
        return self.kernel.total_sum()

    def value(self):
        return self.kappa()[0] - self._pair_sum

    def relative_value(self):
        """R(S) - kappa (kappa is a constant; selections do not depend on it)."""
        return -self._pair_sum


class FacilityLocation(_Diversity):
    """R_FL with the gains shared across runs (:class:`~._facility.GainCache`)."""

    def __init__(self, kernel, gain_cache=None):
        from ._facility import GainCache

        self.gain_cache = GainCache() if gain_cache is None else gain_cache
        super().__init__(kernel)

    def fresh(self):
        """A new, empty state (its own kernel column cache) with a copy of the shared gains:
        runs in other threads read and extend their own copy."""
        return type(self)(self.kernel.copy(), gain_cache=copy.deepcopy(self.gain_cache))

    def reset(self):
        super().reset()
        self._cur = np.zeros(self.n)

    def initial_gains(self):
        return self.kernel.column_sums()

    def gains(self, candidates=None):
        cand = np.arange(self.n) if candidates is None else np.asarray(candidates)
        if not self.selected:
            return self.initial_gains()[cand]
        cur = self._cur.astype(self.kernel.dtype)

        def reduce(tile, rows):
            tile -= cur[rows, None]
            np.maximum(tile, 0.0, out=tile)
            return tile_column_sums(tile)

        return self.kernel.reduce_columns(cand, reduce, clamp=False)

    def all_gains(self):
        """The gains of every point, in one pass over the symmetric tiles."""
        if not self.selected:
            return self.initial_gains()
        return self.kernel.coverage_gains(self._cur)

    def add(self, v):
        np.maximum(self._cur, self.kernel.column(v), out=self._cur)
        super().add(v)

    def value(self):
        return float(self._cur.sum())

    relative_value = value


class MMD(_Diversity):
    is_submodular = False

    def reset(self):
        super().reset()
        self._s = np.zeros(self.n)
        self._diag = self.kernel.diagonal()
        self._A = 0.0  # sum_{u in D, v in S} phi
        self._B = 0.0  # sum_{u,v in S} phi

    def _value(self, A, B, k):
        if k == 0:
            return 0.0
        return 2.0 * A / (self.n * k) - B / k**2

    def gains(self, candidates=None):
        c = self.kernel.column_sums()
        s, d = self._s, self._diag
        if candidates is not None:
            c, s, d = c[candidates], s[candidates], d[candidates]
        k = len(self.selected)
        new = 2.0 * (self._A + c) / (self.n * (k + 1)) - (self._B + 2.0 * s + d) / (k + 1) ** 2
        return new - self._value(self._A, self._B, k)

    def add(self, v):
        self._A += self.kernel.column_sums()[v]
        self._B += 2.0 * self._s[v] + self._diag[v]
        self._s += self.kernel.column(v)
        super().add(v)

    def value(self):
        return self._value(self._A, self._B, len(self.selected))

    relative_value = value


class _UserDiversity(_Diversity):
    needs_kernel = False

    def __init__(self, obj, n):
        self.obj = obj
        self.kernel = None
        self.n = n
        self.is_submodular = bool(getattr(obj, "is_submodular", True))
        self.reset()

    def fresh(self):
        # the user's object gets the selection explicitly; any state of its own it must
        # keep thread-safe itself
        return _UserDiversity(self.obj, self.n)

    def gains(self, candidates=None):
        cand = np.arange(self.n) if candidates is None else np.asarray(candidates)
        out = np.asarray(self.obj.marginal_gains(list(self.selected), cand), dtype=float)
        if out.shape != (len(cand),):
            raise ValueError(
                f"diversity.marginal_gains returned shape {out.shape}; expected ({len(cand)},)."
            )
        return out

    def value(self):
        if hasattr(self.obj, "value"):
            return float(self.obj.value(list(self.selected)))
        total, sel = 0.0, []
        for v in self.selected:
            total += float(self.obj.marginal_gains(sel, np.array([v]))[0])
            sel.append(v)
        return total

    relative_value = value


def make_diversity(diversity, kernel, n):
    if isinstance(diversity, str):
        if diversity == "sum_redundancy":
            return SumRedundancy(kernel)
        if diversity == "facility_location":
            return FacilityLocation(kernel)
        if diversity == "mmd":
            return MMD(kernel)
        raise ValueError(
            f"Unknown diversity {diversity!r}. Valid names: {', '.join(DIVERSITY_NAMES)}, or an "
            "object with a marginal_gains(selected, candidates) method."
        )
    if hasattr(diversity, "marginal_gains"):
        return _UserDiversity(diversity, n)
    raise TypeError(
        "diversity must be one of "
        f"{DIVERSITY_NAMES} or an object with marginal_gains(selected, candidates); "
        f"got {type(diversity).__name__}: {diversity!r}"
    )

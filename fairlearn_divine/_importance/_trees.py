"""Training-point influence for gradient-boosted trees with the tree structures held fixed.

Sign convention: ``scores[i] = f(model without i) - f(model)``; **positive** = point *i* helps
(removing it makes the cost ``f`` worse), **negative** = point *i* is harmful.

Model
-----
A binary ``HistGradientBoostingClassifier`` / ``GradientBoostingClassifier`` with the log loss
(see :mod:`fairlearn_divine._models._trees`) is, once its splits are fixed, a differentiable
function of the training weights :math:`w_j = c_j t_j` (:math:`c_j` the fitted sample weights,
:math:`t_j = 1` at the fit, :math:`t_i = 0` removes point *i*). With :math:`\\ell_t(j)` the leaf
of row *j* in tree *t*, the fit is the recursion

.. math::

    F_{0,j} = b(w) = \\mathrm{logit}\\Big(\\frac{\\sum_j w_j y_j}{\\sum_j w_j}\\Big), \\qquad
    F_{t+1,j} = F_{t,j} + v_{t,\\ell_t(j)}, \\qquad
    v_{t,\\ell} = -\\eta \\frac{G_{t,\\ell}}{H_{t,\\ell} + \\lambda},

    G_{t,\\ell} = \\sum_{j \\in \\ell} w_j g_{t,j}, \\quad
    H_{t,\\ell} = \\sum_{j \\in \\ell} w_j h_{t,j}, \\quad
    g = \\sigma(F) - y, \\quad h = \\sigma(F)(1 - \\sigma(F)),

and an evaluation point *x* gets :math:`F(x) = b + \\sum_t v_{t,\\ell_t(x)}`,
:math:`P(x) = (1 - \\sigma(F(x)), \\sigma(F(x)))`.

First-order change of a leaf
----------------------------
Differentiating the Newton step (:math:`D = H + \\lambda`),

.. math::

    \\frac{\\partial v_{t,\\ell}}{\\partial t_i} = -\\frac{\\eta}{D_{t,\\ell}} \\Big[
      [i \\in \\ell]\\, c_i \\big(g_{t,i} + \\tfrac{v_{t,\\ell}}{\\eta} h_{t,i}\\big)
      + \\sum_{j \\in \\ell} w_j \\big(h_{t,j} + \\tfrac{v_{t,\\ell}}{\\eta} h'_{t,j}\\big)
        \\frac{\\partial F_{t,j}}{\\partial t_i} \\Big], \\qquad h' = h (1 - 2\\sigma(F)),

with :math:`\\partial F_{t+1,j} / \\partial t_i = \\partial F_{t,j} / \\partial t_i +
\\partial v_{t,\\ell_t(j)} / \\partial t_i`. The first term is point *i*'s own gradient and
Hessian leaving its leaf; the second is the *propagation*: earlier leaves moved, so every later
tree sees different raw predictions (and gradients) for the points that shared leaves with *i*.

* ``propagation="full"`` (default) keeps both terms, as LeafInfluence (Sharchilev et al., 2018;
  ``update_set=-1`` in Brophy et al.'s ``tree_influence``) does. Instead of carrying the
  :math:`n \\times n` forward derivatives :math:`\\partial F_{t,j} / \\partial t_i` (LeafInfluence
  costs :math:`O(T n^2)`), the derivative of ``f`` with respect to **every** weight is one
  reverse-mode (adjoint) pass over the trees, :math:`O(T n)` per objective, with the same
  result.
* ``propagation="none"`` drops the second term (BoostIn's simplification, Brophy et al., 2023):
  only point *i*'s own gradient and Hessian change the leaves it is in.

The baseline's derivative :math:`\\partial b / \\partial t_i = c_i (y_i - \\bar y) /
(W \\bar y (1 - \\bar y))` is included (:math:`b = 0` for ``init="zero"``). The objective enters
through the chain rule

.. math:: \\frac{\\partial f}{\\partial t_i} = \\sum_x \\frac{\\partial f}{\\partial P_x}
          \\frac{\\partial P_x}{\\partial F_x} \\frac{\\partial F_x}{\\partial t_i},

with :math:`\\partial f / \\partial P` from the objective (so fairness objectives, fairlearn
metrics and MetricFrame adapters work unchanged), and :math:`I_i = -\\partial f / \\partial
t_i \\approx f(t_i = 0) - f(t_i = 1)`.

Exact leaf refit
----------------
``exact=True`` recomputes, for each point, every leaf value of every tree in sequence without
that point (the baseline too), keeping the structures: the fixed-structure leave-one-out the
first-order estimate approximates. :math:`O(T n)` per point (batched), so ``indices`` selects
rows for large *n*. Scores are against the same recomputation with every point, so the float32
gradients of the histogram trees cancel.

Where the assumption breaks
---------------------------
A refit without point *i* can choose different splits (and, with early stopping, a different
number of trees); tree leave-one-out is then chaotic, and neither estimate sees it. What the
scores rank well is the fixed-structure effect, which on real data tracks group removals (see
``docs/importance.md``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._core.parallel import parallel_map
from .._core.validation import check_indices, check_real, encode_labels
from .._models._trees import parse_boosted_trees
from ._refits import no_options

__all__ = ["tree_influence"]

_PROPAGATIONS = ("full", "none")
_BATCH = 64


def _expit(F):
    return 0.5 * (1.0 + np.tanh(0.5 * F))


class _Fit:
    """The parsed trees with the training rows' leaves, labels and weights."""

    def __init__(self, estimator, X, y, sample_weight):
        self.trees = trees = parse_boosted_trees(estimator)
        self.y_idx = encode_labels(y, trees.classes, "y")
        self.y = (self.y_idx == 1).astype(float)
        n = len(self.y)
        if trees.n_train is not None and trees.n_train != n:
            raise ValueError(
                f"The trees were grown on {trees.n_train} rows but X has {n}: "
                "HistGradientBoostingClassifier held out a validation split for early stopping "
                "(early_stopping='auto' does so above 10,000 rows). Fit with "
                "early_stopping=False (or pass X_val/y_val to fit), or use method='loo'."
            )
        self.c = trees.training_weights(self.y_idx, sample_weight)
        Z = trees.transform(X)
        # the rows as the trees were grown on them: binned for histogram trees
        self.leaves = trees.leaves(Z, binned=trees.kind == "hist", transformed=True)
        self._indicators = None

    def indicators(self):
        """Per tree, the (n_leaves, n) sparse leaf-membership matrix."""
        if self._indicators is None:
            n = len(self.y)
            cols = np.arange(n)
            self._indicators = [
                sparse.csr_matrix(
                    (np.ones(n), (self.leaves[:, t], cols)), shape=(self.trees.n_leaves[t], n)
                )
                for t in range(self.trees.n_trees)
            ]
        return self._indicators

    def baseline(self, W):
        """Baseline raw score for weight columns ``W`` (n, B)."""
        if self.trees.baseline_rule == "zero":
            return np.zeros(W.shape[1])
        ybar = (self.y @ W) / W.sum(axis=0)
        eps = 10 * np.finfo(float).eps if self.trees.kind == "hist" else np.finfo(float).eps
        ybar = np.clip(ybar, eps, 1 - eps)
        return np.log(ybar) - np.log1p(-ybar)

    def forward(self, W):
        """Recompute every leaf with weight columns ``W`` (n, B), structure fixed.

        Returns the baselines (B,) and the leaf values, a list over trees of (n_leaves, B).
        """
        tr = self.trees
        b = self.baseline(W)
        F = np.repeat(b[None, :], len(self.y), axis=0)
        values = []
        for t, A in enumerate(self.indicators()):
            P = _expit(F)
            G = A @ (W * (P - self.y[:, None]))
            H = A @ (W * (P * (1 - P)))
            D = H + tr.l2_regularization + tr.denominator_eps
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(D > 1e-150, -tr.learning_rate * G / D, 0.0)
            values.append(v)
            F += v[self.leaves[:, t]]
        return b, values

    def fitted_history(self):
        """Raw training predictions before each tree with the fitted leaf values, (T, n), and
        the Newton denominators :math:`H + \\lambda` of every leaf."""
        tr = self.trees
        n = len(self.y)
        F = np.full(n, tr.baseline)
        hist = np.empty((tr.n_trees, n))
        denominators = []
        for t in range(tr.n_trees):
            hist[t] = F
            P = _expit(F)
            H = np.bincount(self.leaves[:, t], self.c * P * (1 - P), minlength=tr.n_leaves[t])
            denominators.append(H + tr.l2_regularization + tr.denominator_eps)
            F = F + tr.leaf_values[t][self.leaves[:, t]]
        return hist, denominators

    def check_leaf_values(self, tol):
        """Largest gap between the fitted leaf values and the Newton step recomputed on
        ``(X, y, sample_weight)``, relative to the largest leaf value; ValueError above
        ``tol``."""
        b, values = self.forward(self.c[:, None])
        scale = max(max(float(np.max(np.abs(v))) for v in self.trees.leaf_values), 1e-12)
        gap = max(
            float(np.max(np.abs(v[:, 0] - fv)))
            for v, fv in zip(values, self.trees.leaf_values, strict=True)
        )
        gap = max(gap, abs(float(b[0]) - self.trees.baseline)) / scale
        if gap > tol:
            raise ValueError(
                f"The fitted leaf values are not the Newton step on (X, y, sample_weight): "
                f"relative gap {gap:.3g} > leaf_value_tol={tol:g}. Pass the exact training data "
                "and sample_weight the model was fitted with (in the same order)."
            )
        return gap


def _proba(F):
    p = _expit(F)
    return np.column_stack([1 - p, p])


def _first_order(fit, seeds, eval_leaves, propagation):
    """:math:`\\partial f / \\partial t_i` for every training point and objective column of
    ``seeds`` (n_eval, m) = :math:`\\partial f / \\partial F_x`, by one reverse pass."""
    tr = fit.trees
    n = len(fit.y)
    m = seeds.shape[1]
    c = fit.c
    hist, denominators = fit.fitted_history()
    wbar = np.zeros((n, m))
    Fbar = np.zeros((n, m))  # adjoint of the raw training predictions after tree t
    full = propagation == "full"
    for t in range(tr.n_trees - 1, -1, -1):
        ell = fit.leaves[:, t]
        L = tr.n_leaves[t]
        vbar = np.stack(
            [np.bincount(eval_leaves[:, t], seeds[:, k], minlength=L) for k in range(m)], axis=1
        )
        if full:
            vbar += np.stack([np.bincount(ell, Fbar[:, k], minlength=L) for k in range(m)], 1)
        D = denominators[t]
        v = tr.leaf_values[t]
        ok = D > 1e-150
        Gbar = np.where(ok[:, None], -tr.learning_rate * vbar / np.where(ok, D, 1)[:, None], 0)
        Hbar = np.where(ok[:, None], -(v / np.where(ok, D, 1))[:, None] * vbar, 0)
        P = _expit(hist[t])
        g = P - fit.y
        h = P * (1 - P)
        Gj = Gbar[ell]
        Hj = Hbar[ell]
        wbar += g[:, None] * Gj + h[:, None] * Hj
        if full:
            Fbar += c[:, None] * (h[:, None] * Gj + (h * (1 - 2 * P))[:, None] * Hj)
    if tr.baseline_rule == "prior":
        bbar = seeds.sum(axis=0) + (Fbar.sum(axis=0) if full else 0.0)
        W = c.sum()
        ybar = float(c @ fit.y) / W
        wbar += ((fit.y - ybar) / (W * ybar * (1 - ybar)))[:, None] * bbar[None, :]
    return (c[:, None] * wbar).T  # (m, n): d f / d t_i


def _exact_scores(fit, ctx, eval_leaves, rows):
    """f(leaves refitted without row i) - f(leaves refitted with every row), rows ``rows``."""
    tr = fit.trees
    out = np.empty((len(ctx.objectives), len(rows)))
    for s in range(0, len(rows), _BATCH):
        batch = rows[s : s + _BATCH]
        W = np.repeat(fit.c[:, None], len(batch), axis=1)
        W[batch, np.arange(len(batch))] = 0.0
        b, values = fit.forward(W)
        F = np.repeat(b[None, :], eval_leaves.shape[0], axis=0)
        for t in range(tr.n_trees):
            F += values[t][eval_leaves[:, t]]
        for k in range(len(batch)):
            out[:, s + k] = ctx.values(_proba(F[:, k]))
    return out


def tree_influence(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    """Fixed-structure influence of every training point of a gradient-boosted classifier.

    ``scores[i] = f(without i) - f(with i)``: positive = point *i* helps, negative = harmful.
    See the module docstring for the math. Options (keyword, through
    :func:`~fairlearn_divine.training_point_importance`):

    structure_update : {"fixed"}, default="fixed"
        The tree structures (splits) are kept; only leaf values (and the baseline) change.
    propagation : {"full", "none"}, default="full"
        First-order effect through later trees' gradients (``"full"``) or point *i*'s own
        gradient only (``"none"``, BoostIn-style). Ignored with ``exact=True``.
    exact : bool, default=False
        Leaf refit: recompute every leaf without each point (structure fixed) instead of the
        first-order estimate.
    indices : array-like of int, optional
        ``exact=True`` only: the rows to value (others get NaN).
    leaf_value_tol : float, default=1e-4
        Largest relative gap allowed between the fitted leaf values and their Newton step
        recomputed on ``(X, y, sample_weight)``.
    """
    structure = options.pop("structure_update", "fixed")
    if structure != "fixed":
        raise ValueError(
            f"structure_update must be 'fixed' (splits kept, leaf values refitted), got "
            f"{structure!r}; use method='loo' for refits that may change the splits."
        )
    propagation = options.pop("propagation", "full")
    if propagation not in _PROPAGATIONS:
        raise ValueError(
            f"propagation must be one of {', '.join(map(repr, _PROPAGATIONS))}, "
            f"got {propagation!r}."
        )
    exact = options.pop("exact", False)
    if not isinstance(exact, bool | np.bool_):
        raise TypeError(f"exact must be True or False, got {exact!r}.")
    indices = options.pop("indices", None)
    if indices is not None and not exact:
        raise ValueError("indices is an option of the exact leaf refit only (exact=True).")
    tol = check_real(options.pop("leaf_value_tol", 1e-4), "leaf_value_tol", minimum=0)
    no_options(options, "tree_influence")
    for f in ctx.objectives:
        if not exact and not f.has_gradient:
            raise ValueError(
                f"Objective {f.name!r} has no gradient, so the first-order tree influence "
                "cannot use it; use exact=True (leaf refit) or method='loo'."
            )

    fit = _Fit(estimator, X, y, sample_weight)
    gap = fit.check_leaf_values(tol)
    tr = fit.trees
    eval_leaves = fit.leaves if eval_is_train and tr.kind == "gbm" else tr.leaves(X_eval)
    F_eval = tr.raw_predict(eval_leaves)
    P = _proba(F_eval)
    info = {
        "structure_update": "fixed",
        "n_trees": tr.n_trees,
        "leaf_value_gap": gap,
    }
    n = len(fit.y)
    if exact:
        rows = np.arange(n) if indices is None else check_indices(indices, n)
        b_ref, v_ref = fit.forward(fit.c[:, None])
        F_ref = tr.raw_predict(eval_leaves, [v[:, 0] for v in v_ref], float(b_ref[0]))
        ref = ctx.values(_proba(F_ref))

        def run(chunk):
            return _exact_scores(fit, ctx, eval_leaves, chunk)

        results, _ = parallel_map(
            run,
            rows,
            n_jobs=runtime.get("n_jobs"),
            progress=runtime.get("progress"),
            desc="leaf refit",
            min_chunk=_BATCH,
        )
        scores = np.full((len(ctx.objectives), n), np.nan)
        scores[:, rows] = np.concatenate(results, axis=1) - ref[:, None]
        info["exact"] = True
        info["n_refits"] = len(rows)
        return scores, ctx.values(P), info

    values, grads = ctx.values_and_gradients(P)
    slope = P[:, 1] * P[:, 0]  # d sigma / dF
    seeds = np.stack([(np.asarray(G)[:, 1] - np.asarray(G)[:, 0]) * slope for G in grads], axis=1)
    scores = -_first_order(fit, seeds, eval_leaves, propagation)
    info["propagation"] = propagation
    info["exact"] = False
    return scores, values, info

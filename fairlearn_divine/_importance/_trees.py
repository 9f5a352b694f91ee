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

Reverse pass
------------
With the seeds :math:`\\bar F_x = \\partial f / \\partial F_x` on the evaluation rows, going
from the last tree to the first, the adjoint of leaf :math:`(t, \\ell)` is
:math:`\\bar v_{t,\\ell} = \\sum_{x \\in \\ell} \\bar F_x + \\sum_{j \\in \\ell} \\bar F_{t+1,j}`
(the second sum only with ``propagation="full"``); then :math:`\\bar G = -\\eta \\bar v / D`,
:math:`\\bar H = -(v / D) \\bar v`, every row *j* of the leaf collects
:math:`\\bar w_j \\mathrel{+}= g_{t,j} \\bar G + h_{t,j} \\bar H` and passes on
:math:`\\bar F_{t,j} = \\bar F_{t+1,j} + w_j (h_{t,j} \\bar G + h'_{t,j} \\bar H)`. At the
end the baseline's adjoint :math:`\\sum_x \\bar F_x + \\sum_j \\bar F_{0,j}` adds through
:math:`\\partial b / \\partial w_j`, and :math:`\\partial f / \\partial t_i = c_i \\bar w_i`.

Exact leaf refit
----------------
``exact=True`` recomputes, for each point, every leaf value of every tree in sequence without
that point (the baseline too), keeping the structures: the fixed-structure leave-one-out the
first-order estimate approximates. :math:`O(T n)` per point (batched), so ``indices`` selects
rows for large *n*. Scores are against the same recomputation with every point, so the float32
gradients of the histogram trees cancel.

Multiclass
----------
With :math:`K > 2` classes every iteration grows one tree per class on the gradients
:math:`g_{t,j,k} = p_{t,j,k} - y_{j,k}` and Hessians :math:`h = p_k (1 - p_k)` at the softmax
probabilities of :math:`F_t` (times :math:`(K - 1)/K` in the step of
``GradientBoostingClassifier``); the reverse pass is the same, with
:math:`\\partial p_k / \\partial F_l = p_k (\\delta_{kl} - p_l)` in place of
:math:`\\sigma'` and the centred log-prior baseline.

Where the assumption breaks
---------------------------
A refit without point *i* can choose different splits (other bin thresholds for the histogram
trees; with early stopping, another number of trees); tree leave-one-out is then chaotic, and
neither estimate sees it (on Adult with 100 trees the true leave-one-out change of the
validation log loss is about a thousand times the fixed-structure one and uncorrelated with
it, Spearman -0.07). What the scores rank well is the fixed-structure effect, which on real
data tracks group removals (see ``docs/importance.md``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._core.parallel import parallel_map
from .._core.validation import check_indices, check_real, encode_labels
from .._models import parse_boosted_trees
from ._refits import no_options

__all__ = ["leaf_refit_without", "tree_influence"]

_PROPAGATIONS = ("full", "none")
_LIBRARY_HINTS = {
    "lightgbm": (
        " If it was: a LightGBM setting that changes the leaf values is not handled here "
        "(read: learning_rate, lambda_l2 / reg_lambda, cat_l2 on many-vs-many categorical "
        "splits, boost_from_average, class_weight; an init_score given to fit, or a custom "
        "objective, is not modelled)."
    ),
    "xgboost": (
        " If it was: an XGBoost setting that changes the leaf values is not handled here "
        "(read: eta / learning_rate, lambda / reg_lambda, base_score given or estimated as "
        "XGBoost 3 estimates it, the weighted label mean: other versions estimate it "
        "otherwise, so set base_score explicitly for them; a base_margin given to fit, a "
        "custom objective, or leaves whose Hessian sum is below min_child_weight, are not "
        "modelled)."
    ),
}
_BATCH = 64


def _expit(F):
    return 0.5 * (1.0 + np.tanh(0.5 * F))


def _probabilities(F):
    """p of the loss, shape of ``F`` = (n, K, ...): sigmoid for K = 1, softmax over axis 1."""
    if F.shape[1] == 1:
        return _expit(F)
    E = np.exp(F - F.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _proba(F):
    """``predict_proba`` from raw scores (n, K)."""
    p = _probabilities(F)
    return np.column_stack([1 - p[:, 0], p[:, 0]]) if F.shape[1] == 1 else p


def _raw_adjoint(P, pbar):
    """Adjoint of the raw scores from the adjoint ``pbar`` of p = sigmoid / softmax(F)."""
    if P.shape[1] == 1:
        return pbar * (P * (1 - P))[:, :, None]
    return P[:, :, None] * (pbar - np.sum(pbar * P[:, :, None], axis=1, keepdims=True))


def _leaf_sums(leaves, values, n_leaves):
    """Per leaf sums of the columns of ``values`` (n, m): shape (n_leaves, m)."""
    return np.stack(
        [np.bincount(leaves, values[:, k], minlength=n_leaves) for k in range(values.shape[1])],
        axis=1,
    )


class _Fit:
    """The parsed trees with the training rows' leaves, labels and weights."""

    def __init__(self, estimator, X, y, sample_weight):
        self.trees = trees = parse_boosted_trees(estimator)
        self.y_idx = encode_labels(y, trees.classes, "y")
        n = len(self.y_idx)
        n_classes = len(trees.classes)
        self.onehot = np.zeros((n, n_classes))
        self.onehot[np.arange(n), self.y_idx] = 1.0
        self.Y = self.onehot[:, 1:] if trees.n_outputs == 1 else self.onehot  # (n, K)
        if trees.n_train is not None and trees.n_train != n:
            raise ValueError(
                f"The trees were grown on {trees.n_train} rows but X has {n}: "
                "HistGradientBoostingClassifier held out a validation split for early stopping "
                "(early_stopping='auto' does so above 10,000 rows). Fit with "
                "early_stopping=False (or pass X_val/y_val to fit), or use method='loo'."
            )
        self.c = trees.training_weights(self.y_idx, sample_weight)
        trees.bind_training(self.onehot, self.c)  # LightGBM's baseline is in its first trees
        Z = trees.transform(X)
        # the rows as the trees were grown on them: binned for histogram trees
        self.leaves = trees.leaves(Z, binned=trees.kind == "hist", transformed=True)
        self._indicators = None

    def indicators(self):
        """Per tree (t, k), the (n_leaves, n) sparse leaf-membership matrix."""
        if self._indicators is None:
            n = len(self.y_idx)
            cols = np.arange(n)
            tr = self.trees
            self._indicators = [
                [
                    sparse.csr_matrix(
                        (np.ones(n), (self.leaves[:, t, k], cols)), shape=(tr.n_leaves[t, k], n)
                    )
                    for k in range(tr.n_outputs)
                ]
                for t in range(tr.n_trees)
            ]
        return self._indicators

    def baseline(self, W):
        """Baseline raw scores for weight columns ``W`` (n, B): shape (K, B)."""
        if self.trees.baseline_rule != "prior":  # "zero", or a given base_score ("fixed")
            return np.repeat(self.trees.baseline[:, None], W.shape[1], axis=1)
        return self.trees.prior_link((self.onehot.T @ W) / W.sum(axis=0))

    def newton_step(self, G, D):
        tr = self.trees
        ok = D > 1e-150  # GradientBoostingClassifier's _safe_divide
        return np.where(ok, -tr.learning_rate * tr.newton_factor * G / np.where(ok, D, 1.0), 0.0)

    def forward(self, W):
        """Recompute every leaf with weight columns ``W`` (n, B), structure fixed.

        Returns the baselines (K, B) and the leaf values ``values[t][k]`` of shape
        (n_leaves, B).
        """
        tr = self.trees
        b = self.baseline(W)
        F = np.repeat(b[None], len(self.y_idx), axis=0)  # (n, K, B)
        values = []
        for t, trees in enumerate(self.indicators()):
            P = _probabilities(F)  # every tree of iteration t sees F_t
            row = []
            for k, A in enumerate(trees):
                G = A @ (W * (P[:, k] - self.Y[:, k : k + 1]))
                H = A @ (W * (P[:, k] * (1 - P[:, k])))
                l2 = np.reshape(tr.leaf_l2(t, k), (-1, 1))
                row.append(self.newton_step(G, H + l2 + tr.denominator_eps))
            for k, v in enumerate(row):
                F[:, k] += v[self.leaves[:, t, k]]
            values.append(row)
        return b, values

    def fitted_history(self):
        """Raw training scores before each iteration with the fitted leaf values, (T, n, K),
        and the Newton denominators :math:`H + \\lambda` of every leaf."""
        tr = self.trees
        n = len(self.y_idx)
        F = np.tile(tr.baseline, (n, 1))
        hist = np.empty((tr.n_trees, n, tr.n_outputs))
        denominators = []
        for t in range(tr.n_trees):
            hist[t] = F
            P = _probabilities(F)
            row = []
            for k in range(tr.n_outputs):
                ell = self.leaves[:, t, k]
                H = np.bincount(ell, self.c * P[:, k] * (1 - P[:, k]), minlength=tr.n_leaves[t, k])
                row.append(H + tr.leaf_l2(t, k) + tr.denominator_eps)
            denominators.append(row)
            F = F.copy()
            for k in range(tr.n_outputs):
                F[:, k] += tr.leaf_values[t][k][self.leaves[:, t, k]]
        return hist, denominators

    def check_leaf_values(self, tol):
        """Largest gap between the fitted leaf values and the Newton step recomputed on
        ``(X, y, sample_weight)``, relative to the largest leaf value; ValueError above
        ``tol``."""
        tr = self.trees
        b, values = self.forward(self.c[:, None])
        scale = max(max(float(np.max(np.abs(v))) for row in tr.leaf_values for v in row), 1e-12)
        gap = max(
            float(np.max(np.abs(values[t][k][:, 0] - tr.leaf_values[t][k])))
            for t in range(tr.n_trees)
            for k in range(tr.n_outputs)
        )
        gap = max(gap, float(np.max(np.abs(b[:, 0] - tr.baseline)))) / scale
        if gap > tol:
            raise ValueError(
                f"The fitted leaf values are not the Newton step on (X, y, sample_weight): "
                f"relative gap {gap:.3g} > leaf_value_tol={tol:g}. Pass the exact training data "
                "and sample_weight the model was fitted with (in the same order)."
                + _LIBRARY_HINTS.get(tr.kind, "")
            )
        return gap

    def baseline_jacobian(self):
        """:math:`\\partial b_k / \\partial w_j`, shape (n, K) (clipping ignored)."""
        W = self.c.sum()
        prior = (self.c @ self.onehot) / W
        if self.trees.n_outputs == 1:
            p = prior[1]
            return (self.onehot[:, 1:] - p) / (W * p * (1 - p))
        d = (self.onehot - prior) / (W * prior)
        return d - d.mean(axis=1, keepdims=True) if self.trees.center_log_prior else d


def _first_order(fit, seeds, eval_leaves, propagation):
    """:math:`\\partial f / \\partial t_i` for every training point and objective column of
    ``seeds`` (n_eval, K, m) = :math:`\\partial f / \\partial F_x`, by one reverse pass."""
    tr = fit.trees
    n = len(fit.y_idx)
    K = tr.n_outputs
    m = seeds.shape[2]
    c = fit.c
    kappa = tr.learning_rate * tr.newton_factor
    hist, denominators = fit.fitted_history()
    wbar = np.zeros((n, m))
    Fbar = np.zeros((n, K, m))  # adjoint of the raw training scores after iteration t
    full = propagation == "full"
    for t in range(tr.n_trees - 1, -1, -1):
        P = _probabilities(hist[t])
        g = P - fit.Y
        h = P * (1 - P)
        pbar = np.zeros((n, K, m))
        for k in range(K):
            ell = fit.leaves[:, t, k]
            L = tr.n_leaves[t, k]
            vbar = _leaf_sums(eval_leaves[:, t, k], seeds[:, k], L)
            if full:
                vbar += _leaf_sums(ell, Fbar[:, k], L)
            D = denominators[t][k]
            ok = (D > 1e-150)[:, None]
            Dsafe = np.where(ok[:, 0], D, 1.0)[:, None]
            Gbar = np.where(ok, -kappa * vbar / Dsafe, 0.0)
            Hbar = np.where(ok, -(tr.leaf_values[t][k][:, None] / Dsafe) * vbar, 0.0)
            Gj = Gbar[ell]
            Hj = Hbar[ell]
            wbar += g[:, k, None] * Gj + h[:, k, None] * Hj
            if full:  # through g = p - y and h = p (1 - p)
                pbar[:, k] = c[:, None] * (Gj + (1 - 2 * P[:, k, None]) * Hj)
        if full:
            Fbar += _raw_adjoint(P, pbar)
    if tr.baseline_rule == "prior":
        bbar = seeds.sum(axis=0) + (Fbar.sum(axis=0) if full else 0.0)  # (K, m)
        wbar += fit.baseline_jacobian() @ bbar
    return (c[:, None] * wbar).T  # (m, n): d f / d t_i


def _eval_raw(tr, eval_leaves, b, values):
    """Raw evaluation scores (n_eval, K, B) for baselines (K, B) and leaf values (L, B)."""
    F = np.repeat(b[None], eval_leaves.shape[0], axis=0)
    for t in range(tr.n_trees):
        for k in range(tr.n_outputs):
            F[:, k] += values[t][k][eval_leaves[:, t, k]]
    return F


def _values_without(fit, ctx, eval_leaves, sets):
    """f with the leaves refitted without each set of rows of ``sets``: (m, len(sets)).
    An empty set gives the recomputation with every row (the reference)."""
    out = np.empty((len(ctx.objectives), len(sets)))
    for s in range(0, len(sets), _BATCH):
        batch = sets[s : s + _BATCH]
        W = np.repeat(fit.c[:, None], len(batch), axis=1)
        for k, rows in enumerate(batch):
            W[rows, k] = 0.0
        F = _eval_raw(fit.trees, eval_leaves, *fit.forward(W))
        for k in range(len(batch)):
            out[:, s + k] = ctx.values(_proba(F[:, :, k]))
    return out


def _eval_leaves(fit, X_eval, eval_is_train):
    """Leaves of the evaluation rows; the training rows as they were routed when grown."""
    tr = fit.trees
    raw_routing = tr.kind in ("gbm", "lightgbm", "xgboost")
    return fit.leaves if eval_is_train and raw_routing else tr.leaves(X_eval)


def leaf_refit_without(
    estimator, X, y, sample_weight, ctx, X_eval, removals, *, eval_is_train=False, tol=1e-4
):
    """The objectives with the leaves refitted without each *set* of training rows.

    The set-level counterpart of ``exact=True``: for each set :math:`S` of ``removals``,
    every leaf value of every tree (and the baseline) is recomputed in sequence with the
    weights of :math:`S` set to 0, the structures kept, and ``ctx``'s objectives are
    evaluated (their hard values, as fairlearn computes them) at the resulting probabilities
    on ``X_eval``. Unlike the sum of the points' first-order scores, it sees a hard rate move
    by the evaluation rows that cross the decision threshold, and a gap that is pushed past
    zero grow again. :math:`O(T n)` per set.

    Parameters
    ----------
    estimator : fitted gradient-boosted classifier (or a Pipeline ending in one)
    X, y, sample_weight :
        The data it was fitted on.
    ctx : EvalContext
        The objectives and the evaluation labels and groups.
    X_eval :
        The evaluation rows (``ctx``'s).
    removals : list of array-like of int
        Sets of row positions of ``X``.
    eval_is_train : bool, default=False
        Whether ``X_eval`` is ``X`` (its rows are then routed as they were when grown).
    tol : float, default=1e-4
        As ``leaf_value_tol`` of ``method="tree_influence"``.

    Returns
    -------
    values : ndarray of shape (n_objectives, len(removals))
        The objectives after each removal.
    reference : ndarray of shape (n_objectives,)
        The same recomputation with every row (the fitted model's values up to the float32
        gradients of the histogram trees): compare ``values`` with it.
    """
    fit = _Fit(estimator, X, y, sample_weight)
    fit.check_leaf_values(tol)
    eval_leaves = _eval_leaves(fit, X_eval, eval_is_train)
    n = len(fit.y_idx)
    sets = [check_indices(rows, n) for rows in removals]
    reference = _values_without(fit, ctx, eval_leaves, [[]])[:, 0]
    return _values_without(fit, ctx, eval_leaves, sets), reference


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
    eval_leaves = _eval_leaves(fit, X_eval, eval_is_train)
    P = _proba(tr.raw_predict(eval_leaves))
    info = {
        "structure_update": "fixed",
        "n_trees": tr.n_trees,
        "leaf_value_gap": gap,
    }
    n = len(fit.y_idx)
    if exact:
        rows = np.arange(n) if indices is None else check_indices(indices, n)
        ref = _values_without(fit, ctx, eval_leaves, [[]])[:, 0]

        def run(chunk):
            return _values_without(fit, ctx, eval_leaves, [[i] for i in chunk])

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
    if tr.n_outputs == 1:  # P = (1 - sigma(F), sigma(F))
        slope = (P[:, 1] * P[:, 0])[:, None]
        seeds = [(np.asarray(G)[:, 1:] - np.asarray(G)[:, :1]) * slope for G in grads]
    else:  # softmax: dP_k/dF_l = P_k (delta_kl - P_l)
        seeds = [_raw_adjoint(P, np.asarray(G, dtype=float)[:, :, None])[:, :, 0] for G in grads]
    seeds = np.stack(seeds, axis=2)  # (n_eval, K, m)
    scores = -_first_order(fit, seeds, eval_leaves, propagation)
    info["propagation"] = propagation
    info["exact"] = False
    return scores, values, info

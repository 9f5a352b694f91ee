"""Fitted gradient-boosted trees as arrays: leaf assignments, leaf values, baseline.

A gradient-boosted classifier with the log loss predicts the raw scores

.. math:: F_k(x) = b_k + \\sum_{t=0}^{T-1} v_{t,k,\\ell_{t,k}(x)},

one score (the log-odds, :math:`K = 1`) for a binary target and one per class (:math:`K`
classes, probabilities :math:`\\mathrm{softmax}(F)`) otherwise, where :math:`b` is the
baseline (the link of the weighted class prior), :math:`\\ell_{t,k}(x)` the leaf of tree
*(t, k)* that *x* falls in and :math:`v_{t,k,\\ell}` that leaf's value, learning rate included.
Both scikit-learn estimators fit every leaf with one Newton step on the log loss at the
previous iteration's raw predictions :math:`F_t`:

.. math:: v_{t,k,\\ell} = -\\eta\\, \\kappa\\, \\frac{\\sum_{j \\in \\ell} w_j g_{t,j,k}}
          {\\sum_{j \\in \\ell} w_j h_{t,j,k} + \\lambda},
          \\qquad g_{t,j,k} = p_{t,j,k} - y_{j,k},\\quad h_{t,j,k} = p_{t,j,k}
          (1 - p_{t,j,k}),

with :math:`p` the predicted probabilities (sigmoid, or softmax over the classes), :math:`w_j`
the sample weights, :math:`\\eta` the learning rate, :math:`\\lambda` the L2 regularisation
(``l2_regularization`` of ``HistGradientBoostingClassifier``; 0 for
``GradientBoostingClassifier``, whose ``_update_terminal_regions`` takes exactly this step) and
:math:`\\kappa = 1`, except :math:`(K - 1) / K` for a multiclass ``GradientBoostingClassifier``
(the factor its ``_update_terminal_regions`` keeps from Friedman's paper).

:func:`parse_boosted_trees` reads a fitted ``HistGradientBoostingClassifier`` or
``GradientBoostingClassifier`` (or a ``Pipeline`` ending in one) into a
:class:`BoostedTrees`. Leaf assignments follow each fitted tree's own routing:

* ``GradientBoostingClassifier``: the public ``apply``.
* ``HistGradientBoostingClassifier`` has no public ``apply``. Each fitted predictor
  (``_predictors[t][k]``, a ``TreePredictor`` whose ``nodes`` record array holds the tree) is
  copied with every node's value replaced by its node index, and the copy's own ``predict``
  (raw features: numerical thresholds, missing values, categorical bitsets) or
  ``predict_binned`` (the binned training data the trees were grown on) returns the leaf id.
  These are private attributes of scikit-learn; they are checked on use, and a missing one is a
  TypeError naming the installed scikit-learn version.
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["BoostedTrees", "is_boosted_trees", "parse_boosted_trees"]

_NODE_FIELDS = ("value", "count", "left", "right", "is_leaf")


def _final(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def is_boosted_trees(estimator):
    """Whether ``estimator`` (or a Pipeline's last step) is a gradient-boosted classifier this
    module reads (fitted or not)."""
    return type(_final(estimator)).__name__ in (
        "HistGradientBoostingClassifier",
        "GradientBoostingClassifier",
    )


class BoostedTrees:
    """A fitted gradient-boosted classifier as arrays.

    Attributes
    ----------
    kind : {"hist", "gbm"}
        ``HistGradientBoostingClassifier`` or ``GradientBoostingClassifier``.
    n_trees : int
        Number of boosting iterations *T* (``n_iter_`` / ``n_estimators_``).
    n_outputs : int
        Trees per iteration *K*: 1 for a binary target, else the number of classes.
    n_leaves : ndarray of shape (n_trees, n_outputs)
        Leaves of each tree; leaves are numbered ``0 .. n_leaves[t, k] - 1`` in node order.
    leaf_values : list of list of ndarray
        ``leaf_values[t][k][l]`` is :math:`v_{t,k,l}`, the fitted value of leaf *l* of tree
        *(t, k)* **with the learning rate applied** (its contribution to the raw score).
    baseline : ndarray of shape (n_outputs,)
        :math:`b`, the raw scores before the first tree.
    baseline_rule : {"prior", "zero"}
        ``"prior"``: :math:`b` is the link (logit; centred log for several classes) of the
        weighted class prior, clipped to ``[prior_eps, 1 - prior_eps]`` as scikit-learn clips
        it, and is recomputed when weights change; ``"zero"``: :math:`b = 0`.
    learning_rate, l2_regularization, newton_factor : float
        :math:`\\eta`, :math:`\\lambda` and :math:`\\kappa` of the leaf Newton step.
    denominator_eps : float
        Added to the Newton denominator by the estimator (1e-15 for the histogram trees).
    n_train : int or None
        Rows the trees were grown on (histogram trees; ``None``: every training row).
    classes : ndarray
    """

    def __init__(self, estimator):
        self.estimator = estimator
        model = _final(estimator)
        self.model = model
        name = type(model).__name__
        if name == "HistGradientBoostingClassifier":
            self.kind = "hist"
            self._parse_hist(model)
        elif name == "GradientBoostingClassifier":
            self.kind = "gbm"
            self._parse_gbm(model)
        else:
            raise TypeError(
                "estimator must be a fitted HistGradientBoostingClassifier or "
                "GradientBoostingClassifier (or a Pipeline ending in one), got "
                f"{type(estimator).__name__}"
                + (f" ending in {name}" if isinstance(estimator, Pipeline) else "")
                + "."
            )
        self.n_leaves = np.array(
            [[len(v) for v in values] for values in self.leaf_values], dtype=np.intp
        ).reshape(self.n_trees, self.n_outputs)

    # -- parsing ---------------------------------------------------------------------------

    def _check_classes(self, model):
        self.classes = np.asarray(model.classes_)
        if len(self.classes) < 2:
            raise ValueError(f"{type(model).__name__} was fitted on a single class.")
        self.n_outputs = 1 if len(self.classes) == 2 else len(self.classes)

    def prior_link(self, prior):
        """The baseline for class priors ``prior`` of shape (n_classes, B): shape (K, B)."""
        p = np.clip(prior, self.prior_eps, 1 - self.prior_eps)
        if self.n_outputs == 1:
            return np.log(p[1:]) - np.log1p(-p[1:])
        logp = np.log(p)
        return logp - logp.mean(axis=0, keepdims=True)

    def _parse_hist(self, model):
        check_is_fitted(model)
        version = sklearn.__version__
        missing = [
            a
            for a in ("_predictors", "_baseline_prediction", "_bin_mapper", "_preprocess_X")
            if not hasattr(model, a)
        ]
        if missing:
            raise TypeError(
                f"Cannot read this HistGradientBoostingClassifier with scikit-learn {version}: "
                f"the private attributes {missing} it keeps its trees in are missing. Tree "
                "influence was written for scikit-learn 1.4-1.9."
            )
        self._check_classes(model)
        if getattr(model, "loss", "log_loss") != "log_loss":
            raise ValueError(f"loss must be 'log_loss', got {model.loss!r}.")
        if getattr(model, "monotonic_cst", None) is not None:
            raise ValueError(
                "monotonic_cst is not supported: monotonic constraints clip leaf values, so a "
                "leaf is not the Newton step on its points. Refit without monotonic_cst or use "
                "method='loo'."
            )
        predictors = model._predictors
        K = self.n_outputs
        if not predictors or any(len(p) != K for p in predictors):
            raise TypeError(
                f"Unexpected tree layout in HistGradientBoostingClassifier._predictors "
                f"(scikit-learn {version}): expected {K} tree(s) per iteration."
            )
        for tree in (tree for p in predictors for tree in p):
            names = getattr(getattr(tree, "nodes", None), "dtype", None)
            names = names.names if names is not None else None
            if not names or any(f not in names for f in _NODE_FIELDS):
                raise TypeError(
                    f"Cannot read the nodes of a HistGradientBoostingClassifier tree with "
                    f"scikit-learn {version}: expected a record array with fields "
                    f"{list(_NODE_FIELDS)}."
                )
            for attr in ("predict", "predict_binned", "binned_left_cat_bitsets"):
                if not hasattr(tree, attr):
                    raise TypeError(
                        f"HistGradientBoostingClassifier trees of scikit-learn {version} have "
                        f"no {attr!r}; tree influence cannot route rows through them."
                    )
        self.n_trees = len(predictors)
        self.learning_rate = float(model.learning_rate)
        self.l2_regularization = float(model.l2_regularization)
        self.newton_factor = 1.0
        self.denominator_eps = 1e-15
        # HalfBinomialLoss clips the prior to the open interval by 10 eps, the multinomial by eps
        self.prior_eps = (10 if K == 1 else 1) * np.finfo(np.float64).eps
        self.baseline = np.asarray(model._baseline_prediction, dtype=float).reshape(K)
        self.baseline_rule = "prior"
        self.n_train = int(predictors[0][0].nodes["count"][0])
        self._node_to_leaf = []
        self.leaf_values = []
        self._id_trees = []
        tree_cls = type(predictors[0][0])
        for trees in predictors:
            maps, values, ids = [], [], []
            for tree in trees:
                nodes = tree.nodes
                is_leaf = nodes["is_leaf"].astype(bool)
                leaf_of = np.full(len(nodes), -1, dtype=np.intp)
                leaf_of[is_leaf] = np.arange(int(is_leaf.sum()))
                maps.append(leaf_of)
                values.append(np.asarray(nodes["value"][is_leaf], dtype=float))
                copy = nodes.copy()
                copy["value"] = np.arange(len(nodes), dtype=float)
                ids.append(tree_cls(copy, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets))
            self._node_to_leaf.append(maps)
            self.leaf_values.append(values)
            self._id_trees.append(ids)

    def _parse_gbm(self, model):
        check_is_fitted(model)
        self._check_classes(model)
        K = self.n_outputs
        if model.loss != "log_loss":
            raise ValueError(
                f"loss must be 'log_loss', got {model.loss!r}: only the log loss's Newton leaf "
                "step is modelled."
            )
        if model.subsample < 1.0:
            raise ValueError(
                f"subsample={model.subsample} is not supported: each tree was grown on a random "
                "subsample, so a point is absent from most trees and removing it redraws the "
                "subsamples. Fit with subsample=1.0 or use method='loo'."
            )
        if model.n_iter_no_change is not None:
            raise ValueError(
                f"n_iter_no_change={model.n_iter_no_change} is not supported: the trees were "
                "grown on a random split of the training data (validation_fraction held out). "
                "Fit with n_iter_no_change=None or use method='loo'."
            )
        self.prior_eps = np.finfo(np.float64).eps
        init = model.init_
        if isinstance(init, str) and init == "zero":
            self.baseline = np.zeros(K)
            self.baseline_rule = "zero"
        elif type(init).__name__ == "DummyClassifier" and init.strategy == "prior":
            self.baseline = self.prior_link(np.asarray(init.class_prior_, float)[:, None])[:, 0]
            self.baseline_rule = "prior"
        else:
            raise ValueError(
                f"init={model.init!r} is not supported: the baseline must be the class prior "
                "(init=None) or 'zero'."
            )
        estimators = model.estimators_
        self.n_trees = int(model.n_estimators_)
        self.learning_rate = float(model.learning_rate)
        self.l2_regularization = 0.0
        self.newton_factor = 1.0 if K == 1 else (K - 1) / K
        self.denominator_eps = 0.0
        self.n_train = None  # every training row (subsample=1, no validation split)
        self._node_to_leaf = []
        self.leaf_values = []
        for t in range(self.n_trees):
            maps, values = [], []
            for k in range(K):
                tree = estimators[t, k].tree_
                is_leaf = tree.children_left == -1
                leaf_of = np.full(tree.node_count, -1, dtype=np.intp)
                leaf_of[is_leaf] = np.arange(int(is_leaf.sum()))
                maps.append(leaf_of)
                values.append(
                    self.learning_rate * np.asarray(tree.value[is_leaf, 0, 0], dtype=float)
                )
            self._node_to_leaf.append(maps)
            self.leaf_values.append(values)

    # -- rows ------------------------------------------------------------------------------

    def transform(self, X):
        """``X`` through a Pipeline's preceding steps (unchanged for a bare estimator)."""
        if isinstance(self.estimator, Pipeline):
            return self.estimator[:-1].transform(X)
        return X

    def leaves(self, X, *, binned=False, transformed=False):
        """Leaf of every row in every tree, shape ``(n_rows, n_trees, n_outputs)``.

        Parameters
        ----------
        X : array-like or DataFrame
            Rows as the estimator takes them (through the Pipeline's steps unless
            ``transformed``).
        binned : bool, default=False
            Histogram trees only: route the binned rows (``predict_binned``, how the training
            rows were partitioned while the trees were grown) instead of the raw rows
            (``predict``, what ``decision_function`` does). The two agree on the training rows.
        transformed : bool, default=False
            ``X`` is already the final step's input.
        """
        Z = X if transformed else self.transform(X)
        T, K = self.n_trees, self.n_outputs
        if self.kind == "gbm":
            nodes = np.asarray(self.model.apply(Z), dtype=np.intp).reshape(-1, T, K)
            out = np.empty_like(nodes)
            for t in range(T):
                for k in range(K):
                    out[:, t, k] = self._node_to_leaf[t][k][nodes[:, t, k]]
            return out
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        model = self.model
        Zp = model._preprocess_X(Z, reset=False)
        n_threads = _openmp_effective_n_threads()
        out = np.empty((Zp.shape[0], T, K), dtype=np.intp)
        if binned:
            Zb = model._bin_mapper.transform(Zp)
            missing_bin = model._bin_mapper.missing_values_bin_idx_

            def route(tree):
                return tree.predict_binned(Zb, missing_bin, n_threads)
        else:
            known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()

            def route(tree):
                return tree.predict(Zp, known, f_idx_map, n_threads)

        for t in range(T):
            for k in range(K):
                nodes = route(self._id_trees[t][k]).astype(np.intp)
                out[:, t, k] = self._node_to_leaf[t][k][nodes]
        if np.any(out < 0):
            raise RuntimeError("A row was routed to an internal node; the parsed trees are wrong.")
        return out

    def raw_predict(self, leaves, leaf_values=None, baseline=None):
        """:math:`F_k = b_k + \\sum_t v_{t,k,\\ell_{t,k}}`, shape ``(n_rows, n_outputs)``, for
        leaf assignments ``leaves`` (from :meth:`leaves`), with the fitted values unless
        ``leaf_values`` / ``baseline`` are given."""
        values = self.leaf_values if leaf_values is None else leaf_values
        b = self.baseline if baseline is None else np.asarray(baseline, dtype=float)
        F = np.tile(b.reshape(1, -1), (leaves.shape[0], 1))
        for t in range(self.n_trees):
            for k in range(self.n_outputs):
                F[:, k] += values[t][k][leaves[:, t, k]]
        return F

    def decision(self, leaves):
        """What ``decision_function`` returns: :meth:`raw_predict`, raveled when binary."""
        F = self.raw_predict(leaves)
        return F[:, 0] if self.n_outputs == 1 else F

    def training_weights(self, y_idx, sample_weight):
        """The per-row weights the trees were fitted with: ``sample_weight`` times the
        histogram classifier's ``class_weight`` (held fixed when a point is removed)."""
        n = len(y_idx)
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        cw = getattr(self.model, "class_weight", None)
        if self.kind == "hist" and cw is not None:
            from sklearn.utils.class_weight import compute_sample_weight

            w = w * compute_sample_weight(cw, y_idx.astype(float))
        return w


def parse_boosted_trees(estimator):
    """Read a fitted ``HistGradientBoostingClassifier`` / ``GradientBoostingClassifier`` (or a
    Pipeline ending in one) into a :class:`BoostedTrees`.

    Raises
    ------
    TypeError
        For another estimator, or a scikit-learn version whose private tree layout differs.
    ValueError
        For settings whose leaves are not one Newton step on all the training rows:
        ``subsample < 1``, ``n_iter_no_change``, a custom ``init``, monotonic constraints,
        another loss.
    """
    return BoostedTrees(estimator)

"""Fitted gradient-boosted trees as arrays: leaf assignments, leaf values, baseline.

A binary gradient-boosted classifier with the log loss predicts the raw score (log-odds)

.. math:: F(x) = b + \\sum_{t=0}^{T-1} v_{t,\\ell_t(x)},

where :math:`b` is the baseline (the log-odds of the weighted class prior), :math:`\\ell_t(x)`
the leaf of tree *t* that *x* falls in and :math:`v_{t,\\ell}` that leaf's value, learning rate
included. Both scikit-learn estimators fit every leaf with one Newton step on the log loss at the
previous raw predictions :math:`F_t`:

.. math:: v_{t,\\ell} = -\\eta\\, \\frac{\\sum_{j \\in \\ell} w_j g_{t,j}}
          {\\sum_{j \\in \\ell} w_j h_{t,j} + \\lambda},
          \\qquad g_{t,j} = \\sigma(F_{t,j}) - y_j,\\quad h_{t,j} = \\sigma(F_{t,j})
          (1 - \\sigma(F_{t,j})),

with :math:`w_j` the sample weights, :math:`\\eta` the learning rate and :math:`\\lambda` the
L2 regularisation (``l2_regularization`` of ``HistGradientBoostingClassifier``; 0 for
``GradientBoostingClassifier``, whose ``_update_terminal_regions`` takes exactly this step).

:func:`parse_boosted_trees` reads a fitted ``HistGradientBoostingClassifier`` or
``GradientBoostingClassifier`` (or a ``Pipeline`` ending in one) into a
:class:`BoostedTrees`. Leaf assignments follow each fitted tree's own routing:

* ``GradientBoostingClassifier``: the public ``apply``.
* ``HistGradientBoostingClassifier`` has no public ``apply``. Each fitted predictor
  (``_predictors[t][0]``, a ``TreePredictor`` whose ``nodes`` record array holds the tree) is
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


def _logit(p):
    return float(np.log(p) - np.log1p(-p))


class BoostedTrees:
    """A fitted binary gradient-boosted classifier as arrays.

    Attributes
    ----------
    kind : {"hist", "gbm"}
        ``HistGradientBoostingClassifier`` or ``GradientBoostingClassifier``.
    n_trees : int
        Number of boosting iterations (``n_iter_`` / ``n_estimators_``).
    n_leaves : ndarray of shape (n_trees,)
        Leaves of each tree; leaves are numbered ``0 .. n_leaves[t] - 1`` in node order.
    leaf_values : list of ndarray
        ``leaf_values[t][l]`` is :math:`v_{t,l}`, the fitted value of leaf *l* of tree *t*
        **with the learning rate applied** (its contribution to the raw score).
    baseline : float
        :math:`b`, the raw score before the first tree.
    baseline_rule : {"prior", "zero"}
        ``"prior"``: :math:`b = \\mathrm{logit}(\\sum_j w_j y_j / \\sum_j w_j)` (clipped as
        scikit-learn clips it), recomputed when weights change; ``"zero"``: :math:`b = 0`.
    learning_rate, l2_regularization : float
        :math:`\\eta` and :math:`\\lambda` of the leaf Newton step.
    denominator_eps : float
        Added to the Newton denominator by the estimator (1e-15 for the histogram trees).
    n_train : int
        Rows the trees were grown on.
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
        self.n_leaves = np.array([len(v) for v in self.leaf_values], dtype=np.intp)

    # -- parsing ---------------------------------------------------------------------------

    def _check_binary(self, model):
        self.classes = np.asarray(model.classes_)
        if len(self.classes) != 2:
            raise ValueError(
                f"tree influence supports binary classifiers only; {type(model).__name__} was "
                f"fitted on {len(self.classes)} classes {self.classes.tolist()[:10]}. Use "
                "method='loo' for a multiclass model."
            )

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
        self._check_binary(model)
        if getattr(model, "loss", "log_loss") != "log_loss":
            raise ValueError(f"loss must be 'log_loss', got {model.loss!r}.")
        if getattr(model, "monotonic_cst", None) is not None:
            raise ValueError(
                "monotonic_cst is not supported: monotonic constraints clip leaf values, so a "
                "leaf is not the Newton step on its points. Refit without monotonic_cst or use "
                "method='loo'."
            )
        predictors = model._predictors
        if not predictors or any(len(p) != 1 for p in predictors):
            raise TypeError(
                f"Unexpected tree layout in HistGradientBoostingClassifier._predictors "
                f"(scikit-learn {version}): expected one tree per iteration for a binary model."
            )
        trees = [p[0] for p in predictors]
        for tree in trees:
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
        self._trees = trees
        self.n_trees = len(trees)
        self.learning_rate = float(model.learning_rate)
        self.l2_regularization = float(model.l2_regularization)
        self.denominator_eps = 1e-15
        self.baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        self.baseline_rule = "prior"
        self.n_train = int(trees[0].nodes["count"][0])
        self._node_to_leaf = []
        self.leaf_values = []
        self._id_trees = []
        tree_cls = type(trees[0])
        for tree in trees:
            nodes = tree.nodes
            is_leaf = nodes["is_leaf"].astype(bool)
            leaf_of = np.full(len(nodes), -1, dtype=np.intp)
            leaf_of[is_leaf] = np.arange(int(is_leaf.sum()))
            self._node_to_leaf.append(leaf_of)
            self.leaf_values.append(np.asarray(nodes["value"][is_leaf], dtype=float))
            ids = nodes.copy()
            ids["value"] = np.arange(len(nodes), dtype=float)
            self._id_trees.append(
                tree_cls(ids, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets)
            )

    def _parse_gbm(self, model):
        check_is_fitted(model)
        self._check_binary(model)
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
        init = model.init_
        if isinstance(init, str) and init == "zero":
            self.baseline = 0.0
            self.baseline_rule = "zero"
        elif type(init).__name__ == "DummyClassifier" and init.strategy == "prior":
            eps = np.finfo(np.float64).eps
            self.baseline = _logit(np.clip(init.class_prior_[1], eps, 1 - eps))
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
        self.denominator_eps = 0.0
        self.n_train = None  # every training row (subsample=1, no validation split)
        self._node_to_leaf = []
        self.leaf_values = []
        for t in range(self.n_trees):
            tree = estimators[t, 0].tree_
            is_leaf = tree.children_left == -1
            leaf_of = np.full(tree.node_count, -1, dtype=np.intp)
            leaf_of[is_leaf] = np.arange(int(is_leaf.sum()))
            self._node_to_leaf.append(leaf_of)
            self.leaf_values.append(
                self.learning_rate * np.asarray(tree.value[is_leaf, 0, 0], dtype=float)
            )

    # -- rows ------------------------------------------------------------------------------

    def transform(self, X):
        """``X`` through a Pipeline's preceding steps (unchanged for a bare estimator)."""
        if isinstance(self.estimator, Pipeline):
            return self.estimator[:-1].transform(X)
        return X

    def leaves(self, X, *, binned=False, transformed=False):
        """Leaf of every row in every tree, shape ``(n_rows, n_trees)``.

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
        if self.kind == "gbm":
            nodes = np.asarray(self.model.apply(Z), dtype=np.intp)[:, :, 0]
            out = np.empty_like(nodes)
            for t in range(self.n_trees):
                out[:, t] = self._node_to_leaf[t][nodes[:, t]]
            return out
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        model = self.model
        Zp = model._preprocess_X(Z, reset=False)
        n_threads = _openmp_effective_n_threads()
        out = np.empty((Zp.shape[0], self.n_trees), dtype=np.intp)
        if binned:
            Zb = model._bin_mapper.transform(Zp)
            missing_bin = model._bin_mapper.missing_values_bin_idx_
            for t, tree in enumerate(self._id_trees):
                nodes = tree.predict_binned(Zb, missing_bin, n_threads).astype(np.intp)
                out[:, t] = self._node_to_leaf[t][nodes]
        else:
            known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
            for t, tree in enumerate(self._id_trees):
                nodes = tree.predict(Zp, known, f_idx_map, n_threads).astype(np.intp)
                out[:, t] = self._node_to_leaf[t][nodes]
        if np.any(out < 0):
            raise RuntimeError("A row was routed to an internal node; the parsed trees are wrong.")
        return out

    def raw_predict(self, leaves, leaf_values=None, baseline=None):
        """:math:`F = b + \\sum_t v_{t, \\ell_t}` for leaf assignments ``leaves`` (from
        :meth:`leaves`), with the fitted values unless ``leaf_values`` / ``baseline`` are
        given."""
        values = self.leaf_values if leaf_values is None else leaf_values
        F = np.full(leaves.shape[0], self.baseline if baseline is None else baseline, dtype=float)
        for t in range(self.n_trees):
            F += values[t][leaves[:, t]]
        return F

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
    """Read a fitted binary ``HistGradientBoostingClassifier`` / ``GradientBoostingClassifier``
    (or a Pipeline ending in one) into a :class:`BoostedTrees`.

    Raises
    ------
    TypeError
        For another estimator, or a scikit-learn version whose private tree layout differs.
    ValueError
        For settings whose leaves are not one Newton step on all the training rows: multiclass
        targets, ``subsample < 1``, ``n_iter_no_change``, a custom ``init``, monotonic
        constraints, another loss.
    """
    return BoostedTrees(estimator)

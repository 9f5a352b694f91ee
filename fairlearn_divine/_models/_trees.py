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

``lightgbm.LGBMClassifier`` and ``xgboost.XGBClassifier`` (optional; imported only when the
estimator is one of theirs) are read through their public dumps only:

* LightGBM: leaves from ``booster_.predict(X, pred_leaf=True)``, leaf values from
  ``booster_.dump_model()``, the resolved parameters from the ``parameters:`` section of
  ``booster_.model_to_string()`` (aliases resolved by LightGBM itself). Its leaf is
  :math:`-\\eta G / (H + \\lambda_2)`, with ``cat_l2`` added to :math:`\\lambda_2` for the two
  leaves of a many-vs-many categorical split (more bins than ``max_cat_to_onehot``); the
  multiclass Hessian is :math:`\\frac{K}{K-1} p (1 - p)`, so :math:`\\kappa = (K-1)/K` and
  :math:`\\lambda = \\kappa \\lambda_2`. ``boost_from_average`` adds the baseline (logit of the
  weighted prior; for several classes the uncentred log prior, floored at 1e-15) to the first
  iteration's leaves; :meth:`BoostedTrees.bind_training` takes it out again from the training
  labels and weights.
* XGBoost: leaves from ``apply`` (``pred_leaf``), leaf values from
  ``get_booster().get_dump(dump_format="json")``, parameters and ``base_score`` from
  ``get_booster().save_config()``. Its leaf is :math:`-\\eta G / (H + \\lambda)`; the softmax
  Hessian is :math:`2 p (1 - p)`, so :math:`\\kappa = 1/2` and :math:`\\lambda / 2`. The
  baseline is the logit of ``base_score`` (binary) or ``base_score`` itself (one per class),
  the link of the weighted prior when XGBoost estimated it (``boost_from_average``), else
  fixed.

Settings whose leaves are not that Newton step on all the rows are refused with a ValueError
naming the setting (LightGBM: ``boosting`` other than ``"gbdt"``, GOSS, bagging, L1,
``max_delta_step``, ``path_smooth``, ``linear_tree``, monotone constraints, quantized
gradients, ``is_unbalance`` / ``scale_pos_weight``; XGBoost: ``booster`` other than
``"gbtree"``, ``num_parallel_tree > 1``, ``subsample < 1``, L1, ``max_delta_step``, monotone
constraints, ``scale_pos_weight``, vector-leaf trees). Column sampling, ``min_child_weight``,
``min_child_samples``, ``gamma`` and the like only shape the trees and are accepted.
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["BoostedTrees", "is_boosted_trees", "parse_boosted_trees"]

_NODE_FIELDS = ("value", "count", "left", "right", "is_leaf")
_LGB_EPS = float(np.float32(1e-15))  # LightGBM's kEpsilon


def _lightgbm_parameters(model_string):
    """The resolved parameters LightGBM writes at the end of its model string
    (``[name: value]`` lines between ``parameters:`` and ``end of parameters``)."""
    start = model_string.rfind("\nparameters:\n")
    end = model_string.find("end of parameters", start)
    if start < 0 or end < 0:
        raise TypeError("LightGBM model string has no parameters section.")
    params = {}
    for line in model_string[start:end].splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]") and ": " in line:
            key, value = line[1:-1].split(": ", 1)
            params[key] = value.strip()
    return params


def _final(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _library(model):
    """``"lightgbm"`` / ``"xgboost"`` for their scikit-learn classifiers, else None. The
    library is imported only when ``model`` comes from it."""
    root = type(model).__module__.split(".")[0]
    if root == "lightgbm":
        import lightgbm

        return "lightgbm" if isinstance(model, lightgbm.LGBMClassifier) else None
    if root == "xgboost":
        import xgboost

        return "xgboost" if isinstance(model, xgboost.XGBClassifier) else None
    return None


def _major_version(version):
    """The major version number of a ``__version__`` string (``"2.1.4"`` -> 2)."""
    head = str(version).split(".")[0]
    return int(head) if head.isdigit() else 0


def is_boosted_trees(estimator):
    """Whether ``estimator`` (or a Pipeline's last step) is a gradient-boosted classifier this
    module reads (fitted or not): scikit-learn's two, ``lightgbm.LGBMClassifier`` or
    ``xgboost.XGBClassifier``."""
    model = _final(estimator)
    return (
        type(model).__name__ in ("HistGradientBoostingClassifier", "GradientBoostingClassifier")
        or _library(model) is not None
    )


class BoostedTrees:
    """A fitted gradient-boosted classifier as arrays.

    Attributes
    ----------
    kind : {"hist", "gbm", "lightgbm", "xgboost"}
        ``HistGradientBoostingClassifier``, ``GradientBoostingClassifier``,
        ``LGBMClassifier`` or ``XGBClassifier``.
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
    baseline_rule : {"prior", "zero", "fixed"}
        ``"prior"``: :math:`b` is the link (logit; centred log for several classes, uncentred
        for LightGBM, ``center_log_prior``) of the weighted class prior, clipped to
        ``[prior_eps, 1 - prior_eps]`` as the library clips it, and is recomputed when weights
        change; ``"zero"``: :math:`b = 0`; ``"fixed"``: a given XGBoost ``base_score``.
    learning_rate, l2_regularization, newton_factor : float
        :math:`\\eta`, :math:`\\lambda` and :math:`\\kappa` of the leaf Newton step.
    denominator_eps : float
        Added to the Newton denominator by the estimator (1e-15 for the histogram trees).
    n_train : int or None
        Rows the trees were grown on (histogram trees; ``None``: every training row).
    classes : ndarray
    center_log_prior : bool
        Whether the multiclass prior baseline is centred (scikit-learn, XGBoost) or the plain
        log prior (LightGBM).
    min_child_weight : float
        LightGBM / XGBoost only: the smallest Hessian sum of a leaf (shapes the trees; read
        for the record).
    """

    def __init__(self, estimator):
        self.estimator = estimator
        model = _final(estimator)
        self.model = model
        name = type(model).__name__
        self.center_log_prior = True
        self._leaf_l2 = None
        self._folded = None
        library = _library(model)
        if name == "HistGradientBoostingClassifier":
            self.kind = "hist"
            self._parse_hist(model)
        elif name == "GradientBoostingClassifier":
            self.kind = "gbm"
            self._parse_gbm(model)
        elif library == "lightgbm":
            self.kind = "lightgbm"
            self._parse_lightgbm(model)
        elif library == "xgboost":
            self.kind = "xgboost"
            self._parse_xgboost(model)
        else:
            raise TypeError(
                "estimator must be a fitted HistGradientBoostingClassifier or "
                "GradientBoostingClassifier (scikit-learn), lightgbm.LGBMClassifier or "
                "xgboost.XGBClassifier (or a Pipeline ending in one), got "
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
        if not self.center_log_prior:  # LightGBM: log of the prior, not centred
            return logp
        return logp - logp.mean(axis=0, keepdims=True)

    def leaf_l2(self, t, k):
        """The L2 term of every leaf's Newton denominator in tree *(t, k)*: the scalar
        :attr:`l2_regularization`, or an array over the leaves (LightGBM adds ``cat_l2`` to
        the leaves of many-vs-many categorical splits)."""
        if self._leaf_l2 is None:
            return self.l2_regularization
        return self._leaf_l2[t][k]

    def bind_training(self, onehot, weights):
        """Fix the baseline from the training labels ``onehot`` (n, n_classes) and fitted
        weights: LightGBM adds its ``boost_from_average`` baseline to the first iteration's
        leaves, so the baseline is the weighted class prior's link and the first trees'
        own values are the dumped ones minus it (checked by the Newton-step check)."""
        if self._folded is None:
            return
        W = np.asarray(weights, dtype=float)[:, None]
        b = self.prior_link((onehot.T @ W) / W.sum())[:, 0]
        b = np.where(np.abs(b) > _LGB_EPS, b, 0.0)  # LightGBM adds no bias below kEpsilon
        self.baseline = b
        for k in range(self.n_outputs):
            self.leaf_values[0][k] = self._folded[k] - b[k]

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

    # -- LightGBM and XGBoost: public dumps --------------------------------------------------

    def _refuse(self, library, setting, why):
        raise ValueError(
            f"{library} {setting} is not supported by tree influence: {why} Refit without it "
            "or use method='loo'."
        )

    def _parse_lightgbm(self, model):
        import lightgbm

        check_is_fitted(model)
        booster = model.booster_
        params = _lightgbm_parameters(booster.model_to_string())
        version = lightgbm.__version__
        self._check_classes(model)
        K = self.n_outputs

        def num(key, default=0.0):
            return float(params.get(key, default))

        lib = "LightGBM"
        if params.get("boosting", "gbdt") != "gbdt":
            self._refuse(
                lib,
                f"boosting={params['boosting']!r}",
                "only 'gbdt' fits every tree on all the rows with undropped earlier trees "
                "(dart drops and rescales trees, rf averages bagged trees).",
            )
        if params.get("data_sample_strategy", "bagging") == "goss":
            self._refuse(
                lib,
                "data_sample_strategy='goss'",
                "GOSS grows every tree on a gradient-dependent subsample with reweighted rows.",
            )
        fractions = {
            key: num(key, 1.0)
            for key in ("bagging_fraction", "pos_bagging_fraction", "neg_bagging_fraction")
        }
        small = {key: v for key, v in fractions.items() if v < 1.0}
        if small and num("bagging_freq") > 0:
            setting = ", ".join(f"{key}={v:g}" for key, v in small.items())
            self._refuse(
                lib,
                f"bagging ({setting} with bagging_freq={int(num('bagging_freq'))}; "
                "subsample / subsample_freq in LGBMClassifier)",
                "each tree was grown on a random subsample of the rows.",
            )
        for key, why in (
            ("lambda_l1", "L1 (reg_alpha) soft-thresholds the leaf gradient sums."),
            ("max_delta_step", "it clips the leaf values."),
            ("path_smooth", "it shrinks every leaf value towards its parent's."),
        ):
            if num(key) != 0:
                self._refuse(lib, f"{key}={num(key):g}", why)
        if num("linear_tree") != 0:
            self._refuse(lib, "linear_tree=True", "its leaves are linear models.")
        if num("use_quantized_grad") != 0:
            self._refuse(lib, "use_quantized_grad=True", "leaves fit quantized gradients.")
        mono = [c for c in params.get("monotone_constraints", "").split(",") if c.strip()]
        if any(float(c) != 0 for c in mono):
            self._refuse(lib, "monotone_constraints", "monotone constraints clip leaf values.")
        objective = params.get("objective", "")
        expected = "binary" if K == 1 else "multiclass"
        if objective != expected:
            self._refuse(
                lib,
                f"objective={objective!r}",
                f"only the log loss ({expected!r}) is modelled for {len(self.classes)} classes.",
            )
        if K == 1:
            if num("sigmoid", 1.0) != 1.0:
                self._refuse(lib, f"sigmoid={num('sigmoid'):g}", "the link must be sigmoid(F).")
            if num("is_unbalance") != 0 or num("scale_pos_weight", 1.0) != 1.0:
                self._refuse(
                    lib,
                    "is_unbalance / scale_pos_weight",
                    "the label weights are not read; pass class_weight instead.",
                )
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", K) != K or dump.get("average_output", False):
            raise TypeError(
                f"Unexpected LightGBM model layout (lightgbm {version}): expected {K} tree(s) "
                "per iteration and summed outputs."
            )
        best = int(getattr(booster, "best_iteration", 0) or 0)
        self.n_trees = best if best > 0 else int(booster.current_iteration())
        self._num_iteration = self.n_trees
        self.learning_rate = num("learning_rate", 0.1)
        self.min_child_weight = num("min_sum_hessian_in_leaf", 1e-3)
        # multiclass: LightGBM's Hessian is K/(K-1) p (1 - p); its step -G/(K/(K-1) H + l2) is
        # the step on p (1 - p) with the factor (K-1)/K and l2 (K-1)/K
        self.newton_factor = 1.0 if K == 1 else (K - 1) / K
        self.l2_regularization = num("lambda_l2") * self.newton_factor
        cat_l2 = num("cat_l2", 10.0) * self.newton_factor
        self.denominator_eps = 0.0
        self.n_train = None
        self.prior_eps = _LGB_EPS
        self.center_log_prior = False
        # many-vs-many categorical splits (more bins than max_cat_to_onehot) add cat_l2
        infos = dump.get("feature_infos", {})
        names = dump.get("feature_names", [])
        onehot_max = num("max_cat_to_onehot", 4)
        many = {
            i
            for i, name in enumerate(names)
            if len(infos.get(name, {}).get("values", [])) > onehot_max
        }
        info = dump["tree_info"]
        if len(info) < self.n_trees * K:
            raise TypeError(f"LightGBM dump has {len(info)} trees, expected {self.n_trees * K}.")
        self.leaf_values, self._leaf_l2 = [], []
        for t in range(self.n_trees):
            values, l2s = [], []
            for k in range(K):
                tree = info[t * K + k]
                n_leaves = int(tree["num_leaves"])
                v = np.zeros(n_leaves)
                l2 = np.full(n_leaves, self.l2_regularization)
                stack = [(tree["tree_structure"], None)]
                while stack:
                    node, parent = stack.pop()
                    if "leaf_value" in node:
                        leaf = int(node.get("leaf_index", 0))
                        v[leaf] = float(node["leaf_value"])
                        if (
                            parent is not None
                            and parent["decision_type"] == "=="
                            and int(parent["split_feature"]) in many
                        ):
                            l2[leaf] += cat_l2
                    else:
                        stack.append((node["left_child"], node))
                        stack.append((node["right_child"], node))
                values.append(v)
                l2s.append(l2)
            self.leaf_values.append(values)
            self._leaf_l2.append(l2s)
        self.baseline = np.zeros(K)
        if num("boost_from_average", 1.0) != 0:
            # the baseline is folded into the first iteration's leaves (bind_training)
            self.baseline_rule = "prior"
            self._folded = [v.copy() for v in self.leaf_values[0]]
        else:
            self.baseline_rule = "zero"

    def _parse_xgboost(self, model):
        import json

        import xgboost

        check_is_fitted(model)
        booster = model.get_booster()
        version = xgboost.__version__
        self._check_classes(model)
        K = self.n_outputs
        lib = "XGBoost"
        config = json.loads(booster.save_config())
        learner = config["learner"]
        gb = learner["gradient_booster"]
        if gb.get("name") != "gbtree":
            self._refuse(
                lib,
                f"booster={gb.get('name')!r}",
                "only booster='gbtree' (undropped trees; dart drops and rescales them, "
                "gblinear has no trees).",
            )
        ntree = int(gb.get("gbtree_model_param", {}).get("num_parallel_tree", "1"))
        if ntree != 1:
            self._refuse(lib, f"num_parallel_tree={ntree}", "a forest per iteration.")
        if (model.get_params().get("multi_strategy") or "one_output_per_tree") != (
            "one_output_per_tree"
        ):
            self._refuse(lib, "multi_strategy='multi_output_tree'", "vector-leaf trees.")
        tp = gb.get("tree_train_param", {})

        def num(key, default=0.0):
            return float(tp.get(key, default))

        if num("subsample", 1.0) < 1.0:
            self._refuse(
                lib,
                f"subsample={num('subsample', 1.0):g}",
                "each tree was grown on a random subsample of the rows.",
            )
        for key, name, why in (
            ("alpha", "reg_alpha", "L1 soft-thresholds the leaf gradient sums."),
            ("max_delta_step", "max_delta_step", "it clips the leaf values."),
        ):
            if num(key) != 0:
                self._refuse(lib, f"{name}={num(key):g}", why)
        mono = tp.get("monotone_constraints", "()").strip("()")
        if any(float(c) != 0 for c in mono.split(",") if c.strip()):
            self._refuse(lib, "monotone_constraints", "monotone constraints clip leaf values.")
        objective = learner["objective"]["name"]
        allowed = ("binary:logistic",) if K == 1 else ("multi:softprob", "multi:softmax")
        if objective not in allowed:
            self._refuse(
                lib,
                f"objective={objective!r}",
                f"only the log loss ({' or '.join(allowed)}) is modelled.",
            )
        spw = float(learner["objective"].get("reg_loss_param", {}).get("scale_pos_weight", 1))
        if spw != 1.0:
            self._refuse(lib, f"scale_pos_weight={spw:g}", "label weights are not read.")
        mp = learner["learner_model_param"]
        base = np.array([float(b) for b in mp["base_score"].strip("[]").split(",")], dtype=float)
        try:
            best = int(model.best_iteration)
        except AttributeError:
            best = None
        rounds = booster.num_boosted_rounds()
        self.n_trees = rounds if best is None else min(best + 1, rounds)
        self.learning_rate = num("eta", 0.3)
        self.min_child_weight = num("min_child_weight", 1.0)
        # XGBoost's softmax Hessian is 2 p (1 - p): the factor 1/2 and l2 / 2
        self.newton_factor = 1.0 if K == 1 else 0.5
        self.l2_regularization = num("lambda", 1.0) * self.newton_factor
        self.denominator_eps = 0.0
        self.n_train = None
        self.prior_eps = np.finfo(np.float64).eps
        if K == 1:
            if base.size != 1:
                raise TypeError(f"Unexpected XGBoost base_score {mp['base_score']!r}.")
            self.baseline = np.log(base) - np.log1p(-base)  # base_score is a probability
        else:
            self.baseline = base if base.size == K else np.full(K, float(base[0]))
        self.baseline_rule = "prior" if mp.get("boost_from_average", "1") == "1" else "fixed"
        if model.get_params().get("base_score") is not None:
            self.baseline_rule = "fixed"
        elif self.baseline_rule == "prior" and _major_version(version) < 3:
            # XGBoost 3 estimates base_score as the weighted label mean (the prior modelled
            # here); 2.x by another rule (and not at all for softmax)
            self._refuse(
                lib,
                f"an estimated base_score (XGBoost {version})",
                "XGBoost before 3.0 estimates base_score by a rule that is not modelled; set "
                "base_score explicitly (e.g. base_score=0.5, held fixed when a point is "
                "removed) or use xgboost>=3.",
            )
        dumps = booster.get_dump(dump_format="json")
        if len(dumps) < self.n_trees * K:
            raise TypeError(
                f"XGBoost dump has {len(dumps)} trees, expected {self.n_trees * K} "
                f"(xgboost {version})."
            )
        self.leaf_values, self._node_to_leaf = [], []
        for t in range(self.n_trees):
            values, maps = [], []
            for k in range(K):
                tree = json.loads(dumps[t * K + k])
                leaves, n_nodes, stack = [], 0, [tree]
                while stack:
                    node = stack.pop()
                    n_nodes = max(n_nodes, int(node["nodeid"]) + 1)
                    if "leaf" in node:
                        leaves.append((int(node["nodeid"]), float(node["leaf"])))
                    else:
                        stack.extend(node["children"])
                leaves.sort()
                leaf_of = np.full(n_nodes, -1, dtype=np.intp)
                leaf_of[[i for i, _ in leaves]] = np.arange(len(leaves))
                maps.append(leaf_of)
                values.append(np.array([v for _, v in leaves], dtype=float))
            self.leaf_values.append(values)
            self._node_to_leaf.append(maps)

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
        if self.kind == "lightgbm":
            out = self.model.booster_.predict(Z, pred_leaf=True, num_iteration=T)
            return np.asarray(out, dtype=np.intp).reshape(-1, T, K)
        if self.kind == "xgboost":
            import xgboost

            # what XGBClassifier.apply does, with the categorical flag passed on (the apply
            # of XGBoost 2.x drops it and refuses pandas categories)
            data = xgboost.DMatrix(
                Z,
                missing=self.model.missing,
                feature_types=self.model.feature_types,
                enable_categorical=bool(self.model.enable_categorical),
            )
            leaves = self.model.get_booster().predict(data, pred_leaf=True, iteration_range=(0, T))
            nodes = np.asarray(leaves, dtype=np.intp)
            nodes = nodes.reshape(-1, T, K)
            out = np.empty_like(nodes)
            for t in range(T):
                for k in range(K):
                    out[:, t, k] = self._node_to_leaf[t][k][nodes[:, t, k]]
            if np.any(out < 0):
                raise RuntimeError("XGBoost routed a row to an internal node of its dump.")
            return out
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
        if self.kind in ("hist", "lightgbm") and cw is not None:
            from sklearn.utils.class_weight import compute_sample_weight

            labels = y_idx.astype(float) if self.kind == "hist" else self.classes[y_idx]
            w = w * compute_sample_weight(cw, labels)
        return w

    def raw_margin(self, X, *, transformed=False):
        """The library's own raw scores (``decision_function``; LightGBM
        ``predict(raw_score=True)``; XGBoost ``predict(output_margin=True)``), shape
        ``(n_rows, n_outputs)``, for checks against :meth:`raw_predict`."""
        Z = X if transformed else self.transform(X)
        if self.kind == "lightgbm":
            F = self.model.predict(Z, raw_score=True, num_iteration=self.n_trees)
        elif self.kind == "xgboost":
            F = self.model.predict(Z, output_margin=True, iteration_range=(0, self.n_trees))
        else:
            F = self.model.decision_function(Z)
        return np.asarray(F, dtype=float).reshape(-1, self.n_outputs)


def parse_boosted_trees(estimator):
    """Read a fitted ``HistGradientBoostingClassifier`` / ``GradientBoostingClassifier``,
    ``lightgbm.LGBMClassifier`` or ``xgboost.XGBClassifier`` (or a Pipeline ending in one) into
    a :class:`BoostedTrees`.

    Raises
    ------
    TypeError
        For another estimator, or a scikit-learn version whose private tree layout differs.
    ValueError
        For settings whose leaves are not one Newton step on all the training rows:
        ``subsample < 1``, ``n_iter_no_change``, a custom ``init``, monotonic constraints,
        another loss; for LightGBM and XGBoost see the module docstring.
    """
    return BoostedTrees(estimator)

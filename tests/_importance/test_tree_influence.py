"""Fixed-structure influence for gradient-boosted trees (method="tree_influence")."""

import numpy as np
import pandas as pd
import pytest
from _tree_removal import compas_split, top_vs_random_removal
from scipy.special import expit, logit, softmax
from scipy.stats import spearmanr
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from fairlearn_divine import training_point_importance
from fairlearn_divine._models._trees import parse_boosted_trees


@pytest.fixture(autouse=True)
def _one_thread():
    """The histogram trees' OpenMP threads only contend on the shared test machine."""
    with threadpool_limits(1):
        yield


def _data(n=500, seed=0, nan=True):
    X, y = make_classification(n, 6, n_informative=4, flip_y=0.1, random_state=seed, class_sep=0.8)
    if nan:
        X[::7, 2] = np.nan
    return X, y


def _hgb(**kw):
    params = dict(max_iter=10, max_depth=2, min_samples_leaf=5, random_state=0)
    params.update(kw)
    return HistGradientBoostingClassifier(**params)


def _gbm(**kw):
    params = dict(n_estimators=10, max_depth=2, random_state=0)
    params.update(kw)
    return GradientBoostingClassifier(**params)


def _naive_leaf_refit(trees, leaves, y, w):
    """Every leaf recomputed by hand, tree after tree, with weights w (structure fixed)."""
    K = trees.n_outputs
    Y = (y[:, None] == np.arange(max(K, 2))[None, :]).astype(float)
    prior = np.clip(Y.T @ w / np.sum(w), trees.prior_eps, 1 - trees.prior_eps)
    if K == 1:  # one raw score, the log-odds of class 1
        Y = Y[:, 1:]
        b = np.array([logit(prior[1])])
    else:  # one per class, centred log prior
        b = np.log(prior) - np.mean(np.log(prior))
    if trees.baseline_rule == "zero":
        b = np.zeros(K)
    F = np.tile(b, (len(y), 1))
    values = []
    for t in range(trees.n_trees):
        P = expit(F) if K == 1 else softmax(F, axis=1)
        row = []
        for k in range(K):
            v = np.zeros(trees.n_leaves[t, k])
            for leaf in range(trees.n_leaves[t, k]):
                rows = np.flatnonzero(leaves[:, t, k] == leaf)
                p = P[rows, k]
                G = np.sum(w[rows] * (p - Y[rows, k]))
                H = np.sum(w[rows] * p * (1 - p))
                v[leaf] = (
                    -trees.learning_rate
                    * trees.newton_factor
                    * G
                    / (H + trees.l2_regularization + trees.denominator_eps)
                )
            row.append(v)
        for k in range(K):
            F[:, k] += row[k][leaves[:, t, k]]
        values.append(row)
    return b, values


def _eval_log_loss(trees, eval_leaves, y_eval, b, values):
    F = trees.raw_predict(eval_leaves, values, b)
    P = expit(F[:, 0]) if trees.n_outputs == 1 else softmax(F, axis=1)
    return log_loss(y_eval, P, labels=np.arange(max(trees.n_outputs, 2)))


# -- the parsed trees ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_raw_predictions_reconstructed_from_parsed_trees(make):
    X, y = _data(700, nan=make is _hgb)
    model = make(max_iter=25) if make is _hgb else make(n_estimators=25, max_depth=3)
    model.fit(X[:500], y[:500])
    trees = parse_boosted_trees(model)
    assert trees.n_trees == 25
    for Z in (X[:500], X[500:]):
        F = trees.decision(trees.leaves(Z))
        np.testing.assert_allclose(F, model.decision_function(Z), rtol=0, atol=1e-10)
    if make is _hgb:  # the binned routing the trees were grown with agrees on the training rows
        np.testing.assert_array_equal(trees.leaves(X[:500], binned=True), trees.leaves(X[:500]))


def test_raw_predictions_with_categorical_features_and_missing_categories():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(list("pqrstu"), n)),
            "b": rng.normal(size=n),
        }
    )
    y = ((frame.a > 0) ^ frame.c.isin(["q", "s"])).astype(int).to_numpy()
    frame.loc[::9, "c"] = np.nan
    frame.loc[::11, "a"] = np.nan
    model = _hgb(max_iter=20, max_depth=3, categorical_features="from_dtype")
    model.fit(frame.iloc[:400], y[:400])
    trees = parse_boosted_trees(model)
    assert any(p[0].nodes["is_categorical"].any() for p in model._predictors)
    for part in (frame.iloc[:400], frame.iloc[400:]):
        F = trees.decision(trees.leaves(part))
        np.testing.assert_allclose(F, model.decision_function(part), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(
        trees.leaves(frame.iloc[:400], binned=True), trees.leaves(frame.iloc[:400])
    )


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_fitted_leaves_are_the_newton_step(make):
    X, y = _data(nan=make is _hgb)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    model = make(l2_regularization=0.5) if make is _hgb else make()
    model.fit(X, y, sample_weight=w)
    trees = parse_boosted_trees(model)
    leaves = trees.leaves(X, binned=make is _hgb)
    b, values = _naive_leaf_refit(trees, leaves, y.astype(float), w)
    np.testing.assert_allclose(b, trees.baseline, rtol=0, atol=1e-12)
    for row, fitted in zip(values, trees.leaf_values, strict=True):
        for v, f in zip(row, fitted, strict=True):
            np.testing.assert_allclose(v, f, rtol=1e-5, atol=1e-7)  # float32 gradients in HGB


# -- leaf refit and the first-order estimate -------------------------------------------------


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_leaf_refit_matches_hand_recomputation(make):
    X, y = _data(300, nan=make is _hgb)
    model = make().fit(X[:200], y[:200])
    Xtr, ytr, Xe, ye = X[:200], y[:200], X[200:], y[200:]
    res = training_point_importance(
        model,
        Xtr,
        ytr,
        method="tree_influence",
        X_eval=Xe,
        y_eval=ye,
        exact=True,
        indices=[3, 17],
    )
    trees = parse_boosted_trees(model)
    leaves = trees.leaves(Xtr, binned=make is _hgb)
    eval_leaves = trees.leaves(Xe)
    w = np.ones(len(ytr))
    ref = _eval_log_loss(trees, eval_leaves, ye, *_naive_leaf_refit(trees, leaves, ytr, w))
    for i in (3, 17):
        wi = w.copy()
        wi[i] = 0.0
        without = _eval_log_loss(
            trees, eval_leaves, ye, *_naive_leaf_refit(trees, leaves, ytr, wi)
        )
        assert res.scores[i] == pytest.approx(without - ref, rel=1e-8, abs=1e-13)
    assert np.isnan(res.scores[0]) and res.n_refits == 2


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_first_order_matches_finite_differences_of_leaf_refit(make):
    """d f / d w_i at w = 1 by central differences of the hand-written leaf refit."""
    X, y = _data(300, nan=make is _hgb)
    model = make(max_iter=4) if make is _hgb else make(n_estimators=4)
    model.fit(X[:200], y[:200])
    Xtr, ytr, Xe, ye = X[:200], y[:200], X[200:], y[200:]
    res = training_point_importance(model, Xtr, ytr, method="tree_influence", X_eval=Xe, y_eval=ye)
    trees = parse_boosted_trees(model)
    leaves = trees.leaves(Xtr, binned=make is _hgb)
    eval_leaves = trees.leaves(Xe)
    eps = 1e-5
    for i in (0, 11, 42, 150):
        fd = []
        for sign in (1, -1):
            w = np.ones(len(ytr))
            w[i] += sign * eps
            fd.append(
                _eval_log_loss(trees, eval_leaves, ye, *_naive_leaf_refit(trees, leaves, ytr, w))
            )
        derivative = (fd[0] - fd[1]) / (2 * eps)
        assert res.scores[i] == pytest.approx(-derivative, rel=1e-5, abs=1e-10)


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_first_order_ranks_like_leaf_refit(make):
    X, y = _data(500, nan=make is _hgb)
    model = make(max_iter=20) if make is _hgb else make(n_estimators=20)
    model.fit(X[:350], y[:350])
    kw = dict(method="tree_influence", X_eval=X[350:], y_eval=y[350:])
    fast = training_point_importance(model, X[:350], y[:350], **kw).scores
    boostin = training_point_importance(model, X[:350], y[:350], propagation="none", **kw).scores
    exact = training_point_importance(model, X[:350], y[:350], exact=True, **kw).scores
    rho_full = spearmanr(fast, exact)[0]
    rho_none = spearmanr(boostin, exact)[0]
    print(
        f"{type(model).__name__}: Spearman with leaf refit {rho_full:.4f} (full), "
        f"{rho_none:.4f} (propagation='none')"
    )
    assert rho_full > 0.98
    assert rho_full >= rho_none - 1e-3
    # same sign convention as the refit: positive = removing the point raises the loss
    assert np.corrcoef(fast, exact)[0, 1] > 0.98


def _data3(n=450, seed=0):
    X, y = make_classification(
        n, 6, n_informative=4, n_classes=3, flip_y=0.1, random_state=seed, class_sep=0.8
    )
    return X, y


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_multiclass_reconstruction_newton_step_and_finite_differences(make):
    X, y = _data3()
    Xtr, ytr, Xe, ye = X[:300], y[:300], X[300:], y[300:]
    model = make(max_iter=6, l2_regularization=0.3) if make is _hgb else make(n_estimators=6)
    model.fit(Xtr, ytr)
    trees = parse_boosted_trees(model)
    assert trees.n_outputs == 3 and trees.leaves(Xe).shape == (150, 6, 3)
    for Z in (Xtr, Xe):
        np.testing.assert_allclose(
            trees.decision(trees.leaves(Z)), model.decision_function(Z), rtol=0, atol=1e-10
        )
    leaves = trees.leaves(Xtr, binned=make is _hgb)
    eval_leaves = trees.leaves(Xe)
    w = np.ones(len(ytr))
    b, values = _naive_leaf_refit(trees, leaves, ytr, w)
    np.testing.assert_allclose(b, trees.baseline, rtol=0, atol=1e-12)
    for row, fitted in zip(values, trees.leaf_values, strict=True):
        for v, f in zip(row, fitted, strict=True):
            np.testing.assert_allclose(v, f, rtol=1e-5, atol=1e-7)
    res = training_point_importance(model, Xtr, ytr, method="tree_influence", X_eval=Xe, y_eval=ye)
    exact = training_point_importance(
        model, Xtr, ytr, method="tree_influence", X_eval=Xe, y_eval=ye, exact=True, indices=[4]
    )
    ref = _eval_log_loss(trees, eval_leaves, ye, b, values)
    w4 = w.copy()
    w4[4] = 0.0
    without = _eval_log_loss(trees, eval_leaves, ye, *_naive_leaf_refit(trees, leaves, ytr, w4))
    assert exact.scores[4] == pytest.approx(without - ref, rel=1e-8, abs=1e-13)
    eps = 1e-5
    for i in (0, 4, 77):
        fd = []
        for sign in (1, -1):
            wi = w.copy()
            wi[i] += sign * eps
            refit = _naive_leaf_refit(trees, leaves, ytr, wi)
            fd.append(_eval_log_loss(trees, eval_leaves, ye, *refit))
        assert res.scores[i] == pytest.approx(-(fd[0] - fd[1]) / (2 * eps), rel=1e-5, abs=1e-10)


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_multiclass_first_order_ranks_like_leaf_refit(make):
    X, y = _data3()
    model = make(max_iter=15) if make is _hgb else make(n_estimators=15)
    model.fit(X[:300], y[:300])
    kw = dict(method="tree_influence", X_eval=X[300:], y_eval=y[300:])
    fast = training_point_importance(model, X[:300], y[:300], **kw).scores
    exact = training_point_importance(model, X[:300], y[:300], exact=True, **kw).scores
    rho = spearmanr(fast, exact)[0]
    print(f"{type(model).__name__}, 3 classes: Spearman with leaf refit {rho:.4f}")
    assert rho > 0.98


def test_removing_harmful_points_lowers_held_out_loss_more_than_random():
    X_tr, X_val, y_tr, y_val = compas_split()

    def fit(rows):
        model = HistGradientBoostingClassifier(
            max_iter=30, early_stopping=False, categorical_features="from_dtype", random_state=0
        )
        return model.fit(X_tr.iloc[rows], y_tr[rows])

    _, gain_top, gains_random = top_vs_random_removal(fit, X_tr, y_tr, X_val, y_val, "HGB")
    assert gain_top > max(gains_random)
    assert gain_top > 0


# -- objectives, pipelines, inputs -----------------------------------------------------------


def test_pipeline_with_column_transformer_on_a_dataframe():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    y = ((frame.x1 + (frame.colour == "red") + 0.5 * rng.normal(size=n)) > 0.5).astype(int)
    y = y.to_numpy()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["x1", "x2"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    pipe = make_pipeline(pre, _hgb(max_iter=15)).fit(frame.iloc[:300], y[:300])
    kw = dict(method="tree_influence", X_eval=frame.iloc[300:], y_eval=y[300:])
    res = training_point_importance(pipe, frame.iloc[:300], y[:300], **kw)
    Z_tr = pipe[:-1].transform(frame.iloc[:300])
    Z_ev = pipe[:-1].transform(frame.iloc[300:])
    bare = training_point_importance(
        pipe[-1], Z_tr, y[:300], method="tree_influence", X_eval=Z_ev, y_eval=y[300:]
    )
    np.testing.assert_allclose(res.scores, bare.scores, rtol=1e-12, atol=1e-15)
    assert res.method == "tree_influence" and res.scores.shape == (300,)


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_fairness_objective_runs_and_tracks_its_surrogate(make):
    X, y = _data(600, nan=make is _hgb)
    sf = np.where(X[:, 0] > 0, "a", "b")
    model = make(max_iter=15) if make is _hgb else make(n_estimators=15)
    model.fit(X[:400], y[:400])
    res = training_point_importance(
        model,
        X[:400],
        y[:400],
        method="tree_influence",
        objective=["equalized_odds", "demographic_parity", "log_loss"],
        X_eval=X[400:],
        y_eval=y[400:],
        sensitive_features_eval=sf[400:],
    )
    assert res.scores.shape == (3, 400) and np.all(np.isfinite(res.scores))
    assert res.objective == ["equalized_odds", "demographic_parity", "log_loss"]
    assert np.all(np.std(res.scores, axis=1) > 0)
    # on the training data, with training sensitive features
    res_train = training_point_importance(
        model,
        X[:400],
        y[:400],
        method="tree_influence",
        objective="equalized_odds",
        sensitive_features=sf[:400],
    )
    assert res_train.scores.shape == (400,)


def test_fairlearn_metric_as_objective():
    from fairlearn.metrics import equalized_odds_difference

    X, y = _data(500)
    sf = np.where(X[:, 1] > 0, "a", "b")
    model = _hgb(max_iter=10).fit(X[:300], y[:300])
    kw = dict(
        method="tree_influence", X_eval=X[300:], y_eval=y[300:], sensitive_features_eval=sf[300:]
    )
    named = training_point_importance(model, X[:300], y[:300], objective="equalized_odds", **kw)
    metric = training_point_importance(
        model, X[:300], y[:300], objective=equalized_odds_difference, **kw
    )
    np.testing.assert_allclose(metric.scores, named.scores, rtol=1e-10, atol=1e-14)


def test_inputs_not_mutated():
    X, y = _data(300)
    w = np.random.default_rng(0).uniform(0.5, 1.5, 300)
    model = _hgb().fit(X[:200], y[:200], sample_weight=w[:200])
    copies = [a.copy() for a in (X, y, w)]
    nodes = [p[0].nodes.copy() for p in model._predictors]
    training_point_importance(
        model,
        X[:200],
        y[:200],
        sample_weight=w[:200],
        method="tree_influence",
        X_eval=X[200:],
        y_eval=y[200:],
    )
    training_point_importance(
        model,
        X[:200],
        y[:200],
        sample_weight=w[:200],
        method="tree_influence",
        X_eval=X[200:],
        y_eval=y[200:],
        exact=True,
        indices=[0, 1],
    )
    for a, b in zip((X, y, w), copies, strict=True):
        np.testing.assert_array_equal(a, b)
    for p, before in zip(model._predictors, nodes, strict=True):
        np.testing.assert_array_equal(p[0].nodes, before)
    np.testing.assert_allclose(
        parse_boosted_trees(model).decision(parse_boosted_trees(model).leaves(X)),
        model.decision_function(X),
        atol=1e-10,
    )


def test_sample_weight_must_match_the_fit():
    X, y = _data(300)
    w = np.random.default_rng(0).uniform(0.2, 3.0, 300)
    model = _hgb().fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="not the Newton step"):
        training_point_importance(model, X, y, method="tree_influence")
    res = training_point_importance(model, X, y, sample_weight=w, method="tree_influence")
    assert res.leaf_value_gap < 1e-5


def test_class_weight_and_zero_init_are_read():
    X, y = _data(400)
    y = np.where(np.arange(400) < 300, y, 1)  # imbalanced
    model = _hgb(class_weight="balanced").fit(X, y)
    res = training_point_importance(model, X, y, method="tree_influence")
    assert res.leaf_value_gap < 1e-5
    Xg = np.nan_to_num(X)
    gbm = _gbm(init="zero").fit(Xg, y)
    trees = parse_boosted_trees(gbm)
    assert trees.baseline_rule == "zero"
    np.testing.assert_allclose(
        trees.decision(trees.leaves(Xg)), gbm.decision_function(Xg), rtol=0, atol=1e-10
    )
    kw = dict(method="tree_influence", X_eval=Xg[300:], y_eval=y[300:])
    gbm300 = _gbm(init="zero").fit(Xg[:300], y[:300])
    fast = training_point_importance(gbm300, Xg[:300], y[:300], **kw).scores
    exact = training_point_importance(gbm300, Xg[:300], y[:300], exact=True, **kw).scores
    assert spearmanr(fast, exact)[0] > 0.98


def test_early_stopping_on_given_validation_data_and_parallel_leaf_refit():
    from joblib import parallel_config

    X, y = _data(400)
    model = _hgb(max_iter=50, early_stopping=True, n_iter_no_change=2, learning_rate=0.5)
    model.fit(X[:300], y[:300], X_val=X[300:], y_val=y[300:])
    assert model.n_iter_ < 50  # stopped early; every training row grew the trees
    kw = dict(method="tree_influence", X_eval=X[300:], y_eval=y[300:], exact=True)
    serial = training_point_importance(model, X[:300], y[:300], **kw)
    with parallel_config(backend="threading"):
        parallel = training_point_importance(model, X[:300], y[:300], n_jobs=2, **kw)
    np.testing.assert_array_equal(serial.scores, parallel.scores)
    assert serial.n_trees == model.n_iter_


# -- refusals --------------------------------------------------------------------------------


def test_refusals():
    X, y = _data(300, nan=False)
    with pytest.raises(ValueError, match="subsample=0.5"):
        training_point_importance(_gbm(subsample=0.5).fit(X, y), X, y, method="tree_influence")
    with pytest.raises(ValueError, match="n_iter_no_change"):
        training_point_importance(
            _gbm(n_iter_no_change=2).fit(X, y), X, y, method="tree_influence"
        )
    with pytest.raises(TypeError, match="HistGradientBoostingClassifier or.*LogisticRegression"):
        training_point_importance(LogisticRegression().fit(X, y), X, y, method="tree_influence")
    with pytest.raises(ValueError, match="monotonic_cst"):
        model = _hgb(monotonic_cst=[1, 0, 0, 0, 0, 0]).fit(X, y)
        training_point_importance(model, X, y, method="tree_influence")
    with pytest.raises(ValueError, match="validation split for early stopping"):
        model = _hgb(early_stopping=True, n_iter_no_change=2).fit(X, y)
        training_point_importance(model, X, y, method="tree_influence")
    model = _hgb().fit(X, y)
    with pytest.raises(ValueError, match="structure_update must be 'fixed'"):
        training_point_importance(model, X, y, method="tree_influence", structure_update="refit")
    with pytest.raises(ValueError, match="propagation must be one of"):
        training_point_importance(model, X, y, method="tree_influence", propagation="some")
    with pytest.raises(ValueError, match="indices is an option of the exact"):
        training_point_importance(model, X, y, method="tree_influence", indices=[0])
    with pytest.raises(TypeError, match="Unknown option"):
        training_point_importance(model, X, y, method="tree_influence", damping=1.0)
    with pytest.raises(ValueError, match="trees were grown on 300 rows but X has 200"):
        training_point_importance(model, X[:200], y[:200], method="tree_influence")


# -- set-level leaf refit (the prediction for a removed set) ---------------------------------


@pytest.mark.parametrize("make", [_hgb, _gbm])
def test_leaf_refit_without_sets_matches_hand_recomputation_and_fairlearn(make):
    from fairlearn.metrics import equalized_odds_difference

    from fairlearn_divine._importance import leaf_refit_without
    from fairlearn_divine._objectives import EvalContext, resolve_objective

    X, y = _data(300, nan=make is _hgb)
    sf = np.where(X[:, 1] > 0, "a", "b")
    Xtr, ytr, Xe, ye, sfe = X[:200], y[:200], X[200:], y[200:], sf[200:]
    model = make().fit(Xtr, ytr)
    objectives = [resolve_objective("log_loss"), resolve_objective("equalized_odds")]
    ctx = EvalContext(objectives, model.classes_, Xe, ye, sfe)
    sets = [np.array([], dtype=int), np.array([3, 17, 40]), np.arange(0, 200, 4)]
    values, reference = leaf_refit_without(model, Xtr, ytr, None, ctx, Xe, sets)
    assert values.shape == (2, 3)
    trees = parse_boosted_trees(model)
    leaves = trees.leaves(Xtr, binned=make is _hgb)
    eval_leaves = trees.leaves(Xe)
    for k, rows in enumerate(sets):
        w = np.ones(len(ytr))
        w[rows] = 0.0
        b, leaf_values = _naive_leaf_refit(trees, leaves, ytr, w)
        assert values[0, k] == pytest.approx(
            _eval_log_loss(trees, eval_leaves, ye, b, leaf_values), rel=1e-9
        )
        predicted = (trees.raw_predict(eval_leaves, leaf_values, b)[:, 0] > 0).astype(int)
        assert values[1, k] == pytest.approx(
            equalized_odds_difference(ye, predicted, sensitive_features=sfe), abs=1e-12
        )
    # the empty set is the recomputation with every row; one-row sets are exact=True's refits
    np.testing.assert_allclose(values[:, 0], reference, rtol=1e-12)
    exact = training_point_importance(
        model, Xtr, ytr, method="tree_influence", X_eval=Xe, y_eval=ye, exact=True,
        indices=[3, 17],
    )  # fmt: skip
    singles, ref = leaf_refit_without(model, Xtr, ytr, None, ctx, Xe, [[3], [17]])
    np.testing.assert_allclose(singles[0] - ref[0], exact.scores[[3, 17]], rtol=1e-9, atol=1e-15)


def test_leaf_refit_without_checks_its_sets():
    from fairlearn_divine._importance import leaf_refit_without
    from fairlearn_divine._objectives import EvalContext, resolve_objective

    X, y = _data(200, nan=False)
    model = _hgb().fit(X[:150], y[:150])
    ctx = EvalContext([resolve_objective("log_loss")], model.classes_, X[150:], y[150:], None)
    with pytest.raises(ValueError, match="must lie in"):
        leaf_refit_without(model, X[:150], y[:150], None, ctx, X[150:], [[150]])

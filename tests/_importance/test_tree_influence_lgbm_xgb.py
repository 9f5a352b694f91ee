"""Fixed-structure tree influence for ``lightgbm.LGBMClassifier`` and ``xgboost.XGBClassifier``
(read through their public dumps)."""

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from _tree_removal import compas_split, top_vs_random_removal
from scipy.special import expit, softmax
from scipy.stats import spearmanr
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairlearn_divine import training_point_importance
from fairlearn_divine._models._trees import is_boosted_trees, parse_boosted_trees


def _data(n=500, seed=0, nan=True):
    X, y = make_classification(n, 6, n_informative=4, flip_y=0.1, random_state=seed, class_sep=0.8)
    if nan:
        X[::7, 2] = np.nan
    return X, y


def _data3(n=450, seed=0):
    X, y = make_classification(
        n, 6, n_informative=4, n_classes=3, flip_y=0.1, random_state=seed, weights=[0.5, 0.3]
    )
    X[::5, 1] = np.nan
    return X, y


def _lgbm(**kw):
    params = dict(n_estimators=10, num_leaves=4, min_child_samples=5, verbose=-1, n_jobs=1)
    params.update(kw)
    return lightgbm.LGBMClassifier(**params)


#: XGBoost before 3.0 estimates base_score by a rule that is not modelled (refused): the
#: tests then fix it, as the refusal tells users to.
OLD_XGBOOST = int(xgboost.__version__.split(".")[0]) < 3


def _xgb(**kw):
    params = dict(n_estimators=10, max_depth=2, nthread=1, tree_method="hist")
    if OLD_XGBOOST:
        params["base_score"] = 0.5
    params.update(kw)
    return xgboost.XGBClassifier(**params)


def test_estimated_base_score_of_xgboost_before_3_is_refused(monkeypatch):
    X, y = make_classification(200, 4, random_state=0)
    model = xgboost.XGBClassifier(n_estimators=3, max_depth=2, nthread=1).fit(X, y)
    monkeypatch.setattr(xgboost, "__version__", "2.1.4")
    with pytest.raises(ValueError, match=r"estimated base_score \(XGBoost 2.1.4\).*base_score"):
        training_point_importance(model, X, y)
    fixed = xgboost.XGBClassifier(n_estimators=3, max_depth=2, nthread=1, base_score=0.5)
    res = training_point_importance(fixed.fit(X, y), X, y)
    assert res.method == "tree_influence" and res.leaf_value_gap < 1e-5


def _categorical_frame(n=900, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(list("pqrstuvw"), n)),  # many-vs-many splits
            "d": pd.Categorical(rng.choice(list("xyz"), n)),  # one-hot splits
            "b": rng.normal(size=n),
        }
    )
    y = ((frame.a > 0) ^ frame.c.isin(["q", "s", "u"]) ^ (frame.d == "x")).astype(int)
    frame.loc[::9, "c"] = np.nan
    frame.loc[::11, "a"] = np.nan
    return frame, y.to_numpy()


def _assert_margin(trees, Z):
    F = trees.raw_predict(trees.leaves(Z))
    M = trees.raw_margin(Z)
    np.testing.assert_allclose(F, M, rtol=0, atol=1e-6 * max(1.0, float(np.max(np.abs(M)))))


MAKERS = [_lgbm, _xgb]


# -- the parsed trees ------------------------------------------------------------------------


@pytest.mark.parametrize("make", MAKERS)
def test_raw_margin_reconstructed_binary_with_missing_values(make):
    X, y = _data(700)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 500)
    model = make(n_estimators=25, reg_lambda=0.7).fit(X[:500], y[:500], sample_weight=w)
    trees = parse_boosted_trees(model)
    assert is_boosted_trees(model) and trees.n_trees == 25 and trees.n_outputs == 1
    for Z in (X[:500], X[500:]):
        _assert_margin(trees, Z)
    res = training_point_importance(model, X[:500], y[:500], sample_weight=w)
    assert res.method == "tree_influence" and res.leaf_value_gap < 1e-5


@pytest.mark.parametrize("make", MAKERS)
def test_raw_margin_reconstructed_multiclass(make):
    X, y = _data3()
    model = make(n_estimators=8, reg_lambda=0.5).fit(X[:300], y[:300])
    trees = parse_boosted_trees(model)
    assert trees.n_outputs == 3 and trees.leaves(X[300:]).shape == (150, 8, 3)
    for Z in (X[:300], X[300:]):
        _assert_margin(trees, Z)
    res = training_point_importance(model, X[:300], y[:300], method="tree_influence")
    assert res.leaf_value_gap < 1e-4


@pytest.mark.parametrize("make", MAKERS)
def test_raw_margin_reconstructed_with_pandas_categoricals(make):
    frame, y = _categorical_frame()
    kw = dict(n_estimators=15, num_leaves=8) if make is _lgbm else dict(enable_categorical=True)
    model = make(**kw).fit(frame.iloc[:600], y[:600])
    trees = parse_boosted_trees(model)
    for part in (frame.iloc[:600], frame.iloc[600:]):
        _assert_margin(trees, part)
    res = training_point_importance(model, frame.iloc[:600], y[:600], method="tree_influence")
    assert res.leaf_value_gap < 1e-5
    if make is _lgbm:  # LightGBM's cat_l2 on the many-vs-many splits is read
        assert any(np.any(l2 > 0) for row in trees._leaf_l2 for l2 in row)


def _naive_leaf_refit(trees, leaves, y, w):
    """Every leaf recomputed by hand, tree after tree, with weights w (structure fixed): the
    library's Newton step, with its Hessian factor (``newton_factor``) and per-leaf L2."""
    K = trees.n_outputs
    Y = (y[:, None] == np.arange(max(K, 2))[None, :]).astype(float)
    if trees.baseline_rule == "prior":
        b = trees.prior_link((Y.T @ w / np.sum(w))[:, None])[:, 0]
    else:
        b = trees.baseline.copy()
    if K == 1:
        Y = Y[:, 1:]
    F = np.tile(b, (len(y), 1))
    values = []
    for t in range(trees.n_trees):
        P = expit(F) if K == 1 else softmax(F, axis=1)
        row = []
        for k in range(K):
            l2 = np.broadcast_to(trees.leaf_l2(t, k), (trees.n_leaves[t, k],))
            v = np.zeros(trees.n_leaves[t, k])
            for leaf in range(trees.n_leaves[t, k]):
                rows = np.flatnonzero(leaves[:, t, k] == leaf)
                p = P[rows, k]
                G = np.sum(w[rows] * (p - Y[rows, k]))
                H = np.sum(w[rows] * p * (1 - p))
                v[leaf] = -trees.learning_rate * trees.newton_factor * G / (H + l2[leaf])
            row.append(v)
        for k in range(K):
            F[:, k] += row[k][leaves[:, t, k]]
        values.append(row)
    return b, values


def _eval_log_loss(trees, eval_leaves, y_eval, b, values):
    F = trees.raw_predict(eval_leaves, values, b)
    P = expit(F[:, 0]) if trees.n_outputs == 1 else softmax(F, axis=1)
    return log_loss(y_eval, P, labels=np.arange(max(trees.n_outputs, 2)))


# -- leaf refit and the first-order estimate -------------------------------------------------


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("classes", [2, 3])
def test_first_order_matches_finite_differences_of_leaf_refit(make, classes):
    """d f / d w_i by central differences of a hand-written leaf refit; the exact leaf refit
    against the same hand recomputation."""
    X, y = _data(300) if classes == 2 else _data3(300)
    Xtr, ytr, Xe, ye = X[:200], y[:200], X[200:], y[200:]
    model = make(n_estimators=4, reg_lambda=0.5).fit(Xtr, ytr)
    kw = dict(method="tree_influence", X_eval=Xe, y_eval=ye)
    res = training_point_importance(model, Xtr, ytr, **kw)
    exact = training_point_importance(model, Xtr, ytr, exact=True, indices=[11], **kw)
    trees = parse_boosted_trees(model)
    trees.bind_training(np.eye(max(classes, 2))[ytr], np.ones(len(ytr)))
    leaves = trees.leaves(Xtr)
    eval_leaves = trees.leaves(Xe)
    w = np.ones(len(ytr))
    b, values = _naive_leaf_refit(trees, leaves, ytr, w)
    for row, fitted in zip(values, trees.leaf_values, strict=True):
        for v, f in zip(row, fitted, strict=True):  # float32 gradients in the libraries
            np.testing.assert_allclose(v, f, rtol=1e-4, atol=1e-6)
    ref = _eval_log_loss(trees, eval_leaves, ye, b, values)
    w11 = w.copy()
    w11[11] = 0.0
    without = _eval_log_loss(trees, eval_leaves, ye, *_naive_leaf_refit(trees, leaves, ytr, w11))
    assert exact.scores[11] == pytest.approx(without - ref, rel=1e-8, abs=1e-13)
    eps = 1e-5
    for i in (0, 11, 42, 150):
        fd = []
        for sign in (1, -1):
            wi = w.copy()
            wi[i] += sign * eps
            fd.append(
                _eval_log_loss(trees, eval_leaves, ye, *_naive_leaf_refit(trees, leaves, ytr, wi))
            )
        assert res.scores[i] == pytest.approx(-(fd[0] - fd[1]) / (2 * eps), rel=1e-5, abs=1e-10)


@pytest.mark.parametrize("make", MAKERS)
def test_first_order_ranks_like_leaf_refit(make):
    X, y = _data(500)
    model = make(n_estimators=20).fit(X[:350], y[:350])
    kw = dict(method="tree_influence", X_eval=X[350:], y_eval=y[350:])
    fast = training_point_importance(model, X[:350], y[:350], **kw).scores
    exact = training_point_importance(model, X[:350], y[:350], exact=True, **kw).scores
    rho = spearmanr(fast, exact)[0]
    print(f"{type(model).__name__}: Spearman with leaf refit {rho:.4f}")
    assert rho > 0.98
    assert np.corrcoef(fast, exact)[0, 1] > 0.98


# -- objectives, pipelines -------------------------------------------------------------------


@pytest.mark.parametrize("make", MAKERS)
def test_pipeline_with_column_transformer_on_a_dataframe(make):
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
        [
            ("num", StandardScaler(), ["x1", "x2"]),
            ("cat", OneHotEncoder(sparse_output=False), ["colour"]),
        ]
    )
    pipe = make_pipeline(pre, make(n_estimators=15)).fit(frame.iloc[:300], y[:300])
    assert is_boosted_trees(pipe)
    kw = dict(method="tree_influence", X_eval=frame.iloc[300:], y_eval=y[300:])
    res = training_point_importance(pipe, frame.iloc[:300], y[:300], **kw)
    Z_tr = pipe[:-1].transform(frame.iloc[:300])
    Z_ev = pipe[:-1].transform(frame.iloc[300:])
    bare = training_point_importance(
        pipe[-1], Z_tr, y[:300], method="tree_influence", X_eval=Z_ev, y_eval=y[300:]
    )
    np.testing.assert_allclose(res.scores, bare.scores, rtol=1e-12, atol=1e-15)
    assert res.scores.shape == (300,) and np.std(res.scores) > 0


@pytest.mark.parametrize("make", MAKERS)
def test_equalized_odds_with_sensitive_features(make):
    X, y = _data(600)
    sf = np.where(X[:, 0] > 0, "a", "b")
    model = make(n_estimators=15).fit(X[:400], y[:400])
    res = training_point_importance(
        model,
        X[:400],
        y[:400],
        method="tree_influence",
        objective=["equalized_odds", "log_loss"],
        X_eval=X[400:],
        y_eval=y[400:],
        sensitive_features_eval=sf[400:],
    )
    assert res.scores.shape == (2, 400) and np.all(np.isfinite(res.scores))
    assert np.all(np.std(res.scores, axis=1) > 0)
    exact = training_point_importance(
        model,
        X[:400],
        y[:400],
        method="tree_influence",
        objective="equalized_odds",
        sensitive_features=sf[:400],
        exact=True,
        indices=[0, 5],
    )
    assert np.all(np.isfinite(exact.scores[[0, 5]]))


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "params", "match"),
    [
        (_lgbm, dict(boosting_type="dart"), "boosting='dart'"),
        (_lgbm, dict(data_sample_strategy="goss"), "data_sample_strategy='goss'"),
        (_lgbm, dict(boosting_type="rf", subsample=0.5, subsample_freq=1), "boosting='rf'"),
        (_lgbm, dict(subsample=0.5, subsample_freq=1), "bagging_fraction=0.5 with bagging_freq"),
        (_lgbm, dict(reg_alpha=0.5), "lambda_l1=0.5"),
        (_lgbm, dict(max_delta_step=0.3), "max_delta_step=0.3"),
        (_lgbm, dict(path_smooth=1.0), "path_smooth=1"),
        (_lgbm, dict(linear_tree=True), "linear_tree"),
        (_lgbm, dict(scale_pos_weight=2.0), "scale_pos_weight"),
        (_xgb, dict(subsample=0.5), "subsample=0.5"),
        (_xgb, dict(reg_alpha=0.5), "reg_alpha=0.5"),
        (_xgb, dict(max_delta_step=0.3), "max_delta_step=0.3"),
        (_xgb, dict(booster="dart"), "booster='dart'"),
        (_xgb, dict(num_parallel_tree=3), "num_parallel_tree=3"),
        (_xgb, dict(scale_pos_weight=2.0), "scale_pos_weight=2"),
    ],
)
def test_refusals(make, params, match):
    X, y = _data(300, nan=False)
    model = make(**params).fit(X, y)
    with pytest.raises(ValueError, match=match) as info:
        training_point_importance(model, X, y, method="tree_influence")
    assert "method='loo'" in str(info.value)


def test_settings_that_only_shape_the_trees_are_accepted():
    X, y = _data(400)
    for model in (
        _lgbm(colsample_bytree=0.5, min_child_weight=0.5, random_state=0),
        _lgbm(subsample=0.5, subsample_freq=0),  # bagging off without a frequency
        _xgb(colsample_bytree=0.5, min_child_weight=2.0, gamma=0.5, random_state=0),
    ):
        model.fit(X, y)
        res = training_point_importance(model, X, y, method="tree_influence")
        assert res.leaf_value_gap < 1e-5


@pytest.mark.parametrize("make", MAKERS)
def test_wrong_data_is_reported_with_the_library_settings(make):
    X, y = _data(300)
    model = make().fit(X, y, sample_weight=np.random.default_rng(0).uniform(0.2, 3.0, 300))
    with pytest.raises(ValueError, match="not the Newton step.*setting that changes the leaf"):
        training_point_importance(model, X, y, method="tree_influence")


# -- real data -------------------------------------------------------------------------------


def test_lightgbm_removing_harmful_points_lowers_held_out_loss_more_than_random():
    X_tr, X_val, y_tr, y_val = compas_split()

    def fit(rows):
        return _lgbm(n_estimators=30, num_leaves=15, min_child_samples=20, random_state=0).fit(
            X_tr.iloc[rows], y_tr[rows]
        )

    res, gain_top, gains_random = top_vs_random_removal(fit, X_tr, y_tr, X_val, y_val, "LightGBM")
    assert res.leaf_value_gap < 1e-5
    assert gain_top > max(gains_random)
    assert gain_top > 0


@pytest.mark.parametrize("make", MAKERS)
def test_early_stopping_string_labels_and_class_weight(make):
    """Only the trees up to the best iteration are read (what predict uses); string labels;
    LightGBM's class_weight is applied to the training weights."""
    import warnings

    X, y = _data(800, nan=False)
    ys = np.array(["no", "yes"])[y]
    kw = dict(n_estimators=200, learning_rate=0.3)
    if make is _lgbm:
        model = make(class_weight={"no": 1.0, "yes": 2.5}, **kw)
        with warnings.catch_warnings():  # eval_set is deprecated in the newest LightGBM
            warnings.simplefilter("ignore")
            model.fit(
                X[:500],
                ys[:500],
                eval_set=[(X[500:], ys[500:])],
                callbacks=[lightgbm.early_stopping(5, verbose=False)],
            )
        best = model.best_iteration_
    else:
        model = make(early_stopping_rounds=5, **kw)
        model.fit(X[:500], y[:500], eval_set=[(X[500:], y[500:])], verbose=False)
        ys = y
        best = model.best_iteration + 1
    trees = parse_boosted_trees(model)
    assert trees.n_trees == best < 200
    _assert_margin(trees, X)
    res = training_point_importance(model, X[:500], ys[:500], X_eval=X[500:], y_eval=ys[500:])
    assert res.method == "tree_influence" and res.n_trees == best
    assert res.leaf_value_gap < 1e-5


def test_libraries_are_imported_only_for_their_estimators():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sklearn.ensemble import HistGradientBoostingClassifier\n"
        "from fairlearn_divine._models._trees import is_boosted_trees\n"
        "assert is_boosted_trees(HistGradientBoostingClassifier())\n"
        "assert not is_boosted_trees(object())\n"
        "assert 'lightgbm' not in sys.modules and 'xgboost' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

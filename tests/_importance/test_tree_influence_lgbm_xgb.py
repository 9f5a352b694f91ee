"""Fixed-structure tree influence for ``lightgbm.LGBMClassifier`` and ``xgboost.XGBClassifier``
(read through their public dumps)."""

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import make_classification

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


def _xgb(**kw):
    params = dict(n_estimators=10, max_depth=2, nthread=1, tree_method="hist")
    params.update(kw)
    return xgboost.XGBClassifier(**params)


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

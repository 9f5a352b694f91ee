"""A fairlearn user's workflow on the real Adult data, end to end.

Adult as a pandas DataFrame with missing values and categories, split by train_test_split (so
the index is shuffled), a Pipeline(ColumnTransformer(OneHotEncoder / SimpleImputer +
StandardScaler), LogisticRegression), sex and race as sensitive features. Every number is
checked against an independent ground truth: clone().fit refits and fairlearn's own metrics.
Needs FAIRLEARN_DIVINE_DATA (CI sets it; under CI=true a missing data set fails the test).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from sklearn import config_context
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairlearn_divine import (
    InfluentialPointRemover,
    make_metric_frame_objective,
    minimal_forcing_subset,
    select_diverse_influential,
    training_point_importance,
)
from fairlearn_divine.datasets import load_adult


@pytest.fixture(scope="module")
def adult():
    try:
        data = load_adult()
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"The real data sets are required in CI: {exc}")
        pytest.skip(f"real data not available: {exc}")
    X = data.X.copy()
    # two sensitive columns; race as White / other, so that every sex x race group has
    # positives and negatives in small splits (a rate of an empty group is undefined, and the
    # package refuses it rather than report fairlearn's 0 with a warning)
    X["race"] = np.where(X["race"] == "White", "White", "other")
    A = X[["sex", "race"]].copy()
    Xtr, Xev, ytr, yev, Atr, Aev = train_test_split(
        X, data.y, A, train_size=1500, test_size=600, random_state=0, stratify=data.y
    )
    assert Xtr.isna().to_numpy().any()  # the raw frame really has missing values
    assert not np.array_equal(Xtr.index, np.arange(len(Xtr)))  # and a shuffled index
    return Xtr, ytr, Atr, Xev, yev, Aev


def _pipeline(kind):
    categorical = make_column_selector(dtype_exclude="number")
    numeric = make_column_selector(dtype_include="number")
    if kind == "onehot":  # NaN is a category of its own for the encoder
        cat = OneHotEncoder(handle_unknown="ignore")
    else:  # impute the most frequent category first
        cat = make_pipeline(
            SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
        )
    pre = ColumnTransformer([("cat", cat, categorical), ("num", StandardScaler(), numeric)])
    return make_pipeline(pre, LogisticRegression(C=0.5, tol=1e-10, max_iter=5000))


def _eod(model, X, y, A):
    return float(equalized_odds_difference(y, model.predict(X), sensitive_features=A))


@pytest.fixture(scope="module", params=["onehot", "impute"])
def fitted(request, adult):
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    return _pipeline(request.param).fit(Xtr, ytr)


def test_influence_and_loo_agree_with_refits(adult, fitted):
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    kwargs = {
        "sensitive_features": Atr,
        "X_eval": Xev,
        "y_eval": yev,
        "sensitive_features_eval": Aev,
    }
    inf = training_point_importance(fitted, Xtr, ytr, objective="equalized_odds", **kwargs)
    # the named objective is fairlearn's equalized_odds_difference (two sensitive columns)
    assert inf.baseline == pytest.approx(_eod(fitted, Xev, yev, Aev), abs=1e-12)
    rows = np.argsort(inf.scores)[:3]
    loo = training_point_importance(
        fitted, Xtr, ytr, objective="equalized_odds", method="loo", indices=rows, **kwargs
    )
    base = _eod(clone(fitted).fit(Xtr, ytr), Xev, yev, Aev)
    for i in rows:
        keep = np.ones(len(ytr), dtype=bool)
        keep[i] = False
        own = _eod(clone(fitted).fit(Xtr[keep], ytr[keep]), Xev, yev, Aev) - base
        assert loo.scores[i] == pytest.approx(own, abs=1e-12)
    # rows by label: the frame is indexed like X and round-trips to the same rows
    frame = inf.to_frame()
    assert frame.index.equals(Xtr.index)
    worst = frame["equalized_odds"].idxmin()
    assert Xtr.loc[worst].equals(Xtr.iloc[int(np.argmin(inf.scores))])


def test_metric_frame_objective(adult, fitted):
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    f = make_metric_frame_objective(
        {"tpr": true_positive_rate, "fpr": false_positive_rate}, aggregate="difference"
    )
    res = training_point_importance(
        fitted, Xtr, ytr, objective=f, X_eval=Xev, y_eval=yev, sensitive_features_eval=Aev
    )
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=yev,
        y_pred=fitted.predict(Xev),
        sensitive_features=Aev,
    )
    assert res.baseline == pytest.approx(float(mf.difference().max()), abs=1e-12)


def test_selection_forcing_and_remover(adult, fitted):
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    sel = select_diverse_influential(
        fitted, Xtr, ytr, 5, objective="equalized_odds", harmful=True, sensitive_features=Atr
    )
    assert len(sel.indices) == 5
    assert np.all(sel.scores[sel.indices] < 0)  # harmful points only
    assert sel.labels.equals(Xtr.index[sel.indices])
    assert sel.to_frame().index.equals(sel.labels)

    x = Xev.iloc[[int(np.argmin(np.abs(fitted.predict_proba(Xev)[:, 1] - 0.5)))]]
    mfs = minimal_forcing_subset(fitted, Xtr, ytr, x)
    assert mfs.flipped and mfs.verified
    keep = ~Xtr.index.isin(mfs.labels)
    own = clone(fitted).fit(Xtr[keep], ytr[keep])
    assert own.predict(x)[0] != fitted.predict(x)[0]  # an independent refit flips it too

    remover = InfluentialPointRemover(
        clone(fitted), objective="equalized_odds", fraction=0.01, keep_original_if_worse=False
    )
    remover.fit(Xtr, ytr, sensitive_features=Atr)
    assert 0 < len(remover.removed_indices_) <= 15
    assert remover.removed_labels_.equals(Xtr.index[remover.removed_indices_])
    kept = np.setdiff1d(np.arange(len(ytr)), remover.removed_indices_)
    own = clone(fitted).fit(Xtr.iloc[kept], ytr[kept])
    np.testing.assert_allclose(
        remover.predict_proba(Xev), own.predict_proba(Xev), rtol=1e-7, atol=1e-9
    )


def test_remover_with_pipeline_under_routing(adult):
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    X, y, A = Xtr, ytr, Atr
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    with config_context(enable_metadata_routing=True):
        remover = InfluentialPointRemover(
            _pipeline("onehot"),
            objective="equalized_odds",
            fraction=0.02,
            keep_original_if_worse=False,
        ).set_fit_request(sensitive_features=True)
        grid = GridSearchCV(remover, {"fraction": [0.01, 0.02]}, cv=cv)
        grid.fit(X, y, sensitive_features=A)
        res = cross_validate(remover, X, y, cv=cv, params={"sensitive_features": A})
    assert np.all(np.isfinite(res["test_score"]))
    assert grid.best_estimator_.removed_labels_.isin(X.index).all()


def test_sensitive_features_by_column_name(adult):
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    model = _pipeline("onehot").fit(Xtr, ytr)
    by_name = training_point_importance(
        model, Xtr, ytr, objective="equalized_odds", sensitive_features=["sex", "race"]
    )
    by_frame = training_point_importance(
        model, Xtr, ytr, objective="equalized_odds", sensitive_features=Atr
    )
    by_dict = training_point_importance(
        model,
        Xtr,
        ytr,
        objective="equalized_odds",
        sensitive_features={"sex": Atr["sex"].to_numpy(), "race": Atr["race"].to_numpy()},
    )
    np.testing.assert_array_equal(by_name.scores, by_frame.scores)
    np.testing.assert_array_equal(by_dict.scores, by_frame.scores)
    assert isinstance(by_frame.to_frame(), pd.DataFrame)


def test_remover_never_returns_a_less_fair_model_on_validation(adult):
    """With validation data the remover compares its refit with the unmitigated model there,
    by the hard metric as fairlearn computes it, and keeps whichever is not worse (warning when
    it keeps the original); both numbers are checked with own refits and fairlearn."""
    Xtr, ytr, Atr, Xev, yev, Aev = adult
    original = _pipeline("onehot").fit(Xtr, ytr)
    base = _eod(original, Xev, yev, Aev)
    for fraction in (0.01, 0.05):
        remover = InfluentialPointRemover(
            _pipeline("onehot"), objective="equalized_odds", fraction=fraction
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            remover.fit(
                Xtr, ytr, sensitive_features=Atr, X_val=Xev, y_val=yev, sensitive_features_val=Aev
            )
        assert remover.validated_on_ == "X_val"
        assert remover.original_validation_value_ == pytest.approx(base, abs=1e-12)
        returned = _eod(remover, Xev, yev, Aev)
        assert returned <= base + 1e-12  # never worse on validation
        kept = [w for w in caught if "keeping the unmitigated model" in str(w.message)]
        if remover.kept_original_:
            assert kept and len(remover.removed_indices_) == 0
            np.testing.assert_allclose(
                remover.predict_proba(Xev), original.predict_proba(Xev), rtol=1e-7, atol=1e-9
            )
        else:
            assert not kept
            assert remover.validation_value_ == pytest.approx(returned, abs=1e-12)

"""Tests of the weight program (fairlearn_divine._mitigation._weights) and of
``InfluentialPointRemover(mode="reweigh")`` and ``target``.

Ground truth: an independent LP written here with scipy.optimize.linprog (explicit matrices),
fairlearn's metrics for the hard values, and plain scikit-learn refits.
"""

import functools
import os
import warnings

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from scipy.optimize import linprog
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairlearn_divine import InfluentialPointRemover, training_point_importance
from fairlearn_divine._mitigation._weights import REMOVAL_PRICE, WeightProgram
from fairlearn_divine.datasets import load_compas, make_divine_synthetic


def lr(**kw):
    return LogisticRegression(tol=1e-10, max_iter=10_000, **kw)


@functools.cache
def _data():
    data = make_divine_synthetic(n_samples=600, n_outliers=15, rotation=np.pi / 2, random_state=1)
    X, y, sf = data.X, data.y, np.asarray(data.sensitive_features)
    rng = np.random.default_rng(0)
    # a third group: a random half of one group, so every group has both labels
    sf3 = np.where((sf == sf[0]) & (rng.random(len(sf)) < 0.5), "C", sf.astype(object))
    return X, y, sf, sf3


def data(three_groups=False):
    X, y, sf, sf3 = _data()
    half = np.arange(len(y)) % 3 == 0  # validation rows
    s = sf3 if three_groups else sf
    return X[~half], y[~half], s[~half], X[half], y[half], s[half]


# ---------------------------------------------------------------------------------------------
# the program against an independent LP


def _linprog_optimum(weights, scores, base, n_groups, n_rates, loss, budget, target):
    """min max(F - target, 0) + price * w.delta / sum(w), F = max over rates of (max_g d - min_g
    d), d_0 = 0, as explicit matrices: variables [delta (n), high_r, low_r (per rate), t, v]."""
    n = len(weights)
    k = n_groups - 1
    n_var = n + 2 * n_rates + 2
    i_t, i_v = n + 2 * n_rates, n + 2 * n_rates + 1
    A, b = [], []
    for r in range(n_rates):
        hi, lo = n + 2 * r, n + 2 * r + 1
        for g in range(k):
            row = np.zeros(n_var)
            row[:n] = scores[r * k + g]
            row[hi] = -1
            A.append(row), b.append(-base[r * k + g])  # d <= high
            row = np.zeros(n_var)
            row[:n] = -scores[r * k + g]
            row[lo] = 1
            A.append(row), b.append(base[r * k + g])  # d >= low
        row = np.zeros(n_var)
        row[hi], row[lo], row[i_t] = 1, -1, -1
        A.append(row), b.append(0.0)  # high - low <= t
    row = np.zeros(n_var)
    row[i_t], row[i_v] = 1, -1
    A.append(row), b.append(target)  # t - target <= v
    row = np.zeros(n_var)
    row[:n] = loss
    A.append(row), b.append(0.0)
    row = np.zeros(n_var)
    row[:n] = weights
    A.append(row), b.append(budget * weights.sum())
    c = np.zeros(n_var)
    c[:n] = REMOVAL_PRICE * weights / weights.sum()
    c[i_v] = 1
    bounds = [(0, 1)] * n + [(0, None), (None, 0)] * n_rates + [(None, None), (0, None)]
    res = linprog(c, A_ub=np.array(A), b_ub=np.array(b), bounds=bounds, method="highs")
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("target", [0.0, 0.05])
def test_program_optimum_matches_an_independent_lp(seed, target):
    rng = np.random.default_rng(seed)
    n, n_groups, n_rates = 40, 3, 2
    weights = rng.uniform(0.5, 2.0, n)
    scores = rng.normal(scale=0.01, size=(n_rates * (n_groups - 1), n))
    base = rng.normal(scale=0.1, size=n_rates * (n_groups - 1))
    loss = rng.normal(scale=0.01, size=n)
    program = WeightProgram(
        weights=weights,
        value_scores=scores,
        value_base=base,
        layout=(n_rates, n_groups, "max"),
        greater_is_better=False,
        loss_scores=loss,
        max_loss_increase=0.0,
        target=target,
    )
    for budget in (0.05, 0.3):
        delta, predicted = program.solve(budget)
        assert np.all((delta >= 0) & (delta <= 1))
        assert weights @ delta <= budget * weights.sum() + 1e-7
        assert loss @ delta <= 1e-7
        # the reported prediction is F(delta), computed by hand
        gaps = (base + scores @ delta).reshape(n_rates, n_groups - 1)
        spans = np.maximum(gaps.max(axis=1), 0) - np.minimum(gaps.min(axis=1), 0)
        assert predicted == pytest.approx(spans.max(), abs=1e-7)
        own = max(predicted - target, 0) + REMOVAL_PRICE * weights @ delta / weights.sum()
        expected = _linprog_optimum(weights, scores, base, n_groups, n_rates, loss, budget, target)
        assert own == pytest.approx(expected, abs=1e-7)


def test_program_at_zero_budget_predicts_fairlearns_metric():
    """With nothing removed, F(0) built from the hard group gaps is fairlearn's
    equalized-odds difference (3 groups: max over rates of max - min over groups)."""
    X, y, sf, Xv, yv, sfv = data(three_groups=True)
    pred = lr().fit(X, y).predict(Xv)
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=yv,
        y_pred=pred,
        sensitive_features=sfv,
    )
    by_group = mf.by_group  # groups sorted, as the package encodes them
    base = np.concatenate(
        [by_group[m].to_numpy()[1:] - by_group[m].to_numpy()[0] for m in ("tpr", "fpr")]
    )
    program = WeightProgram(
        weights=np.ones(5),
        value_scores=np.zeros((len(base), 5)),
        value_base=base,
        layout=(2, 3, "max"),
        greater_is_better=False,
        loss_scores=None,
        max_loss_increase=None,
        target=None,
    )
    _, predicted = program.solve(0.0)
    assert predicted == pytest.approx(equalized_odds_difference(yv, pred, sensitive_features=sfv))


# ---------------------------------------------------------------------------------------------
# the remover in mode="reweigh"


def _fit(remover, three_groups=False, **kw):
    X, y, sf, Xv, yv, sfv = data(three_groups)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        remover.fit(X, y, sensitive_features=sf, X_val=Xv, y_val=yv, sensitive_features_val=sfv)
    return remover, (X, y, sf, Xv, yv, sfv)


@pytest.mark.parametrize("three_groups", [False, True])
def test_reweigh_refit_budget_and_loss_constraint(three_groups):
    """The kept model is clone().fit with the reported weights; the removed weight is within
    the budget; the first-order validation log loss does not rise (scores replayed)."""
    remover = InfluentialPointRemover(
        lr(),
        objective="equalized_odds",
        mode="reweigh",
        fraction=0.05,
        keep_original_if_worse=False,
    )
    remover, (X, y, sf, Xv, yv, sfv) = _fit(remover, three_groups)
    rows, sw = remover.sample_indices_, remover.sample_weight_
    own = lr().fit(X[rows], y[rows], sample_weight=sw)
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    delta = np.ones(len(y))  # rows left out were removed whole
    delta[rows] = 1 - sw
    assert np.all((delta >= 0) & (delta <= 1))
    assert delta.sum() <= 0.05 * len(y) + 1e-6
    assert 0 < np.count_nonzero(delta) == len(remover.removed_indices_)
    assert set(np.flatnonzero(delta)) == set(remover.removed_indices_)
    # a vertex: almost every point is kept whole or removed
    assert np.count_nonzero((delta > 0) & (delta < 1)) <= 8
    loss = training_point_importance(
        lr().fit(X, y), X, y, objective="log_loss", X_eval=Xv, y_eval=yv
    ).scores
    assert loss @ delta <= 1e-6
    # the hard value reported is fairlearn's, for the kept model
    assert remover.validation_value_ == pytest.approx(
        equalized_odds_difference(yv, remover.predict(Xv), sensitive_features=sfv)
    )
    assert remover.predicted_value_ < remover.original_validation_value_


def test_reweigh_with_a_pipeline_fits_the_last_step_with_the_weights():
    remover = InfluentialPointRemover(
        make_pipeline(StandardScaler(), lr()),
        objective="equal_opportunity",
        mode="reweigh",
        fraction=0.05,
        keep_original_if_worse=False,
    )
    remover, (X, y, *_) = _fit(remover)
    rows, sw = remover.sample_indices_, remover.sample_weight_
    own = make_pipeline(StandardScaler(), lr()).fit(
        X[rows], y[rows], logisticregression__sample_weight=sw
    )
    np.testing.assert_allclose(remover.predict_proba(X), own.predict_proba(X), rtol=1e-7)


def test_reweigh_auto_scans_budgets_and_stops_when_they_no_longer_bind():
    remover = InfluentialPointRemover(
        lr(),
        objective="equalized_odds",
        mode="reweigh",
        fraction="auto",
        max_loss_increase=None,
    )
    remover, _ = _fit(remover)
    path = remover.auto_path_
    assert path[0]["n_removed"] == 0
    assert all("predicted" in e for e in path[1:])
    # budgets are scanned in increasing order, each removing no more weight than it allows
    fractions = [e["fraction"] for e in path]
    assert fractions == sorted(fractions)
    ok = [e for e in path if e["accuracy"] >= path[0]["accuracy"] - 0.01]
    best = min(ok, key=lambda e: (e["value"], e["n_removed"]))
    assert remover.fraction_ == best["fraction"]
    assert len(remover.removed_indices_) == best["n_removed"]


def test_target_already_met_removes_nothing():
    X, y, sf, Xv, yv, sfv = data()
    value = equalized_odds_difference(yv, lr().fit(X, y).predict(Xv), sensitive_features=sfv)
    for mode in ("remove", "reweigh"):
        remover = InfluentialPointRemover(
            lr(), objective="equalized_odds", mode=mode, fraction="auto", target=value + 1e-9
        )
        remover, _ = _fit(remover)
        assert len(remover.removed_indices_) == 0
        assert remover.target_reached_ is True
        np.testing.assert_allclose(remover.predict_proba(Xv), lr().fit(X, y).predict_proba(Xv))


@pytest.fixture(scope="module")
def compas():
    """COMPAS (two races, as DIVINE), a 60/20 train/validation split of the package's loader."""
    try:
        data = load_compas(races=("African-American", "Caucasian"))
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"The real data sets are required in CI: {exc}")
        pytest.skip(f"real data not available: {exc}")
    X, Xv, y, yv, A, Av = train_test_split(
        data.X, data.y, data.sensitive_features, train_size=0.6, test_size=0.2,
        random_state=0, stratify=data.y,
    )  # fmt: skip
    return X, y, A, Xv, yv, Av


def _compas_model():
    pre = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_exclude="number"),
            ),
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
        ]
    )
    return make_pipeline(pre, lr())


def test_target_with_auto_finds_the_smallest_verified_prefix(compas):
    """remove + fraction='auto' + target: the kept prefix's own refit reaches the target, and
    the prefix one point shorter does not (bisection, each probe a refit)."""
    X, y, sf, Xv, yv, sfv = compas
    options = dict(
        objective="equalized_odds",
        fraction="auto",
        stop_at_predicted_minimum=False,
        max_accuracy_loss=1.0,
    )
    fit_kw = dict(sensitive_features=sf, X_val=Xv, y_val=yv, sensitive_features_val=sfv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scan = InfluentialPointRemover(_compas_model(), **options).fit(X, y, **fit_kw)
        # a target the scan reaches only after removing something
        target = min(e["value"] for e in scan.auto_path_ if e["n_removed"] > 0)
        assert target < scan.auto_path_[0]["value"]
        remover = InfluentialPointRemover(_compas_model(), target=target, **options)
        remover.fit(X, y, **fit_kw)
    removed = remover.removed_indices_
    assert remover.target_reached_ and len(removed) > 0
    assert len(removed) <= min(e["n_removed"] for e in scan.auto_path_ if e["value"] <= target)

    def value_without(drop):
        keep = np.setdiff1d(np.arange(len(y)), drop)
        pred = _compas_model().fit(X.iloc[keep], y[keep]).predict(Xv)
        return equalized_odds_difference(yv, pred, sensitive_features=sfv)

    assert value_without(removed) <= target
    assert value_without(removed[:-1]) > target
    # the order is the harm order of the first scoring (replayed)
    scores = training_point_importance(
        _compas_model().fit(X, y),
        X,
        y,
        objective="equalized_odds",
        X_eval=Xv,
        y_eval=yv,
        sensitive_features_eval=sfv,
    ).scores
    np.testing.assert_array_equal(removed, np.argsort(scores, kind="stable")[: len(removed)])


def test_reweigh_on_compas_lowers_the_validation_metric(compas):
    """On real data the program's weights lower the hard validation metric, and the
    first-order prediction it reports is below the unmitigated value."""
    X, y, sf, Xv, yv, sfv = compas
    remover = InfluentialPointRemover(
        _compas_model(), objective="equalized_odds", mode="reweigh", fraction=0.1
    )
    remover.fit(X, y, sensitive_features=sf, X_val=Xv, y_val=yv, sensitive_features_val=sfv)
    assert not remover.kept_original_
    assert remover.validation_value_ < remover.original_validation_value_
    assert remover.predicted_value_ < remover.original_validation_value_


def test_unreachable_target_keeps_the_best_and_warns():
    remover = InfluentialPointRemover(
        lr(),
        objective="equalized_odds",
        mode="reweigh",
        fraction="auto",
        target=0.0,
        max_accuracy_loss=0.0,
    )
    X, y, sf, Xv, yv, sfv = data()
    with pytest.warns(UserWarning, match="reached target"):
        remover.fit(X, y, sensitive_features=sf, X_val=Xv, y_val=yv, sensitive_features_val=sfv)
    assert remover.target_reached_ is False


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"mode": "reweigh", "recalculate": 2}, "recalculate"),
        ({"mode": "reweigh", "diversity": "mmd"}, "diversity"),
        ({"target": -0.1}, "target"),
        ({"target": "small"}, "target"),
        ({"max_loss_increase": float("nan")}, "max_loss_increase"),
        ({"mode": "reweight"}, "mode"),
    ],
)
def test_bad_parameters(params, match):
    X, y, sf, *_ = data()
    with pytest.raises(ValueError, match=match):
        InfluentialPointRemover(lr(), **params).fit(X, y, sensitive_features=sf)


def test_reweigh_metric_frame_recipe_equals_the_named_metric():
    """A MetricFrame recipe of TPR and FPR differences (worst case) is equalized odds: the
    program gets the same gaps and returns the same weights."""
    from fairlearn_divine import make_metric_frame_objective

    recipe = make_metric_frame_objective(
        {"tpr": true_positive_rate, "fpr": false_positive_rate}, combine="max"
    )
    fitted = []
    for objective in ("equalized_odds", recipe):
        remover = InfluentialPointRemover(
            lr(),
            objective=objective,
            mode="reweigh",
            fraction=0.05,
            keep_original_if_worse=False,
        )
        fitted.append(_fit(remover, three_groups=True)[0])
    np.testing.assert_array_equal(fitted[0].sample_indices_, fitted[1].sample_indices_)
    np.testing.assert_allclose(fitted[0].sample_weight_, fitted[1].sample_weight_, atol=1e-9)
    assert fitted[0].predicted_value_ == pytest.approx(fitted[1].predicted_value_)


@pytest.mark.parametrize("objective", ["equal_accuracy", "demographic_parity_ratio", "log_loss"])
def test_reweigh_other_objectives(objective):
    """A sum of gaps (equal accuracy) uses the gap program; a ratio and the log loss use their
    own linear prediction, which the budget bounds."""
    remover = InfluentialPointRemover(
        lr(), objective=objective, mode="reweigh", fraction=0.02, keep_original_if_worse=False
    )
    remover, (X, y, *_) = _fit(remover)
    removed_weight = len(y) - remover.sample_weight_.sum()
    assert 0 < removed_weight <= 0.02 * len(y) + 1e-6
    assert np.isfinite(remover.predicted_value_)


@pytest.mark.parametrize("mode", ["remove", "reweigh"])
def test_newton_value_is_one_newton_step_by_hand(mode):
    """newton_value_: the hard metric after one Newton step of sklearn's logistic objective
    (sum_i c_i l_i + ||w||^2 / (2C), intercept unpenalised) from the scored model to the final
    weights, computed here in numpy, then measured with fairlearn."""
    X, y, sf, Xv, yv, sfv = data()
    remover = InfluentialPointRemover(
        lr(), objective="equalized_odds", mode=mode, fraction=0.05, keep_original_if_worse=False
    )
    remover, _ = _fit(remover)
    assert remover.newton_value_ is not None
    model = lr().fit(X, y)
    c = np.zeros(len(y))
    c[remover.sample_indices_] = remover.sample_weight_
    Z = np.column_stack([X, np.ones(len(y))])
    theta = np.concatenate([model.coef_[0], model.intercept_])
    p = 1 / (1 + np.exp(-Z @ theta))
    penalty = np.r_[np.ones(X.shape[1]), 0.0] / model.C
    grad = Z.T @ (c * (p - y)) + penalty * theta
    hess = (Z * (c * p * (1 - p))[:, None]).T @ Z + np.diag(penalty)
    theta1 = theta - np.linalg.solve(hess, grad)
    pred = (np.column_stack([Xv, np.ones(len(yv))]) @ theta1 > 0).astype(int)
    assert remover.newton_value_ == pytest.approx(
        equalized_odds_difference(yv, pred, sensitive_features=sfv)
    )


def test_validation_columns_checked_under_their_own_name():
    """X_val with its columns reordered is refused naming X_val (not the inner X_eval); numpy
    scalars are accepted as numeric options."""
    import pandas as pd

    X, y, sf, Xv, yv, sfv = data()
    cols = [f"x{j}" for j in range(X.shape[1])]
    Xf, Xvf = pd.DataFrame(X, columns=cols), pd.DataFrame(Xv, columns=cols)
    remover = InfluentialPointRemover(lr(), objective="equalized_odds", fraction=0.02)
    with pytest.raises(ValueError, match="X_val"):
        remover.fit(
            Xf, y, sensitive_features=sf, X_val=Xvf[cols[::-1]], y_val=yv,
            sensitive_features_val=sfv,
        )  # fmt: skip
    before = Xvf.copy()
    remover = InfluentialPointRemover(
        lr(), objective="equalized_odds", mode="reweigh", fraction=np.float32(0.02),
        max_accuracy_loss=np.float64(0.01), target=np.float32(0.0),
        max_loss_increase=np.int64(0),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an unreachable target warns
        remover.fit(Xf, y, sensitive_features=sf, X_val=Xvf, y_val=yv, sensitive_features_val=sfv)
    pd.testing.assert_frame_equal(Xvf, before)

"""Tests of fairlearn_divine._objectives against fairlearn's MetricFrame and our own formulas."""

import functools

import numpy as np
import pandas as pd
import pytest
from _refits import (
    fit,
    loo_refits,
    make_gaussian_classification,
    pearson,
    soft_gap_surrogate,
    tight,
)
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, zero_one_loss

from fairlearn_divine import (
    EvaluationFunction,
    make_evaluation_function,
    training_point_importance,
)
from fairlearn_divine._objectives import encode_sensitive_features, resolve_objective

TPR, TNR, FPR, SEL = (1, 1), (0, 0), (0, 1), (None, 1)


def _fair_data(n, seed, n_groups=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    a = (rng.random(n) < 1 / (1 + np.exp(-2 * X[:, 0]))).astype(int)
    if n_groups > 2:
        a = a + (rng.random(n) < 0.4) * 2 * (1 + (rng.random(n) < 0.5) * (n_groups - 4 > 0))
        a = np.minimum(a, n_groups - 1)
    z = X @ [1.0, -1.0, 0.5] + 1.2 * (a == 1) - 0.6 * (a == 2) - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y, a


def _mf_diff(metric, y_true, y_pred, sf, pos_label=1):
    m = functools.partial(metric, pos_label=pos_label) if pos_label != 1 else metric
    mf = MetricFrame(metrics={"m": m}, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
    return float(mf.difference(method="between_groups")["m"])


def _expected(name, y_true, y_pred, sf, pos_label=1):
    """The hard metric as fairlearn computes it (DIVINE's definitions for the sums)."""
    if name == "equal_accuracy":
        mf = MetricFrame(
            metrics={
                "tpr": functools.partial(true_positive_rate, pos_label=pos_label),
                "tnr": functools.partial(true_negative_rate, pos_label=pos_label),
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sf,
        )
        return float(mf.difference(method="between_groups").sum())
    if name == "equal_opportunity":
        if pos_label != 1:  # fairlearn's function has no pos_label
            return _mf_diff(true_positive_rate, y_true, y_pred, sf, pos_label)
        return float(equal_opportunity_difference(y_true, y_pred, sensitive_features=sf))
    if name == "equalized_odds":  # fairlearn's equalized_odds_difference: the worst case
        if pos_label == 1:
            return float(equalized_odds_difference(y_true, y_pred, sensitive_features=sf))
        return max(
            _mf_diff(true_positive_rate, y_true, y_pred, sf, pos_label),
            _mf_diff(false_positive_rate, y_true, y_pred, sf, pos_label),
        )
    if name == "demographic_parity":
        if pos_label != 1:
            return _mf_diff(selection_rate, y_true, y_pred, sf, pos_label)
        return float(demographic_parity_difference(y_true, y_pred, sensitive_features=sf))
    raise AssertionError(name)


FAIR = ["equal_accuracy", "equal_opportunity", "equalized_odds", "demographic_parity"]


def _sensitive(kind, n, a, rng):
    if kind == "two_groups":
        return np.where(a == 1, "m", "f")
    if kind == "three_groups":
        return np.array(["x", "y", "z"])[a]
    if kind == "four_groups_series":
        return pd.Series(np.array(["p", "q", "r", "s"])[a], index=np.arange(n) + 1000)
    if kind == "two_columns":
        return pd.DataFrame(
            {"sex": np.where(a == 1, "m", "f"), "age": rng.choice(["young", "old"], size=n)}
        )
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["two_groups", "three_groups", "four_groups_series", "two_columns"]
)
@pytest.mark.parametrize("name", FAIR)
def test_fairness_value_equals_metricframe(name, kind):
    n_groups = {"two_groups": 2, "three_groups": 3, "four_groups_series": 4, "two_columns": 2}[
        kind
    ]
    X, y, a = _fair_data(600, 1, n_groups=n_groups)
    assert len(np.unique(a)) == n_groups
    sf = _sensitive(kind, len(y), a, np.random.default_rng(0))
    m = LogisticRegression().fit(X, y)
    y_pred = m.predict(X)
    expected = _expected(name, y, y_pred, sf)
    assert expected > 0
    # through the public function (baseline = f at the fitted model)
    res = training_point_importance(m, X, y, objective=name, sensitive_features=sf)
    assert res.baseline == pytest.approx(expected, abs=1e-12)
    # on held-out data
    Xe, ye, ae = _fair_data(400, 2, n_groups=n_groups)
    sfe = _sensitive(kind, len(ye), ae, np.random.default_rng(1))
    res = training_point_importance(
        m, X, y, objective=name, X_eval=Xe, y_eval=ye, sensitive_features_eval=sfe
    )
    assert res.baseline == pytest.approx(_expected(name, ye, m.predict(Xe), sfe), abs=1e-12)
    # through the EvaluationFunction directly
    codes, names = encode_sensitive_features(sf, len(y))
    f = resolve_objective(name)
    assert isinstance(f, EvaluationFunction)
    value = f.value(y, m.predict_proba(X), sensitive_features=codes)
    assert value == pytest.approx(expected, abs=1e-12)


def test_fairness_value_with_string_labels():
    """Positive label = classes_[1] ("yes"), as fairlearn with pos_label="yes"."""
    X, y, a = _fair_data(500, 3)
    labels = np.array(["no", "yes"])[y]
    sf = np.where(a == 1, "m", "f")
    m = LogisticRegression().fit(X, labels)
    y_pred = m.predict(X)
    for name in FAIR:
        res = training_point_importance(m, X, labels, objective=name, sensitive_features=sf)
        expected = _expected(name, labels, y_pred, sf, pos_label="yes")
        assert res.baseline == pytest.approx(expected, abs=1e-12)


def test_encode_sensitive_features_merges_columns_like_fairlearn():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"sex": rng.choice(["f", "m"], n), "race": rng.choice(["a", "b", "c"], n)})
    y_true = rng.integers(0, 2, n)
    y_pred = rng.integers(0, 2, n)
    codes, names = encode_sensitive_features(df, n)
    assert len(names) == 6
    assert all(isinstance(t, tuple) and len(t) == 2 for t in names)
    for i in range(n):
        assert names[codes[i]] == (df["sex"][i], df["race"][i])
    mf = MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred, sensitive_features=df)
    ours = MetricFrame(
        metrics=selection_rate, y_true=y_true, y_pred=y_pred, sensitive_features=codes
    )
    assert float(mf.difference()) == pytest.approx(float(ours.difference()), abs=1e-15)
    # numpy 2-D equals the DataFrame
    codes2, _ = encode_sensitive_features(df.to_numpy(), n)
    np.testing.assert_array_equal(codes2, codes)


def test_encode_sensitive_features_errors():
    with pytest.raises(ValueError, match=r"sensitive_features.*99.*100|100.*99"):
        encode_sensitive_features(np.zeros(99), 100)
    with pytest.raises(ValueError, match="missing"):
        encode_sensitive_features(pd.Series(["a", None, "b"]), 3)


def test_loss_values():
    X, y = make_gaussian_classification(200, 3, 3, random_state=1)
    m = LogisticRegression().fit(X, y)
    P = m.predict_proba(X)
    assert resolve_objective("log_loss").value(y, P) == pytest.approx(log_loss(y, P), rel=1e-12)
    assert resolve_objective("zero_one_loss").value(y, P) == pytest.approx(
        zero_one_loss(y, m.predict(X)), abs=1e-15
    )
    res = training_point_importance(m, X, y, objective="zero_one_loss")
    assert res.baseline == pytest.approx(zero_one_loss(y, m.predict(X)), abs=1e-15)


def test_log_loss_gradient_finite_difference():
    X, y = make_gaussian_classification(40, 3, 3, random_state=2)
    P = LogisticRegression().fit(X, y).predict_proba(X)
    f = resolve_objective("log_loss")
    G = f.gradient(y, P)
    own = np.zeros_like(P)
    own[np.arange(len(y)), y] = -1.0 / (len(y) * P[np.arange(len(y)), y])
    np.testing.assert_allclose(G, own, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# the smooth surrogate of the fairness metrics


COMPONENTS = {
    "equal_accuracy": [TPR, TNR],
    "equal_opportunity": [TPR],
    "equalized_odds": [TPR, FPR],
    "demographic_parity": [SEL],
}


@pytest.mark.parametrize("n_groups", [2, 3])
@pytest.mark.parametrize("name", FAIR)
def test_surrogate_gradient_matches_finite_difference_of_own_surrogate(name, n_groups):
    X, y, a = _fair_data(300, 4, n_groups=n_groups)
    m = LogisticRegression().fit(X, y)
    P = m.predict_proba(X)
    f = resolve_objective(name)
    G = f.gradient(y, P, sensitive_features=a)
    assert G.shape == P.shape
    comps = COMPONENTS[name]
    if name == "equalized_odds":  # the worst case: the surrogate of the active (larger) gap
        gaps = [soft_gap_surrogate(y, P, a, [c], hard=True) for c in comps]
        comps = [comps[int(np.argmax(gaps))]]
    h = 1e-7
    fd = np.zeros_like(P)
    # rows far from the decision boundary so that the hard predictions do not move
    for j in range(len(y)):
        if abs(P[j, 1] - 0.5) < 1e-3:
            continue
        for k in range(2):
            Pp, Pm = P.copy(), P.copy()
            Pp[j, k] += h
            Pm[j, k] -= h
            fd[j, k] = (
                soft_gap_surrogate(y, Pp, a, comps) - soft_gap_surrogate(y, Pm, a, comps)
            ) / (2 * h)
    np.testing.assert_allclose(G, fd, rtol=1e-5, atol=1e-7)
    # the surrogate value itself is close to the hard value at a reasonable model
    assert np.isfinite(soft_gap_surrogate(y, P, a, comps))


def test_surrogate_ties_broken_by_soft_rate():
    """Groups 0 and 1 have the same (top) hard TPR; group 1 has the larger soft TPR, so the
    surrogate is soft_TPR(1) - soft_TPR(2) and the gradient falls on groups 1 and 2 only."""
    y = np.array([1, 1, 1, 1, 1, 1])
    groups = np.array([0, 0, 1, 1, 2, 2])
    p_pos = np.array([0.6, 0.7, 0.9, 0.95, 0.2, 0.8])
    P = np.column_stack([1 - p_pos, p_pos])
    f = resolve_objective("equal_opportunity")
    assert f.value(y, P, sensitive_features=groups) == pytest.approx(0.5)
    G = f.gradient(y, P, sensitive_features=groups)
    expected = np.zeros_like(P)
    expected[[2, 3], 1] = 0.5
    expected[[4, 5], 1] = -0.5
    np.testing.assert_allclose(G, expected)


def test_fairness_influence_tracks_loo_of_surrogate():
    """equal_accuracy influence vs LOO refits of OUR soft-rate surrogate (groups fixed at the
    full model), held-out f. Measured: Pearson 0.99996 with the surrogate, but only ~0.54
    with the hard metric (which is piecewise constant in theta)."""
    X, y, a = _fair_data(300, 1)
    Xe, ye, ae = _fair_data(2000, 2)
    est = tight(LogisticRegression(solver="newton-cholesky"))
    full = fit(clone(est), X, y)
    comps = COMPONENTS["equal_accuracy"]
    _, order = soft_gap_surrogate(ye, full.predict_proba(Xe), ae, comps, return_order=True)

    def surrogate(mdl, Xv, yv):
        return soft_gap_surrogate(yv, mdl.predict_proba(Xv), ae, comps, order=order)

    idx = np.sort(np.random.default_rng(0).choice(len(y), 150, replace=False))
    loo = loo_refits(est, X, y, idx, surrogate, X_eval=Xe, y_eval=ye, full=full)
    res = training_point_importance(
        full,
        X,
        y,
        objective="equal_accuracy",
        X_eval=Xe,
        y_eval=ye,
        sensitive_features_eval=ae,
    )
    assert pearson(res.scores[idx], loo) >= 0.99
    # the baseline is the hard metric, not the surrogate
    expected = _expected("equal_accuracy", ye, full.predict(Xe), ae)
    assert res.baseline == pytest.approx(expected, abs=1e-12)


def test_fairness_loo_is_exact_hard_metric():
    X, y, a = _fair_data(200, 5)
    est = tight(LogisticRegression())
    full = fit(clone(est), X, y)
    sf = np.where(a == 1, "m", "f")

    def hard(mdl, Xv, yv):
        return _expected("equalized_odds", yv, mdl.predict(Xv), sf)

    idx = np.arange(0, 200, 20)
    res = training_point_importance(
        full,
        X,
        y,
        objective="equalized_odds",
        sensitive_features=sf,
        method="loo",
        indices=idx,
    )
    ref = loo_refits(est, X, y, idx, hard, full=full)
    np.testing.assert_allclose(res.scores[idx], ref, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# fairlearn metrics and user-defined evaluation functions as objectives


@pytest.mark.parametrize(
    "metric",
    [equalized_odds_difference, demographic_parity_difference, equal_opportunity_difference],
)
def test_fairlearn_metric_value_and_gradient(metric):
    X, y, a = _fair_data(300, 6, n_groups=3)
    m = LogisticRegression().fit(X, y)
    res = training_point_importance(m, X, y, objective=metric, sensitive_features=a)
    assert res.baseline == pytest.approx(
        float(metric(y, m.predict(X), sensitive_features=a)), abs=1e-12
    )
    assert res.objective == metric.__name__
    assert np.all(np.isfinite(res.scores))


def test_fairlearn_equalized_odds_difference_surrogate_is_max_component():
    """fairlearn's equalized_odds_difference = max(TPR gap, FPR gap): the surrogate follows
    the larger gap only."""
    X, y, a = _fair_data(300, 7)
    m = LogisticRegression().fit(X, y)
    P = m.predict_proba(X)
    f = resolve_objective(equalized_odds_difference)
    f.classes = m.classes_
    tpr_gap = _mf_diff(true_positive_rate, y, m.predict(X), a)
    fpr_gap = _mf_diff(false_positive_rate, y, m.predict(X), a)
    comps = [TPR] if tpr_gap >= fpr_gap else [FPR]
    G = f.gradient(y, P, sensitive_features=a)
    h = 1e-7
    j = int(np.argmax(np.abs(G[:, 1])))
    Pp, Pm = P.copy(), P.copy()
    Pp[j, 1] += h
    Pm[j, 1] -= h
    fd = (soft_gap_surrogate(y, Pp, a, comps) - soft_gap_surrogate(y, Pm, a, comps)) / (2 * h)
    assert G[j, 1] == pytest.approx(fd, rel=1e-5)
    assert f.value(y, P, sensitive_features=a) == pytest.approx(max(tpr_gap, fpr_gap))


def test_fairlearn_metric_with_string_labels():
    """DESIGN: the positive label is classes_[1]. fairlearn's metrics only accept {0, 1} or
    {-1, 1} without a pos_label, so the adapter must hand them the encoded labels (or pass a
    pos_label); the value must equal fairlearn's on the 0/1-encoded labels."""
    X, y, a = _fair_data(300, 9)
    labels = np.array(["no", "yes"])[y]
    m = LogisticRegression().fit(X, labels)
    expected = float(
        equalized_odds_difference(
            (labels == "yes").astype(int),
            (m.predict(X) == "yes").astype(int),
            sensitive_features=a,
        )
    )
    res = training_point_importance(
        m, X, labels, objective=equalized_odds_difference, sensitive_features=a
    )
    assert res.baseline == pytest.approx(expected, abs=1e-12)


def test_derived_metric_of_a_known_rate_has_a_gradient():
    from fairlearn.metrics import true_positive_rate_difference

    X, y, a = _fair_data(120, 8)
    m = LogisticRegression().fit(X, y)
    f = resolve_objective(true_positive_rate_difference)
    assert f.has_gradient
    res = training_point_importance(
        m, X, y, objective=true_positive_rate_difference, sensitive_features=a
    )
    assert res.baseline == pytest.approx(
        float(true_positive_rate_difference(y, m.predict(X), sensitive_features=a)), abs=1e-12
    )


def test_unknown_base_metric_needs_a_refit_method():
    from fairlearn.metrics import make_derived_metric
    from sklearn.metrics import precision_score

    precision_difference = make_derived_metric(metric=precision_score, transform="difference")
    X, y, a = _fair_data(120, 8)
    m = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="loo"):
        training_point_importance(m, X, y, objective=precision_difference, sensitive_features=a)
    res = training_point_importance(
        m,
        X,
        y,
        objective=precision_difference,
        sensitive_features=a,
        method="loo",
        indices=[0, 1, 2],
    )
    assert res.baseline == pytest.approx(
        float(precision_difference(y, m.predict(X), sensitive_features=a)), abs=1e-12
    )


def _brier(y, p):
    return np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1))


def _brier_grad(y, p):
    return 2 * (p - np.eye(p.shape[1])[y]) / len(y)


def test_brier_evaluation_function_influence_vs_loo():
    """Measured Pearson 0.9995 (n=1000, 3 classes, held-out Brier score)."""
    X, y = make_gaussian_classification(1200, 4, 3, random_state=3)
    Xtr, ytr, Xe, ye = X[:1000], y[:1000], X[1000:], y[1000:]
    f = make_evaluation_function(_brier, _brier_grad, name="brier")
    assert f.name == "brier" and f.has_gradient
    est = tight(LogisticRegression(solver="newton-cholesky"))
    full = fit(clone(est), Xtr, ytr)

    def brier(mdl, Xv, yv):
        return _brier(yv, mdl.predict_proba(Xv))

    idx = np.sort(np.random.default_rng(1).choice(1000, 150, replace=False))
    loo = loo_refits(est, Xtr, ytr, idx, brier, X_eval=Xe, y_eval=ye, full=full)
    res = training_point_importance(full, Xtr, ytr, objective=f, X_eval=Xe, y_eval=ye)
    assert res.objective == "brier"
    assert res.baseline == pytest.approx(brier(full, Xe, ye), rel=1e-12)
    assert pearson(res.scores[idx], loo) >= 0.99


def test_evaluation_function_without_gradient():
    X, y = make_gaussian_classification(100, 3, 2, random_state=4)
    m = tight(LogisticRegression()).fit(X, y)
    f = make_evaluation_function(_brier)
    assert not f.has_gradient
    with pytest.raises(ValueError, match="loo"):
        training_point_importance(m, X, y, objective=f)
    res = training_point_importance(m, X, y, objective=f, method="loo", indices=[3])
    assert res.objective == "_brier"
    assert np.isfinite(res.scores[3])


def test_make_evaluation_function_errors():
    with pytest.raises(TypeError, match="value"):
        make_evaluation_function("brier")
    with pytest.raises(TypeError, match="gradient"):
        make_evaluation_function(_brier, gradient=3)
    with pytest.raises(ValueError, match="'f1'"):
        resolve_objective("f1")
    with pytest.raises(TypeError, match="objective"):
        resolve_objective(3.5)


def test_empty_condition_group_is_a_clear_error():
    """A group with no positives has no TPR: say so, naming the objective."""
    y = np.array([1, 0, 1, 0, 0, 0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    P = np.full((6, 2), 0.5)
    P[:, 1] = [0.9, 0.2, 0.8, 0.3, 0.6, 0.1]
    P[:, 0] = 1 - P[:, 1]
    with pytest.raises(ValueError, match="equal_opportunity"):
        resolve_objective("equal_opportunity").value(y, P, sensitive_features=groups)

"""Tests of the group-rate objectives (fairlearn_divine._objectives._rates / _fairlearn) against
fairlearn's MetricFrame and disparity functions, and of their surrogate gradients against a
finite difference of a soft surrogate written here from the module docstring."""

import functools

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    make_derived_metric,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score, recall_score, zero_one_loss

from fairlearn_divine import make_metric_frame_objective, training_point_importance
from fairlearn_divine._objectives import resolve_objective
from fairlearn_divine._objectives._rates import RATES, RateObjective

ATOL = 1e-12

#: each rate with the fairlearn / scikit-learn metric that computes it
RATE_METRICS = {
    "TPR": true_positive_rate,
    "FNR": false_negative_rate,
    "TNR": true_negative_rate,
    "FPR": false_positive_rate,
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "error_rate": zero_one_loss,
}
#: (aggregate, method) pairs; group_max / group_min have no method
AGG_METHODS = [
    ("difference", "between_groups"),
    ("difference", "to_overall"),
    ("ratio", "between_groups"),
    ("ratio", "to_overall"),
    ("group_max", None),
    ("group_min", None),
]
#: condition on y (None = all rows) and the soft event of each rate, written independently
CONDITION = {
    "TPR": 1,
    "FNR": 1,
    "TNR": 0,
    "FPR": 0,
    "selection_rate": None,
    "accuracy": None,
    "error_rate": None,
}


def _proba_from(p):
    return np.column_stack([1.0 - p, p])


def _random_case(seed, *, margin=0.0):
    """Random labels, 2-4 groups of unequal sizes, predictions from random probabilities whose
    distribution differs by group (so that rates differ). Rows are kept ``margin`` away from the
    0.5 threshold."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 201))
    k = int(rng.integers(2, 5))
    props = rng.dirichlet(np.full(k, 3.0))
    a = rng.choice(k, size=n, p=props)
    a[: 6 * k] = np.repeat(np.arange(k), 6)  # every group has rows
    rng.shuffle(a)
    base = rng.uniform(0.3, 0.7, size=k)
    y = (rng.random(n) < base[a]).astype(int)
    # both labels in every group
    for g in range(k):
        rows = np.flatnonzero(a == g)
        y[rows[0]], y[rows[1]] = 0, 1
    expo = rng.uniform(0.5, 2.0, size=k)
    p = rng.random(n) ** expo[a]
    p = 0.7 * p + 0.3 * np.where(y == 1, rng.random(n), rng.random(n) * 0.8)
    if margin:
        near = np.abs(p - 0.5) < margin
        p[near] = np.where(p[near] >= 0.5, 0.5 + 2 * margin, 0.5 - 2 * margin)
    return y, _proba_from(p), a


def _y_pred(proba):
    return (proba[:, 1] > proba[:, 0]).astype(int)


def _mf_value(metrics, y, proba, a, aggregate, method):
    mf = MetricFrame(metrics=metrics, y_true=y, y_pred=_y_pred(proba), sensitive_features=a)
    if aggregate in ("difference", "ratio"):
        return getattr(mf, aggregate)(method=method)
    return getattr(mf, aggregate)()


def _rate_objective(key, aggregate, method, **kwargs):
    kw = {} if method is None else {"method": method}
    if aggregate.startswith("group_") and RATES[key].higher_is_better is None:
        kw["greater_is_better"] = True
    return RateObjective(key, [RATES[key]], aggregate=aggregate, **kw, **kwargs)


# ---------------------------------------------------------------------------------------------
# 1. values equal fairlearn's MetricFrame


def test_rates_cover_the_known_metrics():
    assert set(RATES) == set(RATE_METRICS)


@pytest.mark.parametrize("seed", range(8))
def test_values_equal_metric_frame(seed):
    y, proba, a = _random_case(seed)
    n_nan = 0
    for key, metric in RATE_METRICS.items():
        for aggregate, method in AGG_METHODS:
            expected = float(_mf_value(metric, y, proba, a, aggregate, method))
            ours = _rate_objective(key, aggregate, method).value(y, proba, sensitive_features=a)
            if np.isnan(expected):
                n_nan += 1
                continue
            assert ours == pytest.approx(expected, abs=ATOL, rel=0), (key, aggregate, method)
    assert n_nan == 0  # the random cases have every rate positive somewhere


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
def test_ratio_of_a_rate_zero_in_every_group_is_nan(method):
    y, proba, a = _random_case(3)
    none_selected = _proba_from(np.full(len(y), 0.2))
    for key in ("selection_rate", "TPR", "FPR"):
        expected = float(_mf_value(RATE_METRICS[key], y, none_selected, a, "ratio", method))
        assert np.isnan(expected)
        f = _rate_objective(key, "ratio", method)
        assert np.isnan(f.value(y, none_selected, sensitive_features=a))
        with pytest.raises(ValueError, match="0 in every group"):
            f.gradient(y, none_selected, sensitive_features=a)
    # no false positive anywhere (but true positives): FPR ratio NaN, TPR ratio defined
    perfect = _proba_from(np.where(y == 1, 0.9, 0.1))
    assert np.isnan(
        _rate_objective("FPR", "ratio", method).value(y, perfect, sensitive_features=a)
    )
    assert _rate_objective("TPR", "ratio", method).value(
        y, perfect, sensitive_features=a
    ) == pytest.approx(1.0, abs=ATOL)


def test_group_without_rows_for_a_condition_raises():
    y, proba, a = _random_case(5)
    only_neg = y.copy()
    only_neg[a == 1] = 0  # group 1 has no positives: TPR / FNR undefined there
    only_pos = y.copy()
    only_pos[a == 0] = 1  # group 0 has no negatives: TNR / FPR undefined there
    for key in RATES:
        for aggregate, method in AGG_METHODS:
            f = _rate_objective(key, aggregate, method or "between_groups")
            if CONDITION[key] == 1:
                with pytest.raises(ValueError, match=r"code\(s\) \[1\]"):
                    f.value(only_neg, proba, sensitive_features=a)
                f.value(only_pos, proba, sensitive_features=a)  # defined
            elif CONDITION[key] == 0:
                with pytest.raises(ValueError, match=r"code\(s\) \[0\]"):
                    f.value(only_pos, proba, sensitive_features=a)
                f.value(only_neg, proba, sensitive_features=a)
            # a code without any row (codes 0 and 2 only): every rate is undefined for group 1
            gap = np.where(a == 1, 0, 2)
            with pytest.raises(ValueError, match=r"code\(s\) \[1\]"):
                f.value(y, proba, sensitive_features=gap)
            with pytest.raises(ValueError, match=r"code\(s\) \[1\]"):
                f.gradient(y, proba, sensitive_features=gap)


# ---------------------------------------------------------------------------------------------
# 2. named objectives and fairlearn functions


def _fl(func, y, proba, a, **kwargs):
    return float(func(y, _y_pred(proba), sensitive_features=a, **kwargs))


def _value(objective, y, proba, a):
    return resolve_objective(objective).value(y, proba, sensitive_features=a)


@pytest.mark.parametrize("seed", range(5))
def test_named_objectives_equal_fairlearn(seed):
    y, proba, a = _random_case(seed)
    named = {
        "equalized_odds": (equalized_odds_difference, False),
        "equal_opportunity": (equal_opportunity_difference, False),
        "demographic_parity": (demographic_parity_difference, False),
        "equalized_odds_ratio": (equalized_odds_ratio, True),
        "equal_opportunity_ratio": (equal_opportunity_ratio, True),
        "demographic_parity_ratio": (demographic_parity_ratio, True),
    }
    for name, (func, greater) in named.items():
        f = resolve_objective(name)
        assert f.greater_is_better is greater, name
        assert f.has_gradient, name
        assert f.value(y, proba, sensitive_features=a) == pytest.approx(
            _fl(func, y, proba, a), abs=ATOL, rel=0
        ), name
    # equalized odds is the worst case of the two gaps, not their sum
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=_y_pred(proba),
        sensitive_features=a,
    )
    gaps = mf.difference()
    assert _value("equalized_odds", y, proba, a) == pytest.approx(max(gaps), abs=ATOL)
    # DIVINE's equal accuracy: |TPR gap| + |TNR gap|
    tnr_gap = float(_mf_value(true_negative_rate, y, proba, a, "difference", "between_groups"))
    assert _value("equal_accuracy", y, proba, a) == pytest.approx(gaps["tpr"] + tnr_gap, abs=ATOL)
    assert resolve_objective("equal_accuracy").greater_is_better is False


@pytest.mark.parametrize("seed", range(4))
def test_fairlearn_functions_and_partials_equal_fairlearn(seed):
    y, proba, a = _random_case(seed)
    funcs = {
        demographic_parity_difference: False,
        demographic_parity_ratio: True,
        equal_opportunity_difference: False,
        equal_opportunity_ratio: True,
        equalized_odds_difference: False,
        equalized_odds_ratio: True,
    }
    n_checked = 0
    for func, greater in funcs.items():
        aggs = [None, "worst_case", "mean"] if func.__name__.startswith("equalized") else [None]
        for method in (None, "between_groups", "to_overall"):
            for agg in aggs:
                kwargs = {k: v for k, v in (("method", method), ("agg", agg)) if v is not None}
                metric = functools.partial(func, **kwargs) if kwargs else func
                f = resolve_objective(metric)
                assert isinstance(f, RateObjective), (func.__name__, kwargs)
                assert f.greater_is_better is greater
                assert f.value(y, proba, sensitive_features=a) == pytest.approx(
                    _fl(func, y, proba, a, **kwargs), abs=ATOL, rel=0
                ), (func.__name__, kwargs)
                n_checked += 1
    assert n_checked == 4 * 3 + 2 * 9
    # a nested partial is unwrapped too
    nested = functools.partial(
        functools.partial(equalized_odds_ratio, agg="mean"), method="to_overall"
    )
    assert _value(nested, y, proba, a) == pytest.approx(
        _fl(equalized_odds_ratio, y, proba, a, agg="mean", method="to_overall"), abs=ATOL
    )
    with pytest.raises(ValueError, match="agg"):
        resolve_objective(functools.partial(equalized_odds_difference, agg="median"))


@pytest.mark.parametrize("seed", range(4))
def test_derived_metrics_equal_fairlearn(seed):
    y, proba, a = _random_case(seed)
    for base in (true_positive_rate, false_positive_rate, true_negative_rate, accuracy_score):
        for transform in ("difference", "ratio", "group_max", "group_min"):
            derived = make_derived_metric(metric=base, transform=transform)
            f = resolve_objective(derived)
            assert isinstance(f, RateObjective)
            assert f.greater_is_better is (
                transform == "ratio"
                or (transform.startswith("group_") and base is not false_positive_rate)
            )
            assert f.value(y, proba, sensitive_features=a) == pytest.approx(
                _fl(derived, y, proba, a), abs=ATOL, rel=0
            ), (base.__name__, transform)
            if transform in ("difference", "ratio"):
                for method in ("between_groups", "to_overall"):
                    part = functools.partial(derived, method=method)
                    assert _value(part, y, proba, a) == pytest.approx(
                        _fl(derived, y, proba, a, method=method), abs=ATOL, rel=0
                    ), (base.__name__, transform, method)


def _combined(values, combine, worst):
    values = np.asarray(values, dtype=float)
    if combine == "sum":
        return values.sum()
    if combine == "mean":
        return values.mean()
    return worst(values)


@pytest.mark.parametrize("seed", range(4))
def test_metric_frame_objective_equals_metric_frame(seed):
    y, proba, a = _random_case(seed)
    metrics = {"tpr": true_positive_rate, "fpr": false_positive_rate}
    for aggregate, method in AGG_METHODS:
        frame = _mf_value(metrics, y, proba, a, aggregate, method)
        # TPR and FPR have opposite orientations: group_max / group_min need greater_is_better
        options = [None] if aggregate in ("difference", "ratio") else [True, False]
        for greater in options:
            for combine in ("max", "mean", "sum"):
                kw = {} if method is None else {"method": method}
                if greater is not None:
                    kw["greater_is_better"] = greater
                f = make_metric_frame_objective(
                    metrics, aggregate=aggregate, combine=combine, **kw
                )
                gib = aggregate == "ratio" if greater is None else greater
                assert f.greater_is_better is gib
                assert f.has_gradient
                expected = _combined(frame, combine, np.min if gib else np.max)
                assert f.value(y, proba, sensitive_features=a) == pytest.approx(
                    expected, abs=ATOL, rel=0
                ), (aggregate, method, combine, greater)
        if aggregate.startswith("group_"):
            with pytest.raises(ValueError, match="greater_is_better"):
                make_metric_frame_objective(metrics, aggregate=aggregate)
    # neutral partials and recall_score are rates too
    f = make_metric_frame_objective(
        {"r": functools.partial(recall_score, pos_label=1), "s": selection_rate},
        combine="mean",
    )
    assert f.has_gradient
    expected = _mf_value(
        {"r": recall_score, "s": selection_rate}, y, proba, a, "difference", "between_groups"
    ).mean()
    assert f.value(y, proba, sensitive_features=a) == pytest.approx(expected, abs=ATOL)


@pytest.mark.parametrize("seed", range(3))
def test_unknown_base_metric_is_valued_by_metric_frame(seed):
    y, proba, a = _random_case(seed)
    for aggregate, method in AGG_METHODS:
        kw = {} if method is None else {"method": method}
        if aggregate.startswith("group_"):
            kw["greater_is_better"] = True
            with pytest.raises(ValueError, match="greater_is_better"):
                make_metric_frame_objective(precision_score, aggregate=aggregate)
        f = make_metric_frame_objective(precision_score, aggregate=aggregate, **kw)
        assert f.has_gradient is False
        expected = float(_mf_value(precision_score, y, proba, a, aggregate, method))
        assert f.value(y, proba, sensitive_features=a) == pytest.approx(
            expected, abs=ATOL, rel=0
        ), (aggregate, method)
        with pytest.raises(NotImplementedError, match="refit-based"):
            f.gradient(y, proba, sensitive_features=a)
    # a known rate with an unknown one: valued by MetricFrame, combined the same way
    metrics = {"tpr": true_positive_rate, "prec": precision_score}
    frame = _mf_value(metrics, y, proba, a, "ratio", "to_overall")
    for combine in ("max", "mean", "sum"):
        f = make_metric_frame_objective(
            metrics, aggregate="ratio", method="to_overall", combine=combine
        )
        assert f.has_gradient is False and f.greater_is_better is True
        assert f.value(y, proba, sensitive_features=a) == pytest.approx(
            _combined(frame, combine, np.min), abs=ATOL, rel=0
        )


def test_group_max_of_selection_rate_needs_an_orientation():
    with pytest.raises(ValueError, match="greater_is_better"):
        make_metric_frame_objective(selection_rate, aggregate="group_max")
    with pytest.raises(ValueError, match="greater_is_better"):
        make_metric_frame_objective(
            {"tpr": true_positive_rate, "s": selection_rate}, aggregate="group_min"
        )
    f = make_metric_frame_objective(selection_rate, aggregate="group_max", greater_is_better=False)
    assert f.greater_is_better is False
    y, proba, a = _random_case(1)
    expected = float(_mf_value(selection_rate, y, proba, a, "group_max", None))
    assert f.value(y, proba, sensitive_features=a) == pytest.approx(expected, abs=ATOL)


def test_computed_metric_frame_as_objective_is_a_type_error():
    X, y, a = _lr_data(40, seed=0)
    model = LogisticRegression().fit(X, y)
    mf = MetricFrame(
        metrics=true_positive_rate,
        y_true=y,
        y_pred=model.predict(X),
        sensitive_features=a,
    )
    with pytest.raises(TypeError, match="make_metric_frame_objective"):
        training_point_importance(model, X, y, method="loo", objective=mf, sensitive_features=a)
    with pytest.raises(TypeError, match="make_metric_frame_objective"):
        resolve_objective(mf)


# ---------------------------------------------------------------------------------------------
# 3. gradients: a finite difference of the soft surrogate written from the docstring


def _soft_event(key, y, proba):
    if key in ("TPR", "FPR", "selection_rate"):
        return proba[:, 1]
    if key in ("FNR", "TNR"):
        return proba[:, 0]
    p_true = proba[np.arange(len(y)), y]
    return p_true if key == "accuracy" else 1.0 - p_true


def _hard_event(key, y, proba):
    pred = _y_pred(proba)
    if key in ("TPR", "FPR", "selection_rate"):
        return (pred == 1).astype(float)
    if key in ("FNR", "TNR"):
        return (pred == 0).astype(float)
    return (pred == y).astype(float) if key == "accuracy" else (pred != y).astype(float)


def _rates_of(key, y, proba, a):
    """(hard group rates, soft group rates, hard overall, soft overall) over condition rows."""
    cond = np.ones(len(y), bool) if CONDITION[key] is None else y == CONDITION[key]
    hard, soft = _hard_event(key, y, proba)[cond], _soft_event(key, y, proba)[cond]
    g = a[cond]
    counts = np.bincount(g)
    r = np.bincount(g, weights=hard) / counts
    s = np.bincount(g, weights=soft) / counts
    return r, s, hard.mean(), soft.mean()


def _active(key, aggregate, method, y, proba, a):
    """Active group(s) at the unperturbed point: hard rates first, ties by the soft rate."""
    r, s, r_all, _ = _rates_of(key, y, proba, a)
    groups = range(len(r))
    hi = max(groups, key=lambda g: (r[g], s[g]))
    lo = min(groups, key=lambda g: (r[g], s[g]))
    if aggregate == "group_max":
        return (hi,)
    if aggregate == "group_min" or method == "between_groups":
        return (lo,) if aggregate == "group_min" else (hi, lo)
    if aggregate == "difference":  # to_overall: largest |r_g - r|
        dev = np.abs(r - r_all)
        best = np.flatnonzero(dev == dev.max())
        assert len(best) == 1, "tie in the to_overall gap: pick another seed"
        return (int(best[0]),)
    ratios = np.array([min(rg / r_all, r_all / rg) if rg > 0 else 0.0 for rg in r])
    best = np.flatnonzero(ratios == ratios.min())
    assert len(best) == 1, "tie in the to_overall ratio: pick another seed"
    return (int(best[0]),)


def _surrogate(key, aggregate, method, active, y, proba, a):
    r, s, r_all, s_all = _rates_of(key, y, proba, a)
    if aggregate in ("group_max", "group_min"):
        return s[active[0]]
    if aggregate == "difference":
        if method == "between_groups":
            hi, lo = active
            return s[hi] - s[lo]
        (g,) = active
        return np.sign(r[g] - r_all) * (s[g] - s_all)
    if method == "between_groups":  # ratio, linearised at the hard rates
        hi, lo = active
        return s[lo] / r[hi] - r[lo] * s[hi] / r[hi] ** 2
    (g,) = active
    if r[g] <= r_all:  # r_g / r
        return s[g] / r_all - r[g] * s_all / r_all**2
    return s_all / r[g] - r_all * s[g] / r[g] ** 2  # r / r_g


def _hard_value(key, aggregate, method, y, proba, a):
    r, _, r_all, _ = _rates_of(key, y, proba, a)
    if aggregate == "group_max":
        return r.max()
    if aggregate == "group_min":
        return r.min()
    if aggregate == "difference":
        return r.max() - r.min() if method == "between_groups" else np.abs(r - r_all).max()
    if method == "between_groups":
        return r.min() / r.max()
    return min(min(rg / r_all, r_all / rg) if rg > 0 else 0.0 for rg in r)


def _fd(func, proba, h=1e-7):
    grad = np.zeros_like(proba)
    for j in range(proba.shape[0]):
        for c in range(2):
            up, down = proba.copy(), proba.copy()
            up[j, c] += h
            down[j, c] -= h
            grad[j, c] = (func(up) - func(down)) / (2 * h)
    return grad


def _fd_surrogate(key, aggregate, method, active, y, proba, a):
    """Finite difference of the soft surrogate with the active group(s) held fixed."""
    return _fd(lambda q: _surrogate(key, aggregate, method, active, y, q, a), proba)


def _check_no_hard_move(y, proba):
    assert np.abs(proba[:, 1] - 0.5).min() > 1e-3


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("aggregate,method", AGG_METHODS)
def test_gradient_single_rate_equals_fd_of_soft_surrogate(seed, aggregate, method):
    y, proba, a = _random_case(seed, margin=1e-3)
    _check_no_hard_move(y, proba)
    for key in RATES:
        f = _rate_objective(key, aggregate, method or "between_groups")
        active = _active(key, aggregate, method, y, proba, a)
        expected = _fd_surrogate(key, aggregate, method, active, y, proba, a)
        value, grad = f.value_and_gradient(y, proba, sensitive_features=a)
        assert value == pytest.approx(_hard_value(key, aggregate, method, y, proba, a), abs=ATOL)
        np.testing.assert_allclose(
            f.gradient(y, proba, sensitive_features=a), grad, rtol=0, atol=0
        )
        np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-6, err_msg=f"{key} {active}")
        if key in ("accuracy", "error_rate"):  # gradient only on p[j, y_j]
            other = grad[np.arange(len(y)), 1 - y]
            assert np.all(other == 0)
            assert np.any(grad[np.arange(len(y)), y] != 0)
        else:  # gradient only on the event's column
            event = 1 if key in ("TPR", "FPR", "selection_rate") else 0
            assert np.all(grad[:, 1 - event] == 0)


def test_gradient_ties_broken_by_the_soft_rate():
    """Two groups with the same hard rate: the active one is the one with the more extreme soft
    rate (larger for the max, smaller for the min)."""
    y = np.zeros(12, dtype=int)
    a = np.repeat([0, 1, 2], 4)
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.6, 0.55, 0.4, 0.45, 0.99, 0.7, 0.6, 0.3])
    proba = _proba_from(p)
    # selection rates: 0.5, 0.5, 0.75; soft: 0.5, 0.5, 0.6475 -> shift group 1's soft down
    proba = _proba_from(np.where(a == 1, p - 0.04, p))
    r, s, _, _ = _rates_of("selection_rate", y, proba, a)
    assert r[0] == r[1] and s[1] < s[0]
    for aggregate in ("difference", "ratio", "group_min"):
        f = _rate_objective("selection_rate", aggregate, "between_groups")
        active = _active("selection_rate", aggregate, "between_groups", y, proba, a)
        assert 1 in active
        expected = _fd_surrogate(
            "selection_rate", aggregate, "between_groups", active, y, proba, a
        )
        grad = f.gradient(y, proba, sensitive_features=a)
        np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-6, err_msg=aggregate)
        assert np.all(grad[a == 0] == 0)


def test_to_overall_ties_broken_by_the_soft_rate():
    """Groups 0 and 1 have the same hard selection rate (1/4, below the overall 11/18), so the
    same |r_g - r| and the same ratio r_g / r; group 1's soft rate is the more extreme (0.3 <
    0.375), so by "ties broken by the soft rate" group 1 is the active group."""
    a = np.repeat([0, 1, 2], [4, 4, 10])
    y = np.zeros(len(a), dtype=int)
    p = np.concatenate([[0.9, 0.3, 0.2, 0.1], [0.6, 0.45, 0.1, 0.05], [0.9] * 9 + [0.2]])
    proba = _proba_from(p)
    r, s, r_all, _ = _rates_of("selection_rate", y, proba, a)
    assert r[0] == r[1] == 0.25 and r_all == pytest.approx(11 / 18) and s[1] < s[0] < r_all
    for aggregate in ("difference", "ratio"):
        f = _rate_objective("selection_rate", aggregate, "to_overall")
        expected = _fd_surrogate("selection_rate", aggregate, "to_overall", (1,), y, proba, a)
        grad = f.gradient(y, proba, sensitive_features=a)
        np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-6, err_msg=aggregate)


PAIRS = [("TPR", "FPR"), ("TPR", "TNR"), ("accuracy", "selection_rate"), ("FNR", "error_rate")]


@pytest.mark.parametrize("seed", [21, 22])
@pytest.mark.parametrize("combine", ["max", "mean", "sum"])
@pytest.mark.parametrize("aggregate,method", AGG_METHODS)
def test_gradient_combined_rates_equals_fd(seed, combine, aggregate, method):
    y, proba, a = _random_case(seed, margin=1e-3)
    for pair in PAIRS:
        for greater in [None] if aggregate in ("difference", "ratio") else [True, False]:
            kw = {"method": method or "between_groups"}
            if greater is not None:
                kw["greater_is_better"] = greater
            f = RateObjective(
                "+".join(pair),
                [RATES[k] for k in pair],
                aggregate=aggregate,
                combine=combine,
                **kw,
            )
            gib = f.greater_is_better
            actives = [_active(k, aggregate, method, y, proba, a) for k in pair]
            hard = np.array([_hard_value(k, aggregate, method, y, proba, a) for k in pair])
            if combine == "max":
                worst = hard.min() if gib else hard.max()
                which = np.flatnonzero(hard == worst)
                assert len(which) == 1, "tie between the rates' values: pick another seed"
                chosen, scale = [int(which[0])], 1.0
                value = worst
            else:
                chosen = [0, 1]
                scale = 1.0 if combine == "sum" else 0.5
                value = scale * hard.sum()

            def surrogate(q, chosen=chosen, scale=scale, actives=actives, pair=pair):
                return scale * sum(
                    _surrogate(pair[i], aggregate, method, actives[i], y, q, a) for i in chosen
                )

            v, grad = f.value_and_gradient(y, proba, sensitive_features=a)
            assert v == pytest.approx(value, abs=ATOL), (pair, greater)
            np.testing.assert_allclose(
                grad, _fd(surrogate, proba), rtol=0, atol=1e-6, err_msg=f"{pair} {greater}"
            )


# ---------------------------------------------------------------------------------------------
# 4. sign convention end to end


def _lr_data(n, seed, shift=0.0):
    """Three Gaussian features, a binary group that shifts feature 0 and the label's base rate."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    if shift:
        a = (rng.random(n) < 0.4).astype(int)
        X[:, 0] += shift * a
        z = X @ [1.0, -0.8, 0.5] - 0.3 - 0.7 * shift * a
    else:
        a = (rng.random(n) < 1 / (1 + np.exp(-1.5 * X[:, 0]))).astype(int)
        z = X @ [1.0, -0.8, 0.5] + 0.8 * a - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y, a


def _own_loo(model, X, y, a, metrics, indices):
    """Each fairlearn metric at the full refit and at the refits without i, by clone().fit."""
    cache = {}

    def values(pred):  # many refits predict the same labels: value each labelling once
        key = pred.tobytes()
        if key not in cache:
            cache[key] = [float(m(y, pred, sensitive_features=a)) for m in metrics]
        return cache[key]

    f_full = values(clone(model).fit(X, y).predict(X))
    without = []
    for i in indices:
        keep = np.arange(len(y)) != i
        without.append(values(clone(model).fit(X[keep], y[keep]).predict(X)))
    return np.array(f_full), np.array(without).T


def _tight_lr():
    return LogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=1000)


def test_sign_convention_greater_is_better_end_to_end():
    X, y, a = _lr_data(80, seed=4)
    model = _tight_lr().fit(X, y)
    indices = list(range(0, 80, 2))
    cases = (
        ("demographic_parity_ratio", demographic_parity_ratio, True),
        ("demographic_parity", demographic_parity_difference, False),
    )
    fulls, withouts = _own_loo(model, X, y, a, [c[1] for c in cases], indices)
    for (name, _, greater), f_full, f_without in zip(cases, fulls, withouts, strict=True):
        expected = f_full - f_without if greater else f_without - f_full
        # removing points does change predictions here: many non-zero scores of both signs
        assert (expected > 0).sum() >= 3 and (expected < 0).sum() >= 3, expected
        res = training_point_importance(
            model,
            X,
            y,
            method="loo",
            objective=name,
            sensitive_features=a,
            indices=indices,
        )
        assert res.baseline == pytest.approx(f_full, abs=ATOL)
        np.testing.assert_allclose(res.scores[indices], expected, rtol=0, atol=1e-12, err_msg=name)
        assert np.isnan(np.delete(res.scores, indices)).all()


# ---------------------------------------------------------------------------------------------
# 5. influence with a MetricFrame recipe ranks harmful points as exact LOO does


def test_influence_of_metric_frame_objective_agrees_with_loo():
    """150 training points, the objective evaluated on 3000 validation points, so that one
    removal moves the hard TPR/FPR gap by many small steps (on the training set itself most
    hard LOO scores are 0 and the check fails for about a third of seeds).

    Measured for this generator over seeds 0-19: the 15 most harmful points by influence have a
    mean exact LOO score 4.1-8.7 standard errors below the mean of the other points (always
    negative); Pearson(influence, LOO) 0.37-0.88. Seed 0: harmful -0.0109, others -0.0023.
    (Against LOO of the soft surrogate itself, influence has Pearson 0.9999.)"""
    X, y, a = _lr_data(3150, seed=0, shift=1.5)
    tr, ev = slice(0, 150), slice(150, None)
    model = _tight_lr().fit(X[tr], y[tr])
    metrics = {"tpr": true_positive_rate, "fpr": false_positive_rate}
    objective = make_metric_frame_objective(metrics)
    assert objective.has_gradient
    kw = dict(
        objective=objective,
        sensitive_features=a[tr],
        X_eval=X[ev],
        y_eval=y[ev],
        sensitive_features_eval=a[ev],
    )
    infl = training_point_importance(model, X[tr], y[tr], method="influence", **kw)
    assert np.isfinite(infl.scores).all()
    frame = _mf_value(
        metrics, y[ev], model.predict_proba(X[ev]), a[ev], "difference", "between_groups"
    )
    assert infl.baseline == pytest.approx(max(frame), abs=ATOL)
    harmful = np.argsort(infl.scores)[:15]
    rng = np.random.default_rng(0)
    others = rng.choice(np.setdiff1d(np.arange(150), harmful), size=15, replace=False)
    idx = np.concatenate([harmful, others])
    loo = training_point_importance(model, X[tr], y[tr], method="loo", indices=idx, **kw).scores
    assert loo[harmful].mean() < 0
    assert loo[harmful].mean() < loo[others].mean()

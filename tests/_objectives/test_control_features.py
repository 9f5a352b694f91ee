"""MetricFrame recipes with control_features: valued as MetricFrame(..., control_features=...)
values them (the worst control level's aggregate), with the gradient of that level."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score

from fairlearn_divine import make_metric_frame_objective, training_point_importance
from fairlearn_divine._objectives import EvalContext


def _data(seed=0, n=400):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + rng.normal(size=n) > 0).astype(int)
    A = pd.DataFrame(
        {"sex": rng.choice(["f", "m"], n), "age": rng.choice(["young", "mid", "old"], n)}
    )
    return X, y, A


CASES = [
    ({"tpr": true_positive_rate, "fpr": false_positive_rate}, "difference", "between_groups"),
    ({"tpr": true_positive_rate, "fpr": false_positive_rate}, "difference", "to_overall"),
    ({"sel": selection_rate}, "ratio", "between_groups"),
    ({"tpr": true_positive_rate}, "group_min", None),
    ({"prec": precision_score}, "difference", "between_groups"),  # no gradient: MetricFrame
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("metrics", "aggregate", "method"), CASES)
def test_value_is_metric_frames_worst_control_level(metrics, aggregate, method, seed):
    X, y, A = _data(seed)
    model = LogisticRegression().fit(X, y)
    kwargs = {} if method is None else {"method": method}
    f = make_metric_frame_objective(metrics, aggregate=aggregate, control_features="age", **kwargs)
    res = training_point_importance(
        model,
        X,
        y,
        objective=f,
        sensitive_features=A,
        **({} if f.has_gradient else {"method": "loo", "indices": [0, 1]}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=model.predict(X),
            sensitive_features=A["sex"],
            control_features=A["age"],
        )
        per_level = getattr(mf, aggregate)(**kwargs).to_numpy().reshape(3, -1)
    worst_metric = per_level.min(axis=1) if f.greater_is_better else per_level.max(axis=1)
    expected = worst_metric.min() if f.greater_is_better else worst_metric.max()
    assert res.baseline == pytest.approx(float(expected), abs=1e-12)


def test_gradient_is_the_worst_levels_gradient():
    X, y, A = _data(2)
    model = LogisticRegression().fit(X, y)
    P = model.predict_proba(X)
    metrics = {"tpr": true_positive_rate, "fpr": false_positive_rate}
    controlled = make_metric_frame_objective(metrics, control_features="age")
    plain = make_metric_frame_objective(metrics)
    ctx = EvalContext([controlled], model.classes_, X, y, A)
    value, grad = controlled.value_and_gradient(
        ctx.y_idx, P, sensitive_features=ctx.groups_for(controlled)
    )
    values = {}
    for level in A["age"].unique():
        rows = (A["age"] == level).to_numpy()
        sub = EvalContext([plain], model.classes_, X[rows], y[rows], A.loc[rows, ["sex"]])
        values[level] = sub.values_and_gradients(P[rows])
    worst = max(values, key=lambda k: values[k][0][0])
    rows = (A["age"] == worst).to_numpy()
    assert value == pytest.approx(values[worst][0][0], abs=1e-12)
    np.testing.assert_allclose(grad[rows], values[worst][1][0], atol=1e-15)
    assert not np.any(grad[~rows])


def test_control_column_must_be_given():
    X, y, A = _data()
    model = LogisticRegression().fit(X, y)
    f = make_metric_frame_objective({"tpr": true_positive_rate}, control_features="region")
    with pytest.raises(ValueError, match="control_features"):
        training_point_importance(model, X, y, objective=f, sensitive_features=A)

"""DivineExplainer: a shap.Explainer over training points, checked against the package's own
per-point importance (itself tested against refits) and against shap's plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from fairlearn_divine import (  # noqa: E402
    DivineExplainer,
    minimal_forcing_subset,
    select_diverse_influential,
    training_point_importance,
)
from fairlearn_divine.datasets import make_divine_synthetic  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    data = make_divine_synthetic(n_samples=200, n_outliers=6, random_state=1)
    model = LogisticRegression(tol=1e-10, max_iter=1000).fit(data.X, data.y)
    return data, model


def test_explanation_is_a_plain_shap_explanation(setup):
    import shap

    data, model = setup
    explainer = DivineExplainer(model, data.X, data.y, sensitive_features=data.sensitive_features)
    assert isinstance(explainer, shap.Explainer)
    e = explainer(data.X[:7], data.y[:7])
    assert type(e) is shap.Explanation
    assert e.values.shape == (7, len(data.y)) and e.base_values.shape == (7,)
    assert e.feature_names == [str(i) for i in range(len(data.y))]
    assert e.display_data.shape == (7, len(data.y))
    assert "group=" in e.display_data[0, 0] and e.display_data[0, 0].startswith("y=")


def test_values_are_local_importances(setup):
    data, model = setup
    e = DivineExplainer(model, data.X, data.y)(data.X[:5], data.y[:5])
    for j in range(5):
        r = training_point_importance(
            model, data.X, data.y, X_eval=data.X[j : j + 1], y_eval=data.y[j : j + 1]
        )
        np.testing.assert_allclose(e.values[j], r.scores, rtol=1e-9, atol=1e-15)
        assert e.base_values[j] == pytest.approx(r.baseline)


def test_loo_explainer_matches_own_refits(setup):
    data, model = setup
    e = DivineExplainer(model, data.X, data.y, method="loo", indices=np.arange(5))(
        data.X[:3], data.y[:3]
    )
    for i in range(5):
        keep = np.arange(len(data.y)) != i
        refit = clone(model).fit(data.X[keep], data.y[keep])
        for j in range(3):
            loss = -np.log(refit.predict_proba(data.X[j : j + 1])[0, data.y[j]])
            base = -np.log(model.predict_proba(data.X[j : j + 1])[0, data.y[j]])
            assert e.values[j, i] == pytest.approx(loss - base, rel=1e-4, abs=1e-9)


def test_shap_plots_accept_it(setup):
    import shap

    data, model = setup
    e = DivineExplainer(model, data.X, data.y)(data.X[:20], data.y[:20])
    for plot in (shap.plots.bar, shap.plots.heatmap, shap.plots.beeswarm):
        plot(e, show=False)
        plt.close("all")
    shap.plots.group_difference(
        e.values, data.sensitive_features[:20] == 1, feature_names=e.feature_names, show=False
    )
    plt.close("all")
    assert e[0:3, 0:4].values.shape == (3, 4)  # slicing keeps a plain Explanation


def test_global_local_and_forcing_delegate(setup):
    data, model = setup
    explainer = DivineExplainer(model, data.X, data.y, sensitive_features=data.sensitive_features)
    g = explainer.explain_global(n_points=3, random_state=0)
    expected = select_diverse_influential(
        model,
        data.X,
        data.y,
        3,
        objective="equal_accuracy",
        harmful=True,
        sensitive_features=data.sensitive_features,
        random_state=0,
    )
    np.testing.assert_array_equal(g.indices, expected.indices)
    loc = explainer.explain_local(data.X[0], data.y[0], n_points=3, random_state=0)
    assert len(loc.indices) == 3
    f = explainer.forcing_subset(data.X[0])
    np.testing.assert_array_equal(
        f.indices, minimal_forcing_subset(model, data.X, data.y, data.X[0]).indices
    )


def test_bad_input(setup):
    data, model = setup
    with pytest.raises(ValueError, match="y_train"):
        DivineExplainer(model, data.X, data.y[:-1])
    with pytest.raises(ValueError, match="point_names"):
        DivineExplainer(model, data.X, data.y, point_names=["a"])
    with pytest.raises(ValueError, match="y has"):
        DivineExplainer(model, data.X, data.y)(data.X[:3], data.y[:2])

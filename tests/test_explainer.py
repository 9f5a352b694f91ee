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
    assert e.feature_names == [f"train point {i}" for i in range(len(data.y))]
    assert e.display_data.shape == (7, len(data.y))
    assert e.display_data[0, 0] == f"(y={data.y[0]}, group={data.sensitive_features[0]})"
    assert e.output_names == (
        "change of log loss when the training point is removed (first-order estimate)"
    )
    assert e.data is None  # no "feature values": shap's beeswarm draws no colour bar
    assert e.instance_names == [str(j) for j in range(7)]


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
    with pytest.raises(TypeError, match="point_names"):
        DivineExplainer(model, data.X, data.y, point_names="abc")
    with pytest.raises(ValueError, match="sensitive_features"):
        DivineExplainer(model, data.X, data.y, sensitive_features=data.sensitive_features[:-1])
    explainer = DivineExplainer(model, data.X, data.y)
    with pytest.raises(ValueError, match="y has"):
        explainer(data.X[:3], data.y[:2])
    with pytest.raises(ValueError, match="X has no rows"):
        explainer(data.X[:0])
    with pytest.raises(ValueError, match="y has labels \\[7\\]"):
        explainer(data.X[:2], [0, 7])
    sf = data.sensitive_features
    with pytest.raises(ValueError, match="y has"):
        explainer.explain_fairness(data.X[:30], data.y[:29], sensitive_features=sf[:30])
    with pytest.raises(ValueError, match="y is required"):
        explainer.explain_fairness(data.X[:30], None, sensitive_features=sf[:30])
    with pytest.raises(ValueError, match="sensitive_features has 29 rows"):
        explainer.explain_fairness(data.X[:30], data.y[:30], sensitive_features=sf[:29])
    with pytest.raises(ValueError, match="pass sensitive_features="):
        explainer.explain_fairness(data.X[:30], data.y[:30], sensitive_features=None)
    with pytest.raises(TypeError, match="sensitive_features"):
        explainer.explain_fairness(data.X[:30], data.y[:30])  # keyword required
    with pytest.raises(TypeError, match="single objective"):
        explainer.explain_fairness(
            data.X, data.y, sensitive_features=sf, objective=["equalized_odds", "log_loss"]
        )


# -- names, default labels, fairness over a set -------------------------------------------------


@pytest.fixture(scope="module")
def split():
    """A DataFrame split by train_test_split: shuffled index labels, not positions."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    data = make_divine_synthetic(random_state=0)
    X = pd.DataFrame(data.X, columns=["x1", "x2"])
    X_train, X_test, y_train, y_test, sf_train, sf_test = train_test_split(
        X, data.y, data.sensitive_features, test_size=0.3, random_state=0
    )
    model = LogisticRegression(tol=1e-10, max_iter=1000).fit(X_train, y_train)
    explainer = DivineExplainer(model, X_train, y_train, sensitive_features=sf_train)
    return explainer, model, X_train, X_test, y_train, y_test, sf_train, sf_test


def test_training_points_are_named_by_index_labels(split):
    explainer, model, X_train, X_test, y_train, y_test, *_ = split
    assert not X_train.index.equals(pd_range(len(X_train)))  # really shuffled
    e = explainer(X_test.iloc[:4], y_test[:4])
    assert e.feature_names == [f"train point {label}" for label in X_train.index]
    assert explainer.point_names == [str(label) for label in X_train.index]
    assert explainer.point_index.equals(X_train.index)
    assert e.instance_names == [str(label) for label in X_test.index[:4]]
    # a column is found by its label, and point_index maps it back to X_train's row
    label = X_train.index[5]
    np.testing.assert_array_equal(e[:, f"train point {label}"].values, e.values[:, 5])
    np.testing.assert_array_equal(X_train.loc[explainer.point_index[5]], X_train.iloc[5])
    named = DivineExplainer(
        model, X_train, y_train, point_names=[f"p{i}" for i in range(len(X_train))]
    )
    assert named(X_test.iloc[:1], y_test[:1]).feature_names[:2] == [
        "train point p0",
        "train point p1",
    ]


def pd_range(n):
    import pandas as pd

    return pd.RangeIndex(n)


def test_y_defaults_to_the_models_predictions(split):
    explainer, model, _, X_test, *_ = split
    X = X_test.iloc[:6]
    default = explainer(X)
    given = explainer(X, model.predict(X))
    np.testing.assert_array_equal(default.values, given.values)
    np.testing.assert_array_equal(default.base_values, given.base_values)
    # the loss of the model's own prediction: -log of the largest probability
    np.testing.assert_allclose(
        default.base_values, -np.log(model.predict_proba(X).max(1)), rtol=1e-9
    )


@pytest.mark.parametrize("objective", ["equalized_odds", "demographic_parity", "equal_accuracy"])
def test_explain_fairness_equals_training_point_importance(split, objective):
    explainer, model, X_train, X_test, y_train, y_test, _, sf_test = split
    e = explainer.explain_fairness(X_test, y_test, sensitive_features=sf_test, objective=objective)
    r = training_point_importance(
        model,
        X_train,
        y_train,
        objective=objective,
        X_eval=X_test,
        y_eval=y_test,
        sensitive_features_eval=sf_test,
    )
    assert type(e).__name__ == "Explanation"
    assert e.values.shape == (1, len(y_train)) and e.base_values.shape == (1,)
    np.testing.assert_allclose(e.values[0], r.scores, rtol=1e-12, atol=1e-15)
    assert e.base_values[0] == pytest.approx(r.baseline)
    assert e.feature_names == [f"train point {label}" for label in X_train.index]
    assert e.output_names.startswith("change of ")
    assert e.output_names.endswith(" when the training point is removed (first-order estimate)")


def test_explain_fairness_names_the_value_for_each_method_and_direction(split):
    explainer, model, X_train, X_test, y_train, y_test, sf_train, sf_test = split
    e = explainer.explain_fairness(
        X_test, y_test, sensitive_features=sf_test, objective="demographic_parity_ratio"
    )
    # greater is better: scores are negated (positive = helps), so the value is a decrease
    assert e.output_names.startswith("decrease of demographic parity ratio when")
    r = training_point_importance(
        model,
        X_train,
        y_train,
        objective="demographic_parity_ratio",
        X_eval=X_test,
        y_eval=y_test,
        sensitive_features_eval=sf_test,
    )
    np.testing.assert_allclose(e.values[0], r.scores, rtol=1e-12, atol=1e-15)
    newton = DivineExplainer(model, X_train, y_train, method="one_step_newton")
    assert newton(X_test.iloc[:2], y_test[:2]).output_names == (
        "change of log loss when the training point is removed (one-step Newton estimate)"
    )
    # sensitive features as a column name of X
    X_sf = X_test.assign(group=sf_test)
    model_sf = LogisticRegression(tol=1e-10, max_iter=1000).fit(
        X_train.assign(group=sf_train), y_train
    )
    by_name = DivineExplainer(model_sf, X_train.assign(group=sf_train), y_train)
    np.testing.assert_allclose(
        by_name.explain_fairness(X_sf, y_test, sensitive_features="group").values,
        by_name.explain_fairness(X_sf, y_test, sensitive_features=sf_test).values,
    )


# -- plots with the labels of what the values are ------------------------------------------------


def _all_texts(fig):
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _yticklabels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


LOSS = "change of log loss when the training point is removed"


@pytest.mark.parametrize("kind", ["bar", "beeswarm", "heatmap"])
def test_plot_helper_says_what_the_values_are(split, kind):
    from fairlearn_divine.plotting import plot_training_point_importance

    explainer, _, X_train, X_test, y_train, y_test, sf_train, _ = split
    e = explainer(X_test.iloc[:20], y_test[:20])
    ax = plot_training_point_importance(e, kind=kind, max_display=6)
    fig = ax.figure
    texts = _all_texts(fig)
    assert not [t for t in texts if "SHAP" in t or "feature" in t.lower() or "f(x)" in t]
    order = np.argsort(-np.abs(e.values).mean(0), kind="stable")
    top = order[0]
    expected_top = f"train point {X_train.index[top]} (y={y_train[top]}, group={sf_train[top]})"
    labels = _yticklabels(ax)
    others = f"Sum of {len(y_train) - 5} other training points"
    if kind == "bar":
        assert ax.get_xlabel() == (f"mean |{LOSS}|\nover 20 samples (first-order estimate)")
        assert labels[0] == expected_top and labels[-1] == others
        assert len(labels) == 6
        shown = [float(t.get_text()) for t in ax.texts]
        mean_abs = np.abs(e.values).mean(0)
        np.testing.assert_allclose(shown[:5], mean_abs[order[:5]], rtol=0.06)
        assert shown[5] == pytest.approx(mean_abs[order[5:]].sum(), rel=0.06)
        assert len(fig.axes) == 1
    elif kind == "beeswarm":
        assert ax.get_xlabel() == f"{LOSS}\n(first-order estimate; positive = the point helps)"
        # bottom to top
        assert labels[-1] == expected_top and labels[0] == others
        assert len(fig.axes) == 1  # no colour bar of "feature values"
    else:
        assert ax.get_xlabel() == (
            "explained samples (ordered by hierarchical clustering of their values)"
        )
        assert labels[0] == "sum over all training points"
        assert labels[1] == expected_top and labels[-1] == others
        (colour_bar,) = [a for a in fig.axes if a is not ax]
        assert colour_bar.get_ylabel() == (
            f"{LOSS}\n(first-order estimate; positive = the point helps)"
        )
    fig.canvas.draw()
    plt.close("all")


def test_plot_helper_signed_bar_for_one_row(split):
    from fairlearn_divine.plotting import plot_training_point_importance

    explainer, _, X_train, X_test, y_train, y_test, _, sf_test = split
    e = explainer.explain_fairness(X_test, y_test, sensitive_features=sf_test)
    fig, ax = plt.subplots()
    out = plot_training_point_importance(e, kind="bar", ax=ax)
    assert out is ax
    assert ax.get_xlabel() == (
        "change of equalized odds gap when the training point is removed\n"
        "(first-order estimate; positive = the point helps)"
    )
    order = np.argsort(-np.abs(e.values[0]), kind="stable")
    shown = [float(t.get_text()) for t in ax.texts]
    np.testing.assert_allclose(shown[:9], e.values[0, order[:9]], rtol=0.06)
    assert any(v < 0 for v in shown) and ax.texts[0].get_text()[0] in "+-"
    # the value texts stay inside the axes
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    to_data = ax.transData.inverted()
    for t in ax.texts:
        x0, x1 = to_data.transform(t.get_window_extent().get_points())[:, 0]
        assert lo <= x0 and x1 <= hi
    # one sample of a per-sample explanation: the signed loss changes
    one = plot_training_point_importance(explainer(X_test.iloc[:3], y_test[:3])[1], kind="bar")
    assert one.get_xlabel().startswith(f"{LOSS}\n(first-order estimate; positive")
    plt.close("all")


def test_plot_helper_colours_the_beeswarm_by_label_or_group(split):
    from matplotlib.colors import to_rgba

    from fairlearn_divine.plotting import plot_training_point_importance

    explainer, _, X_train, X_test, y_train, y_test, sf_train, _ = split
    e = explainer(X_test.iloc[:20], y_test[:20])
    order = np.argsort(-np.abs(e.values).mean(0), kind="stable")
    for color_by, values, title in (
        ("label", y_train, "training point's label"),
        ("group", sf_train, "training point's group"),
        (X_train["x1"] > 0, (X_train["x1"] > 0).to_numpy(), "x1"),
    ):
        ax = plot_training_point_importance(e, kind="beeswarm", max_display=6, color_by=color_by)
        legend = ax.get_legend()
        assert legend.get_title().get_text() == title
        entries = [t.get_text() for t in legend.get_texts()]
        assert entries[-1] == "mixed (sum)"
        colour = {
            text: handle.get_color()
            for text, handle in zip(entries, legend.legend_handles, strict=True)
        }
        rows = ax.collections[-6:]  # bottom (the sum) to top
        assert to_rgba(rows[0].get_facecolor()[0]) == to_rgba(colour["mixed (sum)"])
        for collection, column in zip(rows[1:], order[:5][::-1], strict=True):
            assert to_rgba(collection.get_facecolor()[0]) == to_rgba(colour[str(values[column])])
        plt.close("all")


def test_plot_helper_bad_input(split):
    from fairlearn_divine.plotting import plot_training_point_importance

    explainer, _, _, X_test, _, y_test, *_ = split
    e = explainer(X_test.iloc[:5], y_test[:5])
    with pytest.raises(TypeError, match="explanation"):
        plot_training_point_importance(e.values)
    with pytest.raises(ValueError, match="kind"):
        plot_training_point_importance(e, kind="violin")
    with pytest.raises(ValueError, match="kind='beeswarm' needs several samples"):
        plot_training_point_importance(e[0], kind="beeswarm")
    with pytest.raises(ValueError, match="color_by"):
        plot_training_point_importance(e, kind="bar", color_by="label")
    with pytest.raises(ValueError, match="color_by must have one value"):
        plot_training_point_importance(e, kind="beeswarm", color_by=[0, 1])
    with pytest.raises(ValueError, match="color_by='colour'"):
        plot_training_point_importance(e, kind="beeswarm", color_by="colour")
    no_groups = DivineExplainer(explainer.estimator, explainer.X_train, explainer.y_train)
    with pytest.raises(ValueError, match="sensitive_features"):
        plot_training_point_importance(
            no_groups(X_test.iloc[:5], y_test[:5]), kind="beeswarm", color_by="group"
        )
    with pytest.raises(ValueError, match="max_display"):
        plot_training_point_importance(e, max_display=0)
    plt.close("all")


def test_beeswarm_colour_by_group_of_several_sensitive_columns(setup):
    from fairlearn_divine.plotting import plot_training_point_importance

    data, model = setup
    sf = {"A": data.sensitive_features, "B": data.y}  # groups are tuples such as (0, 1)
    explainer = DivineExplainer(model, data.X, data.y, sensitive_features=sf)
    e = explainer(data.X[:10], data.y[:10])
    a, b = data.sensitive_features[0], data.y[0]
    assert e.display_data[0, 0] == f"(y={data.y[0]}, group=({a}, {b}))"
    ax = plot_training_point_importance(e, kind="beeswarm", color_by="group", max_display=4)
    entries = {t.get_text() for t in ax.get_legend().get_texts()} - {"mixed (sum)"}
    assert entries and all(t.startswith("(") and t.endswith(")") for t in entries)
    plt.close("all")

"""Tests of fairlearn_divine.plotting (matplotlib, Agg backend)."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from fairlearn_divine import select_diverse, tradeoff_curve  # noqa: E402
from fairlearn_divine.plotting import plot_tradeoff_curve  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    return X[:, 0] + 0.1 * rng.normal(size=60), X


@pytest.mark.parametrize("diversity", ["sum_redundancy", "facility_location", "mmd"])
def test_plot_tradeoff_curve_returns_axes(diversity):
    scores, X = _data()
    curve = tradeoff_curve(scores, X, 5, diversity=diversity, gammas=np.logspace(-2, 2, 9))
    ax = plot_tradeoff_curve(curve)
    assert isinstance(ax, Axes)
    line = ax.get_lines()[0]
    x = (curve.relative_diversity - curve.top_relative_diversity) / curve.diversity_scale
    np.testing.assert_allclose(line.get_xdata(), x)
    np.testing.assert_allclose(line.get_ydata(), curve.influence_retained)
    assert ax.get_xlabel() and ax.get_ylabel()
    ax.figure.canvas.draw()


def test_plot_on_given_axes_and_from_selection():
    scores, X = _data()
    result = select_diverse(scores, X, 5, gammas=np.logspace(-2, 2, 9), random_state=0)
    fig, ax = plt.subplots()
    out = plot_tradeoff_curve(result, ax=ax, annotate=False, influence_budget=0.3)
    assert out is ax
    assert len(ax.texts) == 0
    fig.canvas.draw()


def test_plot_annotates_raw_gammas():
    scores, X = _data()
    curve = tradeoff_curve(scores, X, 5, gammas=np.logspace(-2, 2, 9))
    ax = plot_tradeoff_curve(curve)
    texts = [t.get_text() for t in ax.texts]
    assert texts and all(t.startswith("gamma=") for t in texts)


def test_plot_rejects_other_objects():
    with pytest.raises(ValueError, match="tradeoff_curve"):
        plot_tradeoff_curve({"indices": [1, 2]})

"""InfluentialPointRemover(progress=...): the package's one progress rule over its refits.

``progress=False`` (and ``None`` off a terminal) prints nothing, ``True`` shows a tqdm bar on
stderr, anything else is a TypeError at fit; the setting reaches every scoring call and never
changes the result.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import InfluentialPointRemover
from fairlearn_divine._mitigation import _remover
from fairlearn_divine.datasets import make_divine_synthetic

DESC = "InfluentialPointRemover refits"

# every path of fit with refits of its own: one scoring, recalculation rounds, the amounts
# (and bisection) of fraction="auto", the weight program, and a refit-based scoring method
CONFIGS = {
    "fixed": dict(fraction=0.05),
    "recalculate": dict(fraction=0.05, recalculate=2, stop_at_predicted_minimum=False),
    "auto": dict(fraction="auto", validation_fraction=0.3),
    "auto-target": dict(fraction="auto", validation_fraction=0.3, target=0.05),
    "reweigh": dict(mode="reweigh", fraction=0.05, validation_fraction=0.3),
    "reweigh-auto": dict(mode="reweigh", fraction="auto", validation_fraction=0.3),
    "loo": dict(fraction=0.05, method="loo"),
}


@pytest.fixture(scope="module")
def data():
    d = make_divine_synthetic(n_samples=150, n_outliers=6, rotation=np.pi / 2, random_state=0)
    return d.X, d.y, np.asarray(d.sensitive_features)


def _fit(data, progress, **params):
    X, y, sf = data
    params.setdefault("keep_original_if_worse", False)
    remover = InfluentialPointRemover(
        LogisticRegression(), random_state=0, progress=progress, **params
    )
    return remover.fit(X, y, sensitive_features=sf)


@pytest.mark.parametrize("progress", [False, None])
def test_quiet_prints_nothing(data, capfd, progress):
    # None shows a bar on a terminal only: captured stderr is not one
    for params in CONFIGS.values():
        _fit(data, progress, **params)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_true_shows_a_tqdm_bar_on_stderr(data, capfd):
    _fit(data, True, **CONFIGS["recalculate"])
    out, err = capfd.readouterr()
    assert out == ""
    assert DESC in err and "\r" in err  # tqdm redraws its line


@pytest.mark.parametrize("bad", ["yes", 1, 0, 1.0])
def test_bad_progress_is_a_type_error_at_fit(data, bad):
    remover = InfluentialPointRemover(LogisticRegression(), progress=bad)  # stored unchanged
    assert remover.progress is bad
    with pytest.raises(TypeError, match=rf"^progress must be True, False or None, got {bad!r}"):
        remover.fit(*data[:2], sensitive_features=data[2])


@pytest.mark.parametrize("progress", [True, False, None, np.True_])
def test_params_round_trip(progress):
    remover = InfluentialPointRemover(LogisticRegression(), progress=progress)
    assert remover.get_params()["progress"] is progress
    assert clone(remover).progress is progress
    assert remover.set_params(progress=False).progress is False


@pytest.mark.parametrize("config", list(CONFIGS))
def test_result_does_not_depend_on_progress(data, capfd, config):
    shown, quiet = (_fit(data, p, **CONFIGS[config]) for p in (True, False))
    capfd.readouterr()
    np.testing.assert_array_equal(shown.removed_indices_, quiet.removed_indices_)
    np.testing.assert_array_equal(shown.sample_indices_, quiet.sample_indices_)
    np.testing.assert_array_equal(shown.sample_weight_, quiet.sample_weight_)
    X = data[0]
    np.testing.assert_array_equal(shown.predict(X), quiet.predict(X))
    np.testing.assert_array_equal(shown.predict_proba(X), quiet.predict_proba(X))
    assert shown.fraction_ == quiet.fraction_
    assert not hasattr(shown, "_refit_bar")  # the bar does not outlive fit


@pytest.mark.parametrize("config", ["fixed", "recalculate", "reweigh"])
@pytest.mark.parametrize("progress", [True, False, None])
def test_every_scoring_call_gets_progress(data, monkeypatch, capfd, config, progress):
    seen = []
    score = _remover.training_point_importance

    def recording(*args, **kwargs):
        seen.append(kwargs.get("progress", "missing"))
        return score(*args, **kwargs)

    monkeypatch.setattr(_remover, "training_point_importance", recording)
    _fit(data, progress, **CONFIGS[config])
    capfd.readouterr()
    assert seen and all(p is progress for p in seen)
    if config == "recalculate":
        assert len(seen) > 1  # one scoring call per round


def test_bar_counts_the_refits(data, monkeypatch, capfd):
    bars = []
    make_bar = _remover.progress_bar

    def recording(progress, total, desc):
        bar = make_bar(progress, total, desc)
        bars.append(bar)
        return bar

    monkeypatch.setattr(_remover, "progress_bar", recording)
    _fit(data, True, **CONFIGS["recalculate"])
    capfd.readouterr()
    (bar,) = bars
    # one refit per recalculation round plus the final refit, within the announced total
    assert 2 <= bar.n <= bar.total

"""removal_curve(progress=...) reaches its scoring and its DIVINE gamma sweep, not only the
refits: ``progress=False`` prints nothing even with a refit-based scoring method, and a bad
value is refused before any work."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import removal_curve
from fairlearn_divine._mitigation import _curve
from fairlearn_divine.datasets import make_divine_synthetic


@pytest.fixture(scope="module")
def data():
    d = make_divine_synthetic(n_samples=120, n_outliers=5, rotation=np.pi / 2, random_state=0)
    return d.X, d.y, np.asarray(d.sensitive_features)


def _curve_of(data, progress, **kw):
    X, y, sf = data
    kw = {"strategies": ("influence", "divine", "random"), "step": 0.05, **kw}
    return removal_curve(
        LogisticRegression(), X, y, sensitive_features=sf, max_fraction=0.1,
        random_state=0, progress=progress, **kw,
    )  # fmt: skip


def _record(monkeypatch, name):
    seen = []
    inner = getattr(_curve, name)

    def recording(*args, **kwargs):
        seen.append(kwargs.get("progress", "missing"))
        return inner(*args, **kwargs)

    monkeypatch.setattr(_curve, name, recording)
    return seen


@pytest.mark.parametrize("progress", [True, False, None])
def test_progress_reaches_the_scoring_and_the_selection(data, monkeypatch, capfd, progress):
    scored = _record(monkeypatch, "training_point_importance")
    selected = _record(monkeypatch, "select_diverse")
    _curve_of(data, progress)
    capfd.readouterr()
    assert scored == [progress]
    assert selected and all(p is progress for p in selected)


def test_false_prints_nothing_with_loo_scoring(data, capfd):
    _curve_of(data, False, method="loo", strategies=("influence",))
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("bad", ["yes", 1])
def test_bad_progress_is_refused_before_the_scoring(data, monkeypatch, bad):
    scored = _record(monkeypatch, "training_point_importance")
    with pytest.raises(TypeError, match=rf"^progress must be True, False or None, got {bad!r}"):
        _curve_of(data, bad)
    assert scored == []

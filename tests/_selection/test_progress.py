"""Progress bars of the selection stage under the package's one progress rule: a selection at
one float gamma shows a bar over its picks, select_diverse_influential over its scoring,
selection and recalculation refits; False (and None off a terminal) prints nothing, anything
else is a TypeError, and the result never changes."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import select_diverse, select_diverse_influential
from fairlearn_divine.datasets import make_divine_synthetic


@pytest.fixture(scope="module")
def data():
    d = make_divine_synthetic(n_samples=120, n_outliers=6, random_state=0)
    model = LogisticRegression().fit(d.X, d.y)
    return model, d.X, d.y


@pytest.mark.parametrize(
    "diversity, strategy",
    [
        (d, s)
        for d in ("sum_redundancy", "facility_location", "mmd")
        for s in ("greedy", "lazy", "stochastic")
        if (d, s) != ("mmd", "lazy")  # refused: MMD is not submodular
    ],
)
def test_one_gamma_bar_over_the_picks(data, capfd, diversity, strategy):
    _, X, y = data
    scores = np.random.default_rng(0).normal(size=len(y))
    kw = dict(diversity=diversity, strategy=strategy, gamma=0.5, random_state=0)
    quiet = select_diverse(scores, X, 6, progress=False, **kw)
    assert capfd.readouterr() == ("", "")
    shown = select_diverse(scores, X, 6, progress=True, **kw)
    out, err = capfd.readouterr()
    assert out == "" and "diverse selection" in err and "/6" in err
    np.testing.assert_array_equal(quiet.indices, shown.indices)
    # the bar's hook is removed afterwards: a later quiet call prints nothing
    select_diverse(scores, X, 6, progress=None, **kw)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_bad_progress_is_a_type_error(data, bad):
    model, X, y = data
    scores = np.zeros(len(y))
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        select_diverse(scores, X, 3, gamma=1.0, progress=bad)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        select_diverse_influential(model, X, y, 3, progress=bad)


def test_select_diverse_influential_quiet_and_shown(data, capfd):
    model, X, y = data
    kw = dict(method="loo", recalculate=True, gamma=0.5, random_state=0)
    quiet = select_diverse_influential(model, X, y, 3, progress=False, **kw)
    assert capfd.readouterr() == ("", "")
    shown = select_diverse_influential(model, X, y, 3, progress=True, **kw)
    out, err = capfd.readouterr()
    assert out == ""
    assert "recalculation refits" in err and "/2" in err  # a refit after each but the last
    assert "LOO" in err or "loo" in err.lower()  # the scoring's own bar
    np.testing.assert_array_equal(quiet.indices, shown.indices)

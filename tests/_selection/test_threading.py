"""The gamma sweep on threads (joblib's threading backend) equals the serial sweep exactly:
every gamma runs in its own diversity state."""

import joblib
import numpy as np
import pytest

from fairlearn_divine import select_diverse, tradeoff_curve

GAMMAS = np.logspace(-3, 4, 16)


def _data(n=400, d=4, random_state=0):
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n, d))
    scores = X[:, 0] + 0.5 * rng.normal(size=n)
    return scores, X


def _assert_same_curve(a, b):
    for key in ("gammas", "gammas_raw", "influence", "diversity", "mean_pairwise_distance"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert len(a.indices) == len(b.indices)
    for i, j in zip(a.indices, b.indices, strict=True):
        np.testing.assert_array_equal(i, j)


@pytest.mark.parametrize(
    ("diversity", "strategy"),
    [("sum_redundancy", "greedy"), ("facility_location", "lazy"), ("mmd", "greedy")],
)
def test_sweep_on_threads_equals_serial(diversity, strategy):
    scores, X = _data()
    scores0, X0 = scores.copy(), X.copy()
    options = {
        "diversity": diversity,
        "strategy": strategy,
        "gammas": GAMMAS,
        "random_state": 0,
    }
    serial = tradeoff_curve(scores, X, 8, **options)
    for indices in serial.indices:
        assert len(np.unique(indices)) == 8
    for _ in range(4):
        with joblib.parallel_config(backend="threading"):
            threaded = tradeoff_curve(scores, X, 8, n_jobs=2, **options)
        _assert_same_curve(threaded, serial)
    np.testing.assert_array_equal(scores, scores0)
    np.testing.assert_array_equal(X, X0)


def test_select_diverse_on_threads_equals_serial():
    scores, X = _data(random_state=1)
    serial = select_diverse(scores, X, 8, gammas=GAMMAS, random_state=0)
    for _ in range(4):
        with joblib.parallel_config(backend="threading"):
            threaded = select_diverse(scores, X, 8, gammas=GAMMAS, random_state=0, n_jobs=2)
        np.testing.assert_array_equal(threaded.indices, serial.indices)
        assert threaded.gamma == serial.gamma
        assert len(np.unique(threaded.indices)) == 8
        _assert_same_curve(threaded.tradeoff, serial.tradeoff)


def test_stochastic_sweep_with_a_random_state_object_on_threads():
    """A RandomState is drawn from once: every gamma samples the same candidates, whatever
    thread it runs in."""
    scores, X = _data(random_state=2)
    options = {"strategy": "stochastic", "gammas": GAMMAS, "epsilon": 0.1}
    serial = tradeoff_curve(scores, X, 8, random_state=np.random.RandomState(3), **options)
    for _ in range(3):
        with joblib.parallel_config(backend="threading"):
            threaded = tradeoff_curve(
                scores, X, 8, random_state=np.random.RandomState(3), n_jobs=2, **options
            )
        _assert_same_curve(threaded, serial)

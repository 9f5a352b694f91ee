"""Features whose squared distances are not representable, and kernels that return NaN, are a
clear ValueError naming the argument, never a NaN mean pairwise distance."""

import numpy as np
import pytest

from fairlearn_divine import select_diverse, tradeoff_curve


def _data(scale, n=60, random_state=0):
    rng = np.random.default_rng(random_state)
    return rng.normal(size=n), rng.normal(size=(n, 3)) * scale


@pytest.mark.parametrize("scale", [1e200, 1e160])
def test_huge_features_are_a_clear_error(scale):
    scores, X = _data(scale)
    X0 = X.copy()
    with pytest.raises(ValueError, match=r"rows of X.*overflow float64.*Standardise"):
        select_diverse(scores, X, 5, random_state=0)
    with pytest.raises(ValueError, match=r"rows of X.*overflow float64"):
        tradeoff_curve(scores, X, 5, random_state=0)
    np.testing.assert_array_equal(X, X0)


def test_tiny_features_are_a_clear_error():
    scores, X = _data(1e-200)
    with pytest.raises(ValueError, match=r"rows of X.*underflow to 0.*Standardise"):
        select_diverse(scores, X, 5, random_state=0)


def test_large_offset_with_ordinary_spread_is_fine():
    """Distances are computed after centring: an offset does not count, only the spread."""
    scores, X = _data(1.0)
    result = select_diverse(scores, X + 1e3, 5, random_state=0)
    assert np.isfinite(result.mean_pairwise_distance)


def test_kernel_returning_nan_is_a_clear_error():
    scores, X = _data(1.0)

    def bad_kernel(A, B):
        out = np.exp(-((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))
        out[0, 0] = np.nan
        return out

    with pytest.raises(ValueError, match=r"kernel\(A, B\) returned NaN or infinite"):
        select_diverse(scores, X, 5, kernel=bad_kernel, gamma=1.0)


def test_kernel_of_wrong_shape_is_a_clear_error():
    scores, X = _data(1.0)
    with pytest.raises(ValueError, match=r"kernel\(A, B\) must return an array of shape"):
        select_diverse(scores, X, 5, kernel=lambda A, B: np.ones(len(A)), gamma=1.0)

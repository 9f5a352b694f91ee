import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import multivariate_normal

from fairlearn_divine.datasets import make_divine_synthetic


def test_shapes_dtypes_and_keys():
    data = make_divine_synthetic(random_state=0)
    assert set(data) >= {"X", "y", "sensitive_features", "is_outlier", "feature_names", "DESCR"}
    assert data.X.shape == (2050, 2) and data.X.dtype == np.float64
    assert data.y.shape == (2050,) and data.y.dtype.kind == "i"
    assert set(np.unique(data.y)) == {0, 1}
    assert set(np.unique(data.sensitive_features)) == {0, 1}
    assert data.sensitive_features.dtype.kind == "i"
    assert data.feature_names == ["x1", "x2"]
    # outliers are the last n_outliers rows, all positive
    assert data.is_outlier.dtype == bool
    assert not data.is_outlier[:2000].any() and data.is_outlier[2000:].all()
    assert (data.y[data.is_outlier] == 1).all()


def test_seed_reproducible_and_different_seeds_differ():
    a = make_divine_synthetic(n_samples=300, n_outliers=10, random_state=3)
    b = make_divine_synthetic(n_samples=300, n_outliers=10, random_state=np.random.RandomState(3))
    c = make_divine_synthetic(n_samples=300, n_outliers=10, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.sensitive_features, b.sensitive_features)
    assert not np.array_equal(a.X, c.X)


def test_class_conditional_moments():
    data = make_divine_synthetic(n_samples=40000, n_outliers=2000, random_state=1)
    X, y, out = data.X, data.y, data.is_outlier
    main = ~out
    assert abs(y[main].mean() - 0.5) < 0.02
    pos, neg = X[main & (y == 1)], X[main & (y == 0)]
    np.testing.assert_allclose(pos.mean(axis=0), [3, 3], atol=0.05)
    np.testing.assert_allclose(np.cov(pos.T), [[2, 1], [1, 2]], atol=0.1)
    np.testing.assert_allclose(neg.mean(axis=0), [-2, -2], atol=0.05)
    np.testing.assert_allclose(np.cov(neg.T), np.eye(2), atol=0.06)
    np.testing.assert_allclose(X[out].mean(axis=0), [-2, 8], atol=0.1)


@pytest.mark.parametrize("rotation", [0.0, np.pi / 4, np.pi / 2])
def test_sensitive_attribute_follows_rotated_density_ratio(rotation):
    data = make_divine_synthetic(
        n_samples=20000, n_outliers=500, rotation=rotation, random_state=2
    )
    c, s = np.cos(rotation), np.sin(rotation)
    Xr = data.X @ np.array([[c, -s], [s, c]])
    p = expit(
        multivariate_normal([3, 3], [[2, 1], [1, 2]]).logpdf(Xr)
        - multivariate_normal([-2, -2], np.eye(2)).logpdf(Xr)
    )
    A = data.sensitive_features
    # calibration: within bins of p, the frequency of A = 1 matches the mean probability
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for b in np.unique(bins):
        m = bins == b
        if m.sum() > 200:
            se = np.sqrt(p[m].mean() * (1 - p[m].mean()) / m.sum()) + 1e-3
            assert abs(A[m].mean() - p[m].mean()) < 5 * se


def test_rotation_controls_correlation_with_label():
    corr = []
    for rotation in [0.0, np.pi / 2]:
        d = make_divine_synthetic(n_samples=4000, n_outliers=0, rotation=rotation, random_state=0)
        corr.append(abs(np.corrcoef(d.y, d.sensitive_features)[0, 1]))
    assert corr[0] > 0.8 > corr[1]


def test_as_frame():
    data = make_divine_synthetic(n_samples=100, n_outliers=5, random_state=0, as_frame=True)
    arrays = make_divine_synthetic(n_samples=100, n_outliers=5, random_state=0)
    assert isinstance(data.X, pd.DataFrame) and list(data.X.columns) == ["x1", "x2"]
    assert isinstance(data.y, pd.Series) and isinstance(data.sensitive_features, pd.Series)
    assert list(data.frame.columns) == ["x1", "x2", "A", "y"]
    np.testing.assert_array_equal(data.X.to_numpy(), arrays.X)
    np.testing.assert_array_equal(data.sensitive_features.to_numpy(), arrays.sensitive_features)


def test_no_outliers():
    data = make_divine_synthetic(n_samples=10, n_outliers=0, random_state=0)
    assert data.X.shape == (10, 2) and not data.is_outlier.any()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": 2.5}, ValueError, "n_samples"),
        ({"n_outliers": -1}, ValueError, "n_outliers"),
        ({"rotation": "45"}, TypeError, "rotation"),
        ({"rotation": np.inf}, ValueError, "rotation"),
        ({"as_frame": "yes"}, TypeError, "as_frame"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_divine_synthetic(**kwargs)

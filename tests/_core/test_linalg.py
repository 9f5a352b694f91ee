"""Tests of fairlearn_divine._core.linalg.HessianSolver against numpy's dense linear algebra."""

import warnings

import numpy as np
import pytest

from fairlearn_divine import ApproximationWarning
from fairlearn_divine._core.linalg import ILL_CONDITIONED, HessianSolver


def _spd(p, seed=0, cond=10.0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    eig = np.geomspace(1.0, cond, p)
    return (Q * eig) @ Q.T, Q, eig


def test_solve_spd_matches_numpy():
    H, _, eig = _spd(6, cond=100.0)
    B = np.random.default_rng(1).normal(size=(6, 3))
    H0 = H.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = HessianSolver(H)
    np.testing.assert_allclose(s.solve(B), np.linalg.solve(H, B), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.solve(B[:, 0]), np.linalg.solve(H, B[:, 0]), rtol=1e-10)
    assert s.damping == 0.0
    assert s.condition_number == pytest.approx(100.0, rel=1e-8)
    np.testing.assert_array_equal(H, H0)  # input not modified


def test_half_solve_gives_inverse_quadratic_forms():
    H, _, _ = _spd(5, seed=2, cond=50.0)
    A = np.random.default_rng(3).normal(size=(5, 4))
    s = HessianSolver(H)
    LA = s.half_solve(A)
    np.testing.assert_allclose(LA.T @ LA, A.T @ np.linalg.solve(H, A), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lowest", [0.0, -1e-3])
def test_singular_or_indefinite_matrix_is_damped_with_warning(lowest):
    """Documented: damping = the smallest of 1e-8, 1e-6, ... times the mean diagonal that makes
    H positive definite. Whatever the rung, the damped matrix must then be reasonably
    conditioned (below the package's own ILL_CONDITIONED = 1e10), otherwise the "damped"
    solves are as useless as the undamped ones."""
    H, Q, eig = _spd(5, seed=4)
    eig = eig.copy()
    eig[0] = lowest
    H = (Q * eig) @ Q.T
    with pytest.warns(ApproximationWarning, match="singular"):
        s = HessianSolver(H)
    assert s.damping > 0
    assert s.damping > -lowest
    b = np.random.default_rng(5).normal(size=5)
    x = s.solve(b)
    assert np.all(np.isfinite(x))
    Hd = H + s.damping * np.eye(5)
    assert np.linalg.eigvalsh(Hd)[0] > 0
    assert np.linalg.cond(Hd) < ILL_CONDITIONED
    assert s.condition_number < ILL_CONDITIONED
    np.testing.assert_allclose(x, np.linalg.solve(Hd, b), rtol=1e-6)


def test_ill_conditioned_matrix_warns():
    H, _, _ = _spd(4, seed=6, cond=1e11)
    with pytest.warns(ApproximationWarning, match="ill-conditioned"):
        s = HessianSolver(H)
    assert s.damping == 0.0
    assert s.condition_number == pytest.approx(1e11, rel=1e-3)


def test_null_space_projection_gives_pseudo_inverse_solution():
    """H N = 0 for a known orthonormal N: for rhs orthogonal to N the solver returns the
    pseudo-inverse (minimum-norm) solution, with no damping and no warning."""
    p = 6
    H, Q, eig = _spd(p, seed=7, cond=30.0)
    eig = eig.copy()
    eig[[1, 3]] = 0.0  # two exact null directions
    H = (Q * eig) @ Q.T
    N = Q[:, [1, 3]]
    rhs = np.random.default_rng(8).normal(size=(p, 3))
    rhs -= N @ (N.T @ rhs)  # orthogonal to the null space
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = HessianSolver(H, null_space=N)
    assert s.damping == 0.0
    x = s.solve(rhs)
    np.testing.assert_allclose(x, np.linalg.pinv(H) @ rhs, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(N.T @ x, 0.0, atol=1e-11)
    np.testing.assert_allclose(H @ x, rhs, rtol=1e-9, atol=1e-11)
    # without the null space it is singular
    with pytest.warns(ApproximationWarning):
        HessianSolver(H)


def test_multinomial_view_solution_is_pseudo_inverse():
    """The multinomial logistic Hessian with intercept has the intercept-shift null direction;
    the solves used by influence equal pinv(H) @ grad."""
    from sklearn.linear_model import LogisticRegression

    from fairlearn_divine._models import make_view

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = rng.integers(0, 3, size=120)
    m = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    view = make_view(m, X, y)
    H = view.hessian()
    N = view.null_space()
    G = view.loss_gradients(view.X_, view.y_)[:5].T  # per-sample gradients are orthogonal to N
    np.testing.assert_allclose(N.T @ G, 0.0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = HessianSolver(H, null_space=N)
    np.testing.assert_allclose(
        s.solve(G), np.linalg.pinv(H, rcond=1e-12) @ G, rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize(
    "H, match",
    [
        (np.ones((3, 2)), "square"),
        (np.ones(3), "square"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
        (np.array([[np.inf, 0.0], [0.0, 1.0]]), "infinite"),
    ],
)
def test_bad_matrix(H, match):
    with pytest.raises(ValueError, match=match):
        HessianSolver(H)

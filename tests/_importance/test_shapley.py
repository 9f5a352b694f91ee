"""Data Shapley (truncated Monte Carlo) and the exact-refit paths it shares with leave-one-out.

Ground truth is computed here, independently of fairlearn_divine: exact Shapley values by
enumerating every subset of a tiny training set with scikit-learn refits, using the documented
conventions (empty set -> training majority class by total sample weight; a single-class subset
-> that class; a constant predictor outputs the Laplace-smoothed class frequencies
(w_k + 1) / (W + K) of its subset, the training set for the empty set; log loss with
probabilities clipped to [eps, 1 - eps], eps = np.finfo(float).eps).
"""

import itertools
import math
import os

import joblib
import numpy as np
import pytest
from _dask import local_client
from _refits import fit, loo_refits, make_gaussian_classification, pearson, tight
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from fairlearn_divine import training_point_importance

EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------------
# independent ground truth


def _log_loss(P, y_idx):
    p = np.clip(P[np.arange(len(y_idx)), y_idx], EPS, 1 - EPS)
    return float(-np.mean(np.log(p)))


def _subset_value(est, X, y, rows, classes, majority, X_eval, y_eval_idx, sample_weight=None):
    """f(S): log loss on the evaluation set of ``est`` fitted on rows ``S`` (conventions)."""
    rows = np.asarray(sorted(rows), dtype=int)
    K = len(classes)
    w = np.ones(len(y)) if sample_weight is None else sample_weight

    def constant(subset):
        counts = np.array([w[subset][y[subset] == c].sum() for c in classes])
        P = np.tile((counts + 1.0) / (counts.sum() + K), (len(y_eval_idx), 1))
        return _log_loss(P, y_eval_idx)

    if len(rows) == 0:
        return constant(np.arange(len(y)))  # the training set's smoothed frequencies
    present = np.unique(y[rows])
    if len(present) == 1:
        return constant(rows)
    sw = None if sample_weight is None else sample_weight[rows]
    model = fit(clone(est), X[rows], y[rows], sw)
    P = np.zeros((len(y_eval_idx), K))
    P[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(X_eval)
    return _log_loss(P, y_eval_idx)


def exact_shapley(est, X, y, X_eval, y_eval, sample_weight=None):
    """phi_i = sum_{S not containing i} |S|! (n-|S|-1)! / n! [f(S) - f(S + i)]."""
    n = len(y)
    classes = np.unique(y)
    w = np.ones(n) if sample_weight is None else sample_weight
    majority = int(np.argmax([w[y == c].sum() for c in classes]))
    y_eval_idx = np.searchsorted(classes, y_eval)
    values = {}
    for size in range(n + 1):
        for S in itertools.combinations(range(n), size):
            values[S] = _subset_value(
                est, X, y, S, classes, majority, X_eval, y_eval_idx, sample_weight
            )
    phi = np.zeros(n)
    for S, fS in values.items():
        s = len(S)
        weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) if s < n else 0
        for i in range(n):
            if i in S:
                continue
            Si = tuple(sorted(S + (i,)))
            phi[i] += weight * (fS - values[Si])
    return phi, values[()], values[tuple(range(n))]


def _binary_problem(n, n_eval=40, d=2, seed=0, noise=1.0):
    X, y = make_gaussian_classification(n + n_eval, d, 2, random_state=seed, noise=noise)
    return X[:n], y[:n], X[n:], y[n:]


def _shapley(est, X, y, X_eval=None, y_eval=None, **kw):
    kw.setdefault("random_state", 0)
    kw.setdefault("progress", False)
    return training_point_importance(
        est, X, y, method="data_shapley", X_eval=X_eval, y_eval=y_eval, **kw
    )


# ---------------------------------------------------------------------------------------------
# correctness against exact enumeration


def test_tmc_matches_exact_shapley_enumeration():
    X, y, Xe, ye = _binary_problem(8, n_eval=30, seed=3)
    assert len(np.unique(y)) == 2
    est = LogisticRegression(tol=1e-10, max_iter=10_000)
    phi, f_empty, f_full = exact_shapley(est, X, y, Xe, ye)
    model = fit(clone(est), X, y)
    res = _shapley(
        model,
        X,
        y,
        Xe,
        ye,
        n_permutations=400,
        truncation_tolerance=0.0,
        convergence_tolerance=0.0,
    )
    assert res.n_permutations == 400
    assert pearson(res.scores, phi) >= 0.95
    # within a few standard errors, point by point
    assert np.all(np.abs(res.scores - phi) <= 5 * res.scores_stderr + 1e-9)
    # efficiency: without truncation every permutation telescopes to f(empty) - f(D)
    assert_allclose(res.scores.sum(), f_empty - f_full, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
def test_conventions_single_class_prefixes(weighted):
    # three class-0 points and one class-1 point: most prefixes start single-class; with the
    # weights the single class-1 point is the weighted majority, so the empty set predicts 1
    X = np.array([[-1.0, 0.2], [-0.5, -0.3], [0.3, 0.4], [1.2, 0.1]])
    y = np.array([0, 0, 0, 1])
    sw = np.array([1.0, 1.0, 1.0, 5.0]) if weighted else None
    Xe = np.array([[-1.0, 0.0], [0.0, 0.0], [0.5, 0.5], [1.0, 0.0], [0.8, -0.2]])
    ye = np.array([0, 0, 1, 1, 1])
    est = LogisticRegression(tol=1e-10, max_iter=10_000)
    phi, f_empty, f_full = exact_shapley(est, X, y, Xe, ye, sample_weight=sw)
    model = fit(clone(est), X, y, sw)
    res = _shapley(
        model,
        X,
        y,
        Xe,
        ye,
        sample_weight=sw,
        n_permutations=300,
        truncation_tolerance=0.0,
        convergence_tolerance=0.0,
    )
    assert np.all(np.abs(res.scores - phi) <= 5 * res.scores_stderr + 1e-9)
    assert_allclose(res.scores.sum(), f_empty - f_full, rtol=1e-6)
    # the empty-set convention is visible in the total: the smoothed training frequencies
    # (weighted: class 1 is the majority) on 2 zeros and 3 ones
    counts = np.array([3.0, 5.0]) if weighted else np.array([3.0, 1.0])
    p = (counts + 1) / (counts.sum() + 2)
    expected_empty = -(2 * np.log(p[0]) + 3 * np.log(p[1])) / 5
    assert_allclose(f_empty, expected_empty)
    assert (np.argmax(p) == 1) == weighted  # it predicts the weighted majority class


# ---------------------------------------------------------------------------------------------
# refit solvers and estimators


def test_newton_and_estimator_refits_give_same_values():
    X, y, Xe, ye = _binary_problem(20, seed=1)
    model = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    kw = dict(n_permutations=4, convergence_tolerance=0.0, random_state=7)
    newton = _shapley(model, X, y, Xe, ye, refit_solver="newton", **kw)
    sk = _shapley(model, X, y, Xe, ye, refit_solver="estimator", **kw)
    assert newton.refit_solver == "newton" and sk.refit_solver == "estimator"
    assert_allclose(newton.scores, sk.scores, rtol=0, atol=1e-6)
    assert newton.mean_prefix_evaluations == sk.mean_prefix_evaluations
    auto = _shapley(model, X, y, Xe, ye, **kw)
    assert auto.refit_solver == "newton"
    assert_array_equal(auto.scores, newton.scores)


@pytest.mark.parametrize(
    "est",
    [DecisionTreeClassifier(max_depth=3, random_state=0), KNeighborsClassifier(n_neighbors=1)],
    ids=["tree", "knn1"],
)
def test_non_differentiable_classifiers(est):
    X, y, Xe, ye = _binary_problem(30, seed=2)
    model = clone(est).fit(X, y)
    res = _shapley(model, X, y, Xe, ye, n_permutations=8, convergence_tolerance=0.0)
    assert res.refit_solver == "estimator"
    assert res.scores.shape == (30,) and np.all(np.isfinite(res.scores))
    assert res.n_permutations == 8
    with pytest.raises(ValueError, match="refit_solver"):
        _shapley(model, X, y, Xe, ye, n_permutations=2, refit_solver="newton")


def test_knn_with_more_neighbours_than_prefix_points():
    # prefixes smaller than n_neighbors cannot be fitted by KNeighborsClassifier(5); the
    # valuation of a non-differentiable model should still run (e.g. by treating such prefixes
    # like the small-subset conventions) rather than crash deep inside scikit-learn.
    X, y, Xe, ye = _binary_problem(20, seed=2)
    model = KNeighborsClassifier(n_neighbors=5).fit(X, y)
    res = _shapley(model, X, y, Xe, ye, n_permutations=4, convergence_tolerance=0.0)
    assert np.all(np.isfinite(res.scores))


def test_warm_started_newton_refit_converges_in_few_steps():
    # Newton from a nearby solution converges quadratically: a handful of steps, gradient at
    # the requested tolerance. Seen instead: the Armijo test on f cannot resolve decreases
    # below one ulp of f, so near the optimum steps are rejected/halved and accepted with no
    # progress until max_iter=100, leaving the gradient above tol (8e-10 > 5e-10 here).
    from fairlearn_divine._models import NewtonRefitter

    X = np.array([[-1.0, 0.2], [-0.5, -0.3], [0.3, 0.4], [1.2, 0.1]])
    y = np.array([0, 0, 0, 1])
    model = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    refitter = NewtonRefitter.from_estimator(model, X, y)
    start = refitter.solve(np.array([1, 2, 3]), np.zeros(3))
    before = refitter.n_newton_steps
    theta = refitter.solve(np.arange(4), start)
    steps = refitter.n_newton_steps - before
    assert_allclose(theta[:2], model.coef_[0], rtol=1e-6)
    assert steps <= 10, steps


# ---------------------------------------------------------------------------------------------
# reproducibility: serial, joblib workers, dask.distributed


def test_serial_equals_parallel():
    X, y, Xe, ye = _binary_problem(40, seed=4)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_permutations=32, convergence_tolerance=0.0, random_state=11)
    serial = _shapley(model, X, y, Xe, ye, n_jobs=1, **kw)
    parallel = _shapley(model, X, y, Xe, ye, n_jobs=2, **kw)
    assert_array_equal(serial.scores, parallel.scores)
    assert_array_equal(serial.scores_stderr, parallel.scores_stderr)
    assert serial.mean_prefix_evaluations == parallel.mean_prefix_evaluations


def test_same_seed_same_result_and_other_seed_differs():
    X, y, Xe, ye = _binary_problem(30, seed=4)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_permutations=8, convergence_tolerance=0.0)
    a = _shapley(model, X, y, Xe, ye, random_state=3, **kw)
    b = _shapley(model, X, y, Xe, ye, random_state=3, **kw)
    c = _shapley(model, X, y, Xe, ye, random_state=4, **kw)
    assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)


@pytest.fixture(scope="module")
def dask_client():
    with local_client(processes=True) as client:
        yield client


def test_dask_backend_equals_serial(dask_client):
    X, y, Xe, ye = _binary_problem(40, seed=5)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_permutations=16, convergence_tolerance=0.0, random_state=2)
    loo_serial = training_point_importance(model, X, y, method="loo", X_eval=Xe, y_eval=ye)
    shap_serial = _shapley(model, X, y, Xe, ye, n_jobs=1, **kw)
    from distributed import get_task_stream

    with get_task_stream(dask_client) as stream, joblib.parallel_config(backend="dask"):
        loo_dask = training_point_importance(
            model, X, y, method="loo", X_eval=Xe, y_eval=ye, n_jobs=2
        )
        shap_dask = _shapley(model, X, y, Xe, ye, n_jobs=2, **kw)
    assert_allclose(loo_dask.scores, loo_serial.scores, rtol=0, atol=1e-12)
    assert_allclose(shap_dask.scores, shap_serial.scores, rtol=0, atol=1e-12)
    assert_allclose(shap_dask.scores_stderr, shap_serial.scores_stderr, rtol=0, atol=1e-12)
    # the dask workers really did the work
    assert len(stream.data) > 0


# ---------------------------------------------------------------------------------------------
# standard errors, stopping, checkpoints


def test_stderr_shrinks_like_inverse_sqrt():
    X, y, Xe, ye = _binary_problem(20, seed=6)
    model = LogisticRegression().fit(X, y)
    kw = dict(convergence_tolerance=0.0, truncation_tolerance=0.0, random_state=1)
    few = _shapley(model, X, y, Xe, ye, n_permutations=10, **kw)
    many = _shapley(model, X, y, Xe, ye, n_permutations=80, **kw)
    assert few.n_permutations == 10 and many.n_permutations == 80
    assert np.all(np.isfinite(few.scores_stderr))
    ratio = few.scores_stderr.mean() / many.scores_stderr.mean()
    # sqrt(80 / 10) = 2.83; stderr from 5 vs 40 antithetic pairs is itself noisy
    assert 1.7 < ratio < 4.5, ratio


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path):
    X, y, Xe, ye = _binary_problem(30, seed=7)
    model = LogisticRegression().fit(X, y)
    path = os.fspath(tmp_path / "shapley.npz")
    kw = dict(convergence_tolerance=0.0, random_state=5)
    first = _shapley(model, X, y, Xe, ye, n_permutations=16, checkpoint=path, **kw)
    assert first.n_permutations == 16 and os.path.exists(path)
    resumed = _shapley(model, X, y, Xe, ye, n_permutations=32, checkpoint=path, **kw)
    straight = _shapley(model, X, y, Xe, ye, n_permutations=32, **kw)
    assert resumed.n_permutations == straight.n_permutations == 32
    assert_allclose(resumed.scores, straight.scores, rtol=1e-12, atol=1e-15)
    assert_allclose(resumed.scores_stderr, straight.scores_stderr, rtol=1e-12, atol=1e-15)
    assert resumed.mean_prefix_evaluations == straight.mean_prefix_evaluations
    # a checkpoint from another seed is refused, naming the file
    with pytest.raises(ValueError, match="checkpoint"):
        _shapley(
            model,
            X,
            y,
            Xe,
            ye,
            n_permutations=32,
            checkpoint=path,
            convergence_tolerance=0.0,
            random_state=6,
        )


@pytest.mark.parametrize("change", ["data", "C", "eval_set"])
def test_checkpoint_from_different_problem_is_refused(tmp_path, change):
    # same sizes, same seed, but a different training set / regularisation / evaluation set:
    # the sums in the checkpoint are marginals of another game and must not be mixed in.
    X, y, Xe, ye = _binary_problem(30, seed=7)
    model = LogisticRegression().fit(X, y)
    path = os.fspath(tmp_path / "shapley.npz")
    kw = dict(convergence_tolerance=0.0, random_state=5)
    _shapley(model, X, y, Xe, ye, n_permutations=16, checkpoint=path, **kw)
    X2, y2, Xe2, ye2 = X, y, Xe, ye
    model2 = model
    if change == "data":
        X2 = X + 1.0
        model2 = LogisticRegression().fit(X2, y)
    elif change == "C":
        model2 = LogisticRegression(C=0.01).fit(X, y)
    else:
        Xe2 = -Xe
    with pytest.raises(ValueError, match="checkpoint"):
        _shapley(model2, X2, y2, Xe2, ye2, n_permutations=32, checkpoint=path, **kw)


def test_convergence_stops_early():
    X, y, Xe, ye = _binary_problem(30, seed=8)
    model = LogisticRegression().fit(X, y)
    res = _shapley(
        model, X, y, Xe, ye, n_permutations=1000, convergence_tolerance=10.0, min_permutations=4
    )
    assert res.converged is True
    assert res.n_permutations < 1000
    assert np.all(res.scores_stderr.max() <= 10.0 * np.abs(res.scores).max())
    never = _shapley(model, X, y, Xe, ye, n_permutations=8, convergence_tolerance=0.0)
    assert never.converged is False and never.n_permutations == 8


def test_max_time_stops_the_run():
    X, y, Xe, ye = _binary_problem(30, seed=8)
    model = LogisticRegression().fit(X, y)
    res = _shapley(
        model, X, y, Xe, ye, n_permutations=100_000, convergence_tolerance=0.0, max_time=0.01
    )
    assert res.converged is False
    assert 0 < res.n_permutations < 100_000


# ---------------------------------------------------------------------------------------------
# truncation


def test_truncation_reduces_prefix_evaluations():
    X, y, Xe, ye = _binary_problem(60, seed=9)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_permutations=8, convergence_tolerance=0.0)
    full = _shapley(model, X, y, Xe, ye, truncation_tolerance=0.0, **kw)
    trunc = _shapley(model, X, y, Xe, ye, truncation_tolerance=0.05, **kw)
    assert full.mean_prefix_evaluations == 60
    assert trunc.mean_prefix_evaluations < 60
    # truncated marginals are zero, not noise: values keep the same sign pattern broadly
    assert pearson(full.scores, trunc.scores) > 0.5


def _fair_problem(n, seed, shift):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + shift * a + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y, a


def test_truncation_with_fairness_objective_near_zero():
    # equal accuracy (|TPR gap| + |TNR gap|) is 0 for the empty-set prediction and exactly 0 at
    # the full model on a cleanly separated evaluation set: a purely relative rule
    # |f(P) - f(D)| <= tau |f(D)| could not truncate, the absolute rule must.
    X, y, a = _fair_problem(60, seed=10, shift=0.0)
    rng = np.random.default_rng(11)
    Xe = rng.normal(size=(40, 2))
    Xe[:, 0] += np.sign(Xe[:, 0]) * 1.5  # margin around the boundary x0 = 0
    ye = (Xe[:, 0] > 0).astype(int)
    ae = rng.integers(0, 2, size=40)
    model = LogisticRegression().fit(X, y)
    res = _shapley(
        model,
        X,
        y,
        Xe,
        ye,
        objective="equal_accuracy",
        sensitive_features=a,
        sensitive_features_eval=ae,
        n_permutations=8,
        convergence_tolerance=0.0,
        truncation_tolerance=0.05,
    )
    assert res.baseline == pytest.approx(0.0, abs=1e-12)
    assert res.mean_prefix_evaluations < 60
    assert np.all(np.isfinite(res.scores))


def test_truncation_with_fairness_objective_small_nonzero():
    X, y, a = _fair_problem(60, seed=12, shift=0.8)
    model = LogisticRegression().fit(X, y)
    res = _shapley(
        model,
        X,
        y,
        objective="equal_accuracy",
        sensitive_features=a,
        n_permutations=8,
        convergence_tolerance=0.0,
        truncation_tolerance=0.1,
    )
    assert res.baseline > 0
    assert res.mean_prefix_evaluations < 60


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "option, value",
    [
        ("n_permutations", 0),
        ("n_permutations", -3),
        ("n_permutations", 2.5),
        ("min_permutations", 0),
        ("truncation_tolerance", -0.1),
        ("truncation_tolerance", np.nan),
        ("convergence_tolerance", -1.0),
        ("max_time", 0),
        ("max_time", -1.0),
        ("refit_solver", "cholesky"),
    ],
)
def test_bad_options_raise_naming_the_argument(option, value):
    X, y, Xe, ye = _binary_problem(10, seed=0)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=option):
        _shapley(model, X, y, Xe, ye, **{option: value})


def test_unknown_option_names_it():
    X, y, Xe, ye = _binary_problem(10, seed=0)
    model = LogisticRegression().fit(X, y)
    with pytest.raises((TypeError, ValueError), match="n_perms"):
        _shapley(model, X, y, Xe, ye, n_perms=10)


# ---------------------------------------------------------------------------------------------
# leave-one-out by warm-started Newton refits


def _lr_log_loss(est, X, y):
    P = est.predict_proba(X)
    return _log_loss(P, np.searchsorted(est.classes_, y))


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loo_newton_matches_estimator_and_own_refits(n_classes, weighted):
    n = 30
    X, y = make_gaussian_classification(n, 3, n_classes, random_state=13)
    Xe, ye = make_gaussian_classification(30, 3, n_classes, random_state=14)
    rng = np.random.default_rng(15)
    sw = rng.uniform(0.5, 2.0, size=n) if weighted else None
    est = LogisticRegression(C=0.7, tol=1e-10, max_iter=10_000)
    model = fit(clone(est), X, y, sw)
    kw = dict(method="loo", X_eval=Xe, y_eval=ye, sample_weight=sw, progress=False)
    auto = training_point_importance(model, X, y, **kw)
    sk = training_point_importance(model, X, y, refit_solver="estimator", **kw)
    assert auto.refit_solver == "newton" and sk.refit_solver == "estimator"
    own = loo_refits(
        tight(est), X, y, np.arange(n), _lr_log_loss, sample_weight=sw, X_eval=Xe, y_eval=ye
    )
    scale = np.abs(own).max()
    assert_allclose(auto.scores, own, rtol=0, atol=1e-6 * scale)
    assert_allclose(sk.scores, own, rtol=0, atol=1e-6 * scale)
    assert_allclose(auto.scores, sk.scores, rtol=0, atol=1e-6 * scale)


def test_loo_newton_indices_and_parallel():
    X, y = make_gaussian_classification(40, 3, 2, random_state=16)
    model = LogisticRegression().fit(X, y)
    full = training_point_importance(model, X, y, method="loo", progress=False)
    part = training_point_importance(
        model, X, y, method="loo", indices=np.array([3, 7, 11]), n_jobs=2, progress=False
    )
    assert_allclose(part.scores[[3, 7, 11]], full.scores[[3, 7, 11]], rtol=1e-12, atol=1e-15)
    assert np.isnan(np.delete(part.scores, [3, 7, 11])).all()


def test_loo_newton_refused_for_unsupported_estimator():
    X, y = make_gaussian_classification(30, 2, 2, random_state=17)
    model = LogisticRegression(class_weight="balanced").fit(X, y)
    with pytest.raises(ValueError, match="refit_solver"):
        training_point_importance(model, X, y, method="loo", refit_solver="newton")
    res = training_point_importance(model, X, y, method="loo", progress=False)
    assert res.refit_solver == "estimator"

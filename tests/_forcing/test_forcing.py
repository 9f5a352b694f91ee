"""Minimal forcing subsets (MFS, Han & Ghosh) against independent ground truth.

Ground truth here never comes from fairlearn_divine: the QP step is checked against a numpy
KKT solve, every claimed flip against our own sklearn refit (a fresh ``clone`` fitted without the
subset), and the approximate (Newton) path against a numpy replay of MFS Algorithm 1 on the
logistic-regression objective ``C * sum_i s_i l_i(theta) + 0.5 * ||w||^2``.
"""

import functools
import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_moons
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairlearn_divine import ApproximationWarning, ForcingSubset, minimal_forcing_subset
from fairlearn_divine._forcing._step import CvxpyStep as _CvxpyStep
from fairlearn_divine._forcing._step import closed_form_step as _closed_form_step

# ---------------------------------------------------------------------------------------------
# data and models (cached: fitting is cheap but MFS runs are reused across tests)


@functools.cache
def _moons():
    X, y = make_moons(100, noise=0.1, random_state=0)
    model = LogisticRegression(tol=1e-10).fit(X, y)
    return X, y, model


@functools.cache
def _blobs():
    X, y = make_blobs(150, centers=3, cluster_std=2.0, random_state=0)
    model = LogisticRegression(tol=1e-10).fit(X, y)  # multinomial (lbfgs)
    return X, y, model


@functools.cache
def _moons_pipeline():
    X, y = make_moons(100, noise=0.1, random_state=0)
    X = X * [10.0, 1.0] + [5.0, 0.0]  # badly scaled, so the scaler matters
    pipe = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10)).fit(X, y)
    return X, y, pipe


@functools.cache
def _moons_weighted():
    X, y = make_moons(100, noise=0.1, random_state=0)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    model = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    return X, y, sw, model


DATA = {"moons": _moons, "blobs": _blobs}


@functools.cache
def _mfs(data, j, update="newton", verify=True, solver=None):
    X, y, model = DATA[data]()
    return minimal_forcing_subset(model, X, y, X[j], update=update, verify=verify, solver=solver)


def _near_boundary_point(model, p=0.51):
    """A fresh test point (not a training point) where model predicts class 0 with prob p."""
    w, b = model.coef_[0], model.intercept_[0]
    x0 = np.array([0.5, 0.25])
    target_logit = np.log((1 - p) / p)  # z = logit p(1|x)
    return x0 + (target_logit - (w @ x0 + b)) / (w @ w) * w


# ---------------------------------------------------------------------------------------------
# independent refits


def _refit_predict(estimator, X, y, drop, x, sample_weight=None):
    keep = np.ones(len(y), dtype=bool)
    keep[np.asarray(drop, dtype=int)] = False
    model = clone(estimator)
    if sample_weight is None:
        model.fit(X[keep], y[keep])
    else:
        model.fit(X[keep], y[keep], sample_weight=sample_weight[keep])
    return model.predict(np.atleast_2d(x))[0]


def _assert_verified_and_prefix_minimal(result, estimator, X, y, x, sample_weight=None):
    original = estimator.predict(np.atleast_2d(x))[0]
    assert result.predicted_class == original
    assert result.flipped, result.message
    assert result.verified
    assert result.size == len(result.indices) >= 1
    assert len(set(result.indices.tolist())) == result.size
    flipped_to = _refit_predict(estimator, X, y, result.indices, x, sample_weight)
    assert flipped_to != original, "our own refit without S does not flip the prediction"
    shorter = _refit_predict(estimator, X, y, result.indices[:-1], x, sample_weight)
    assert shorter == original, "S is not prefix-minimal: refit without S[:-1] also flips"


# ---------------------------------------------------------------------------------------------
# the QP step: closed form == our KKT solve == cvxpy (Clarabel, OSQP)


def _kkt_reference(H, g, a, r, eps):
    """min g'D + D'HD/2 s.t. r + a'D >= eps, by the KKT conditions (dense numpy)."""
    D_unc = -np.linalg.solve(H, g)
    if r + a @ D_unc >= eps:
        return D_unc, D_unc, 0.0
    p = len(g)
    K = np.zeros((p + 1, p + 1))
    K[:p, :p] = H
    K[:p, p] = -a
    K[p, :p] = a
    sol = np.linalg.solve(K, np.append(-g, eps - r))
    D, lam = sol[:p], sol[p]
    # the KKT conditions hold: stationarity, primal feasibility (active), dual feasibility
    np.testing.assert_allclose(H @ D + g, lam * a, atol=1e-10)
    assert abs(r + a @ D - eps) < 1e-10
    assert lam > 0
    return D, D_unc, lam


def _qp_case(seed, active, p=6):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(p, p))
    H = A @ A.T + 0.5 * np.eye(p)
    g = rng.normal(size=p)
    a = rng.normal(size=p)
    eps = float(rng.uniform(1e-3, 0.5))
    slack = a @ -np.linalg.solve(H, g) - eps  # r + slack >= 0 <=> unconstrained is feasible
    r = float(-slack + (-1.5 if active else 1.5))
    return H, g, a, r, eps


@pytest.mark.parametrize("active", [True, False])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lower", [True, False])
def test_closed_form_step_matches_kkt(seed, active, lower):
    H, g, a, r, eps = _qp_case(seed, active)
    D_ref, D_unc_ref, lam = _kkt_reference(H, g, a, r, eps)
    assert (lam > 0) == active
    D, D_unc = _closed_form_step(g, scipy.linalg.cho_factor(H, lower=lower), a, r, eps)
    np.testing.assert_allclose(D, D_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(D_unc, D_unc_ref, rtol=1e-9, atol=1e-9)
    if active:
        assert r + a @ D == pytest.approx(eps, abs=1e-9)
    else:
        np.testing.assert_allclose(D, D_unc, rtol=1e-12, atol=1e-12)


def _check_cvxpy_step(solver, lower=True):
    p = 6
    step = _CvxpyStep(p, solver)
    assert step.problem.is_dpp()
    # several solves with the same compiled problem, parameters (incl. H) changed in between
    for seed, active in [(10, True), (11, False), (12, True)]:
        H, g, a, r, eps = _qp_case(seed, active, p=p)
        D_ref, D_unc_ref, _ = _kkt_reference(H, g, a, r, eps)
        D, D_unc = step(g, scipy.linalg.cho_factor(H, lower=lower), a, r, eps)
        np.testing.assert_allclose(D, D_ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(D_unc, D_unc_ref, rtol=1e-9, atol=1e-9)
        D_cf, _ = _closed_form_step(g, scipy.linalg.cho_factor(H, lower=True), a, r, eps)
        np.testing.assert_allclose(D, D_cf, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("lower", [True, False])
def test_cvxpy_clarabel_step_is_dpp_and_matches_kkt_across_resolves(lower):
    _check_cvxpy_step("CLARABEL", lower)


def test_cvxpy_osqp_step_is_dpp_and_matches_kkt_across_resolves():
    # no warning filter: the step must run cleanly under filterwarnings=error
    _check_cvxpy_step("OSQP")


@pytest.mark.filterwarnings("ignore:.*polish.*:DeprecationWarning")
def test_cvxpy_osqp_step_converges_without_inaccuracy_warning():
    """Only the osqp>=1.0 "polish" deprecation is ignored: OSQP must still reach "optimal"."""
    _check_cvxpy_step("OSQP")


@pytest.mark.filterwarnings("ignore:.*polish.*:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Solution may be inaccurate:UserWarning")
def test_cvxpy_osqp_step_values_match_kkt():
    """The OSQP values themselves (warnings aside) equal the KKT solution to 1e-6."""
    _check_cvxpy_step("OSQP")


@pytest.mark.parametrize("solver", [None, "CLARABEL"])
def test_qp_step_reports_infeasible_constraint(solver):
    p = 4
    rng = np.random.default_rng(3)
    A = rng.normal(size=(p, p))
    H = A @ A.T + np.eye(p)
    g = rng.normal(size=p)
    a = np.zeros(p)  # r does not depend on the parameters
    step = _closed_form_step if solver is None else _CvxpyStep(p, solver)
    D, D_unc = step(g, scipy.linalg.cho_factor(H, lower=True), a, 0.0, 1e-3)
    assert D is None
    np.testing.assert_allclose(D_unc, -np.linalg.solve(H, g), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# verified flips: binary half-moons and a 3-class problem


@pytest.mark.parametrize(
    ("j", "update"),
    [(0, "newton"), (2, "newton"), (5, "newton"), (10, "newton"), (22, "newton")]
    + [(0, "retrain"), (5, "retrain"), (22, "retrain")],
)
def test_flip_verified_by_own_refit_and_prefix_minimal_moons(j, update):
    X, y, model = _moons()
    result = _mfs("moons", j, update)
    assert isinstance(result, ForcingSubset)
    _assert_verified_and_prefix_minimal(result, model, X, y, X[j])


def test_flip_on_fresh_test_points_moons():
    X, y, model = _moons()
    rng = np.random.default_rng(1)
    points = rng.uniform([-1.0, -0.5], [2.0, 1.0], size=(3, 2))
    for x in points:
        result = minimal_forcing_subset(model, X, y, x)
        _assert_verified_and_prefix_minimal(result, model, X, y, x)


@pytest.mark.parametrize("j", [0, 1, 3])
def test_flip_verified_multiclass_and_runner_up_target(j):
    X, y, model = _blobs()
    result = _mfs("blobs", j)
    proba = model.predict_proba(X[j : j + 1])[0]
    order = np.argsort(-proba)
    assert result.predicted_class == model.classes_[order[0]]
    assert result.target_class == model.classes_[order[1]]
    _assert_verified_and_prefix_minimal(result, model, X, y, X[j])


# ---------------------------------------------------------------------------------------------
# newton vs retrain; points near the boundary


def test_newton_and_retrain_agree_next_to_boundary():
    X, y, model = _moons()
    x = _near_boundary_point(model, p=0.51)
    assert model.predict_proba(x[None])[0, 0] == pytest.approx(0.51)
    results = {u: minimal_forcing_subset(model, X, y, x, update=u) for u in ("newton", "retrain")}
    for result in results.values():
        assert result.size <= 2
        _assert_verified_and_prefix_minimal(result, model, X, y, x)
    assert results["newton"].indices[0] == results["retrain"].indices[0]


@pytest.mark.parametrize("j", [0, 5, 10])
def test_newton_and_retrain_sizes_close_on_moons(j):
    newton = _mfs("moons", j, "newton")
    retrain = _mfs("moons", j, "retrain")
    assert newton.flipped and retrain.flipped
    assert abs(newton.size - retrain.size) <= 4, (newton.size, retrain.size)
    assert retrain.n_refits >= retrain.size  # one refit per removal, plus verification


@pytest.mark.parametrize("j", [3, 22, 26])
def test_point_near_boundary_gives_tiny_subset(j):
    X, y, model = _moons()
    assert abs(model.predict_proba(X[j : j + 1])[0, 1] - 0.5) < 0.03
    result = _mfs("moons", j)
    assert 1 <= result.size <= 2
    _assert_verified_and_prefix_minimal(result, model, X, y, X[j])


# ---------------------------------------------------------------------------------------------
# the approximate path, replayed in numpy (binary logistic regression, Algorithm 1 with eq. 5)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _replay_newton_mfs(model, X, y, x, sample_weight=None, max_size=None, eps=1e-3):
    """Our own MFS Algorithm 1: KKT step, max loss increase, one Newton step per removal.

    Loss increases are measured against the model's unconstrained optimum theta + D_unc. The
    Hessian is downdated by each removed point's curvature (at the parameters it was computed
    at); while the scaled gradient after the step exceeds 1e-8, up to three chord steps with
    that Hessian follow, then (if still above) up to three Newton steps with the Hessian
    recomputed at the current parameters (the documented drift control).
    Returns (indices, per-step p(c0|x) before each step, final theta).
    """
    n, d = X.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    C = model.C
    Xa = np.hstack([X, np.ones((n, 1))])
    xa = np.append(x, 1.0)
    theta = np.append(model.coef_[0], model.intercept_[0])
    reg = np.append(np.ones(d), 0.0)
    p_hat = _sigmoid(Xa @ theta)
    c = C * s
    H = (Xa * (c * p_hat * (1 - p_hat))[:, None]).T @ Xa + np.diag(reg)
    c0 = int(_sigmoid(xa @ theta) >= 0.5)
    sign = 1.0 if c0 == 0 else -1.0  # r = log p(c1) - log p(c0) = sign * z
    a = sign * xa
    keep = np.ones(n, dtype=bool)
    max_size = n - 1 if max_size is None else max_size

    def grad(th):
        return Xa.T @ (c * keep * (_sigmoid(Xa @ th) - y)) + reg * th

    def losses(th):
        z = Xa @ th
        return np.logaddexp(0.0, z) - y * z

    picks, p_c0, ties = [], [], []
    while len(picks) < max_size:
        p1 = _sigmoid(xa @ theta)
        p_c0.append(p1 if c0 == 1 else 1 - p1)
        r = sign * (xa @ theta)
        D, D_unc, lam = _kkt_reference(H, grad(theta), a, r, eps)
        if lam == 0.0:
            break
        gain = np.where(keep, c * (losses(theta + D) - losses(theta + D_unc)), -np.inf)
        i = int(np.argmax(gain))
        if gain[i] <= 0:
            break
        ties.append(set(np.flatnonzero(gain >= gain[i] - 1e-9 * abs(gain[i])).tolist()))
        picks.append(i)
        keep[i] = False
        H = H - c[i] * p_hat[i] * (1 - p_hat[i]) * np.outer(Xa[i], Xa[i])
        theta = theta - np.linalg.solve(H, grad(theta))
        converged = False
        for _ in range(3):  # chord steps with the same Hessian
            g = grad(theta)
            if np.max(np.abs(g)) <= 1e-8 * (c * keep).sum():
                converged = True
                break
            theta = theta - np.linalg.solve(H, g)
        for _ in range(0 if converged else 3):
            g = grad(theta)
            if np.max(np.abs(g)) <= 1e-8 * (c * keep).sum():
                break
            p_hat = _sigmoid(Xa @ theta)
            H = (Xa * (c * keep * p_hat * (1 - p_hat))[:, None]).T @ Xa + np.diag(reg)
            theta = theta - np.linalg.solve(H, g)
    _replay_newton_mfs.ties = ties  # candidates within rounding of the best gain, per step
    return np.array(picks), np.array(p_c0), theta


@pytest.mark.parametrize("j", [0, 5, 22])
def test_unverified_newton_path_matches_numpy_replay(j):
    X, y, model = _moons()
    result = _mfs("moons", j, "newton", False)
    picks, p_c0, theta = _replay_newton_mfs(model, X, y, X[j])
    # same picks, except that a gain tied with the best to 1e-9 (relative) may go either way
    assert len(result.indices) == len(picks)
    assert set(result.indices.tolist()) == set(picks.tolist())
    for k, (ours, theirs) in enumerate(zip(result.indices, picks, strict=True)):
        assert ours == theirs or ours in _replay_newton_mfs.ties[k]
    # rtol 1e-5: whether one more refresh step runs depends on the scaled gradient crossing
    # 1e-8, which rounding can decide either way; such a step moves p by ~1e-6
    np.testing.assert_allclose([t["p_c0"] for t in result.trace], p_c0, rtol=1e-5, atol=1e-8)
    p1 = _sigmoid(np.append(X[j], 1.0) @ theta)
    np.testing.assert_allclose(result.final_proba, [1 - p1, p1], rtol=1e-5, atol=1e-8)


def test_unverified_newton_path_matches_numpy_replay_with_sample_weight():
    X, y, sw, model = _moons_weighted()
    result = minimal_forcing_subset(model, X, y, X[5], sample_weight=sw, verify=False)
    picks, _, theta = _replay_newton_mfs(model, X, y, X[5], sample_weight=sw)
    np.testing.assert_array_equal(result.indices, picks)
    p1 = _sigmoid(np.append(X[5], 1.0) @ theta)
    np.testing.assert_allclose(result.final_proba, [1 - p1, p1], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("j", [0, 5, 21, 56, 84])
def test_clarabel_solver_gives_same_subset_as_closed_form(j):
    """The docstring promises cvxpy solves *the same problem*: the same picks must follow."""
    closed = _mfs("moons", j, "newton", False)
    clarabel = _mfs("moons", j, "newton", False, "CLARABEL")
    np.testing.assert_array_equal(clarabel.indices, closed.indices)
    assert clarabel.flipped == closed.flipped


# ---------------------------------------------------------------------------------------------
# result bookkeeping


@pytest.mark.parametrize(
    ("data", "j", "update"),
    [
        ("moons", 0, "newton"),
        ("moons", 3, "retrain"),
        ("blobs", 0, "newton"),
        ("blobs", 3, "newton"),
    ],
)
def test_determinism(data, j, update):
    X, y, model = DATA[data]()
    a = minimal_forcing_subset(model, X, y, X[j], update=update)
    b = minimal_forcing_subset(model, X, y, X[j], update=update)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.trace == b.trace
    assert a.flipped == b.flipped and a.message == b.message


def _check_supports(result, y):
    idx = result.indices
    pos, neg = result.positive_support, result.negative_support
    np.testing.assert_array_equal(pos, idx[y[idx] == result.predicted_class])
    np.testing.assert_array_equal(neg, idx[y[idx] != result.predicted_class])
    assert not set(pos.tolist()) & set(neg.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([pos, neg])), np.sort(idx))


@pytest.mark.parametrize(
    ("data", "j", "update"),
    [
        ("moons", 0, "newton"),
        ("moons", 10, "retrain"),
        ("blobs", 0, "newton"),
        ("blobs", 3, "newton"),
    ],
)
def test_supports_partition_indices_by_predicted_class(data, j, update):
    X, y, model = DATA[data]()
    result = _mfs(data, j, update)
    assert result.size > 0
    _check_supports(result, y)


def test_supports_with_string_labels():
    X, y, _ = _moons()
    labels = np.array(["no", "yes"])[y]
    model = LogisticRegression(tol=1e-10).fit(X, labels)
    result = minimal_forcing_subset(model, X, labels, X[5])
    assert result.predicted_class == model.predict(X[5:6])[0]
    assert result.target_class in ("no", "yes") and result.target_class != result.predicted_class
    _check_supports(result, labels)
    _assert_verified_and_prefix_minimal(result, model, X, labels, X[5])


@pytest.mark.parametrize(("data", "j"), [("moons", 0), ("moons", 10), ("blobs", 3)])
def test_trace_keys_and_first_step_probabilities(data, j):
    X, y, model = DATA[data]()
    result = _mfs(data, j)
    proba = model.predict_proba(X[j : j + 1])[0]
    c0 = int(np.flatnonzero(model.classes_ == result.predicted_class)[0])
    c1 = int(np.flatnonzero(model.classes_ == result.target_class)[0])
    assert len(result.trace) >= result.size
    for step in result.trace:
        assert {"p_c0", "p_c1", "loss_gap"} <= set(step)
        assert 0.0 <= step["p_c0"] <= 1.0 and 0.0 <= step["p_c1"] <= 1.0
        assert step["loss_gap"] >= -1e-9
    assert result.trace[0]["p_c0"] == pytest.approx(proba[c0], rel=1e-6)
    assert result.trace[0]["p_c1"] == pytest.approx(proba[c1], rel=1e-6)
    # indices are the first picks of the trace (pick order; trimming only drops the tail)
    picks = [step["index"] for step in result.trace if step.get("index") is not None]
    np.testing.assert_array_equal(result.indices, picks[: result.size])


def test_verify_false_uses_approximate_model():
    X, y, model = _moons()
    result = _mfs("moons", 0, "newton", False)
    assert result.n_refits == 0
    assert result.verified is False
    c0 = int(np.flatnonzero(model.classes_ == result.predicted_class)[0])
    assert result.flipped == (int(np.argmax(result.final_proba)) != c0)
    assert result.flipped  # the approximate model predicts a flip here
    # no refit ran, yet the Newton iterate (with its drift control) tracks the refit optimum
    keep = np.ones(len(y), dtype=bool)
    keep[result.indices] = False
    refit = clone(model).fit(X[keep], y[keep])
    np.testing.assert_allclose(result.final_proba, refit.predict_proba(X[:1])[0], atol=1e-3)


def test_verify_false_retrain_counts_refits():
    X, y, model = _moons()
    result = _mfs("moons", 3, "retrain", False)
    assert result.verified is False
    assert result.n_refits == result.size
    c0 = int(np.flatnonzero(model.classes_ == result.predicted_class)[0])
    assert result.flipped == (int(np.argmax(result.final_proba)) != c0)


@pytest.mark.parametrize("verify", [True, False])
def test_max_size_too_small_reports_no_flip(verify):
    X, y, model = _moons()
    assert model.predict_proba(X[:1])[0].max() > 0.9  # confidently classified
    result = minimal_forcing_subset(model, X, y, X[0], max_size=1, verify=verify)
    assert result.flipped is False
    assert result.size <= 1
    assert "max_size" in result.message
    if result.size:
        assert _refit_predict(model, X, y, result.indices, X[0]) == model.predict(X[:1])[0]


# ---------------------------------------------------------------------------------------------
# pipelines and sample weights


@pytest.mark.parametrize(
    ("j", "update"), [(2, "newton"), (5, "newton"), (5, "retrain"), (22, "retrain")]
)
def test_pipeline_flip_verified_by_own_refit_of_whole_pipeline(j, update):
    X, y, pipe = _moons_pipeline()
    result = minimal_forcing_subset(pipe, X, y, X[j], update=update)
    _assert_verified_and_prefix_minimal(result, pipe, X, y, X[j])


def test_sample_weight_honoured_by_verified_flip():
    X, y, sw, model = _moons_weighted()
    for j in (0, 5):
        result = minimal_forcing_subset(model, X, y, X[j], sample_weight=sw)
        _assert_verified_and_prefix_minimal(result, model, X, y, X[j], sample_weight=sw)


def test_zero_weight_points_are_never_selected():
    X, y, model = _moons()
    first = _mfs("moons", 5)
    sw = np.ones(len(y))
    sw[first.indices[:3]] = 0.0
    weighted = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    result = minimal_forcing_subset(weighted, X, y, X[5], sample_weight=sw)
    assert not set(result.indices.tolist()) & set(first.indices[:3].tolist())
    _assert_verified_and_prefix_minimal(result, weighted, X, y, X[5], sample_weight=sw)


# ---------------------------------------------------------------------------------------------
# bad inputs and infeasibility


def test_x_with_wrong_number_of_features():
    X, y, model = _moons()
    with pytest.raises(ValueError, match=r"\bx\b"):
        minimal_forcing_subset(model, X, y, np.zeros(3))
    with pytest.raises(ValueError, match=r"\bx\b"):
        minimal_forcing_subset(model, X, y, np.zeros((2, 2)))


def test_x_with_nan():
    X, y, model = _moons()
    with pytest.raises(ValueError, match=r"\bx\b"):
        minimal_forcing_subset(model, X, y, np.array([np.nan, 0.0]))


def test_estimator_without_differentiable_view():
    X, y, _ = _moons()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(TypeError) as info:
        minimal_forcing_subset(forest, X, y, X[0])
    message = str(info.value)
    assert "RandomForestClassifier" in message
    assert "LogisticRegression" in message and "loo" in message


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"update": "exact"}, "update"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"delta": -1.0}, "delta"),
        ({"max_size": 0}, "max_size"),
        ({"max_size": 2.5}, "max_size"),
    ],
)
def test_bad_options_raise_value_error_naming_them(kwargs, name):
    X, y, model = _moons()
    with pytest.raises(ValueError, match=name):
        minimal_forcing_subset(model, X, y, X[0], **kwargs)


def test_inconsistent_lengths():
    X, y, model = _moons()
    with pytest.raises(ValueError, match="rows|length|samples"):
        minimal_forcing_subset(model, X, y[:-1], X[0])


@pytest.mark.parametrize("solver", [None, "CLARABEL"])
def test_infeasible_constraint_is_reported(solver):
    X, y, _ = _moons()
    model = LogisticRegression(fit_intercept=False, tol=1e-10).fit(X, y)
    result = minimal_forcing_subset(model, X, y, np.zeros(2), solver=solver)
    assert result.flipped is False
    assert result.size == 0
    assert "infeasible" in result.message


# ---------------------------------------------------------------------------------------------
# inputs are never mutated


@pytest.mark.parametrize("update", ["newton", "retrain"])
def test_inputs_not_mutated(update):
    X, y, sw, model = _moons_weighted()
    X_in, y_in, sw_in, x_in = X.copy(), y.copy(), sw.copy(), X[5].copy()
    coef, intercept, params = model.coef_.copy(), model.intercept_.copy(), model.get_params()
    minimal_forcing_subset(model, X_in, y_in, x_in, update=update, sample_weight=sw_in)
    np.testing.assert_array_equal(X_in, X)
    np.testing.assert_array_equal(y_in, y)
    np.testing.assert_array_equal(sw_in, sw)
    np.testing.assert_array_equal(x_in, X[5])
    np.testing.assert_array_equal(model.coef_, coef)
    np.testing.assert_array_equal(model.intercept_, intercept)
    assert model.get_params() == params


def test_pipeline_inputs_not_mutated():
    X, y, pipe = _moons_pipeline()
    X_in, y_in = X.copy(), y.copy()
    mean, coef = pipe[0].mean_.copy(), pipe[-1].coef_.copy()
    minimal_forcing_subset(pipe, X_in, y_in, X_in[2])
    np.testing.assert_array_equal(X_in, X)
    np.testing.assert_array_equal(y_in, y)
    np.testing.assert_array_equal(pipe[0].mean_, mean)
    np.testing.assert_array_equal(pipe[-1].coef_, coef)


def test_pandas_inputs_match_numpy_and_are_not_mutated():
    pd = pytest.importorskip("pandas")
    X, y, _ = _moons()
    df = pd.DataFrame(X, columns=["a", "b"])
    ys = pd.Series(y, name="label")
    df_before, ys_before = df.copy(), ys.copy()
    model = LogisticRegression(tol=1e-10).fit(df, ys)
    result = minimal_forcing_subset(model, df, ys, df.iloc[[5]])
    np.testing.assert_array_equal(result.indices, _mfs("moons", 5).indices)
    keep = np.ones(len(ys), dtype=bool)
    keep[result.indices] = False
    refit = clone(model).fit(df[keep], ys[keep])
    assert refit.predict(df.iloc[[5]])[0] != model.predict(df.iloc[[5]])[0]
    pd.testing.assert_frame_equal(df, df_before)
    pd.testing.assert_series_equal(ys, ys_before)


def test_many_points_in_parallel_equal_one_by_one():
    from fairlearn_divine import minimal_forcing_subsets

    X, y = make_moons(100, noise=0.1, random_state=0)
    model = LogisticRegression(tol=1e-10).fit(X, y)
    points = X[[0, 2, 5]]
    many = minimal_forcing_subsets(model, X, y, points, n_jobs=2)
    for row, result in zip(points, many, strict=True):
        single = minimal_forcing_subset(model, X, y, row)
        np.testing.assert_array_equal(single.indices, result.indices)
        assert single.flipped == result.flipped


# ---------------------------------------------------------------------------------------------
# flips that hold: the estimator's own fit and its tolerance


def test_flip_is_confirmed_by_the_estimators_own_fit():
    """Verification refits of a bare LogisticRegression are exact Newton refits; the flip is
    then confirmed by the estimator's own fit (its tol) without S, reported as
    estimator_proba, which equals an independent clone().fit."""
    X, y, _ = _moons()
    model = LogisticRegression(tol=1e-10).fit(X, y)
    result = minimal_forcing_subset(model, X, y, X[3])
    assert result.flipped and result.verified
    keep = np.ones(len(y), dtype=bool)
    keep[result.indices] = False
    own = clone(model).fit(X[keep], y[keep]).predict_proba(X[3:4])[0]
    # the own fit is warm-started from the exact (Newton) optimum without S, so it agrees with
    # a cold clone().fit to lbfgs's tolerance (tol=1e-10: about 6e-10 here), not further
    np.testing.assert_allclose(result.estimator_proba, own, rtol=1e-8, atol=1e-12)
    assert np.argmax(own) != np.argmax(model.predict_proba(X[3:4])[0])


def test_loose_tolerance_is_named_in_a_warning():
    X, y, _ = _moons()
    model = LogisticRegression(tol=1e-1, max_iter=3).fit(X, y)
    with pytest.warns(ApproximationWarning, match=r"tol=0\.1"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            minimal_forcing_subset(model, X, y, X[3])

"""Data Banzhaf by maximum sample reuse (``method="data_banzhaf"``).

Ground truth is computed here, independently of fairlearn_divine, with ``clone(est).fit`` on
subsets and the conventions of the ``_banzhaf`` module docstring (those of Data Shapley): the
empty set predicts the training set's Laplace-smoothed class frequencies (w_k + 1) / (W + K); a
subset whose labels are all one class, or that the estimator cannot be fitted on or predict
from (ValueError), predicts its own; log loss with probabilities clipped to [eps, 1 - eps].

* exact Banzhaf values by enumerating all 2^n subsets,
  phi_i = 2^(1-n) sum_{S not containing i} [f(S) - f(S + i)];
* the MSR estimate of a run, rebuilt from its documented subsets (subset k of the run with
  seed s: ``default_rng(SeedSequence([s, k])).random(n) < 0.5``):
  phi_i = mean f over the subsets without i - mean f over the subsets with i.
"""

import itertools
import os

import joblib
import numpy as np
import pandas as pd
import pytest
from _dask import local_client
from _refits import make_gaussian_classification, tight
from fairlearn.metrics import equalized_odds_difference
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from fairlearn_divine import ApproximationWarning, training_point_importance

EPS = np.finfo(float).eps


@pytest.fixture(autouse=True)
def _one_thread():
    """Thousands of fits on a few rows: BLAS / OpenMP threads only add overhead (and spin when
    the machine is busy: 100 ms instead of 4 ms per lbfgs fit). Results do not depend on it."""
    with threadpool_limits(1):
        yield


# ---------------------------------------------------------------------------------------------
# independent ground truth


def _costs(P, y_eval_idx, classes, objectives, groups):
    """f for each objective from eval-set probabilities P (columns = classes)."""
    out = []
    for name in objectives:
        if name == "log_loss":
            p = np.clip(P[np.arange(len(y_eval_idx)), y_eval_idx], EPS, 1 - EPS)
            out.append(float(-np.mean(np.log(p))))
        elif name == "zero_one_loss":
            out.append(float(np.mean(np.argmax(P, axis=1) != y_eval_idx)))
        elif name == "equalized_odds":
            pred = classes[np.argmax(P, axis=1)]
            out.append(
                float(
                    equalized_odds_difference(classes[y_eval_idx], pred, sensitive_features=groups)
                )
            )
        else:  # pragma: no cover
            raise AssertionError(name)
    return np.array(out)


class _Game:
    """f(S) of ``clone(est).fit`` on the rows S, evaluated on (X_eval, y_eval)."""

    def __init__(self, est, X, y, X_eval, y_eval, objectives=("log_loss",), groups=None):
        self.est, self.X, self.y = est, X, np.asarray(y)
        self.X_eval = X_eval
        self.classes = np.unique(self.y)
        self.y_eval_idx = np.searchsorted(self.classes, y_eval)
        self.objectives, self.groups = list(objectives), groups
        self.n_fits = 0

    def _take(self, rows):
        return self.X.iloc[rows] if hasattr(self.X, "iloc") else self.X[rows]

    def _constant(self, rows):
        counts = np.array([np.sum(self.y[rows] == c) for c in self.classes], dtype=float)
        p = (counts + 1.0) / (counts.sum() + len(self.classes))
        P = np.tile(p, (len(self.y_eval_idx), 1))
        return _costs(P, self.y_eval_idx, self.classes, self.objectives, self.groups)

    def __call__(self, rows):
        rows = np.asarray(sorted(rows), dtype=int)
        if len(rows) == 0:
            return self._constant(np.arange(len(self.y)))
        if len(np.unique(self.y[rows])) == 1:
            return self._constant(rows)
        self.n_fits += 1
        try:
            model = clone(self.est).fit(self._take(rows), self.y[rows])
            proba = model.predict_proba(self.X_eval)
        except ValueError:  # e.g. fewer points than n_neighbors
            return self._constant(rows)
        P = np.zeros((len(self.y_eval_idx), len(self.classes)))
        P[:, np.searchsorted(self.classes, model.classes_)] = proba
        return _costs(P, self.y_eval_idx, self.classes, self.objectives, self.groups)


def exact_banzhaf(game, n):
    """phi_i = 2^(1-n) sum_T f(T) (1[i not in T] - 1[i in T]), over all 2^n subsets T."""
    phi = 0.0
    for bits in itertools.product([False, True], repeat=n):
        mask = np.array(bits)
        phi = phi + np.outer(np.where(mask, -1.0, 1.0), game(np.flatnonzero(mask)))
    return phi / 2 ** (n - 1)  # (n, n_objectives)


def msr_by_hand(game, n, seed, n_samples):
    """The MSR estimate and two-sample standard errors from the run's documented subsets."""
    masks, values = [], []
    for k in range(n_samples):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
        mask = rng.random(n) < 0.5
        masks.append(mask)
        values.append(game(np.flatnonzero(mask)))
    M, F = np.array(masks), np.array(values)
    phi, se = np.empty((n, F.shape[1])), np.empty((n, F.shape[1]))
    for i in range(n):
        f_in, f_out = F[M[:, i]], F[~M[:, i]]
        phi[i] = f_out.mean(axis=0) - f_in.mean(axis=0)
        se[i] = np.sqrt(
            f_in.var(axis=0, ddof=1) / len(f_in) + f_out.var(axis=0, ddof=1) / len(f_out)
        )
    return phi, se


def _problem(n, n_eval=30, seed=0, n_classes=2):
    X, y = make_gaussian_classification(
        n + n_eval, n_features=3, n_classes=n_classes, random_state=seed
    )
    return X[:n], y[:n], X[n:], y[n:]


def _banzhaf(model, X, y, Xe, ye, **kw):
    return training_point_importance(
        model, X, y, method="data_banzhaf", X_eval=Xe, y_eval=ye, **kw
    )


# ---------------------------------------------------------------------------------------------
# agreement with exact Banzhaf values (all 2^n subsets)


ENUMERATED = {
    "logistic": (lambda: tight(LogisticRegression()), 10),
    "tree": (lambda: DecisionTreeClassifier(random_state=0), 10),
    "knn": (lambda: KNeighborsClassifier(n_neighbors=3), 10),
}


@pytest.mark.parametrize("name", list(ENUMERATED))
def test_msr_agrees_with_exact_banzhaf_by_enumeration(name):
    make, n = ENUMERATED[name]
    X, y, Xe, ye = _problem(n, seed=1)
    X[1], y[1] = X[0], y[0]  # rows 0 and 1 are the same point: symmetric players
    model = make().fit(X, y)
    exact = exact_banzhaf(_Game(make(), X, y, Xe, ye), n)[:, 0]
    res = _banzhaf(model, X, y, Xe, ye, n_samples=1200, convergence_tolerance=0.0, random_state=0)
    assert res.n_samples == 1200 and not res.converged
    z = (res.scores - exact) / res.scores_stderr
    assert np.max(np.abs(z)) < 4.0, z
    assert np.mean(z**2) < 3.0, z  # the errors are about one standard error, not smaller
    # the comparison is not vacuous: the values stand out of their standard errors
    assert np.max(np.abs(exact)) > 5 * np.max(res.scores_stderr)
    # symmetry: identical points have equal exact values, and equal estimates within error
    assert_allclose(exact[0], exact[1], rtol=0, atol=1e-6)
    se = res.scores_stderr[0]  # (n_objectives, n), as Data Shapley's
    assert abs(res.scores[0] - res.scores[1]) <= 3 * (se[0] + se[1])


def test_exact_banzhaf_sum_identity():
    """sum_i phi_i = 2^(1-n) sum_T f(T) (n - 2|T|) = -4 Cov_T(|T|, f(T)) under uniform T; a
    check of the enumeration the tests above rely on."""
    n = 6
    X, y, Xe, ye = _problem(n, seed=2)
    game = _Game(DecisionTreeClassifier(random_state=0), X, y, Xe, ye)
    exact = exact_banzhaf(game, n)[:, 0]
    sizes, values = [], []
    for bits in itertools.product([False, True], repeat=n):
        rows = np.flatnonzero(bits)
        sizes.append(len(rows))
        values.append(game(rows)[0])
    sizes, values = np.array(sizes, float), np.array(values)
    cov = np.mean((sizes - sizes.mean()) * (values - values.mean()))
    assert_allclose(exact.sum(), -4 * cov, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the estimator itself: rebuilt from the documented subsets


def test_estimate_equals_msr_of_documented_subsets_all_objectives_one_refit_each():
    n, n_samples, seed = 14, 48, 3
    X, y, Xe, ye = _problem(n, n_eval=40, seed=3)
    groups = np.tile(["a", "b"], 20)
    objectives = ["log_loss", "zero_one_loss", "equalized_odds"]
    model = DecisionTreeClassifier(random_state=0, max_depth=3).fit(X, y)
    res = _banzhaf(
        model,
        X,
        y,
        Xe,
        ye,
        objective=objectives,
        sensitive_features_eval=groups,
        n_samples=n_samples,
        convergence_tolerance=0.0,
        random_state=seed,
    )
    game = _Game(model, X, y, Xe, ye, objectives, groups)
    phi, se = msr_by_hand(game, n, seed, n_samples)
    assert res.seed == seed and res.n_samples == n_samples
    assert_allclose(res.scores, phi.T, rtol=1e-10, atol=1e-12)
    assert_allclose(res.scores_stderr, se.T, rtol=1e-8, atol=1e-12)
    # every objective from the same refit: one per subset (+ the full data), none for the
    # subsets predicted by a constant
    assert res.n_refits == game.n_fits + 1
    full = game(np.arange(n))
    assert_allclose(res.baseline, full, rtol=1e-12)


def test_newton_refits_equal_estimator_refits_and_own_fits():
    n, n_samples, seed = 20, 32, 4
    X, y, Xe, ye = _problem(n, seed=4, n_classes=3)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_samples=n_samples, convergence_tolerance=0.0, random_state=seed)
    newton = _banzhaf(model, X, y, Xe, ye, **kw)
    estimator = _banzhaf(tight(model).fit(X, y), X, y, Xe, ye, refit_solver="estimator", **kw)
    assert newton.refit_solver == "newton" and estimator.refit_solver == "estimator"
    phi, _ = msr_by_hand(_Game(tight(model), X, y, Xe, ye), n, seed, n_samples)
    assert_allclose(newton.scores, phi[:, 0], rtol=1e-6, atol=1e-8)
    assert_allclose(estimator.scores, phi[:, 0], rtol=1e-6, atol=1e-8)


def test_differentiable_model_view_equals_its_estimator():
    from fairlearn_divine._models import make_view

    X, y, Xe, ye = _problem(30, seed=18)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_samples=32, convergence_tolerance=0.0, random_state=0)
    view = _banzhaf(make_view(model, X, y), X, y, Xe, ye, **kw)
    plain = _banzhaf(model, X, y, Xe, ye, **kw)
    assert view.refit_solver == plain.refit_solver == "newton"
    assert_array_equal(view.scores, plain.scores)


def test_a_cost_no_subset_changes_gives_zero_values_and_stops():
    """Mathematically exact: if f(S) is the same for every sampled subset, every estimate is
    0 with standard error 0, and the convergence rule (0 <= tol * 0) stops at min_samples."""
    X, y, Xe, ye = _problem(40, seed=5)
    model = DummyClassifier(strategy="constant", constant=1, random_state=0).fit(X, y)
    res = _banzhaf(
        model,
        X,
        y,
        Xe,
        ye,
        objective="zero_one_loss",
        n_samples=500,
        min_samples=20,
        random_state=0,
    )
    assert_array_equal(res.scores, 0.0)
    assert_array_equal(res.scores_stderr, 0.0)
    assert res.converged is True and res.n_samples == 32  # rounds of 16


def test_stderr_shrinks_like_inverse_sqrt():
    X, y, Xe, ye = _problem(30, seed=6)
    model = LogisticRegression().fit(X, y)
    kw = dict(convergence_tolerance=0.0, random_state=1)
    few = _banzhaf(model, X, y, Xe, ye, n_samples=64, **kw)
    many = _banzhaf(model, X, y, Xe, ye, n_samples=1024, **kw)
    ratio = few.scores_stderr.mean() / many.scores_stderr.mean()
    assert 3.0 < ratio < 5.5, ratio  # sqrt(16) = 4


# ---------------------------------------------------------------------------------------------
# reproducibility: n_jobs, joblib backends, dask.distributed


def test_same_result_for_any_n_jobs_and_backend():
    X, y, Xe, ye = _problem(30, seed=7)
    kw = dict(n_samples=64, convergence_tolerance=0.0, random_state=11)
    for model in (
        LogisticRegression().fit(X, y),
        DecisionTreeClassifier(random_state=0).fit(X, y),
    ):
        serial = _banzhaf(model, X, y, Xe, ye, n_jobs=1, **kw)
        for backend in ("loky", "threading"):
            with joblib.parallel_config(backend=backend):
                parallel = _banzhaf(model, X, y, Xe, ye, n_jobs=2, **kw)
            assert_array_equal(parallel.scores, serial.scores)
            assert_array_equal(parallel.scores_stderr, serial.scores_stderr)
            assert parallel.n_refits == serial.n_refits
    other = _banzhaf(model, X, y, Xe, ye, **{**kw, "random_state": 12})
    assert not np.array_equal(other.scores, serial.scores)


@pytest.fixture(scope="module")
def dask_client():
    with local_client(processes=True) as client:
        yield client


def test_dask_backend_equals_serial(dask_client):
    from distributed import get_task_stream

    X, y, Xe, ye = _problem(30, seed=8)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_samples=64, convergence_tolerance=0.0, random_state=2)
    serial = _banzhaf(model, X, y, Xe, ye, **kw)
    with get_task_stream(dask_client) as stream, joblib.parallel_config(backend="dask"):
        on_dask = _banzhaf(model, X, y, Xe, ye, n_jobs=2, **kw)
    assert_array_equal(on_dask.scores, serial.scores)
    assert_array_equal(on_dask.scores_stderr, serial.scores_stderr)
    assert len(stream.data) > 0  # the dask workers did the work


# ---------------------------------------------------------------------------------------------
# stopping rules, checkpoints


def test_max_time_stops_the_run():
    X, y, Xe, ye = _problem(30, seed=9)
    model = LogisticRegression().fit(X, y)
    res = _banzhaf(model, X, y, Xe, ye, n_samples=10**6, convergence_tolerance=0.0, max_time=0.01)
    assert res.converged is False and 0 < res.n_samples < 10**6


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path):
    X, y, Xe, ye = _problem(30, seed=10)
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    path = tmp_path / "banzhaf.npz"
    kw = dict(convergence_tolerance=0.0)
    first = _banzhaf(model, X, y, Xe, ye, n_samples=32, checkpoint=path, random_state=5, **kw)
    assert first.n_samples == 32 and path.exists()
    # random_state=None resumes with the seed stored in the checkpoint
    resumed = _banzhaf(model, X, y, Xe, ye, n_samples=80, checkpoint=path, **kw)
    straight = _banzhaf(model, X, y, Xe, ye, n_samples=80, random_state=5, **kw)
    assert resumed.seed == 5 and resumed.n_samples == straight.n_samples == 80
    assert_array_equal(resumed.scores, straight.scores)
    assert_array_equal(resumed.scores_stderr, straight.scores_stderr)
    assert resumed.n_refits == straight.n_refits
    with pytest.raises(ValueError, match=r"checkpoint .*banzhaf\.npz.*seed 5"):
        _banzhaf(model, X, y, Xe, ye, n_samples=96, checkpoint=path, random_state=6, **kw)
    other = DecisionTreeClassifier(random_state=0, max_depth=2).fit(X, y)
    with pytest.raises(ValueError, match=r"banzhaf\.npz' belongs to a different run"):
        _banzhaf(other, X, y, Xe, ye, n_samples=96, checkpoint=path, random_state=5, **kw)


def test_damaged_or_foreign_checkpoint_is_a_value_error_naming_the_file(tmp_path):
    X, y, Xe, ye = _problem(20, seed=11)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_samples=16, convergence_tolerance=0.0, random_state=0)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"junk\.npz' is not a Data Banzhaf checkpoint"):
        _banzhaf(model, X, y, Xe, ye, checkpoint=junk, **kw)
    good = tmp_path / "good.npz"
    _banzhaf(model, X, y, Xe, ye, checkpoint=good, **kw)
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"damaged\.npz'"):
        _banzhaf(model, X, y, Xe, ye, checkpoint=damaged, **kw)
    # a Data Shapley checkpoint of the same problem is another format
    shapley = tmp_path / "shapley.npz"
    training_point_importance(
        model,
        X,
        y,
        method="data_shapley",
        X_eval=Xe,
        y_eval=ye,
        n_permutations=4,
        checkpoint=shapley,
        random_state=0,
    )
    with pytest.raises(ValueError, match=r"shapley\.npz' is not a Data Banzhaf checkpoint"):
        _banzhaf(model, X, y, Xe, ye, checkpoint=shapley, **kw)


def test_checkpoint_with_edited_counts_is_refused(tmp_path):
    from fairlearn_divine._importance._banzhaf import CHECKPOINT_FORMAT
    from fairlearn_divine._importance._shapley import save_checkpoint

    X, y, Xe, ye = _problem(20, seed=12)
    model = LogisticRegression().fit(X, y)
    kw = dict(n_samples=16, convergence_tolerance=0.0, random_state=0)
    path = tmp_path / "edited.npz"
    _banzhaf(model, X, y, Xe, ye, checkpoint=path, **kw)
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    total, total_sq = arrays["total"].copy(), arrays["total_sq"].copy()
    total[0, -1] += 0.5  # half a subset, re-signed with a valid checksum
    total_sq[0, -1] += 0.5
    save_checkpoint(
        os.fspath(path),
        str(arrays["signature"]),
        int(arrays["seed"]),
        total,
        total_sq,
        int(arrays["done"]),
        int(arrays["n_evaluated"]),
        fmt=CHECKPOINT_FORMAT,
    )
    with pytest.raises(ValueError, match=r"edited\.npz' holds subset counts"):
        _banzhaf(model, X, y, Xe, ye, checkpoint=path, **{**kw, "n_samples": 32})


# ---------------------------------------------------------------------------------------------
# options and inputs


@pytest.mark.parametrize(
    "option, value, error",
    [
        ("n_samples", -5, ValueError),
        ("n_samples", 0, ValueError),
        ("n_samples", 2.5, TypeError),
        ("n_samples", True, TypeError),
        ("min_samples", 0, ValueError),
        ("convergence_tolerance", -0.1, ValueError),
        ("convergence_tolerance", np.nan, ValueError),
        ("max_time", 0, ValueError),
        ("max_time", "10", TypeError),
        ("checkpoint", 3, TypeError),
        ("refit_solver", "cholesky", ValueError),
        ("n_permutations", 10, TypeError),  # Data Shapley's option, unknown here
    ],
)
def test_bad_options_raise_naming_the_argument(option, value, error):
    X, y, Xe, ye = _problem(10, seed=0)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(error, match=option):
        _banzhaf(model, X, y, Xe, ye, **{option: value})


def test_inputs_are_not_mutated():
    X, y, Xe, ye = _problem(20, seed=13)
    w = np.linspace(0.5, 1.5, 20)
    model = LogisticRegression().fit(X, y, sample_weight=w)
    copies = [a.copy() for a in (X, y, Xe, ye, w)]
    _banzhaf(model, X, y, Xe, ye, sample_weight=w, n_samples=16, random_state=0)
    for before, after in zip(copies, (X, y, Xe, ye, w), strict=True):
        assert_array_equal(before, after)


def test_pipeline_with_column_transformer_on_a_frame_with_categoricals_and_nan():
    rng = np.random.default_rng(14)
    n = 60
    frame = pd.DataFrame(
        {
            "x0": rng.normal(size=n),
            "x1": rng.normal(size=n),
            "g": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        },
        index=pd.RangeIndex(100, 100 + n),
    )
    frame.loc[frame.index[::7], "x1"] = np.nan
    y = (frame["x0"].to_numpy() + (frame["g"] == "c") + rng.normal(size=n) > 0.5).astype(int)
    pipe = make_pipeline(
        ColumnTransformer(
            [
                ("onehot", OneHotEncoder(handle_unknown="ignore"), ["g"]),
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["x0", "x1"]),
            ]
        ),
        LogisticRegression(tol=1e-10),  # refits reach the optimum, cold or warm-started
    )
    X, Xe, ye = frame.iloc[:40], frame.iloc[40:], y[40:]
    model = clone(pipe).fit(X, y[:40])
    before = X.copy()
    res = _banzhaf(
        model, X, y[:40], Xe, ye, n_samples=32, convergence_tolerance=0.0, random_state=0
    )
    pd.testing.assert_frame_equal(X, before)
    phi, _ = msr_by_hand(_Game(pipe, X, y[:40], Xe, ye), 40, 0, 32)
    assert_allclose(res.scores, phi[:, 0], rtol=1e-6, atol=1e-8)
    assert list(res.to_frame().index) == list(X.index)


def test_hard_fairness_objective_with_sensitive_features():
    X, y, _, _ = _problem(40, seed=15)
    groups = np.tile(["a", "b"], 20)
    model = LogisticRegression().fit(X, y)
    res = training_point_importance(
        model,
        X,
        y,
        method="data_banzhaf",
        objective="equalized_odds",
        sensitive_features=groups,
        n_samples=32,
        convergence_tolerance=0.0,
        random_state=0,
    )
    phi, _ = msr_by_hand(_Game(tight(model), X, y, X, y, ["equalized_odds"], groups), 40, 0, 32)
    assert res.objective == "equalized_odds"
    assert_allclose(res.scores, phi[:, 0], rtol=0, atol=1e-12)
    assert_allclose(
        res.baseline, equalized_odds_difference(y, model.predict(X), sensitive_features=groups)
    )


def test_unseeded_random_refits_warn():
    X, y, Xe, ye = _problem(20, seed=16)
    model = RandomForestClassifier(n_estimators=3).fit(X, y)
    with pytest.warns(ApproximationWarning, match="data_banzhaf"):
        _banzhaf(model, X, y, Xe, ye, n_samples=16, random_state=0)


_SCRIPT = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from fairlearn_divine import training_point_importance

data = np.load(sys.argv[1])
X, y, Xe, ye = data["X"], data["y"], data["Xe"], data["ye"]
training_point_importance(
    LogisticRegression().fit(X, y), X, y, X_eval=Xe, y_eval=ye, method="data_banzhaf",
    n_samples=10**7, convergence_tolerance=0.0, random_state=7, progress=False, n_jobs=2,
    checkpoint=sys.argv[2],
)
"""


def test_sigterm_mid_run_exits_cleanly_and_the_checkpoint_resumes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    X, y, Xe, ye = _problem(16, seed=17)
    data, script, path = tmp_path / "data.npz", tmp_path / "run.py", tmp_path / "banzhaf.npz"
    np.savez(data, X=X, y=y, Xe=Xe, ye=ye)
    script.write_text(_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(data), str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None and path.exists(), "the run did not get going"
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=60)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]  # SystemExit(143)
    with np.load(path, allow_pickle=False) as npz:
        done = int(npz["done"])
    assert done > 0 and done % 16 == 0  # whole rounds
    model = LogisticRegression().fit(X, y)
    kw = dict(n_samples=done + 32, convergence_tolerance=0.0)
    resumed = _banzhaf(model, X, y, Xe, ye, checkpoint=path, **kw)
    straight = _banzhaf(model, X, y, Xe, ye, random_state=7, **kw)
    assert resumed.seed == 7
    assert_array_equal(resumed.scores, straight.scores)
    assert_array_equal(resumed.scores_stderr, straight.scores_stderr)

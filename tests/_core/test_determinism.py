"""Same seed, same answer on every joblib backend and for every n_jobs.

The seeding rule (``fairlearn_divine._core.parallel``): one seed is drawn up front from
``random_state`` (an integer is the seed; a ``RandomState`` or ``Generator`` is drawn from
once) and task *t* uses ``SeedSequence([seed, t])``. Every parallel task works on its own copy
of the estimator, the model view and the refit state, also where the backend shares memory
(threading, an in-process dask cluster): a previous bug let Data Shapley's warm-started prefix
refits share one estimator between threads, and results differed between runs by up to 0.006.

Results must be *identical* (``assert_array_equal``) to the serial run: loky, threading and a
real dask ``LocalCluster``, ``n_jobs`` 1 and 2, integer seeds and ``RandomState`` instances, for
Data Shapley, leave-one-out with estimator refits, minimal forcing subsets, and stochastic
greedy selection with its gamma sweep. ``InfluentialPointRemover`` has no ``n_jobs``; its seed
rule is tested in ``tests/_mitigation/test_remover_seed.py``.
"""

import functools
import warnings

import joblib
import numpy as np
import pytest
from _dask import local_client
from _refits import make_gaussian_classification
from numpy.testing import assert_array_equal
from sklearn.datasets import make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairlearn_divine import (
    minimal_forcing_subsets,
    select_diverse,
    tradeoff_curve,
    training_point_importance,
)
from fairlearn_divine._core.parallel import run_seed, task_rng, task_seeds

BACKENDS = ["loky", "threading", "dask"]


@pytest.fixture(scope="module")
def dask_client():
    with local_client(processes=False) as client:
        yield client


@pytest.fixture
def backend(request):
    """A context manager running joblib on ``request.param`` (a real dask cluster for dask)."""
    name = request.param
    if name == "dask":
        request.getfixturevalue("dask_client")
    return functools.partial(joblib.parallel_config, backend=name)


@functools.cache
def _problem():
    X, y = make_gaussian_classification(40, 3, 2, random_state=3)
    # a Pipeline: refits go through EstimatorRefitter, warm-started from the previous prefix
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:12], y[:12])
    return model, X[:12], y[:12], X[12:], y[12:]


def _random_state(kind):
    return 7 if kind == "int" else np.random.RandomState(7)  # a fresh instance every call


def _shapley(kind, n_jobs):
    model, X, y, Xe, ye = _problem()
    return training_point_importance(
        model,
        X,
        y,
        X_eval=Xe,
        y_eval=ye,
        method="data_shapley",
        n_permutations=8,
        convergence_tolerance=0.0,
        random_state=_random_state(kind),
        n_jobs=n_jobs,
        progress=False,
    )


@functools.cache
def _shapley_serial(kind):
    return _shapley(kind, 1)


@functools.cache
def _loo_problem():
    X, y = make_gaussian_classification(100, 3, 2, random_state=5)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:80], y[:80])
    return model, X[:80], y[:80], X[80:], y[80:]


def _loo(n_jobs):
    model, X, y, Xe, ye = _loo_problem()  # 80 rows: 4 chunks of refits for 2 workers
    return training_point_importance(
        model, X, y, X_eval=Xe, y_eval=ye, method="loo", n_jobs=n_jobs, progress=False
    )


@functools.cache
def _forcing_problem():
    X, y = make_moons(60, noise=0.15, random_state=0)
    X = X * [10.0, 1.0] + [5.0, 0.0]
    model = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10)).fit(X, y)
    return model, X, y, X[[0, 3, 7]]


def _forcing(n_jobs):
    model, X, y, points = _forcing_problem()
    return minimal_forcing_subsets(model, X, y, points, n_jobs=n_jobs, progress=False)


@functools.cache
def _forcing_serial():
    return _forcing(1)


# ---------------------------------------------------------------------------------------------
# the rule


def test_run_seed_draws_once_and_task_seeds_follow_the_rule():
    assert run_seed(5) == 5 and run_seed(np.int64(5)) == 5
    rs = np.random.RandomState(0)
    expected = np.random.RandomState(0).randint(2**31 - 1)
    assert run_seed(rs) == expected
    assert run_seed(rs) != expected  # drawn from once per call: the instance advanced
    gen_seed = run_seed(np.random.default_rng(0))
    assert gen_seed == np.random.default_rng(0).integers(2**31 - 1)
    seeds = task_seeds(5, 3, start=2)
    assert [list(s.entropy) for s in seeds] == [[5, 2], [5, 3], [5, 4]]
    for t, s in zip(range(2, 5), seeds, strict=True):
        ref = np.random.default_rng(np.random.SeedSequence([5, t])).random(4)
        assert_array_equal(np.random.default_rng(s).random(4), ref)
        assert_array_equal(task_rng(5, t).random(4), ref)
    # a RandomState gives the seeds of the integer it draws
    r_seeds = task_seeds(np.random.RandomState(0), 2)
    assert_array_equal(
        np.random.default_rng(r_seeds[1]).random(3),
        task_rng(expected, 1).random(3),
    )
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises((TypeError, ValueError), match="random_state"):
            run_seed(bad)


# ---------------------------------------------------------------------------------------------
# Data Shapley, leave-one-out, forcing subsets: identical on every backend


@pytest.mark.parametrize("kind", ["int", "RandomState"])
def test_shapley_random_state_instance_same_for_n_jobs_1_and_2(kind):
    serial = _shapley_serial(kind)
    parallel = _shapley(kind, 2)  # loky
    assert parallel.seed == serial.seed
    assert_array_equal(parallel.scores, serial.scores)
    assert_array_equal(parallel.scores_stderr, serial.scores_stderr)
    if kind == "RandomState":  # the seed it draws is the integer seed's result
        seed_run = training_point_importance(
            *_problem()[:3],
            X_eval=_problem()[3],
            y_eval=_problem()[4],
            method="data_shapley",
            n_permutations=8,
            convergence_tolerance=0.0,
            random_state=serial.seed,
            progress=False,
        )
        assert_array_equal(seed_run.scores, serial.scores)


@pytest.mark.parametrize("backend", ["threading", "dask"], indirect=True)
@pytest.mark.parametrize("kind", ["int", "RandomState"])
def test_shapley_identical_on_every_backend(backend, kind):
    serial = _shapley_serial(kind)
    with backend():
        first = _shapley(kind, 2)
        second = _shapley(kind, 2)
    assert_array_equal(first.scores, serial.scores)
    assert_array_equal(second.scores, serial.scores)
    assert_array_equal(first.scores_stderr, serial.scores_stderr)
    assert first.seed == serial.seed


def test_shapley_generator_same_for_n_jobs_1_and_2():
    model, X, y, Xe, ye = _problem()
    kw = dict(
        X_eval=Xe,
        y_eval=ye,
        method="data_shapley",
        n_permutations=8,
        convergence_tolerance=0.0,
        progress=False,
    )
    with joblib.parallel_config(backend="threading"):
        a = training_point_importance(
            model, X, y, random_state=np.random.default_rng(1), n_jobs=2, **kw
        )
    b = training_point_importance(model, X, y, random_state=np.random.default_rng(1), **kw)
    assert a.seed == b.seed == np.random.default_rng(1).integers(2**31 - 1)
    assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_loo_estimator_refits_identical_on_every_backend(backend):
    serial = _loo(1)
    assert serial.refit_solver == "estimator"
    with backend():
        parallel = _loo(2)
    assert_array_equal(parallel.scores, serial.scores)
    assert_array_equal(parallel.baseline, serial.baseline)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_forcing_subsets_identical_on_every_backend(backend):
    serial = _forcing_serial()
    with backend():
        parallel = _forcing(2)
    assert len(parallel) == len(serial)
    for a, b in zip(parallel, serial, strict=True):
        assert_array_equal(a.indices, b.indices)
        assert a.flipped == b.flipped and a.verified == b.verified
        assert_array_equal(a.final_proba, b.final_proba)


# ---------------------------------------------------------------------------------------------
# diverse selection: stochastic greedy and the gamma sweep


@functools.cache
def _selection_problem():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4))
    scores = X[:, 0] + 0.5 * rng.normal(size=300)
    return scores, X


SWEEP_GAMMAS = np.logspace(-3, 4, 12)


def _sweep(kind, n_jobs, diversity):
    scores, X = _selection_problem()
    return tradeoff_curve(
        scores,
        X,
        8,
        diversity=diversity,
        strategy="stochastic",
        epsilon=0.1,
        gammas=SWEEP_GAMMAS,
        random_state=_random_state(kind),
        n_jobs=n_jobs,
    )


@functools.cache
def _sweep_serial(kind, diversity):
    return _sweep(kind, 1, diversity)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("kind", ["int", "RandomState"])
@pytest.mark.parametrize("diversity", ["sum_redundancy", "facility_location"])
def test_stochastic_gamma_sweep_identical_on_every_backend(backend, kind, diversity):
    serial = _sweep_serial(kind, diversity)
    with backend():
        parallel = _sweep(kind, 2, diversity)
    for key in ("gammas", "influence", "diversity", "mean_pairwise_distance"):
        assert_array_equal(parallel[key], serial[key], err_msg=key)
    for a, b in zip(parallel.indices, serial.indices, strict=True):
        assert_array_equal(a, b)
        assert len(np.unique(a)) == 8


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("kind", ["int", "RandomState"])
def test_select_diverse_sweep_identical_on_every_backend(backend, kind):
    scores, X = _selection_problem()
    kw = {"strategy": "stochastic", "epsilon": 0.1, "gammas": SWEEP_GAMMAS}
    serial = select_diverse(scores, X, 8, random_state=_random_state(kind), **kw)
    with backend():
        parallel = select_diverse(scores, X, 8, random_state=_random_state(kind), n_jobs=2, **kw)
    assert_array_equal(parallel.indices, serial.indices)
    assert parallel.gamma == serial.gamma


def test_stochastic_greedy_random_state_instance_equals_its_seed_drawn_once():
    """A RandomState is drawn from once: it gives what the integer it draws gives."""
    scores, X = _selection_problem()
    kw = {"strategy": "stochastic", "epsilon": 0.1, "gamma": 1.0}
    seed = run_seed(np.random.RandomState(9))
    a = select_diverse(scores, X, 8, random_state=np.random.RandomState(9), **kw)
    b = select_diverse(scores, X, 8, random_state=seed, **kw)
    assert_array_equal(a.indices, b.indices)


def _warning_state():
    return warnings.filters, warnings.showwarning, warnings._showwarnmsg_impl


def test_threads_leave_the_warning_state_intact():
    """Refits catch warnings in every task; two threads inside ``catch_warnings`` at once used
    to leave the process's warning state pointing at a dead recorder (warnings then vanished)."""
    before = _warning_state()
    with joblib.parallel_config(backend="threading"):
        _loo(2)
        _forcing(2)
        _shapley("int", 2)
    after = _warning_state()
    assert all(a is b for a, b in zip(after, before, strict=True))


def test_unpicklable_task_state_is_a_clear_error_on_threads():
    """Every task gets its own copy of its state by pickling; what cannot be pickled is said."""
    import threading

    from fairlearn_divine._core.parallel import parallel_map

    lock = threading.Lock()

    def task(chunk):
        with lock:
            return chunk

    with joblib.parallel_config(backend="threading"):
        with pytest.raises(TypeError, match="picklable.*n_jobs=1"):
            parallel_map(task, np.arange(4), n_jobs=2, progress=False)
    results, _ = parallel_map(task, np.arange(4), n_jobs=1, progress=False)
    assert_array_equal(np.concatenate(results), np.arange(4))

"""Number options accept numpy scalars and refuse bools, NaN, strings and wrong kinds.

Every option that is a number goes through one of the shared checks of
``fairlearn_divine._core.validation`` (``check_integer``, ``check_real``,
``check_random_state_arg``), which accept ``numbers.Integral`` / ``numbers.Real`` -- numpy
scalars register there -- and never a bool. A numpy scalar gives exactly the result of the
equal Python number. A wrong type raises ``NumberTypeError`` (a TypeError and a ValueError, as
scikit-learn's ``InvalidParameterError``), a bad value a ValueError; both name the option and
the value. Previously some options were refused as numpy scalars (``max_time=np.float32``,
``np.int64``), and some bad values were silently converted (``n_points=2.5`` -> 2,
``random_state="0"`` -> 0, ``random_state=0.5`` -> 0).
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import (
    minimal_forcing_subset,
    select_diverse,
    select_diverse_influential,
    training_point_importance,
)
from fairlearn_divine._core.validation import (
    NumberTypeError,
    check_integer,
    check_random_state_arg,
    check_real,
)
from fairlearn_divine.datasets import make_divine_synthetic


@pytest.fixture(scope="module")
def problem():
    data = make_divine_synthetic(n_samples=30, n_outliers=2, random_state=0)
    model = LogisticRegression(tol=1e-12, max_iter=1000).fit(data.X, data.y)
    return data.X, data.y, data.sensitive_features, model


def _shapley(model, X, y, **kw):
    opts = dict(n_permutations=4, random_state=0, progress=False, convergence_tolerance=0.0)
    opts.update(kw)
    return training_point_importance(model, X, y, method="data_shapley", **opts)


def _run(entry, problem, **kw):
    X, y, a, model = problem
    if entry == "shapley":
        return _shapley(model, X, y, **kw).scores
    if entry == "influence":
        return training_point_importance(model, X, y, **kw).scores
    if entry == "loo":
        return training_point_importance(model, X, y, method="loo", indices=[0, 3], **kw).scores
    if entry == "select":
        scores = np.linspace(-1.0, 1.0, len(y))
        kw.setdefault("random_state", 0)
        return select_diverse(scores, X, kw.pop("n_points", 4), **kw).indices
    if entry == "select_influential":
        return select_diverse_influential(
            model, X, y, kw.pop("n_points", 3), gamma=0.0, **kw
        ).indices
    if entry == "forcing":
        # verify=False: the options are what is tested, not the refits
        return minimal_forcing_subset(model, X, y, X[0], verify=False, **kw).indices
    if entry == "synthetic":
        opts = dict(n_samples=12, n_outliers=1, random_state=0)
        opts.update(kw)
        return make_divine_synthetic(**opts).X
    raise AssertionError(entry)  # pragma: no cover


# (entry point, option, numpy value, the equal Python value)
ACCEPTED = [
    ("shapley", "truncation_tolerance", np.float32(0.5), 0.5),
    ("shapley", "truncation_tolerance", np.float64(0.01), 0.01),
    ("shapley", "convergence_tolerance", np.float16(0.0), 0.0),
    ("shapley", "n_permutations", np.int64(4), 4),
    ("shapley", "min_permutations", np.int32(2), 2),
    ("shapley", "random_state", np.int64(0), 0),
    ("shapley", "random_state", np.uint32(7), 7),
    ("shapley", "max_time", np.float32(100.0), 100.0),
    ("shapley", "max_time", np.int64(100), 100),
    ("shapley", "n_jobs", np.int64(1), 1),
    ("influence", "optimality_tol", np.float32(0.5), 0.5),
    ("loo", "refit_tol", np.float64(1e-8), 1e-8),
    ("select", "n_points", np.int64(5), 5),
    ("select", "gamma", np.float32(0.5), 0.5),
    ("select", "bandwidth", np.float64(1.5), 1.5),
    ("select", "influence_budget", np.float32(0.25), 0.25),
    ("select_influential", "n_points", np.int16(3), 3),
    ("select_influential", "random_state", np.int64(1), 1),
    ("forcing", "max_size", np.int64(5), 5),
    ("forcing", "epsilon", np.float32(0.5), 0.5),
    ("forcing", "delta", np.float64(0.0), 0.0),
    ("synthetic", "n_samples", np.int64(12), 12),
    ("synthetic", "rotation", np.float32(0.5), 0.5),
    ("synthetic", "random_state", np.uint8(3), 3),
]


@pytest.mark.parametrize(
    ("entry", "option", "value", "python"),
    ACCEPTED,
    ids=[f"{e}-{o}-{type(v).__name__}" for e, o, v, _ in ACCEPTED],
)
def test_numpy_scalar_gives_the_result_of_the_python_number(problem, entry, option, value, python):
    X, y = problem[0].copy(), problem[1].copy()
    got = _run(entry, problem, **{option: value})
    want = _run(entry, problem, **{option: python})
    assert_array_equal(np.asarray(got), np.asarray(want))
    assert_array_equal(problem[0], X)
    assert_array_equal(problem[1], y)


def test_stochastic_epsilon_and_min_per_group_accept_numpy(problem):
    X, _, a, _ = problem
    scores = np.linspace(-1.0, 1.0, len(X))
    kw = dict(strategy="stochastic", random_state=np.int64(0), gamma=0.5)
    got = select_diverse(
        scores, X, 4, epsilon=np.float32(0.25), groups=a, min_per_group=np.int64(1), **kw
    )
    want = select_diverse(
        scores, X, 4, epsilon=float(np.float32(0.25)), groups=a, min_per_group=1, **kw
    )
    assert_array_equal(got.indices, want.indices)
    dict_quota = select_diverse(scores, X, 4, groups=a, min_per_group={0: np.int64(2)}, gamma=0.5)
    assert np.sum(a[dict_quota.indices] == 0) >= 2


# (entry point, option, bad value, exception, message)
REFUSED = [
    ("shapley", "truncation_tolerance", np.nan, ValueError, r"truncation_tolerance .*got nan"),
    ("shapley", "truncation_tolerance", True, TypeError, r"truncation_tolerance .*got True"),
    ("shapley", "truncation_tolerance", "0.01", TypeError, r"truncation_tolerance .*'0\.01'"),
    ("shapley", "truncation_tolerance", np.float32(-0.1), ValueError, r"non-negative"),
    ("shapley", "n_permutations", np.bool_(True), TypeError, r"n_permutations .*True"),
    ("shapley", "n_permutations", np.float64(4.0), TypeError, r"n_permutations .*4\.0"),
    ("shapley", "n_permutations", np.int64(0), ValueError, r"n_permutations .*positive"),
    ("shapley", "max_time", np.nan, ValueError, r"max_time .*nan"),
    ("shapley", "max_time", np.inf, ValueError, r"max_time .*finite"),
    ("shapley", "max_time", "10", TypeError, r"max_time .*'10'"),
    ("shapley", "random_state", "0", TypeError, r"random_state .*'0'"),
    ("shapley", "random_state", 0.5, TypeError, r"random_state .*0\.5"),
    ("shapley", "random_state", True, TypeError, r"random_state .*True"),
    ("shapley", "random_state", -1, ValueError, r"random_state .*-1"),
    ("shapley", "random_state", 2**32, ValueError, r"random_state .*4294967296"),
    ("shapley", "antithetic", "yes", TypeError, r"antithetic .*'yes'"),
    ("shapley", "checkpoint", 3, TypeError, r"checkpoint .*3"),
    ("shapley", "n_jobs", np.float64(2.0), TypeError, r"n_jobs .*2\.0"),
    ("shapley", "n_jobs", 0, ValueError, r"n_jobs .*0"),
    ("influence", "optimality_tol", "x", TypeError, r"optimality_tol .*'x'"),
    ("influence", "optimality_tol", np.nan, ValueError, r"optimality_tol .*nan"),
    ("loo", "refit_tol", np.float64(0.0), ValueError, r"refit_tol .*positive"),
    ("loo", "refit_tol", None, TypeError, r"refit_tol .*None"),
    ("select", "n_points", np.float64(5.0), TypeError, r"n_points .*5\.0"),
    ("select", "gamma", np.float32(np.nan), ValueError, r"gamma .*nan"),
    ("select", "epsilon", True, TypeError, r"epsilon .*True"),
    ("select", "influence_budget", True, TypeError, r"influence_budget .*True"),
    ("select", "influence_budget", np.nan, ValueError, r"influence_budget .*nan"),
    ("select", "bandwidth", np.bool_(True), TypeError, r"bandwidth .*True"),
    ("select", "random_state", "0", TypeError, r"random_state .*'0'"),
    ("select_influential", "n_points", 2.5, TypeError, r"n_points .*2\.5"),
    ("select_influential", "n_points", "3", TypeError, r"n_points .*'3'"),
    ("select_influential", "n_points", True, TypeError, r"n_points .*True"),
    ("select_influential", "n_points", np.int64(0), ValueError, r"n_points .*positive"),
    ("forcing", "epsilon", True, TypeError, r"epsilon .*True"),
    ("forcing", "epsilon", np.float32(np.nan), ValueError, r"epsilon .*nan"),
    ("forcing", "delta", "0", TypeError, r"delta .*'0'"),
    ("forcing", "max_size", np.float64(3.0), TypeError, r"max_size .*3\.0"),
    ("synthetic", "n_samples", np.float64(12.0), TypeError, r"n_samples .*12\.0"),
    ("synthetic", "rotation", np.nan, ValueError, r"rotation .*nan"),
    ("synthetic", "random_state", np.bool_(False), TypeError, r"random_state .*False"),
]


@pytest.mark.parametrize(
    ("entry", "option", "value", "error", "match"),
    REFUSED,
    ids=[f"{e}-{o}-{v!r}" for e, o, v, _, _ in REFUSED],
)
def test_bad_number_is_refused_naming_option_and_value(
    problem, entry, option, value, error, match
):
    X, y = problem[0].copy(), problem[1].copy()
    with pytest.raises(error, match=match):
        _run(entry, problem, **{option: value})
    assert_array_equal(problem[0], X)
    assert_array_equal(problem[1], y)


def test_type_errors_are_also_value_errors():
    # code that caught ValueError for a wrong type (the package's older checks) keeps working
    with pytest.raises(ValueError, match="max_size"):
        check_integer(2.5, "max_size", minimum=1)
    assert issubclass(NumberTypeError, TypeError) and issubclass(NumberTypeError, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(np.int8(3), 3), (np.uint64(3), 3), (3, 3)],
)
def test_check_integer_returns_python_int(value, expected):
    out = check_integer(value, "k", minimum=0)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", [np.float16(0.5), np.float32(0.5), np.int64(1), 0.5])
def test_check_real_returns_python_float(value):
    out = check_real(value, "tol", minimum=0)
    assert out == float(value) and type(out) is float


def test_check_real_bounds_and_infinity():
    assert check_real(np.inf, "tol", minimum=0, allow_inf=True) == np.inf
    with pytest.raises(ValueError, match=r"tol must be a number in \(0, 1\), got 1\.0"):
        check_real(1, "tol", minimum=0, maximum=1, include_minimum=False, include_maximum=False)
    with pytest.raises(TypeError, match="tol must be a number, got 1j"):
        check_real(1j, "tol")  # complex is not real
    rs = np.random.RandomState(0)
    assert check_random_state_arg(rs) is rs
    assert check_random_state_arg(None) is None

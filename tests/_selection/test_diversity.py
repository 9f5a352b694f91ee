"""Tests of fairlearn_divine._selection._diversity: gains and values against the dense definitions.

Property-based (hypothesis): on random small point sets, the package's incremental gains equal
R(S u {v}) - R(S) computed from the definitions in tests/_divine_reference.py, and the gains of
sum-redundancy and facility location are submodular: gain(v | S) >= gain(v | T) for S c T.
"""

import numpy as np
import pytest
from _divine_reference import r_facility_location, r_mmd, r_sum_redundancy, rbf_dense
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fairlearn_divine._selection._diversity import (
    MMD,
    FacilityLocation,
    SumRedundancy,
    make_diversity,
)
from fairlearn_divine._selection._kernels import BlockKernel

CLASSES = {
    "sum_redundancy": (SumRedundancy, r_sum_redundancy),
    "facility_location": (FacilityLocation, r_facility_location),
    "mmd": (MMD, r_mmd),
}

HYPOTHESIS = settings(max_examples=60, deadline=None, database=None)


@st.composite
def point_sets(draw, min_n=3, max_n=10):
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, 3))
    X = draw(
        arrays(
            np.float64,
            (n, d),
            elements=st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64),
        )
    )
    bandwidth = draw(st.sampled_from([0.3, 1.0, 2.5]))
    return X, bandwidth


@st.composite
def nested_sets(draw):
    """(X, bandwidth, S, T, v) with S c T and v not in T."""
    X, bandwidth = draw(point_sets(min_n=2))
    n = len(X)
    v = draw(st.integers(0, n - 1))
    others = [i for i in range(n) if i != v]
    T = draw(st.lists(st.sampled_from(others), unique=True, max_size=len(others)))
    T = draw(st.permutations(T))
    S = [u for u in T if draw(st.booleans())]
    return X, bandwidth, S, T, v


def _state(cls, X, bandwidth, selected):
    div = cls(BlockKernel(X, bandwidth=bandwidth))
    for u in selected:
        div.add(u)
    return div


@pytest.mark.parametrize("name", ["sum_redundancy", "facility_location"])
@HYPOTHESIS
@given(case=nested_sets())
def test_gains_are_submodular(name, case):
    X, bandwidth, S, T, v = case
    cls, _ = CLASSES[name]
    gain_S = _state(cls, X, bandwidth, S).gains(np.array([v]))[0]
    gain_T = _state(cls, X, bandwidth, T).gains(np.array([v]))[0]
    assert gain_S >= gain_T - 1e-9 * max(1.0, abs(gain_S))


@pytest.mark.parametrize("name", ["sum_redundancy", "facility_location"])
@HYPOTHESIS
@given(case=nested_sets())
def test_own_formula_is_submodular(name, case):
    """The definitions themselves (dense numpy) are submodular: the reference is sound."""
    X, bandwidth, S, T, v = case
    _, R = CLASSES[name]
    K = rbf_dense(X, bandwidth)
    gain_S = R(K, [*S, v]) - R(K, S)
    gain_T = R(K, [*T, v]) - R(K, T)
    assert gain_S >= gain_T - 1e-9 * max(1.0, abs(gain_S))


@pytest.mark.parametrize("name", ["sum_redundancy", "facility_location", "mmd"])
@HYPOTHESIS
@given(data=st.data())
def test_gains_and_value_equal_definition(name, data):
    X, bandwidth = data.draw(point_sets())
    n = len(X)
    S = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n - 1))
    cls, R = CLASSES[name]
    K = rbf_dense(X, bandwidth)
    div = _state(cls, X, bandwidth, S)
    rest = np.array([v for v in range(n) if v not in S])
    expected = np.array([R(K, [*S, v]) - R(K, S) for v in rest])
    scale = max(1.0, np.abs(K).sum())
    np.testing.assert_allclose(div.gains(rest), expected, rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(div.gains()[rest], expected, rtol=1e-9, atol=1e-10 * scale)
    assert div.value() == pytest.approx(R(K, S), rel=1e-9, abs=1e-10 * scale)
    assert div.selected == list(S)


def test_relative_value_of_sum_redundancy():
    X = np.random.default_rng(0).normal(size=(15, 2))
    K = rbf_dense(X, 1.0)
    div = _state(SumRedundancy, X, 1.0, [3, 7, 1])
    assert div.relative_value() == pytest.approx(-K[np.ix_([3, 7, 1], [3, 7, 1])].sum())
    kappa, exact = div.kappa()
    assert exact
    assert kappa == pytest.approx(K.sum())


@pytest.mark.parametrize("name", ["sum_redundancy", "facility_location", "mmd"])
def test_reset_and_empty_set(name):
    X = np.random.default_rng(1).normal(size=(12, 3))
    K = rbf_dense(X, 1.0)
    cls, R = CLASSES[name]
    div = _state(cls, X, 1.0, [0, 5])
    div.reset()
    assert div.selected == []
    assert div.value() == pytest.approx(R(K, []))
    expected = np.array([R(K, [v]) - R(K, []) for v in range(12)])
    np.testing.assert_allclose(div.gains(), expected, rtol=1e-12)


def test_mmd_is_not_submodular_flag():
    X = np.zeros((3, 1))
    assert not MMD(BlockKernel(X)).is_submodular
    assert SumRedundancy(BlockKernel(X)).is_submodular
    assert FacilityLocation(BlockKernel(X)).is_submodular


def test_facility_location_gains_float32_above_threshold():
    """n > 5000: tiles in float32, gains still within 1e-5 of a float64 dense computation."""
    n = 5200
    X = np.random.default_rng(2).normal(size=(n, 3))
    div = _state(FacilityLocation, X, 1.0, [0, 17, 4000])
    assert div.kernel.dtype == np.float32
    cand = np.array([1, 2, 3, 2500, 5199])
    d2 = lambda cols: ((X[:, None] - X[None, cols]) ** 2).sum(-1)  # noqa: E731
    cur = np.exp(-d2([0, 17, 4000]) / 2).max(axis=1)
    expected = np.maximum(np.exp(-d2(cand) / 2) - cur[:, None], 0).sum(axis=0)
    np.testing.assert_allclose(div.gains(cand), expected, rtol=1e-5)
    assert div.value() == pytest.approx(cur.sum(), rel=1e-6)


class _Coverage:
    """Weighted coverage: a user diversity without a value() method."""

    def __init__(self, sets, weights):
        self.sets, self.weights = sets, weights

    def marginal_gains(self, selected, candidates):
        covered = set().union(*(self.sets[u] for u in selected)) if selected else set()
        return [sum(self.weights[e] for e in self.sets[v] - covered) for v in candidates]


def test_user_diversity_value_from_gains():
    sets = [{0, 1}, {1, 2}, {3}, {0, 3, 4}]
    weights = [1.0, 2.0, 3.0, 4.0, 5.0]
    div = make_diversity(_Coverage(sets, weights), None, 4)
    assert div.is_submodular
    div.add(1)
    div.add(3)
    np.testing.assert_allclose(div.gains(), [0.0, 0.0, 0.0, 0.0])
    assert div.value() == pytest.approx(15.0)
    div.reset()
    np.testing.assert_allclose(div.gains(np.array([2, 0])), [4.0, 3.0])


def test_user_diversity_wrong_shape():
    class Bad:
        def marginal_gains(self, selected, candidates):
            return np.zeros(len(candidates) + 1)

    div = make_diversity(Bad(), None, 5)
    with pytest.raises(ValueError, match="marginal_gains"):
        div.gains()


def test_make_diversity_errors():
    kernel = BlockKernel(np.zeros((4, 1)))
    with pytest.raises(ValueError, match="diversity 'entropy'"):
        make_diversity("entropy", kernel, 4)
    with pytest.raises(TypeError, match="diversity"):
        make_diversity(3.0, kernel, 4)

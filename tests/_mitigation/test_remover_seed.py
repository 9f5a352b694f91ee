"""The remover draws one seed from ``random_state``: a RandomState instance gives the result of
the integer it yields (validation split and diverse selection alike)."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import InfluentialPointRemover
from fairlearn_divine._core.parallel import run_seed
from fairlearn_divine.datasets import make_divine_synthetic


def test_random_state_instance_equals_its_seed():
    data = make_divine_synthetic(n_samples=300, n_outliers=8, rotation=np.pi / 2, random_state=0)
    X, y, sf = data.X, data.y, np.asarray(data.sensitive_features)
    options = dict(
        objective="log_loss", fraction=0.05, validation_fraction=0.3,
        diversity="sum_redundancy", keep_original_if_worse=False,
    )  # fmt: skip
    seed = run_seed(np.random.RandomState(5))
    by_int = InfluentialPointRemover(LogisticRegression(), random_state=seed, **options)
    by_instance = InfluentialPointRemover(
        LogisticRegression(), random_state=np.random.RandomState(5), **options
    )
    by_int.fit(X, y, sensitive_features=sf)
    by_instance.fit(X, y, sensitive_features=sf)
    np.testing.assert_array_equal(by_int.sample_indices_, by_instance.sample_indices_)
    np.testing.assert_array_equal(by_int.removed_indices_, by_instance.removed_indices_)
    assert len(by_int.removed_indices_) > 0

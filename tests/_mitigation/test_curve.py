"""removal_curve checks its evaluation and measurement data under their own names."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import removal_curve
from fairlearn_divine.datasets import make_divine_synthetic


@pytest.mark.parametrize("argname", ["X_eval", "X_measure"])
def test_reordered_columns_are_refused_by_name(argname):
    data = make_divine_synthetic(n_samples=200, n_outliers=5, rotation=np.pi / 2, random_state=0)
    cols = [f"x{j}" for j in range(data.X.shape[1])]
    X = pd.DataFrame(data.X, columns=cols)
    y, sf = data.y, np.asarray(data.sensitive_features)
    other = X[cols[::-1]]
    before = other.copy()
    given = {f"{argname}": other, f"y{argname[1:]}": y, f"sensitive_features{argname[1:]}": sf}
    with pytest.raises(ValueError, match=argname):
        removal_curve(
            LogisticRegression(), X, y, sensitive_features=sf, strategies=("influence",),
            step=0.1, max_fraction=0.1, **given,
        )  # fmt: skip
    pd.testing.assert_frame_equal(other, before)

"""The numeric features the diversity kernel compares."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array

__all__ = ["diversity_features"]


def diversity_features(estimator, X, X_diversity=None, *, argname="X_diversity"):
    """Numeric features for the diversity kernel, one row per row of ``X``.

    ``X_diversity`` when given; otherwise the features the model's final step sees -- a
    Pipeline's transformed ``X`` (one-hot categories, scaled numbers, imputed values) -- or
    ``X`` itself when it is numeric. Raw inputs with categories or missing values need one of
    the first two: the error says so.
    """
    if X_diversity is not None:
        Z, name = X_diversity, argname
    elif isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        Z, name = estimator[:-1].transform(X), "the Pipeline's transformed X"
    else:
        Z, name = X, "X"
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    try:
        Z = check_array(Z, dtype=np.float64, accept_sparse=False, input_name=argname)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"The diversity kernel compares numeric features, but {name} is not numeric and "
            f"finite ({err}). Pass {argname}= with numeric features of the same rows (e.g. "
            "pipeline[:-1].transform(X)), or fit the model as a Pipeline whose earlier steps "
            "encode X (they are then used by default)."
        ) from err
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if Z.shape[0] != n:
        raise ValueError(f"{argname} has {Z.shape[0]} rows but X has {n}.")
    return Z

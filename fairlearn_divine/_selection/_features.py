"""The numeric features the diversity kernel compares."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array

__all__ = ["check_distances_representable", "diversity_features"]


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
    check_distances_representable(Z, name)
    return Z


def check_distances_representable(Z, argname):
    """Squared Euclidean distances between rows of ``Z`` must be finite, non-zero floats.

    Their bound :math:`\\sum_j \\mathrm{range}_j^2` (the distances are computed after
    centring) overflows for features of order 1e154 and more, and underflows to 0 for
    features of order 1e-154 and less: the kernel would be NaN, or 1 everywhere. A
    ``ValueError`` names the argument and suggests standardising.
    """
    if Z.size == 0:
        return
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        span = np.ptp(Z, axis=0)
        bound = float(np.sum(span * span))
    largest = float(np.max(span))
    if not np.isfinite(bound) or bound > np.finfo(np.float64).max / 4:
        problem = f"overflow float64 (largest column range {largest:.3g})"
    elif bound == 0 and largest > 0:
        problem = f"underflow to 0 (largest column range {largest:.3g})"
    else:
        return
    raise ValueError(
        f"The squared distances between rows of {argname}, which the diversity kernel and "
        f"the mean pairwise distance are computed from, {problem}. Standardise the "
        "features (e.g. sklearn.preprocessing.StandardScaler) before selecting."
    )

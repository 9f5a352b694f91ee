"""Input validation and row selection shared by every stage (sklearn's public helpers)."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "as_row",
    "check_indices",
    "check_sample_weight",
    "check_X",
    "check_y",
    "encode_labels",
    "fitted_classes",
    "final_step",
    "n_rows",
    "take",
]


def check_X(X, argname):
    """Validate training or evaluation inputs without converting what the estimator needs.

    DataFrames and sparse matrices are passed on as they are (the estimator may need column
    names, categories); numeric arrays are converted to float64; other arrays are kept as
    objects. Missing values (NaN) are allowed: whether they are valid is the estimator's call
    (a Pipeline with an imputer or a one-hot encoder handles them; a model view checks the
    numeric features its final step sees). Infinity is never valid.
    """
    if hasattr(X, "params") and hasattr(X, "loss_gradients"):  # a DifferentiableModel
        raise TypeError(f"{argname} must be array-like, got a DifferentiableModel.")
    if hasattr(X, "iloc") or sp.issparse(X):
        if hasattr(X, "iloc"):
            num = X.select_dtypes(include="number")
            values = num.to_numpy(dtype=float)
            if values.size and np.any(np.isinf(values)):
                raise ValueError(f"{argname} contains infinity.")
            return X
        check_array(
            X, accept_sparse=True, dtype=None, ensure_all_finite="allow-nan", input_name=argname
        )
        return X
    arr = np.asarray(X)
    if arr.dtype.kind in "fiub":
        return check_array(
            arr, dtype=np.float64, ensure_all_finite="allow-nan", input_name=argname
        )
    return check_array(arr, dtype=None, ensure_all_finite=False, input_name=argname)


def check_y(y, argname):
    """1-D labels without NaN or missing values."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{argname} must be 1-D, got an array of shape {y.shape}.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{argname} contains NaN or infinity.")
    if y.dtype == object and any(v is None for v in y):
        raise ValueError(f"{argname} contains missing values.")
    return y


def check_sample_weight(sample_weight, n):
    """``None`` or a finite non-negative float array of shape ``(n,)``."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=float)
    if sw.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}.")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    return sw


def check_indices(indices, n, argname="indices"):
    """A 1-D integer array of row positions in ``[0, n)``."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"{argname} must be a 1-D array of integers, got {indices!r}.")
    idx = idx.astype(np.intp)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{argname} must lie in [0, {n}), got values outside: {indices!r}.")
    return idx


def check_positive_int(value, argname):
    """A positive integer (numpy integers accepted)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{argname} must be a positive integer, got {value!r}.")
    return int(value)


def n_rows(X):
    """Number of rows of an array, sparse matrix or DataFrame."""
    return X.shape[0]


def take(X, rows):
    """Rows of ``X`` by position (boolean mask or integer positions), for any input type."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return X[rows]


def final_step(estimator):
    """The last step of a Pipeline, or the estimator itself."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def fitted_classes(estimator):
    """``classes_`` of a fitted classifier (or a differentiable view), as an array."""
    if hasattr(estimator, "params") and hasattr(estimator, "loss_gradients"):
        return np.asarray(estimator.classes_)
    check_is_fitted(estimator)
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise TypeError(
            f"estimator must be a fitted classifier with classes_, got {type(estimator).__name__}."
        )
    return np.asarray(classes)


def as_row(x, X, argname="x"):
    """One input row shaped like the training data ``X`` (a 1-row DataFrame for a DataFrame)."""
    if hasattr(X, "iloc"):
        import pandas as pd

        row = (
            x if isinstance(x, pd.DataFrame) else pd.DataFrame([np.asarray(x)], columns=X.columns)
        )
        if row.shape != (1, X.shape[1]):
            raise ValueError(
                f"{argname} must be one row with {X.shape[1]} features, got shape {row.shape}."
            )
        return row
    if sp.issparse(x):
        if x.shape != (1, X.shape[1]):
            raise ValueError(
                f"{argname} must have shape (1, {X.shape[1]}) to match X, got a sparse {x.shape}."
            )
        return x.tocsr()
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != 1 or arr.shape[1] != X.shape[1]:
        raise ValueError(
            f"{argname} must have shape ({X.shape[1]},) or (1, {X.shape[1]}) to match X, got "
            f"{np.shape(x)}."
        )
    if arr.dtype.kind in "fiub" and not np.all(np.isfinite(arr.astype(float))):
        raise ValueError(f"{argname} contains NaN or infinity.")
    return arr


def encode_labels(y, classes, argname="y"):
    """Class indices of the labels ``y`` in ``classes`` (sorted); unknown labels are an error."""
    y = np.asarray(y)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        unknown = np.unique(y[bad])[:5]
        raise ValueError(
            f"{argname} contains labels {unknown.tolist()} that are not among the estimator's "
            f"classes_ {classes.tolist()}."
        )
    return idx.astype(np.intp)

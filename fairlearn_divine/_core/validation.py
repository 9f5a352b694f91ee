"""Input validation and row selection shared by every stage (sklearn's public helpers)."""

from __future__ import annotations

import contextlib
import contextvars
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "NumberTypeError",
    "as_row",
    "check_feature_names",
    "check_indices",
    "check_integer",
    "check_positive_int",
    "check_random_state_arg",
    "check_real",
    "check_sample_weight",
    "check_X",
    "check_y",
    "encode_labels",
    "feature_names_checked",
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
        _check_2d_shape(X.shape, argname, type(X).__name__)
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
    _check_2d_shape(arr.shape, argname, "array")
    if arr.dtype.kind in "fiub":
        return check_array(
            arr, dtype=np.float64, ensure_all_finite="allow-nan", input_name=argname
        )
    return check_array(arr, dtype=None, ensure_all_finite=False, input_name=argname)


def _check_2d_shape(shape, argname, kind):
    """A 2-D shape with at least one row and one column (else a ValueError naming argname)."""
    if len(shape) != 2:
        article = "an" if kind == "array" else "a"
        raise ValueError(
            f"{argname} must be 2-D (n_samples, n_features), got {article} {kind} of shape "
            f"{shape}; reshape a single feature with .reshape(-1, 1) and a single sample with "
            ".reshape(1, -1)."
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(
            f"{argname} is empty: {shape[0]} rows and {shape[1]} columns (shape {shape}); at "
            "least one row and one column are needed."
        )


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
    try:
        sw = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError) as err:
        shown = np.asarray(sample_weight, dtype=object).ravel()[:3].tolist()
        raise ValueError(
            f"sample_weight must be numeric, got {type(sample_weight).__name__} with values "
            f"such as {shown!r} ({err})."
        ) from err
    if sw.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}.")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        bad = np.flatnonzero(~np.isfinite(sw) | (sw < 0))[:5].tolist()
        raise ValueError(
            f"sample_weight must be finite and non-negative (bad values at positions {bad})."
        )
    if not np.any(sw > 0):
        raise ValueError("sample_weight is all zero: at least one point must have weight > 0.")
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


class NumberTypeError(TypeError, ValueError):
    """A number option of the wrong type (a bool, a string, an array, a float for an integer).

    A :class:`TypeError`, and also a :class:`ValueError` (as scikit-learn's
    ``InvalidParameterError`` is), so that code catching either keeps working.
    """


def _is_bool(value):
    return isinstance(value, bool | np.bool_)


def _describe_range(kind, minimum, maximum, include_minimum, include_maximum):
    if maximum is None and minimum == 0:
        return f"a {'non-negative' if include_minimum else 'positive'} {kind}"
    if maximum is None and minimum == 1 and kind == "integer" and include_minimum:
        return "a positive integer"
    article = "an" if kind == "integer" else "a"
    if minimum is None and maximum is None:
        return f"{article} {kind}"
    if maximum is None:
        return f"{article} {kind} {'>=' if include_minimum else '>'} {minimum}"
    if minimum is None:
        return f"{article} {kind} {'<=' if include_maximum else '<'} {maximum}"
    left = "[" if include_minimum else "("
    right = "]" if include_maximum else ")"
    return f"{article} {kind} in {left}{minimum}, {maximum}{right}"


def _check_range(value, argname, what, minimum, maximum, include_minimum, include_maximum):
    low_ok = minimum is None or (value >= minimum if include_minimum else value > minimum)
    high_ok = maximum is None or (value <= maximum if include_maximum else value < maximum)
    if not (low_ok and high_ok):
        raise ValueError(f"{argname} must be {what}, got {value!r}.")


def check_integer(
    value, argname, *, minimum=None, maximum=None, include_minimum=True, include_maximum=True
):
    """An integer option: Python or numpy integers (``numbers.Integral``), never a bool.

    Parameters
    ----------
    value : object
        The value the caller passed.
    argname : str
        Its name, for the error message.
    minimum, maximum : int, optional
        Bounds (inclusive unless ``include_minimum`` / ``include_maximum`` is False).

    Returns
    -------
    int

    Raises
    ------
    NumberTypeError
        For anything that is not an integer (bools, floats such as ``2.0``, strings, arrays).
    ValueError
        For an integer outside the bounds.
    """
    what = _describe_range("integer", minimum, maximum, include_minimum, include_maximum)
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise NumberTypeError(f"{argname} must be {what}, got {value!r}.")
    value = int(value)
    _check_range(value, argname, what, minimum, maximum, include_minimum, include_maximum)
    return value


def check_real(
    value,
    argname,
    *,
    minimum=None,
    maximum=None,
    include_minimum=True,
    include_maximum=True,
    allow_inf=False,
):
    """A real-number option: Python or numpy numbers (``numbers.Real``), never a bool or NaN.

    Integers are accepted (``1`` for ``1.0``). Infinity only with ``allow_inf=True`` (and then
    only where the bounds allow it).

    Returns
    -------
    float

    Raises
    ------
    NumberTypeError
        For anything that is not a real number (bools, strings, arrays, complex numbers).
    ValueError
        For NaN, infinity (unless allowed) or a number outside the bounds.
    """
    what = _describe_range("number", minimum, maximum, include_minimum, include_maximum)
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise NumberTypeError(f"{argname} must be {what}, got {value!r}.")
    value = float(value)
    if np.isnan(value) or (np.isinf(value) and not allow_inf):
        raise ValueError(f"{argname} must be {what} (finite), got {value!r}.")
    _check_range(value, argname, what, minimum, maximum, include_minimum, include_maximum)
    return value


def check_positive_int(value, argname):
    """A positive integer (numpy integers accepted); see :func:`check_integer`."""
    return check_integer(value, argname, minimum=1)


def check_random_state_arg(random_state, argname="random_state"):
    """``random_state`` as scikit-learn takes it, checked: None, an integer seed or a RandomState.

    Integers (numpy integers too) must lie in ``[0, 2**32 - 1]``, the seeds numpy's
    ``RandomState`` takes; bools, floats and strings are refused. Returns ``None``, an ``int``
    or the ``RandomState`` itself (never a copy: drawing from it advances it, as in sklearn).
    """
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    if _is_bool(random_state) or not isinstance(random_state, numbers.Integral):
        raise NumberTypeError(
            f"{argname} must be None, an integer in [0, 2**32 - 1] or a "
            f"numpy.random.RandomState, got {random_state!r}."
        )
    return check_integer(random_state, argname, minimum=0, maximum=2**32 - 1)


# ---------------------------------------------------------------------------------------------
# feature names

#: True inside an entry point that has checked its inputs' feature names (see
#: :func:`feature_names_checked`): the stages it calls do not check (and warn) again.
_NAMES_CHECKED = contextvars.ContextVar("fairlearn_divine_feature_names_checked", default=False)


@contextlib.contextmanager
def feature_names_checked():
    """Context in which :func:`check_feature_names` does nothing.

    An entry point that checks its own inputs (naming *its* arguments) calls other stages
    inside this context, so that a warning is given once, with the names the caller used.
    """
    token = _NAMES_CHECKED.set(True)
    try:
        yield
    finally:
        _NAMES_CHECKED.reset(token)


def _input_feature_names(X, argname):
    """String column names of a DataFrame (or a Series' index), as scikit-learn reads them.

    ``None`` for arrays, sparse matrices and DataFrames whose column names are not all strings
    (scikit-learn ignores such names); a mix of strings and other types is a TypeError, as in
    scikit-learn.
    """
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        names = list(X.columns)
    elif hasattr(X, "iloc") and hasattr(X, "index") and getattr(X, "ndim", 0) == 1:
        names = list(X.index)  # a Series given as one row
    else:
        return None
    if not names:
        return None
    types = sorted({type(v).__qualname__ for v in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            f"{argname} has column names of types {types}; feature names must all be "
            f"strings (as in scikit-learn): convert them, e.g. "
            f"{argname}.columns = {argname}.columns.astype(str)."
        )
    return names if types == ["str"] else None


def _show(names, limit=20):
    names = [str(v) for v in names]
    if len(names) <= limit:
        return repr(names)
    return repr(names[:limit])[:-1] + f", ... ({len(names) - limit} more)]"


def check_feature_names(estimator, X, argname):
    """Check the columns of ``X`` against what the fitted ``estimator`` recorded at fit.

    As scikit-learn checks them (``feature_names_in_`` and ``n_features_in_``; for a Pipeline,
    those of its first step, which the Pipeline exposes):

    * ``X`` a DataFrame (or a Series, for one row) and the estimator fitted with feature
      names: the same names in the same order, else a ValueError naming ``argname`` and the
      missing, unexpected or reordered columns (with the expected and the given order).
      Stricter than a ``ColumnTransformer``, which accepts reordered and extra columns: every
      stage refits and evaluates the model on these columns, so they must be those of the fit;
      ``X[estimator.feature_names_in_]`` selects them.
    * ``X`` without feature names (an array, a sparse matrix) and the estimator fitted with
      them, or the reverse: a ``UserWarning`` naming ``argname``, as scikit-learn warns; the
      columns are then taken by position.
    * The number of columns must equal ``n_features_in_`` (a ValueError otherwise).

    Nothing is checked for a :class:`~fairlearn_divine.DifferentiableModel` or an estimator
    that records neither attribute, nor inside :func:`feature_names_checked`. ``X`` is not
    modified.
    """
    if _NAMES_CHECKED.get() or (
        hasattr(estimator, "params") and hasattr(estimator, "loss_gradients")
    ):
        return
    expected = getattr(estimator, "feature_names_in_", None)
    n_expected = getattr(estimator, "n_features_in_", None)
    if expected is None and n_expected is None:
        return
    name = type(estimator).__name__
    given = _input_feature_names(X, argname)
    if getattr(X, "ndim", 2) == 1:  # a Series: one row
        n_given = len(X)
    else:
        n_given = X.shape[1] if len(getattr(X, "shape", ())) == 2 else None
    if expected is not None:
        expected = [str(v) for v in expected]
        if given is not None:
            if given == expected:
                return
            missing = [c for c in expected if c not in set(given)]
            extra = [c for c in given if c not in set(expected)]
            if not missing and not extra and len(given) == len(expected):
                first = next(j for j in range(len(given)) if given[j] != expected[j])
                raise ValueError(
                    f"{argname} has the columns {name} was fitted with, but in another order "
                    f"(first difference at position {first}: {given[first]!r} where the fit "
                    f"had {expected[first]!r}). Expected order: {_show(expected)}; got: "
                    f"{_show(given)}. Reorder it: {argname}[estimator.feature_names_in_]."
                )
            parts = []
            if missing:
                parts.append(f"lacks columns {name} was fitted with: {_show(missing)}")
            if extra:
                parts.append(f"has columns {name} was not fitted with: {_show(extra)}")
            if not parts:  # duplicated names
                parts.append(f"has the columns {_show(given)}")
            raise ValueError(
                f"{argname} " + "; ".join(parts) + f". Expected the columns {_show(expected)}."
            )
    if n_expected is not None and n_given is not None and n_given != n_expected:
        raise ValueError(
            f"{argname} has {n_given} features, but {name} was fitted with {n_expected} features."
        )
    if expected is not None:
        warnings.warn(
            f"{argname} has no feature names ({type(X).__name__}), but {name} was fitted with "
            f"feature names {_show(expected)}: its columns are taken to be these, in this "
            f"order. Pass a DataFrame with these columns to have them checked.",
            UserWarning,
            stacklevel=3,
        )
    elif given is not None:
        warnings.warn(
            f"{argname} has feature names, but {name} was fitted without feature names: its "
            f"columns are used by position.",
            UserWarning,
            stacklevel=3,
        )


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
    """One input row shaped like the training data ``X`` (a 1-row DataFrame for a DataFrame).

    For a DataFrame ``X``, an array-like ``x`` is taken in the order of ``X``'s columns; a
    Series or a one-row DataFrame must carry exactly ``X``'s columns, in their order.
    """
    if hasattr(X, "iloc"):
        import pandas as pd

        if isinstance(x, pd.Series):  # one row by name: its labels must be X's columns
            if list(x.index) != list(X.columns):
                raise ValueError(
                    f"{argname} is a Series labelled {_show(list(x.index))}, but X has the "
                    f"columns {_show(list(X.columns))} (in this order)."
                )
            row = pd.DataFrame([x.to_numpy()], columns=X.columns)
        elif isinstance(x, pd.DataFrame):
            if list(x.columns) != list(X.columns):
                raise ValueError(
                    f"{argname} has the columns {_show(list(x.columns))}, but X has "
                    f"{_show(list(X.columns))} (in this order)."
                )
            row = x
        else:
            row = pd.DataFrame([np.asarray(x)], columns=X.columns)
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
    if arr.dtype.kind not in "fiub" and getattr(X, "dtype", None) is not None:
        if X.dtype.kind in "fiub":  # numeric training data: x must be numeric too
            try:
                arr = arr.astype(float)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"{argname} must be numeric like X, got values such as "
                    f"{arr.ravel()[:3].tolist()!r} ({err})."
                ) from err
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

"""Evaluation data for the objectives: labels encoded, sensitive groups merged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._core.refit import predict_proba_aligned
from .._core.validation import encode_labels

__all__ = ["EvalContext", "encode_sensitive_features", "resolve_sensitive_features"]


def resolve_sensitive_features(sensitive_features, X=None, *, argname="sensitive_features"):
    """Sensitive features as fairlearn accepts them, as a positional array or DataFrame.

    Accepts an array (1-D, or 2-D with one column per feature), a Series, a DataFrame (several
    columns), a dict of column name to values, or -- when ``X`` is a DataFrame -- a column name
    of ``X`` or a list of them. Rows are matched by position (the index of a Series or
    DataFrame is not used for alignment, as in fairlearn's ``MetricFrame``). ``None`` stays
    ``None``.
    """
    sf = sensitive_features
    if sf is None:
        return None
    if isinstance(sf, dict):
        columns = {k: np.asarray(v) for k, v in sf.items()}
        lengths = {k: len(v) if v.ndim else 0 for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"{argname} is a dict whose columns have different lengths: {lengths!r}."
            )
        return pd.DataFrame(columns)
    names = None
    if isinstance(sf, str):
        names = [sf]
    elif isinstance(sf, list | tuple) and sf and all(isinstance(v, str) for v in sf):
        if hasattr(X, "columns") and all(v in X.columns for v in sf):
            names = list(sf)
    if names is not None:
        if not hasattr(X, "columns"):
            raise ValueError(
                f"{argname}={sf!r} names columns, but X is not a DataFrame; pass the values."
            )
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(
                f"{argname} names column(s) {missing} that X does not have; X has columns "
                f"{list(X.columns)[:20]}."
            )
        return X[names].reset_index(drop=True)
    if isinstance(sf, pd.Series | pd.DataFrame):
        return sf.reset_index(drop=True)
    return sf


def encode_sensitive_features(sensitive_features, n_samples, *, argname="sensitive_features"):
    """Merge sensitive feature columns into integer group codes, as fairlearn does.

    Returns ``(codes, names)`` where ``codes`` has shape ``(n_samples,)`` and ``names`` lists
    the group of each code (a tuple for several columns).
    """
    if isinstance(sensitive_features, dict):
        sensitive_features = resolve_sensitive_features(sensitive_features, argname=argname)
    if isinstance(sensitive_features, pd.DataFrame):
        frame = sensitive_features.reset_index(drop=True)
    elif isinstance(sensitive_features, pd.Series):
        frame = sensitive_features.reset_index(drop=True).to_frame()
    else:
        arr = np.asarray(sensitive_features)
        if arr.ndim == 0 or arr.ndim > 2:
            raise ValueError(
                f"{argname} must be 1-D or 2-D array-like, got an array of shape {arr.shape}."
            )
        arr = arr.reshape(len(arr), -1)
        frame = pd.DataFrame({k: arr[:, k] for k in range(arr.shape[1])})
    if len(frame) != n_samples:
        raise ValueError(
            f"{argname} has {len(frame)} rows but the data it describes has {n_samples}."
        )
    if frame.shape[1] == 0:
        raise ValueError(f"{argname} has no columns.")
    codes = []
    uniques = []
    for col in frame.columns:
        c, u = pd.factorize(frame[col], sort=True)
        if (c < 0).any():
            raise ValueError(f"{argname} contains missing values (column {col!r}).")
        codes.append(c)
        uniques.append(u)
    if len(codes) == 1:
        return codes[0].astype(np.intp), list(uniques[0])
    # merge columns: one code per observed combination, in lexicographic order
    flat = np.ravel_multi_index(tuple(codes), tuple(len(u) for u in uniques))
    combos, group = np.unique(flat, return_inverse=True)
    rows = np.unravel_index(combos, tuple(len(u) for u in uniques))
    names = [
        tuple(uniques[k][rows[k][j]] for k in range(len(uniques))) for j in range(len(combos))
    ]
    return group.astype(np.intp), names


class EvalContext:
    """Evaluation data and objectives, with labels encoded and groups merged.

    Parameters
    ----------
    objectives : list of EvaluationFunction
    classes : ndarray
        The estimator's ``classes_``.
    X, y, sensitive_features :
        The evaluation data (``X`` is kept as given; predictions are made on it).
    names : tuple of str, default=("y_eval", "sensitive_features_eval")
        The caller's names of ``y`` and ``sensitive_features``, for error messages (e.g.
        ``("y", "sensitive_features")`` when the evaluation data is the training data).
    """

    def __init__(
        self,
        objectives,
        classes,
        X,
        y,
        sensitive_features,
        *,
        names=("y_eval", "sensitive_features_eval"),
    ):
        y_name, sf_name = names
        self.objectives = objectives
        self.classes = classes
        self.X = X
        self.y_idx = encode_labels(y, classes, y_name)
        n = len(self.y_idx)
        self.groups = None
        if sensitive_features is not None:
            sensitive_features = resolve_sensitive_features(sensitive_features, X, argname=sf_name)
            self.groups, self.group_names = encode_sensitive_features(
                sensitive_features, n, argname=sf_name
            )
        self._frame = sensitive_features
        self._controlled = {}
        for f in objectives:
            if getattr(f, "requires_binary", False) and len(classes) != 2:
                raise ValueError(
                    f"Objective {f.name!r} needs a binary target, but the estimator has "
                    f"{len(classes)} classes: {classes.tolist()}."
                )
            if getattr(f, "requires_sensitive_features", False):
                if self.groups is None:
                    raise ValueError(
                        f"Objective {f.name!r} needs sensitive_features (and "
                        "sensitive_features_eval when X_eval is given)."
                    )
                n_groups = len(self.group_names)
                if n_groups < 2:
                    raise ValueError(
                        f"Objective {f.name!r} compares sensitive groups, but the evaluation "
                        f"data has a single group: {self.group_names[0]!r}."
                    )

    def groups_for(self, f):
        """The group codes objective ``f`` takes: merged codes, or for an objective with
        ``control_features`` an ``(n, 2)`` array of (control level, sensitive group) codes."""
        control = getattr(f, "control_features", None)
        if control is None or self.groups is None:
            return self.groups
        key = tuple(control)
        if key not in self._controlled:
            self._controlled[key] = _control_codes(self._frame, key, len(self.y_idx), f.name)
        return self._controlled[key]

    def values(self, proba):
        """Values of every objective for the probabilities ``proba`` on the evaluation data."""
        return np.array(
            [
                f.value(self.y_idx, proba, sensitive_features=self.groups_for(f))
                for f in self.objectives
            ]
        )

    def values_and_gradients(self, proba):
        """Values and gradients (with respect to ``proba``) of every objective."""
        pairs = [
            f.value_and_gradient(self.y_idx, proba, sensitive_features=self.groups_for(f))
            for f in self.objectives
        ]
        return np.array([v for v, _ in pairs]), [g for _, g in pairs]

    def accuracy(self, proba):
        """Accuracy of the predicted labels (argmax of ``proba``) on the evaluation data."""
        return float(np.mean(np.argmax(proba, axis=1) == self.y_idx))

    def measure(self, model):
        """``(accuracy, values)`` of a fitted estimator on the evaluation data: its accuracy
        and the (hard) value of every objective."""
        proba = predict_proba_aligned(model, self.X, self.classes)
        return self.accuracy(proba), self.values(proba)


def _control_codes(frame, control, n, name):
    """(control level, sensitive group) codes from the sensitive-features columns."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        arr = np.asarray(frame)
        frame = pd.DataFrame(arr.reshape(len(arr), -1))
    cols = list(frame.columns)
    missing = [c for c in control if c not in cols]
    if missing:
        raise ValueError(
            f"Objective {name!r}: control_features {missing} are not columns of the sensitive "
            f"features (columns {cols}); pass the control columns with the sensitive ones."
        )
    rest = [c for c in cols if c not in control]
    if not rest:
        raise ValueError(
            f"Objective {name!r}: every sensitive-features column is a control feature; at "
            "least one sensitive column must remain."
        )
    control_codes, _ = encode_sensitive_features(frame[list(control)], n)
    groups, _ = encode_sensitive_features(frame[rest], n)
    return np.column_stack([control_codes, groups]).astype(np.intp)

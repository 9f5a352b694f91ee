"""Group removal on real data for the tree-influence tests: drop the top 5% by
``tree_influence`` for the held-out log loss, refit, and compare with random 5% drops."""

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from fairlearn_divine import training_point_importance


def compas_split(*, races=None, sensitive=False):
    """COMPAS from the shared data (categoricals as pandas categories, ``races`` as
    ``load_compas`` takes them), split 70/30: ``X_tr, X_val, y_tr, y_val`` (and the race of
    each row, ``sf_tr, sf_val``, with ``sensitive=True``). Missing data fails under
    ``CI=true`` and skips elsewhere."""
    from fairlearn_divine.datasets import load_compas

    data_home = os.environ.get("FAIRLEARN_DIVINE_DATA")
    if not data_home or not os.path.isdir(data_home):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("FAIRLEARN_DIVINE_DATA must point at the shared data under CI")
        pytest.skip("FAIRLEARN_DIVINE_DATA is not set to the shared data")
    data = load_compas(data_home=data_home, races=races)
    X = data.X.copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("category")
    if not sensitive:
        return train_test_split(X, data.y, test_size=0.3, random_state=0)
    X_tr, X_val, y_tr, y_val, sf_tr, sf_val = train_test_split(
        X, data.y, np.asarray(data.sensitive_features), test_size=0.3, random_state=0
    )
    return X_tr, X_val, y_tr, y_val, sf_tr, sf_val


def top_vs_random_removal(fit, X_tr, y_tr, X_val, y_val, label, *, fraction=0.05, seeds=3):
    """``fit(rows)`` refits the model on those training rows. Returns the scores of the full
    model, the held-out log-loss gain of dropping the top ``fraction`` and the gains of
    ``seeds`` random drops of the same size."""
    n = len(y_tr)
    everything = np.arange(n)
    model = fit(everything)
    base = log_loss(y_val, model.predict_proba(X_val))
    res = training_point_importance(
        model, X_tr, y_tr, method="tree_influence", X_eval=X_val, y_eval=y_val
    )
    k = int(fraction * n)
    harmful = np.argsort(res.scores)[:k]  # most negative = most harmful
    gain_top = base - log_loss(y_val, fit(np.setdiff1d(everything, harmful)).predict_proba(X_val))
    gains_random = []
    for seed in range(seeds):
        drop = np.random.default_rng(seed).choice(n, k, replace=False)
        gains_random.append(
            base - log_loss(y_val, fit(np.setdiff1d(everything, drop)).predict_proba(X_val))
        )
    print(
        f"COMPAS ({label}) held-out log loss {base:.4f}: drop top {fraction:.0%} -> "
        f"-{gain_top:.4f}; random -> {[-round(g, 4) for g in gains_random]}; "
        f"(predicted {res.scores[harmful].sum():+.4f})"
    )
    return res, gain_top, gains_random

"""Agreement of the influence-style methods with exact refits (the numbers in docs/importance.md).

Run: ``python benchmarks/accuracy_vs_refits.py [--n-valued 150]``

Every ground truth is an independent refit loop written here with scikit-learn (no package
code): the model is refitted without point i (or with its label flipped) at tol=1e-10, and f is
the mean log loss on a held-out evaluation set, or the training set where said.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from fairlearn_divine import training_point_importance


def make_data(n, n_eval, d, k, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, k))
    scales = rng.uniform(0.5, 2.0, size=d)

    def draw(m):
        X = rng.normal(size=(m, d)) * scales
        y = np.argmax(X @ W + rng.gumbel(size=(m, k)), axis=1)
        return X, y

    return (*draw(n), *draw(n_eval))


def log_loss(model, X, y):
    p = model.predict_proba(X)[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1))))


def refit_scores(model, X, y, Xe, ye, rows, *, sample_weight=None, flip=False):
    base = log_loss(model, Xe, ye)
    out = []
    for i in rows:
        m = clone(model)
        if flip:
            y2 = y.copy()
            y2[i] = 1 - y2[i]
            m.fit(X, y2, sample_weight=sample_weight)
        else:
            keep = np.arange(len(y)) != i
            sw = None if sample_weight is None else sample_weight[keep]
            m.fit(X[keep], y[keep], sample_weight=sw)
        out.append(log_loss(m, Xe, ye) - base)
    return np.array(out)


def pearson(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def _hidden(mlp, X):
    """Hidden ReLU activations of a one-hidden-layer MLP (written here, not the package's)."""
    return np.maximum(X @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-valued", type=int, default=150)
    args = parser.parse_args(argv)
    rows = []
    t0 = time.perf_counter()
    for k in (2, 3):
        for C in (0.01, 1.0, 100.0):
            for fit_intercept in (True, False):
                for weighted in (False, True):
                    X, y, Xe, ye = make_data(1000, 300, 5, k, seed=int(10 * C) + k)
                    sw = (
                        np.random.default_rng(1).uniform(0.5, 2, size=len(y)) if weighted else None
                    )
                    model = LogisticRegression(
                        C=C,
                        fit_intercept=fit_intercept,
                        solver="newton-cholesky",
                        tol=1e-10,
                        max_iter=1000,
                    ).fit(X, y, sample_weight=sw)
                    idx = np.arange(args.n_valued)
                    truth = refit_scores(model, X, y, Xe, ye, idx, sample_weight=sw)
                    res = training_point_importance(
                        model, X, y, X_eval=Xe, y_eval=ye, sample_weight=sw
                    )
                    rows.append(
                        (
                            f"influence n=1000 k={k} C={C:g} intercept={fit_intercept} "
                            f"weights={weighted}",
                            pearson(res.scores[idx], truth),
                        )
                    )
    # small n: first order vs one-step Newton
    for k in (2, 3):
        X, y, Xe, ye = make_data(300, 300, 10, k, seed=7)
        model = LogisticRegression(C=100.0, solver="newton-cholesky", tol=1e-10).fit(X, y)
        idx = np.arange(args.n_valued)
        truth = refit_scores(model, X, y, Xe, ye, idx)
        for method, opts in (
            ("influence", {}),
            ("one_step_newton", {"objective_expansion": "linear"}),
            ("one_step_newton", {"objective_expansion": "quadratic"}),  # the default here
            ("one_step_newton", {"objective_expansion": "exact"}),
        ):
            res = training_point_importance(
                model, X, y, X_eval=Xe, y_eval=ye, method=method, **opts
            )
            label = method + (f" ({opts['objective_expansion']})" if opts else "")
            rows.append((f"{label} n=300 d=10 k={k} C=100", pearson(res.scores[idx], truth)))
    # counterfactual (label flip), binary
    X, y, Xe, ye = make_data(1000, 300, 5, 2, seed=11)
    model = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, y)
    idx = np.arange(args.n_valued)
    truth = refit_scores(model, X, y, Xe, ye, idx, flip=True)
    res = training_point_importance(model, X, y, X_eval=Xe, y_eval=ye, method="counterfactual")
    rows.append(("counterfactual (closed form) n=1000 binary", pearson(res.scores[idx], truth)))
    # counterfactual at small n and weak regularisation: a flip is a large perturbation there
    X, y, Xe, ye = make_data(200, 300, 5, 2, seed=12)
    model = LogisticRegression(C=100.0, solver="newton-cholesky", tol=1e-10).fit(X, y)
    idx = np.arange(min(args.n_valued, 200))
    truth = refit_scores(model, X, y, Xe, ye, idx, flip=True)
    res = training_point_importance(model, X, y, X_eval=Xe, y_eval=ye, method="counterfactual")
    rows.append(
        ("counterfactual (closed form) n=200 C=100 binary", pearson(res.scores[idx], truth))
    )
    # MLP last-layer view vs refits of the output layer on the frozen hidden activations
    for label, params in (
        ("lbfgs to tol=1e-12, alpha=0.5", {"solver": "lbfgs", "alpha": 0.5, "tol": 1e-12}),
        ("scikit-learn defaults (adam, alpha=1e-4)", {}),
    ):
        X, y, Xe, ye = make_data(600, 300, 4, 2, seed=13)
        mlp = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20_000, random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp.fit(X, y)
            res = training_point_importance(mlp, X, y, X_eval=Xe, y_eval=ye)
        H, He = _hidden(mlp, X), _hidden(mlp, Xe)
        lr = LogisticRegression(
            C=1.0 / mlp.alpha, solver="newton-cholesky", tol=1e-10, max_iter=1000
        ).fit(H, y)
        idx = np.arange(args.n_valued)
        truth = refit_scores(lr, H, y, He, ye, idx)
        rows.append(
            (
                f"MLP last layer, {label} (optimality {res.optimality:.1e})",
                pearson(res.scores[idx], truth),
            )
        )

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  Pearson vs refits")
    for name, value in rows:
        print(f"{name:<{width}}  {value:.5f}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

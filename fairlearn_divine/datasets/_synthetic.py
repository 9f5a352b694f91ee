"""The synthetic data set of the DIVINE paper (Bhatt et al., section 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import multivariate_normal
from sklearn.utils import Bunch, check_random_state

from .._core.validation import check_integer, check_random_state_arg, check_real

__all__ = ["load_synthetic", "make_divine_synthetic"]

_MEAN_POS = np.array([3.0, 3.0])
_COV_POS = np.array([[2.0, 1.0], [1.0, 2.0]])
_MEAN_NEG = np.array([-2.0, -2.0])
_COV_NEG = np.eye(2)
_MEAN_OUTLIER = np.array([-2.0, 8.0])
_COV_OUTLIER = np.eye(2)

_DESCR = """\
DIVINE synthetic data
---------------------
Two Gaussian classes (Zafar et al. 2017) plus a cluster of positive outliers, with a binary
sensitive attribute drawn from the class-density ratio of a rotated copy of the features
(Bhatt et al., "DIVINE: Diverse influential training points", section 5).

* y ~ uniform on {0, 1} for the first n_samples points (1 = positive; the paper writes -1/1)
* x | y=1 ~ N([3, 3], [[2, 1], [1, 2]]),  x | y=0 ~ N([-2, -2], I)
* n_outliers further points with y = 1 and x ~ N([-2, 8], I), appended at the end
* A ~ Bernoulli(p1(x') / (p1(x') + p0(x'))) with x' = x R(rotation) and p1, p0 the densities of
  the two main Gaussians

Features: x1, x2 (float). Target: y (int 0/1). Sensitive feature: A (int 0/1).
"""


def make_divine_synthetic(
    n_samples=2000, n_outliers=50, *, rotation=np.pi / 4, random_state=None, as_frame=False
):
    """Generate the DIVINE paper's synthetic fairness data set.

    The construction follows the paper (section 5), which follows the generator of Zafar et
    al. (2017, "Fairness constraints: mechanisms for fair classification"):

    1. ``n_samples`` labels are drawn uniformly at random from {0, 1} (1 is the positive class;
       the paper writes -1/1).
    2. Features are drawn class-conditionally,

       .. math:: x \\mid y=1 \\sim \\mathcal N\\left(\\begin{bmatrix}3\\\\3\\end{bmatrix},
                 \\begin{bmatrix}2 & 1\\\\ 1 & 2\\end{bmatrix}\\right), \\qquad
                 x \\mid y=0 \\sim \\mathcal N\\left(\\begin{bmatrix}-2\\\\-2\\end{bmatrix},
                 I\\right).

    3. ``n_outliers`` points with label 1 are drawn from
       :math:`\\mathcal N([-2, 8]^T, I)` and appended at the end (``is_outlier`` marks them);
       they are correctly classified but far from the positive class, the kind of point that
       influence functions flag for the loss but that is not unfairness-inducing.
    4. The sensitive attribute of every point (outliers included) is

       .. math:: A \\sim \\mathrm{Bernoulli}\\left(\\frac{p_1(x')}{p_1(x') + p_0(x')}\\right),
                 \\qquad x' = x R, \\quad R = \\begin{bmatrix}\\cos\\varphi & -\\sin\\varphi \\\\
                 \\sin\\varphi & \\cos\\varphi\\end{bmatrix},

       where :math:`p_1, p_0` are the densities of the two main Gaussians of step 2
       (:class:`scipy.stats.multivariate_normal`) and :math:`\\varphi` is ``rotation``, exactly
       as Zafar et al.'s ``generate_synthetic_data`` does (``X_aux = X @ R``). The ratio is
       computed from log-densities, so it is exact even far from both Gaussians. A smaller
       rotation correlates A more strongly with the label (``rotation=0``: A is a noisy copy
       of the Bayes-optimal label); ``rotation=pi/2`` makes it almost independent of it.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of points from the two main Gaussians.
    n_outliers : int, default=50
        Number of outlying positive points appended at the end.
    rotation : float, default=pi/4
        Rotation angle :math:`\\varphi` (radians) of the features used to draw A.
    random_state : int, RandomState instance or None, default=None
        Seed; same seed, same data.
    as_frame : bool, default=False
        Return ``X`` as a DataFrame, ``y`` and ``sensitive_features`` as Series, and ``frame``.

    Returns
    -------
    sklearn.utils.Bunch
        ``X`` : ndarray of shape (n_samples + n_outliers, 2), float
        ``y`` : ndarray of shape (n,), int 0/1
        ``sensitive_features`` : ndarray of shape (n,), int 0/1 (named ``A``)
        ``is_outlier`` : ndarray of shape (n,), bool (the last ``n_outliers`` rows)
        ``feature_names`` : list ``["x1", "x2"]``
        ``DESCR`` : str
        ``frame`` : DataFrame with ``x1, x2, A, y`` (only with ``as_frame=True``)

    Examples
    --------
    >>> from fairlearn_divine.datasets import make_divine_synthetic
    >>> data = make_divine_synthetic(random_state=0)
    >>> data.X.shape, int(data.is_outlier.sum())
    ((2050, 2), 50)
    """
    n_samples = check_integer(n_samples, "n_samples", minimum=1)
    n_outliers = check_integer(n_outliers, "n_outliers", minimum=0)
    rotation = check_real(rotation, "rotation")
    if not isinstance(as_frame, bool | np.bool_):
        raise TypeError(f"as_frame must be a bool, got {as_frame!r}.")
    rng = check_random_state(check_random_state_arg(random_state))

    y_main = rng.randint(0, 2, size=n_samples)
    X_main = np.empty((n_samples, 2))
    pos = y_main == 1
    X_main[pos] = rng.multivariate_normal(_MEAN_POS, _COV_POS, size=int(pos.sum()))
    X_main[~pos] = rng.multivariate_normal(_MEAN_NEG, _COV_NEG, size=int((~pos).sum()))
    X_out = rng.multivariate_normal(_MEAN_OUTLIER, _COV_OUTLIER, size=n_outliers)
    X = np.vstack([X_main, X_out])
    y = np.concatenate([y_main, np.ones(n_outliers, dtype=int)]).astype(int)
    is_outlier = np.zeros(n_samples + n_outliers, dtype=bool)
    is_outlier[n_samples:] = True

    c, s = np.cos(rotation), np.sin(rotation)
    X_rot = X @ np.array([[c, -s], [s, c]])
    log_p1 = multivariate_normal(_MEAN_POS, _COV_POS).logpdf(X_rot)
    log_p0 = multivariate_normal(_MEAN_NEG, _COV_NEG).logpdf(X_rot)
    p_a = expit(log_p1 - log_p0)  # = p1 / (p1 + p0)
    A = (rng.uniform(size=len(X)) < p_a).astype(int)

    feature_names = ["x1", "x2"]
    bunch = Bunch(
        X=X,
        y=y,
        data=X,
        target=y,
        sensitive_features=A,
        is_outlier=is_outlier,
        feature_names=feature_names,
        DESCR=_DESCR,
    )
    if as_frame:
        frame = pd.DataFrame(X, columns=feature_names)
        frame["A"] = A
        frame["y"] = y
        bunch.update(
            X=frame[feature_names].copy(),
            y=frame["y"].copy(),
            sensitive_features=frame["A"].copy(),
            frame=frame,
        )
    return bunch


def load_synthetic():
    """The embedded default data set: the DIVINE paper's synthetic data, ``random_state=0``.

    2,050 points (2,000 from two Gaussians plus 50 outlying positives), two features, binary
    target and a binary sensitive attribute; needs no files. Same as
    ``make_divine_synthetic(random_state=0)``; use :func:`make_divine_synthetic` for other
    sizes or draws.
    """
    return make_divine_synthetic(random_state=0)

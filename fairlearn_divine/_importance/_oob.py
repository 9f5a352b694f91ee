"""Data-OOB: out-of-bag valuation of training points for bagging ensembles.

Kwon & Zou (ICML 2023), "Data-OOB: Out-of-bag estimate as a simple and efficient data value".
A fitted bagging ensemble of :math:`B` members was trained on bootstrap samples
:math:`S_1, \\dots, S_B` of the training rows; point *i* is *out of bag* (OOB) for the members
whose sample does not contain it, :math:`O_i = \\{b : i \\notin S_b\\}`. Nothing is refitted:
every member predicts once on the training data (and once on the evaluation data), and the
rest is bookkeeping with the in-bag matrix :math:`N_{bi} = 1[i \\in S_b]`.

Supported ensembles: :class:`~sklearn.ensemble.RandomForestClassifier` and
:class:`~sklearn.ensemble.ExtraTreesClassifier` with ``bootstrap=True``,
:class:`~sklearn.ensemble.BaggingClassifier` (bootstrap or subsampling, any member estimator,
feature subsampling), each alone or as the last step of a :class:`~sklearn.pipeline.Pipeline`.

Valuations
----------
``"data_oob"`` (per-point losses ``"log_loss"`` and ``"zero_one_loss"`` on the training data)
    Kwon & Zou's value with :math:`T` minus the member's loss on point *i*:

    .. math:: d_i = \\frac{1}{|O_i|} \\sum_{b \\in O_i} l\\bigl(y_i, f_b(x_i)\\bigr),
              \\qquad \\mathrm{scores}_i = \\frac{\\bar d - d_i}{n - 1}, \\quad
              \\bar d = \\frac1n \\sum_j d_j ,

    with :math:`l` the log loss of the member's probability (clipped to ``[eps, 1 - eps]`` as
    the package's ``"log_loss"``) or its 0/1 error; ``result.data_oob_values`` holds the
    paper's value :math:`-d_i` (for the 0/1 loss, :math:`1 - d_i` is its accuracy value: the
    fraction of the members not trained on *i* that classify it correctly). Data-OOB is
    **not** a leave-one-out estimate of the ensemble's loss: it says how well point *i* is
    predicted by the members that never saw it. The cost whose change the score is, in the
    package's convention, is the ensemble's out-of-bag estimate of the expected member's loss
    :math:`f = \\bar d` (``result.member_baseline``): removing *i* from the data set removes
    its term, which changes :math:`f` by exactly ``scores[i]`` when the other points' OOB
    predictions are held fixed (Data-OOB ignores *i*'s effect on the members that predict the
    others). Positive = *i* is predicted better than the average point (removing it raises
    :math:`f`: it helps), negative = predicted worse (atypical or mislabelled; removing the
    lowest-valued points is the paper's data-cleaning use). A point that is hard to predict
    is not necessarily harmful to the model's loss on new data: on COMPAS, removing the 5%
    lowest-valued points lowers :math:`f` after a refit but *raises* the held-out log loss
    (``docs/importance.md``, "Data-OOB for bagging ensembles").
``"ensemble_linear"`` (objectives with a gradient: fairness, ``"log_loss"`` on ``X_eval``, ...)
    The first-order change of the *ensemble's* ``f`` on the evaluation data. The ensemble
    predicts :math:`\\bar P = \\frac1B \\sum_b P_b` (the members' probabilities on the
    evaluation data). A bootstrap sample of the data conditioned on not containing *i* is
    distributed exactly as a bootstrap sample of the same size of the data without *i*, so
    the members not trained on *i* are a sample of the ensemble refitted without *i*:
    :math:`\\bar P_{-i} = \\frac{1}{|O_i|} \\sum_{b \\in O_i} P_b` estimates its
    probabilities, and

    .. math:: \\mathrm{scores}_i = \\langle \\nabla f(\\bar P),\\,
              \\bar P_{-i} - \\bar P \\rangle
              = \\frac{1}{|O_i|} \\sum_{b \\in O_i} g_b - \\frac1B \\sum_b g_b ,
              \\qquad g_b = \\langle \\nabla f(\\bar P), P_b \\rangle ,

    a first-order estimate of ``f(ensemble without i) - f(ensemble)``, positive = the point
    helps. For a fairness objective :math:`\\nabla f` is the gradient of the package's smooth
    surrogate (soft group rates, signed by the hard gaps; see
    :mod:`fairlearn_divine._objectives`), as for influence functions. Cost: two predictions
    per member on the evaluation data and one gradient, then :math:`O(nB)`; memory
    :math:`O(n_{eval} K + nB)`.
``"member_difference"`` (any objective, also one without a gradient)
    Each member's own objective on the evaluation data, :math:`f_b = f(P_b)` (the *hard*
    metric for fairness objectives), and

    .. math:: \\mathrm{scores}_i = \\frac{1}{|O_i|} \\sum_{b \\in O_i} f_b
              - \\frac{1}{B} \\sum_{b=1}^B f_b
              = \\frac{|\\{b : i \\in S_b\\}|}{B}\\Bigl(\\overline{f}_{b \\not\\ni i}
              - \\overline{f}_{b \\ni i}\\Bigr),

    an unbiased estimate of :math:`E[f(\\text{member fitted without } i)] -
    E[f(\\text{member})]` (the average marginal effect of *i* on one member over bootstrap
    samples). It is about one member's ``f``, not the averaged ensemble's (for a non-linear
    ``f`` they differ: on COMPAS the trees' mean equalized-odds difference is 0.15, the
    forest's 0.24).

Both estimates are noisy for a single point (the noise falls as :math:`1/\\sqrt{B}`): use them
to rank points and to choose groups, and measure a removal by refitting. ``scores_stderr``
treats the members as independent draws: :math:`s\\sqrt{1/|O_i| - 1/B}` with :math:`s` the
standard deviation of :math:`f_b` (or :math:`g_b`) over the members, and for ``"data_oob"``
the standard error of the mean :math:`d_i` over :math:`O_i`, divided by :math:`n - 1`. When
fewer than 6.8% of the points (1.5 times what pure noise gives) have a ``"ensemble_linear"`` or
``"member_difference"`` score beyond two standard errors, an :class:`ApproximationWarning`
says that the scores are within noise (on COMPAS with a forest of 100 or 400 trees, 5% are,
for equalized odds: one point's effect on a forest's fairness is not resolved there).
Measured against refits of the forest without groups of points on COMPAS:
``benchmarks/bench_oob.py`` and ``docs/importance.md``.

``valuation="auto"`` (default) takes ``"data_oob"`` for the built-in ``"log_loss"`` and
``"zero_one_loss"`` evaluated on the training data, ``"ensemble_linear"`` for every other
objective with a gradient and ``"member_difference"`` for the others; ``result.valuation``
names the valuation of each objective. ``result.baseline`` is ``f`` of the fitted ensemble on
the evaluation data, as for the other methods; ``result.member_baseline`` is
:math:`\\bar d` for the ``"data_oob"`` rows and :math:`\\frac1B \\sum_b f_b` for the
``"member_difference"`` rows (NaN for the others).

Assumptions and refusals
------------------------
The in-bag samples are scikit-learn's own: ``estimators_samples_`` of the ensemble, which
regenerates each member's draw from its stored seed with the code the fit used (bootstrap size
from ``max_samples``, weighted draws when the fit had sample or class weights). They are
checked against ``X``: the ensemble must have been fitted on exactly ``n_rows(X)`` rows (its
recorded sample count), and ``sample_weight`` must be the weights the fit recorded (up to a
factor per class, which is how class weights enter); a point of zero weight is never in bag.
The members' averaged probabilities are checked against the ensemble's own ``predict_proba``
on the evaluation data. Refused with a clear error: another estimator (e.g. gradient boosting),
a forest with ``bootstrap=False`` (every tree sees every row: nothing is out of bag), a
multi-output forest, an ensemble fitted on another number of rows, sample weights that differ
from the fit's or a scikit-learn version that does not record them. A point that is in bag for
every member has no OOB estimate: its score is NaN, with a warning (use more members).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.ensemble import BaggingClassifier, ExtraTreesClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array

from .._core.validation import encode_labels, final_step, n_rows
from .._objectives import clip_proba, is_log_loss, is_zero_one_loss
from .._warnings import ApproximationWarning
from ._refits import no_options

__all__ = ["BAGGING_ENSEMBLES", "data_oob"]

#: The forests Data-OOB reads (their trees' bootstrap rows), and every bagging ensemble.
FORESTS = (RandomForestClassifier, ExtraTreesClassifier)
BAGGING_ENSEMBLES = (*FORESTS, BaggingClassifier)

_CHANCE_ABOVE_2 = 0.0455  # P(|N(0, 1)| > 2)
_VALUATIONS = ("auto", "data_oob", "ensemble_linear", "member_difference")


class _BaggedMembers:
    """The members of a fitted bagging ensemble, their in-bag rows and their predictions."""

    def __init__(self, estimator, X, y, sample_weight):
        ensemble = final_step(estimator)
        if isinstance(ensemble, FORESTS):
            self.kind = "forest"
            if not ensemble.bootstrap:
                raise ValueError(
                    f"estimator is a {type(ensemble).__name__} with bootstrap=False: every "
                    "tree is fitted on every row, so no point is out of bag. Data-OOB needs "
                    "bootstrap=True."
                )
            if getattr(ensemble, "n_outputs_", 1) != 1:
                raise ValueError(
                    f"estimator is a multi-output {type(ensemble).__name__} "
                    f"(n_outputs_={ensemble.n_outputs_}); method='data_oob' supports one target."
                )
        elif isinstance(ensemble, BaggingClassifier):
            self.kind = "bagging"
        else:
            raise TypeError(
                "method='data_oob' needs a fitted bagging ensemble (RandomForestClassifier or "
                "ExtraTreesClassifier with bootstrap=True, BaggingClassifier), alone or as the "
                f"last step of a Pipeline; got {type(ensemble).__name__}. Use method='loo' or "
                "'data_shapley' for other estimators."
            )
        if not hasattr(ensemble, "estimators_"):
            raise ValueError(f"estimator ({type(ensemble).__name__}) is not fitted.")
        name = type(ensemble).__name__
        n = n_rows(X)
        fitted_n = getattr(ensemble, "_n_samples", None)
        if fitted_n is None or not hasattr(type(ensemble), "estimators_samples_"):
            raise TypeError(
                f"This scikit-learn version's {name} does not record its bootstrap samples "
                "(estimators_samples_ and the number of rows fitted), so they cannot be "
                "recovered exactly; method='data_oob' needs scikit-learn >= 1.6."
            )
        if int(fitted_n) != n:
            raise ValueError(
                f"estimator ({name}) was fitted on {int(fitted_n)} rows but X has {n}: "
                "Data-OOB needs the exact training data the ensemble was fitted on, in order."
            )
        self.ensemble = ensemble
        self.classes = np.asarray(ensemble.classes_)
        self.y_idx = encode_labels(y, self.classes, "y")
        weights = self._check_weights(ensemble, sample_weight, name)
        samples = ensemble.estimators_samples_
        if len(samples) != len(ensemble.estimators_):
            raise ValueError(
                f"estimator ({name}) has {len(ensemble.estimators_)} members but "
                f"{len(samples)} recorded samples."
            )
        in_bag = np.zeros((len(samples), n), dtype=bool)
        for b, rows in enumerate(samples):
            rows = np.asarray(rows)
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise ValueError(f"estimator ({name})'s bootstrap rows lie outside [0, {n}).")
            in_bag[b, rows] = True
        if weights is not None:
            in_bag &= weights[None, :] > 0  # a drawn row of weight 0 does not enter the fit
        self.in_bag = in_bag
        self.features = list(ensemble.estimators_features_) if self.kind == "bagging" else None
        self.transform = (
            estimator[:-1].transform
            if isinstance(estimator, Pipeline) and len(estimator.steps) > 1
            else None
        )

    def _check_weights(self, ensemble, sample_weight, name):
        """The fit's recorded weights must be the caller's (up to a factor per class)."""
        recorded = getattr(ensemble, "_sample_weight", "missing")
        given = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        uniform = given is None or np.all(given == given[0])
        if isinstance(recorded, str):
            if not uniform:
                raise ValueError(
                    f"sample_weight was given, but this scikit-learn version's {name} does not "
                    "record how sample weights entered its bootstrap draws, so the in-bag rows "
                    "cannot be recovered exactly."
                )
            return given
        if recorded is None:
            if not uniform:
                raise ValueError(
                    f"sample_weight was given, but estimator ({name}) was fitted without "
                    "sample weights: pass the weights the ensemble was fitted with."
                )
            return given
        recorded = np.asarray(recorded, dtype=float)
        reference = np.ones(len(recorded)) if given is None else given
        if recorded.shape != reference.shape:
            raise ValueError(
                f"sample_weight has {len(reference)} entries but estimator ({name}) recorded "
                f"{len(recorded)} fit weights."
            )
        # class weights (forests) multiply the sample weights by a factor per class
        groups = self.y_idx if self.kind == "forest" else np.zeros(len(recorded), dtype=int)
        for g in np.unique(groups):
            r, w = recorded[groups == g], reference[groups == g]
            if np.any((r > 0) != (w > 0)):
                break
            pos = w > 0
            ratio = r[pos] / w[pos]
            if ratio.size and not np.allclose(ratio, ratio[0], rtol=1e-9, atol=0):
                break
        else:
            return recorded
        what = "without sample_weight" if given is None else "with this sample_weight"
        raise ValueError(
            f"estimator ({name}) was fitted with sample weights that differ from those given "
            f"(called {what}): its bootstrap draws depend on them, so pass the weights the "
            "ensemble was fitted with."
        )

    def prepared(self, X):
        """``X`` as the members see it (the Pipeline's transform, the ensemble's checks)."""
        Xt = X if self.transform is None else self.transform(X)
        if self.kind == "forest":  # what ForestClassifier.predict_proba hands its trees
            return check_array(Xt, accept_sparse="csr", dtype=np.float32, ensure_all_finite=False)
        return check_array(Xt, accept_sparse=["csr", "csc"], dtype=None, ensure_all_finite=False)

    def member_proba(self, b, Xv):
        """Member ``b``'s probabilities on prepared inputs, in the ensemble's class order."""
        member = self.ensemble.estimators_[b]
        k = len(self.classes)
        if self.features is not None:
            Xv = Xv[:, self.features[b]]
        cols = np.asarray(member.classes_).astype(np.intp)  # members are fitted on class codes
        out = np.zeros((Xv.shape[0], k))
        if hasattr(member, "predict_proba"):
            p = np.asarray(member.predict_proba(Xv), dtype=float)
            out[:, cols] = p[:, : len(cols)]
        else:  # BaggingClassifier's vote for members without probabilities
            pred = np.asarray(member.predict(Xv)).astype(np.intp)
            out[np.arange(len(pred)), pred] = 1.0
        return out

    def check_average(self, mean_proba, X):
        """The members' mean must be the ensemble's ``predict_proba`` (else refuse)."""
        ens = np.asarray(self.ensemble.predict_proba(self.prepared_for_ensemble(X)), float)
        if ens.shape != mean_proba.shape or not np.allclose(ens, mean_proba, atol=1e-8):
            raise ValueError(
                f"The mean of estimator ({type(self.ensemble).__name__})'s members' "
                "probabilities differs from its predict_proba, so its members cannot be "
                "valued one by one; method='data_oob' supports the plain averaging ensembles."
            )
        return ens

    def prepared_for_ensemble(self, X):
        return X if self.transform is None else self.transform(X)


def _per_point_loss(f, P, y_idx):
    """Member loss on each training point for the per-point losses Data-OOB values."""
    if is_log_loss(f):
        return -np.log(clip_proba(P[np.arange(len(y_idx)), y_idx]))
    return (np.argmax(P, axis=1) != y_idx).astype(float)


def data_oob(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    """Data-OOB (Kwon & Zou 2023) and out-of-bag with/without estimates for bagging ensembles.

    See the module docstring for the math. Option ``valuation`` ({"auto", "data_oob",
    "ensemble_linear", "member_difference"}, default "auto"), applied to every objective
    unless "auto": ``"data_oob"`` needs the built-in ``"log_loss"`` or ``"zero_one_loss"``
    evaluated on the training data, ``"ensemble_linear"`` objectives with a gradient,
    ``"member_difference"`` applies to any objective. ``n_jobs``, ``progress`` and
    ``random_state`` are not used (nothing is refitted or sampled).

    Returns
    -------
    scores : ndarray of shape (n_objectives, n_train)
        Positive = the point helps (see the module docstring for what that means for each
        valuation); NaN for points without an out-of-bag estimate.
    base : ndarray of shape (n_objectives,)
        ``f`` of the fitted ensemble on the evaluation data.
    info : dict
        ``valuation`` (per objective), ``n_estimators``, ``n_out_of_bag`` (per point),
        ``member_baseline`` (per objective), ``data_oob_values`` (``-d_i`` for the Data-OOB
        rows, NaN for the others) and ``member_values`` (``f_b`` per member for the
        ``"member_difference"`` rows, ``g_b`` for the ``"ensemble_linear"`` rows, NaN for
        the Data-OOB rows) and ``scores_stderr`` (standard errors of the scores), each with
        one row per objective.
    """
    valuation = options.pop("valuation", "auto")
    no_options(options, "data_oob")
    if not isinstance(valuation, str) or valuation not in _VALUATIONS:
        raise ValueError(f"valuation must be one of {_VALUATIONS}, got {valuation!r}.")
    objectives = ctx.objectives
    names = [f.name for f in objectives]
    per_point = [is_log_loss(f) or is_zero_one_loss(f) for f in objectives]
    smooth = [getattr(f, "has_gradient", False) for f in objectives]
    if valuation == "auto":
        kinds = [
            "data_oob"
            if (p and eval_is_train)
            else ("ensemble_linear" if g else "member_difference")
            for p, g in zip(per_point, smooth, strict=True)
        ]
    else:
        kinds = [valuation] * len(objectives)
    if valuation == "data_oob" and (not all(per_point) or not eval_is_train):
        raise ValueError(
            "valuation='data_oob' values each training point by its own out-of-bag loss, so it "
            "needs the objectives 'log_loss' or 'zero_one_loss' on the training data (no "
            f"X_eval); got objectives {names}{'' if eval_is_train else ' with X_eval'}. Use "
            "valuation='ensemble_linear' or 'member_difference'."
        )
    if valuation == "ensemble_linear" and not all(smooth):
        bad = [f.name for f, g in zip(objectives, smooth, strict=True) if not g]
        raise ValueError(
            f"valuation='ensemble_linear' needs the gradient of every objective; {bad} have "
            "none. Use valuation='member_difference' (or 'auto')."
        )

    members = _BaggedMembers(estimator, X, y, sample_weight)
    in_bag = members.in_bag
    B, n = in_bag.shape
    m = len(objectives)
    oob = ~in_bag
    n_oob = oob.sum(axis=0)
    has_oob = n_oob > 0
    X_ev = members.prepared(X if eval_is_train else X_eval)
    rows = {kind: [k for k in range(m) if kinds[k] == kind] for kind in _VALUATIONS[1:]}
    loss_mean = np.zeros((m, n))  # running mean and squared deviations over O_i (Welford)
    loss_m2 = np.zeros((m, n))
    seen = np.zeros(n)
    member_values = np.full((m, B), np.nan)
    mean_proba = np.zeros((n_rows(X_ev), len(members.classes)))
    for b in range(B):
        P_b = members.member_proba(b, X_ev)
        mean_proba += P_b
        seen += oob[b]
        for k in rows["data_oob"]:  # X_ev is the training data here
            loss = _per_point_loss(objectives[k], P_b, members.y_idx)
            delta = np.where(oob[b], loss - loss_mean[k], 0.0)
            loss_mean[k] += delta / np.maximum(seen, 1)
            loss_m2[k] += delta * (loss - loss_mean[k])
        if rows["member_difference"]:
            member_values[rows["member_difference"], b] = ctx.values(P_b)[
                rows["member_difference"]
            ]
    mean_proba /= B
    mean_proba = members.check_average(mean_proba, X if eval_is_train else X_eval)
    if rows["ensemble_linear"]:
        _, gradients = ctx.values_and_gradients(mean_proba)
        grads = np.stack([np.asarray(gradients[k], float) for k in rows["ensemble_linear"]])
        for b in range(B):  # second pass: g_b = <grad f(P_bar), P_b>
            P_b = members.member_proba(b, X_ev)
            member_values[rows["ensemble_linear"], b] = np.einsum("mjk,jk->m", grads, P_b)
    base = ctx.values(mean_proba)

    scores = np.full((m, n), np.nan)
    member_baseline = np.full(m, np.nan)
    data_oob_values = np.full((m, n), np.nan)
    stderr = np.full((m, n), np.nan)
    denom = np.maximum(n_oob, 1)
    for k in rows["data_oob"]:
        d = np.where(has_oob, loss_mean[k], np.nan)
        data_oob_values[k] = -d
        if has_oob.any():
            member_baseline[k] = np.nanmean(d)
            scale = max(int(np.sum(has_oob)) - 1, 1)
            scores[k] = (member_baseline[k] - d) / scale
            var = loss_m2[k] / np.maximum(n_oob - 1, 1)  # over O_i
            stderr[k] = np.where(n_oob > 1, np.sqrt(var / denom), np.nan) / scale
    diff = rows["member_difference"] + rows["ensemble_linear"]
    if diff:
        F = member_values[diff]  # (m_diff, B)
        scores[diff] = np.where(has_oob, (F @ oob) / denom - F.mean(axis=1)[:, None], np.nan)
        member_rows = rows["member_difference"]
        member_baseline[member_rows] = member_values[member_rows].mean(axis=1)
        # members as independent draws: Var(mean over O_i - mean over all) = s^2 (1/|O_i| - 1/B)
        var = F.var(axis=1, ddof=1)[:, None] if B > 1 else np.full((len(diff), 1), np.nan)
        spread = np.sqrt(var * np.maximum(1 / denom - 1 / B, 0))
        stderr[diff] = np.where(has_oob, spread, np.nan)
    no_oob = np.flatnonzero(~has_oob)
    if len(no_oob):
        warnings.warn(
            f"{len(no_oob)} of {n} training points are in bag for all {B} members of the "
            f"ensemble (rows {no_oob[:10].tolist()}), so they have no out-of-bag estimate; "
            "their scores are NaN. Fit more members (n_estimators).",
            UserWarning,
            stacklevel=3,
        )
    for k in diff:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(scores[k]) / stderr[k]
        z = z[np.isfinite(z)]
        if len(z) >= 20 and np.mean(z > 2) < 1.5 * _CHANCE_ABOVE_2:
            warnings.warn(
                f"The {kinds[k]} scores of objective {names[k]!r} are within noise: only "
                f"{np.mean(z > 2):.1%} of the points have |score| > 2 standard errors (about "
                f"{_CHANCE_ABOVE_2:.1%} for pure noise). One point's effect on this objective "
                f"is not resolved by {B} members: rank with care (result.scores_stderr), fit "
                "more members, value groups by refitting, or use a refit-based method.",
                ApproximationWarning,
                stacklevel=3,
            )
    info = {
        "valuation": kinds,
        "n_estimators": B,
        "n_out_of_bag": n_oob,
        "member_baseline": member_baseline,
        "data_oob_values": data_oob_values,
        "member_values": member_values,
        "scores_stderr": stderr,
    }
    return scores, base, info

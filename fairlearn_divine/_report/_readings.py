"""Plain-language sentences for each section of the audit report."""

from __future__ import annotations

import numpy as np

from .._objectives import FAIRNESS_OBJECTIVES

__all__ = ["readings"]

RATE_NAMES = {
    "accuracy": "accuracy",
    "selection rate": "selection rate",
    "TPR": "true positive rate",
    "TNR": "true negative rate",
}


def _pct(x, digits=1):
    return f"{100 * x:.{digits}f}%"


def _objective_name(objective):
    return FAIRNESS_OBJECTIVES.get(objective, (objective, "", ()))[0]


def _direction(before, after, word):
    digits = 2
    while digits < 5 and f"{before:.{digits}f}" == f"{after:.{digits}f}":
        digits += 1
    a, b = f"{before:.{digits}f}", f"{after:.{digits}f}"
    if a == b:
        return f"leaves {word} at {before:.2f}"
    verb = "lowers" if after < before else "raises"
    return f"{verb} {word} from {a} to {b}"


def _accuracy_cost(before, after):
    d = 100 * (before - after)
    if abs(d) < 0.05:
        return "with no change in accuracy"
    if d > 0:
        return f"at a cost of {d:.1f} points of accuracy"
    return f"and gains {-d:.1f} points of accuracy"


def readings(audit):
    """Plain-language sentences for each section of the report (a dict of lists of str).

    The sentences contain user strings (group names): escape them before putting them in HTML.
    """
    name = _objective_name(audit.objective)
    out = {}
    model = [
        f"The model classifies {_pct(audit.accuracy)} of the training points correctly. "
        f"Its {name} is {audit.unfairness:.2f} "
        f"({FAIRNESS_OBJECTIVES[audit.objective][1]})."
    ]
    gaps = []
    for rate in FAIRNESS_OBJECTIVES[audit.objective][2]:
        vals = [(r[rate], r["group"]) for r in audit.by_group if r[rate] is not None]
        if len(vals) >= 2:
            lo, hi = min(vals), max(vals)
            gaps.append((hi[0] - lo[0], rate, lo, hi))
    if gaps:
        gap, rate, lo, hi = max(gaps)
        model.append(
            f"The largest gap is in the {RATE_NAMES[rate]}: {lo[0]:.2f} for group {lo[1]} "
            f"against {hi[0]:.2f} for group {hi[1]}."
        )
    out["model"] = model

    fair = audit.scores[audit.objective]
    loss = audit.scores["log_loss"]
    n = audit.n_samples
    n_harm = int(np.sum(fair < 0))
    both = int(np.sum((fair < 0) & (loss < 0)))
    out["harmful"] = [
        f"{n_harm} of the {n} training points ({_pct(n_harm / n)}) have a negative score for "
        f"{name}: removing any one of them alone would make the model fairer by this measure. "
        f"{both} of them are also harmful for the log loss.",
        "The table lists the most harmful ones first. Look at what they have in common: "
        "mislabelled points, a subgroup the model treats differently, or outliers.",
    ]
    sel = audit.selection
    m = len(sel.indices)
    if audit.gamma_rule == "influence_budget":
        rule = (
            f"the largest gamma that keeps {_pct(1 - audit.influence_budget, 0)} of the harm "
            f"of the {m} most harmful points"
        )
        marker = "the orange one the selection this report uses (the influence budget)"
    elif audit.gamma_rule == "pairwise_distance":
        rule = "chosen where the mean pairwise distance peaks"
        marker = "the yellow one the selection this report uses (largest mean pairwise distance)"
    else:
        rule = "set by the user"
        marker = "the report's selection is the point for the gamma above"
    not_harmful = int(np.sum(fair[np.asarray(sel.indices, dtype=int)] >= 0))
    divine = [
        f"DIVINE picks {m} points that are harmful and different from each other "
        f"(gamma = {sel.gamma:.3g}, {rule}). Together they carry "
        f"{_pct(sel.influence_retained, 0)} of the harm of the {m} most harmful points, and "
        f"their mean pairwise distance is {sel.mean_pairwise_distance:.3g} against "
        f"{audit.top_m_pairwise_distance:.3g} for the most harmful ones: fewer near-duplicates, "
        "more kinds of problem per point."
    ]
    if not_harmful:
        divine.append(
            f"{not_harmful} of the {m} DIVINE points have a score >= 0 (not harmful): diversity "
            "outweighed their influence. Read them as context, not as suspects."
        )
    out["divine"] = divine
    out["tradeoff"] = [
        "Each point of the curve is a selection for one value of gamma. Moving right buys "
        f"diversity with influence: the red diamond is the plain top-m selection, {marker}."
    ]
    out["map"] = [
        "The training data in two dimensions"
        + (
            " (principal components of the model's numeric features)"
            if audit.map_explained_variance
            else ""
        )
        + ". Red circles mark the most harmful points, black diamonds the DIVINE points. "
        "Harmful points in one cluster suggest one cause; DIVINE spreads its picks over them."
    ]
    c = audit.curve
    fr = c.fractions
    acc0, unf0 = c.baseline_accuracy, c.baseline_unfairness
    inf_unf = c.unfairness["influence"]
    inf_acc = c.accuracy["influence"]
    removal = [
        f"Removing the {_pct(fr[0], 0)} most harmful points "
        f"{_direction(unf0, inf_unf[0], name)} on the training data, "
        f"{_accuracy_cost(acc0, inf_acc[0])}."
    ]
    k = int(np.argmin(inf_unf))
    if k != 0:
        removal.append(
            f"The lowest {name} on the curve, {inf_unf[k]:.2f}, comes after removing "
            f"{_pct(fr[k], 0)} (accuracy {_pct(inf_acc[k])} against {_pct(acc0)})."
        )
    if "random" in c.unfairness:
        removal.append(
            f"Removing {_pct(fr[0], 0)} of the points at random "
            f"{_direction(unf0, c.unfairness['random'][0], name)}: the effect above comes from "
            "which points are removed, not how many."
        )
    removal.append(
        f"{_pct(c.harmful_fraction)} of the points are harmful; past that fraction (the black "
        "diamond on the influence line, if in range) removal takes helpful points too."
    )
    for label, (acc, unf, _) in list(audit.effects.items())[1:]:
        removal.append(
            f"Retraining {label} {_direction(unf0, unf, name)}, {_accuracy_cost(acc0, acc)}."
        )
    removal.append(
        "These numbers are measured on the training data after actual refits. Check them on "
        "held-out data before removing anything, and look at why the points are harmful: "
        "removing data is a diagnosis, not automatically a fix."
    )
    out["removal"] = removal
    return out

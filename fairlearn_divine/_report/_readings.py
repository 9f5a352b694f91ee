"""Plain-language sentences for each section of the audit report.

Every sentence is true of the numbers the report shows. The importance scores are estimates
(influence: a first-order estimate of the change in a smooth surrogate of the metric; one-step
Newton: an approximation of each leave-one-out refit) and are called estimates. What removing
points actually does is only ever stated from the refits :func:`run_audit` made (its
``effects`` and removal curve), in the past tense, including when the metric did not move or got
worse. Diversity claims compare the actual sets and their mean pairwise distances.
"""

from __future__ import annotations

import math

import numpy as np

from .._objectives import FAIRNESS_OBJECTIVES

__all__ = ["readings"]

RATE_NAMES = {
    "accuracy": "accuracy",
    "selection rate": "selection rate",
    "TPR": "true positive rate",
    "TNR": "true negative rate",
}
MAX_DIGITS = 15


def _objective_name(objective):
    return FAIRNESS_OBJECTIVES.get(objective, (objective, "", ()))[0]


# --------------------------------------------------------------------------------------------
# numbers as text: never print two different values the same way, nor a non-zero as zero


def _same(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _num(x, digits=2):
    """``x`` with ``digits`` decimals, more when that would print a non-zero value as 0."""
    x = float(x)
    s = f"{x:.{digits}f}"
    while digits < MAX_DIGITS and x != 0 and float(s) == 0:
        digits += 1
        s = f"{x:.{digits}f}"
    return s


def _pair(a, b, digits=2, scale=1.0, suffix=""):
    """``a`` and ``b`` with the same number of decimals: enough to tell them apart, and to
    print neither a non-zero value as 0 nor (for a percentage) a value below 100% as 100%."""
    a, b = scale * float(a), scale * float(b)

    def misleading(x, s):
        v = float(s.rstrip("%"))
        return (x != 0 and v == 0) or (suffix == "%" and x != 100 and v == 100)

    while True:
        sa, sb = f"{a:.{digits}f}{suffix}", f"{b:.{digits}f}{suffix}"
        if _same(a, b):
            sb = sa
        clear = (sa != sb or _same(a, b)) and not misleading(a, sa) and not misleading(b, sb)
        if clear or digits >= MAX_DIGITS:
            return sa, sb
        digits += 1


def _gpair(a, b, sig=3):
    """``a`` and ``b`` with ``sig`` significant digits, more to tell them apart."""
    if _same(a, b):
        return f"{a:.{sig}g}", f"{a:.{sig}g}"
    while True:
        sa, sb = f"{a:.{sig}g}", f"{b:.{sig}g}"
        if sa != sb or sig >= MAX_DIGITS:
            return sa, sb
        sig += 1


def _pct(x, digits=1):
    """A share as a percentage; more decimals rather than print 0% or 100% for a value that is
    not exactly 0 or 1."""
    x = float(x)
    s = f"{100 * x:.{digits}f}"
    while digits < MAX_DIGITS - 2 and ((x != 0 and float(s) == 0) or (x != 1 and float(s) == 100)):
        digits += 1
        s = f"{100 * x:.{digits}f}"
    return s + "%"


def _frac(f):
    """A fraction of the removal curve's grid (0.05 -> '5%', 0.025 -> '2.5%')."""
    return f"{round(100 * float(f), 6):g}%"


def _points(k):
    return f"{k} point" if k == 1 else f"{k} points"


def _change(before, after, word):
    """What a refit measured, in the past tense: lowered / raised / left unchanged."""
    if not math.isfinite(after):
        return f"left {word} undefined (no value after the refit)"
    if _same(before, after):
        return f"left {word} unchanged at {_num(before)}"
    a, b = _pair(before, after)
    verb = "lowered" if after < before else "raised"
    return f"{verb} {word} from {a} to {b}"


def _accuracy_change(before, after):
    if not math.isfinite(after):
        return "accuracy is undefined after the refit"
    if _same(before, after):
        return f"accuracy stayed at {_pct(before)}"
    a, b = _pair(before, after, digits=1, scale=100.0, suffix="%")
    verb = "fell" if after < before else "rose"
    return f"accuracy {verb} from {a} to {b}"


def _estimate(audit, name):
    """(score name, what a negative score estimates, caveat, short kind) for the audit's method."""
    method = audit.method
    if method == "influence":
        return (
            "influence score",
            f"influence estimates that removing it alone would lower a smooth surrogate of {name}",
            "(a first-order estimate, not checked by refits; the hard metric changes in steps, "
            "so removing one point may leave it unchanged)",
            "a first-order influence estimate",
        )
    if method == "one_step_newton":
        if audit.get("score_expansion") == "exact":
            claim = (
                f"{name} evaluated at a one-step Newton approximation of the refit without it "
                "is lower"
            )
            caveat = "(an approximation of each refit, not an actual refit)"
        else:
            claim = (
                "a one-step Newton estimate says that removing it alone would lower a smooth "
                f"surrogate of {name}"
            )
            caveat = (
                "(an estimate, not checked by refits; the hard metric changes in steps, so "
                "removing one point may leave it unchanged)"
            )
        return "one-step Newton score", claim, caveat, "a one-step Newton estimate"
    if method == "tree_influence":
        return (
            "tree-influence score",
            "a first-order estimate with the trees' splits kept fixed says that removing it "
            f"alone would lower a smooth surrogate of {name}",
            "(not checked by refits; a refit can grow other trees, and the hard metric changes "
            "in steps, so removing one point may leave it unchanged)",
            "a fixed-structure tree-influence estimate",
        )
    if method == "data_oob":
        return (
            "Data-OOB score",
            "the ensemble's members not trained on it give an estimate that removing it alone "
            f"would lower a smooth surrogate of {name}",
            "(an out-of-bag estimate, not checked by refits; often within noise for a "
            "fairness metric, see the notes)",
            "an out-of-bag estimate",
        )
    if method == "loo":
        return (
            "leave-one-out score",
            f"the exact refit without it had a lower {name}",
            "(measured by leave-one-out refits on the training data)",
            "measured by leave-one-out refits",
        )
    return (
        f"{method} score",
        f"the {method} scores estimate that removing it alone would lower {name}",
        "(an estimate, not checked by refits)",
        f"a {method} estimate",
    )


# --------------------------------------------------------------------------------------------
# sections


def _model(audit, name):
    out = [
        f"The model classifies {_pct(audit.accuracy)} of the training points correctly. "
        f"Its {name} is {_num(audit.unfairness)} "
        f"({FAIRNESS_OBJECTIVES[audit.objective][1]})."
    ]
    gaps = []
    rates = FAIRNESS_OBJECTIVES[audit.objective][2]
    for rate in rates:
        vals = [(r[rate], r["group"]) for r in audit.by_group if r[rate] is not None]
        if len(vals) >= 2:
            lo, hi = min(vals), max(vals)
            gaps.append((hi[0] - lo[0], rate, lo, hi))
    if gaps:
        gap, rate, lo, hi = max(gaps)
        shown = " and the ".join(RATE_NAMES[r] for r in rates)
        a, b = _pair(lo[0], hi[0])
        if _same(gap, 0.0):
            out.append(f"The groups have the same {shown}.")
        elif len(gaps) == 1:
            out.append(
                f"The {RATE_NAMES[rate]} ranges from {a} for group {lo[1]} to {b} for group "
                f"{hi[1]}."
            )
        else:
            out.append(
                f"Of the {shown}, the largest gap between the groups is in the "
                f"{RATE_NAMES[rate]}: {a} for group {lo[1]} against {b} for group {hi[1]}."
            )
    return out


def _harmful(audit, name):
    fair = audit.scores[audit.objective]
    loss = audit.scores["log_loss"]
    n = audit.n_samples
    n_harm = int(np.sum(fair < 0))
    both = int(np.sum((fair < 0) & (loss < 0)))
    score, claim, caveat, kind = _estimate(audit, name)
    if n_harm == 0:
        count = f"None of the {n} training points has a negative {score} for {name}"
        first = count + "."
    else:
        verb = "has" if n_harm == 1 else "have"
        count = (
            f"{n_harm} of the {n} training points ({_pct(n_harm / n)}) {verb} a negative "
            f"{score} for {name}"
        )
        if both == 0:
            also = "None of them has a negative score for the log loss."
        else:
            also = (
                f"{both} of them also {'has' if both == 1 else 'have'} a negative score for the "
                "log loss."
            )
        first = f"{count}. For each such point, {claim} {caveat}. {also}"
    shown = len(audit.top_harmful)
    table = f"The table lists the {_points(shown)} with the lowest scores, lowest first"
    if n_harm == 0:
        table += "; none of them has a negative score"
    elif n_harm == 1 and shown > 1:
        table += "; only the first of them has a negative score"
    elif n_harm < shown:
        table += f"; only the first {n_harm} of them have a negative score"
    out = [
        first,
        table + ". Look for what they have in common, such as mislabelled points, a subgroup "
        "the model treats differently, or outliers.",
        "What refits without the lowest-scored points measured (the hard metric, not an "
        "estimate) is under 'What removing points would do'.",
    ]
    if n_harm == 0:
        finding = first
    elif audit.method == "loo":
        finding = f"{count} ({kind})."
    else:
        finding = f"{count}: estimated harmful ({kind}, not checked by refits)."
    return out, finding


def _top_m(audit):
    top_m = audit.get("top_m")
    if top_m is None:
        top_m = audit.top_harmful[: audit.n_points]
    return np.asarray(top_m, dtype=int)


def _divine(audit, name):
    sel = audit.selection
    idx = np.asarray(sel.indices, dtype=int)
    m = len(idx)
    top_m = _top_m(audit)
    fair = audit.scores[audit.objective]
    if audit.gamma_rule == "influence_budget":
        keep = f"{round(100 * (1 - audit.influence_budget), 6):g}%"
        if sel.influence_retained >= 1 - audit.influence_budget - 1e-12:
            rule = (
                f"the largest gamma the sweep found whose selection keeps at least {keep} of the "
                f"estimated harm of the {m} lowest-scored points"
            )
        else:
            rule = (
                f"the sweep's smallest gamma: no selection of the sweep keeps {keep} of the "
                f"estimated harm of the {m} lowest-scored points"
            )
    elif audit.gamma_rule == "pairwise_distance":
        rule = "the gamma of the sweep whose selection has the largest mean pairwise distance"
    else:
        rule = "set by the user"
    not_harmful = int(np.sum(fair[idx] >= 0))
    which = "" if not_harmful else f" with negative scores for {name}"
    out = [
        f"DIVINE picks {_points(m)}{which}, weighing their estimated harm (the scores) against "
        f"their diversity in the model's features (gamma = {sel.gamma:.3g}, {rule})."
    ]
    same = set(idx.tolist()) == set(top_m.tolist())
    n_harm = int(np.sum(fair < 0))
    if m < len(top_m):
        if n_harm == m and not not_harmful:
            finding = (
                f"Only {_points(m)} {'has' if m == 1 else 'have'} a negative score, fewer than "
                f"the {len(top_m)} asked for, so DIVINE picks all of them: there was no choice "
                "for diversity to change."
            )
        else:
            finding = f"DIVINE picks {_points(m)}, fewer than the {len(top_m)} asked for."
        out.append(finding)
    elif same:
        if m == 1:
            finding = "The DIVINE point is the point with the lowest score"
        else:
            finding = f"The {m} DIVINE points are the {m} points with the lowest scores"
        finding += ": at this gamma, diversity did not change the selection."
        dist = (
            f" and the same mean pairwise distance ({sel.mean_pairwise_distance:.3g})"
            if m > 1
            else ""
        )
        out.append(f"{finding} They carry all of the estimated harm of those points{dist}.")
    else:
        outside = m - len(set(idx.tolist()) & set(top_m.tolist()))
        out.append(
            f"{outside} of the {m} DIVINE points {'is' if outside == 1 else 'are'} not among the "
            f"{_points(m)} with the lowest scores. By the scores, the DIVINE points together "
            f"carry {_pct(sel.influence_retained, 0)} of the estimated harm (the summed scores) "
            f"of the {m} lowest-scored points (an estimate, not checked by refits)."
        )
        if m > 1:
            a, b = _gpair(sel.mean_pairwise_distance, audit.top_m_pairwise_distance)
            d, t = sel.mean_pairwise_distance, audit.top_m_pairwise_distance
            if _same(d, t):
                spread = "the same spread"
            elif d > t:
                spread = "the DIVINE points are more spread out"
            else:
                spread = (
                    "the DIVINE points are less spread out by this measure (DIVINE's diversity "
                    "is a kernel's sum-redundancy, not the mean distance)"
                )
            dist = (
                f"Their mean pairwise distance in the model's features is {a}, against {b} for "
                f"the {m} lowest-scored points: {spread}."
            )
            out.append(dist)
            finding = (
                f"{outside} of the {m} DIVINE points {'is' if outside == 1 else 'are'} not among "
                f"the {m} lowest-scored points; the DIVINE points' mean pairwise distance is {a} "
                f"against {b} for the lowest-scored ones."
            )
        else:
            finding = "The DIVINE point is not the lowest-scored point."
    if not_harmful:
        out.append(
            f"{not_harmful} of the {m} DIVINE points {'has' if not_harmful == 1 else 'have'} a "
            "score >= 0 (not estimated harmful): picked for diversity, not for the score. Read "
            "them as context, not as suspects."
        )
    return out, finding, same


def _tradeoff(audit, same):
    sel = audit.selection
    m = len(sel.indices)
    if "tradeoff" not in sel:
        return [
            f"gamma was set by the user ({sel.gamma:.3g}), so no gamma sweep ran and there is no "
            "trade-off curve."
        ]
    budget = f"{round(100 * audit.influence_budget, 6):g}%"
    if audit.gamma_rule == "influence_budget":
        within = sel.influence_retained >= 1 - audit.influence_budget - 1e-12
        why = (
            f"the largest gamma within the {budget} influence budget"
            if within
            else "no gamma of the sweep is within the budget"
        )
        marker = (
            f"the orange one the selection this report uses ({why}), the gold one the sweep's "
            "largest mean pairwise distance"
        )
    else:
        marker = (
            "the gold one the selection this report uses (the sweep's largest mean pairwise "
            f"distance), the orange one, if drawn, the sweep's largest gamma within a {budget} "
            "influence budget"
        )
    out = [
        "Each point of the curve is the selection for one value of gamma: the diversity it "
        f"gains over the {m} lowest-scored points (x) against the share of their estimated harm "
        f"(the summed scores) it keeps (y). The red diamond is gamma = 0 (the {m} lowest-scored "
        f"points), {marker}."
    ]
    if same:
        out.append(
            "The report's selection is the same set as the red diamond's, so their markers sit "
            "at the same place."
        )
    return out


def _map(audit):
    d = audit.n_model_features
    explained = audit.map_explained_variance
    if explained:
        where = (
            "The training data in two dimensions: the first two principal components of the "
            f"model's {d} numeric features ({_pct(sum(explained), 0)} of their variance)."
        )
    elif d == 1:
        where = "The training data along the model's one numeric feature (the vertical axis is 0)."
    else:
        where = "The training data on the model's two numeric features."
    idx = np.asarray(audit.selection.indices, dtype=int)
    circled = len(set(idx.tolist()) & set(np.asarray(audit.top_harmful).tolist()))
    m = len(idx)
    return [
        f"{where} Red circles mark the {_points(len(audit.top_harmful))} with the lowest scores, "
        f"black diamonds the {m} DIVINE points; {circled} of the {m} diamonds "
        f"{'is' if circled == 1 else 'are'} also circled. Points with low scores in one cluster "
        "may share one cause."
    ]


def _removal(audit, name):
    c = audit.curve
    n = audit.n_samples
    fr = np.asarray(c.fractions, dtype=float)
    acc0, unf0 = float(c.baseline_accuracy), float(c.baseline_unfairness)
    inf_unf = np.asarray(c.unfairness["influence"], dtype=float)
    inf_acc = np.asarray(c.accuracy["influence"], dtype=float)
    k0 = int(round(fr[0] * n))
    out = [
        f"Refitting without the {_frac(fr[0])} of the points with the lowest scores "
        f"({_points(k0)}) {_change(unf0, inf_unf[0], name)} on the training data; "
        f"{_accuracy_change(acc0, inf_acc[0])}."
    ]
    span = _frac(fr[0]) if len(fr) == 1 else f"{_frac(fr[0])} to {_frac(fr[-1])}"
    line = "the curve's influence line"
    if np.isfinite(inf_unf).any():
        k = int(np.nanargmin(inf_unf))
        best = float(inf_unf[k])
        kk = int(round(fr[k] * n))
        if _same(best, unf0):
            out.append(
                f"No fraction on {line} ({span}) lowered {name} below the original "
                f"{_num(unf0)}: the best refits left it unchanged."
            )
        elif best > unf0:
            a, b = _pair(unf0, best)
            out.append(
                f"No fraction on {line} ({span}) improved on the original {name} of {a}: every "
                f"refit raised it, the least to {b} after removing {_frac(fr[k])} "
                f"({_points(kk)})."
            )
        elif k != 0:
            a, b = _pair(unf0, best)
            out.append(
                f"The lowest {name} on {line}, {b} against {a} for the original model, was "
                f"measured after removing {_frac(fr[k])} ({_points(kk)}); there, "
                f"{_accuracy_change(acc0, inf_acc[k])}."
            )
        elif len(fr) > 1:
            out.append(
                f"No larger fraction on {line} (up to {_frac(fr[-1])}) gave a lower {name}."
            )
    if "random" in c.unfairness:
        rnd = float(c.unfairness["random"][0])
        inf = float(inf_unf[0])
        sentence = (
            f"For comparison, refitting without a random {_frac(fr[0])} of the points "
            f"({_points(k0)}, one seeded draw) {_change(unf0, rnd, name)}"
        )
        if math.isfinite(rnd) and math.isfinite(inf):
            a, b = _pair(inf, rnd)
            if _same(inf, rnd):
                sentence += f": the same {name} as removing the lowest-scored points"
            elif inf < rnd:
                sentence += (
                    f": removing the lowest-scored points gave the lower {name} ({a} against {b})"
                )
            else:
                sentence += (
                    f": this random draw gave the lower {name} ({b} against {a} for the points "
                    "with the lowest scores)"
                )
        out.append(sentence + ".")
    hf = float(c.harmful_fraction)
    if hf <= fr[-1]:
        k = int(np.argmin(np.abs(fr - hf)))
        out.append(
            f"{_pct(hf)} of the points have a negative score (the black diamond on the "
            f"influence line, at {_frac(fr[k])}); beyond that fraction the influence ranking "
            "also removes points whose score is not negative."
        )
    else:
        out.append(
            f"{_pct(hf)} of the points have a negative score: the curve stops at "
            f"{_frac(fr[-1])}, before they run out, so every point it removes by the influence "
            "ranking has a negative score."
        )
    effects = list(audit.effects.values())
    if len(effects) >= 3:
        (acc_o, unf_o, _), (acc_t, unf_t, k_t), (acc_d, unf_d, k_d) = effects[:3]
        idx = set(np.asarray(audit.selection.indices, dtype=int).tolist())
        same = " (the same points)" if idx == set(_top_m(audit).tolist()) else ""
        lowest = f"the {_points(k_t)} with the lowest scores"
        divine = f"the {k_d} DIVINE point{'' if k_d == 1 else 's'}{same}"
        for what, acc, unf in ((lowest, acc_t, unf_t), (divine, acc_d, unf_d)):
            if np.isnan(unf):
                out.append(
                    f"Refitting without {what} was not possible: the remaining training points "
                    "hold a single class."
                )
            else:
                out.append(
                    f"Refitting without {what} {_change(unf_o, unf, name)} on the training "
                    f"data; {_accuracy_change(acc_o, acc)}."
                )
    out.append(
        "These numbers are measured on the training data after actual refits (the hard metric, "
        "not an estimate). Check them on held-out data before removing anything, and look at "
        "why the points score as harmful: removing data is a diagnosis, not automatically a fix."
    )
    return out


def readings(audit):
    """Plain-language sentences for each section of the report (a dict of lists of str).

    Keys: ``findings`` (the summary at the top of the report), ``model``, ``harmful``,
    ``divine``, ``tradeoff``, ``map`` and ``removal``. The sentences contain user strings (group
    names): escape them before putting them in HTML.
    """
    name = _objective_name(audit.objective)
    out = {"model": _model(audit, name)}
    out["harmful"], harmful_finding = _harmful(audit, name)
    out["divine"], divine_finding, same = _divine(audit, name)
    out["tradeoff"] = _tradeoff(audit, same)
    out["map"] = _map(audit)
    out["removal"] = _removal(audit, name)
    out["findings"] = [out["model"][0], harmful_finding, out["removal"][0], divine_finding]
    return out

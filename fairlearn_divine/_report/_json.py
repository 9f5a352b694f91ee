"""The audit's results as a JSON-serialisable summary."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["audit_to_json"]


def _py(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _point(audit, i, rank):
    X = audit.X
    i = int(i)
    features = (
        {str(k): _py(v) for k, v in X.iloc[i].items()}
        if hasattr(X, "iloc")
        else {f"x{k}": _py(v) for k, v in enumerate(np.asarray(X)[i])}
    )
    return {
        "rank": rank,
        "index": i,
        "row": _py(X.index[i]) if hasattr(X, "index") else i,
        "scores": {k: _py(float(v[i])) for k, v in audit.scores.items()},
        "label": _py(audit.y_display[i]),
        "group": _py(audit.groups[i]),
        "features": features,
    }


def _summary(scores):
    s = scores[np.isfinite(scores)]
    q = np.quantile(s, [0.01, 0.25, 0.5, 0.75, 0.99]) if len(s) else [np.nan] * 5
    return {
        "n": int(len(scores)),
        "n_harmful": int(np.sum(s < 0)),
        "min": _py(float(s.min())) if len(s) else None,
        "max": _py(float(s.max())) if len(s) else None,
        "mean": _py(float(s.mean())) if len(s) else None,
        "quantiles": {
            k: _py(float(v)) for k, v in zip(("1%", "25%", "50%", "75%", "99%"), q, strict=True)
        },
    }


def audit_to_json(audit, *, all_scores=False):
    """The audit's results as a JSON-serialisable dict.

    With ``all_scores=True`` it also holds every training point's scores under
    ``"all_scores"``: ``rows`` (the row labels of X, e.g. CSV line order or the DataFrame's
    index) and one list of scores per objective, in row order (``null`` for a missing score).
    """
    sel = audit.selection
    c = audit.curve
    out = _results(audit, sel, c)
    if all_scores:
        X = audit.X
        rows = list(X.index) if hasattr(X, "index") else list(range(audit.n_samples))
        out["all_scores"] = {
            "rows": [_py(r) for r in rows],
            **{k: [_py(float(v)) for v in s] for k, s in audit.scores.items()},
        }
    return out


def _results(audit, sel, c):
    return {
        "version": audit.version,
        "info": {k: _py(v) for k, v in audit.info.items()},
        "objective": audit.objective,
        "method": audit.method,
        "loss_method": audit.get("loss_method", audit.method),
        "n_samples": audit.n_samples,
        "positive_label": _py(audit.display_positive),
        "sign_convention": "scores[i] = f(model without i) - f(model); negative = harmful",
        "metrics": {
            "accuracy": audit.accuracy,
            "log_loss": audit.log_loss,
            audit.objective: audit.unfairness,
            "by_group": audit.by_group,
            "overall": audit.overall,
            "difference": audit.difference,
        },
        "scores": {k: _summary(v) for k, v in audit.scores.items()},
        "most_harmful": {
            audit.objective: [_point(audit, i, r + 1) for r, i in enumerate(audit.top_harmful)],
            "log_loss": [_point(audit, i, r + 1) for r, i in enumerate(audit.top_harmful_loss)],
        },
        "divine": {
            "points": [_point(audit, i, r + 1) for r, i in enumerate(sel.indices)],
            "gamma": _py(float(sel.gamma)),
            "influence_retained": _py(float(sel.influence_retained)),
            "mean_pairwise_distance": _py(float(sel.mean_pairwise_distance)),
            "top_mean_pairwise_distance": audit.top_m_pairwise_distance,
        },
        "removal": {
            "effects": [
                {"model": label, "n_removed": k, "accuracy": _py(acc), audit.objective: _py(unf)}
                for label, (acc, unf, k) in audit.effects.items()
            ],
            "curve": {
                "fractions": [float(f) for f in c.fractions],
                "accuracy": {s: [float(v) for v in a] for s, a in c.accuracy.items()},
                "unfairness": {s: [float(v) for v in a] for s, a in c.unfairness.items()},
                "baseline_accuracy": float(c.baseline_accuracy),
                "baseline_unfairness": float(c.baseline_unfairness),
                "harmful_fraction": float(c.harmful_fraction),
            },
        },
        "notes": list(audit.notes),
    }

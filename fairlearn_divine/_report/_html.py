"""The audit as one self-contained HTML page: escaping, Content-Security-Policy, layout."""

from __future__ import annotations

import html
import math

import numpy as np

from .._objectives import FAIRNESS_OBJECTIVES
from ._figures import _figures
from ._readings import _objective_name, readings

__all__ = ["render_html"]

MAX_TABLE_FEATURES = 30


def _e(value):
    return html.escape(str(value), quote=True)


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "–"
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0;color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff}
h1{font-size:1.7rem;margin:.2rem 0 .4rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #e4e4e7;padding-bottom:.2rem}
.meta{color:#555;font-size:.92rem}.meta dt{font-weight:600;float:left;clear:left;width:11rem}
.meta dd{margin:0 0 .15rem 11.5rem}
nav ol{columns:2;font-size:.92rem}
.reading{background:#f3f6fb;border-left:4px solid #3b6fb6;padding:.6rem 1rem;margin:.8rem 0}
.reading p{margin:.3rem 0}
.findings li{margin:.25rem 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.86rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f0f0f3}td.text,th.text{text-align:left}
tr.summary td{background:#fafafa;font-weight:600}
td.neg{color:#b00020}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.86rem;color:#555}
.note{font-size:.85rem;color:#555}
code{background:#f0f0f3;padding:0 .2rem;border-radius:3px}
"""


def _table(headers, rows, *, text_cols=(), summary_rows=(), classes=None):
    head = "".join(
        f'<th class="text">{_e(h)}</th>' if k in text_cols else f"<th>{_e(h)}</th>"
        for k, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cls = ' class="summary"' if r in summary_rows else ""
        cells = []
        for k, cell in enumerate(row):
            klass = []
            if k in text_cols:
                klass.append("text")
            if classes and classes.get((r, k)):
                klass.append(classes[(r, k)])
            attr = f' class="{" ".join(klass)}"' if klass else ""
            cells.append(f"<td{attr}>{_e(_fmt(cell))}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _reading(sentences):
    return '<div class="reading">' + "".join(f"<p>{_e(s)}</p>" for s in sentences) + "</div>"


_NO_MATPLOTLIB = (
    '<p class="note">Figure not drawn: it needs matplotlib '
    "(<code>pip install 'fairlearn-divine[plots]'</code>).</p>"
)


def _figure(png, alt, caption, missing=_NO_MATPLOTLIB):
    if png is None:
        return missing
    return (
        f'<figure><img src="data:image/png;base64,{png}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _points_table(audit, indices):
    X = audit.X
    objective = audit.objective
    feats = list(X.columns)[:MAX_TABLE_FEATURES] if hasattr(X, "columns") else []
    headers = ["rank", "row", f"score ({objective})", "score (log loss)", "label", "group"]
    headers += [str(f) for f in feats]
    rows, classes = [], {}
    fair, loss = audit.scores[objective], audit.scores["log_loss"]
    for r, i in enumerate(indices):
        i = int(i)
        row_label = X.index[i] if hasattr(X, "index") else i
        values = [X.iloc[i][f] for f in feats]
        rows.append(
            [r + 1, row_label, float(fair[i]), float(loss[i]), audit.y_display[i], audit.groups[i]]
            + values
        )
        for k, s in ((2, fair[i]), (3, loss[i])):
            if s < 0:
                classes[(r, k)] = "neg"
    text_cols = {4, 5} | {6 + k for k, f in enumerate(feats) if not _is_numeric(X[f])}
    table = _table(headers, rows, text_cols=text_cols, classes=classes)
    if hasattr(X, "columns") and X.shape[1] > MAX_TABLE_FEATURES:
        table += (
            f'<p class="note">First {MAX_TABLE_FEATURES} of {X.shape[1]} features shown; the '
            "JSON output has them all.</p>"
        )
    return table


def _methods_line(audit):
    loss_method = audit.get("loss_method", audit.method)
    if loss_method == audit.method:
        return f"{audit.method} (training_point_importance)"
    return (
        f"{audit.method} for {audit.objective}, {loss_method} for the log loss "
        "(training_point_importance)"
    )


def _loss_method_note(audit):
    loss_method = audit.get("loss_method", audit.method)
    if loss_method == audit.method:
        return ""
    return (
        f"; the log-loss scores by {_SCORE_METHODS.get(loss_method, loss_method)}, because "
        "the training log loss is stationary at the fit, so its first-order change is "
        "degenerate"
    )


def _score_note(audit):
    if audit.method == "loo":
        return "f(model without the point) − f(model), measured by an exact refit."
    if audit.method == "one_step_newton" and audit.get("score_expansion") == "exact":
        how = "one-step Newton (f evaluated at an approximation of the refit)"
    elif audit.method in ("influence", "one_step_newton", "tree_influence", "data_oob"):
        how = _SCORE_METHODS[audit.method].split(":")[0]
        how += " (for the fairness objective, of its smooth surrogate)"
    else:
        how = str(audit.method)
    return f"an estimate of f(model without the point) − f(model) by {how}, not a refit."


def _is_numeric(series):
    from pandas.api.types import is_numeric_dtype

    return is_numeric_dtype(series)


def _findings(audit, read):
    return read["findings"]


_SCORE_METHODS = {
    "influence": "influence functions: a first-order estimate of exact leave-one-out",
    "one_step_newton": "one-step Newton: an approximation of each exact leave-one-out refit",
    "loo": "exact leave-one-out refits",
    "tree_influence": "fixed-structure tree influence: a first-order estimate of exact "
    "leave-one-out that keeps the trees' splits",
    "data_oob": "Data-OOB: an out-of-bag estimate from the ensemble's members",
}


def render_html(audit, *, figures=True):
    """The audit as one self-contained HTML page (str)."""
    info = audit.info
    name = _objective_name(audit.objective)
    read = readings(audit)
    figs = _figures(audit) if figures else None
    if not figures:
        missing = '<p class="note">Figure not drawn: the report was rendered without figures.</p>'
    else:
        missing = _NO_MATPLOTLIB
    tradeoff_missing = missing
    if figs is not None and "tradeoff" not in audit.selection:
        tradeoff_missing = (
            '<p class="note">Figure not drawn: gamma was set by the user, so no gamma sweep ran.'
            "</p>"
        )
    figs = figs or {}
    title = f"fairlearn-divine audit: {info.get('data', 'training data')}"

    meta_items = [
        ("Data", info.get("data", "")),
        ("Source", info.get("source", "")),
        ("Training points", f"{audit.n_samples}"),
        ("Target", f"{info.get('target', 'y')} (positive class: {audit.display_positive})"),
        ("Sensitive feature(s)", info.get("sensitive", "")),
        ("Model", info.get("model", "")),
        ("Fairness objective", f"{name}: {FAIRNESS_OBJECTIVES[audit.objective][1]}"),
        ("Scoring method", _methods_line(audit)),
        ("fairlearn-divine", audit.version),
    ]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta_items if v != "")

    # model table
    headers = ["group", "count", "accuracy", "selection rate", "TPR", "TNR"]
    keys = headers[1:]
    rows = [[r["group"]] + [r[k] for k in keys] for r in audit.by_group]
    rows.append(["overall"] + [audit.overall[k] for k in keys])
    rows.append(["difference (max − min)", None] + [audit.difference[k] for k in keys[1:]])
    summary = {len(rows) - 2, len(rows) - 1}
    model_table = _table(headers, rows, text_cols={0}, summary_rows=summary)
    hard = (
        f"<p><strong>{_e(name)}</strong> (hard metric, as fairlearn computes it): "
        f"<strong>{audit.unfairness:.4f}</strong>; log loss {audit.log_loss:.4f}; "
        f"accuracy {audit.accuracy:.4f}.</p>"
    )

    # removal effects
    eff_rows = [[label, k, acc, unf] for label, (acc, unf, k) in audit.effects.items()]
    eff_table = _table(
        ["model retrained", "points removed", "accuracy", name], eff_rows, text_cols={0}
    )
    c = audit.curve
    curve_headers = ["fraction removed"] + [
        f"{s}: {m}" for s in c.accuracy for m in ("accuracy", name)
    ]
    curve_rows = [
        [f"{f:.0%}"] + [v for s in c.accuracy for v in (c.accuracy[s][k], c.unfairness[s][k])]
        for k, f in enumerate(c.fractions)
    ]
    curve_table = _table(curve_headers, curve_rows, text_cols={0})

    notes = "".join(f"<li>{_e(n)}</li>" for n in audit.notes)
    sections = [
        (
            "findings",
            "Key findings",
            '<ul class="findings">'
            + "".join(f"<li>{_e(s)}</li>" for s in _findings(audit, read))
            + "</ul>",
        ),
        (
            "model",
            "Accuracy and fairness by group",
            _reading(read["model"])
            + model_table
            + hard
            + '<p class="note">fairlearn MetricFrame on the training data; TPR = true positive '
            "rate (recall of the positive class), TNR = true negative rate, selection rate = "
            "share predicted positive.</p>",
        ),
        (
            "harmful",
            f"Most harmful training points for {name}",
            _reading(read["harmful"])
            + _points_table(audit, audit.top_harmful)
            + f'<p class="note">score: {_e(_score_note(audit))} Negative (red) means removing '
            "the point is estimated to lower f, i.e. the point is estimated harmful. "
            "row = the input's row label (for a CSV: the data row, 0-based, header "
            "excluded).</p>",
        ),
        (
            "divine",
            "DIVINE points: diverse and harmful",
            _reading(read["divine"]) + _points_table(audit, audit.selection.indices),
        ),
        (
            "tradeoff",
            "Influence–diversity trade-off",
            _reading(read["tradeoff"])
            + _figure(
                figs.get("tradeoff"),
                "Trade-off curve of the DIVINE gamma sweep",
                "Fraction of the top-m points' estimated harm kept against the diversity "
                "gained, one point per gamma.",
                tradeoff_missing,
            ),
        ),
        (
            "map",
            "Map of the training data",
            _reading(read["map"])
            + _figure(
                figs.get("map"),
                "2-D map of the training data with the selected points highlighted",
                "Colour: sensitive group; circle: positive target, triangle: negative target.",
                missing,
            ),
        ),
        (
            "removal",
            "What removing points would do",
            _reading(read["removal"])
            + eff_table
            + _figure(
                figs.get("removal"),
                "Removal curve: accuracy and unfairness against the fraction removed",
                "Top: accuracy; bottom: the hard fairness metric, after refitting without the "
                "first points of each ordering (grey: original model).",
                missing,
            )
            + curve_table,
        ),
        (
            "notes",
            "Method and notes",
            f"<p>Importance scores {'are' if audit.method == 'loo' else 'estimate'} "
            "<code>scores[i] = f(model without i) − f(model)</code> "
            f"({_e(_SCORE_METHODS.get(audit.method, audit.method))}"
            + _e(_loss_method_note(audit))
            + "). The gradient of the "
            "fairness metric uses a smooth surrogate (soft group rates). Every accuracy and "
            "fairness-metric value in the tables and figures is the hard metric of a fitted "
            "model: the original one or an actual refit. DIVINE (Bhatt et al.) picks "
            "points greedily for estimated harm + gamma × diversity (sum-redundancy over an "
            "RBF kernel).</p>" + (f"<ul>{notes}</ul>" if notes else ""),
        ),
    ]
    nav = (
        "<nav><ol>"
        + "".join(f'<li><a href="#{sid}">{_e(h)}</a></li>' for sid, h, _ in sections)
        + "</ol></nav>"
    )
    body = "".join(
        f'<section id="{sid}"><h2>{_e(h)}</h2>{content}</section>' for sid, h, content in sections
    )
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><header><h1>Training-data audit</h1>"
        f'<dl class="meta">{meta}</dl></header>{nav}{body}'
        f'<footer class="note"><p>Generated by fairlearn-divine {_e(audit.version)}. '
        "This file is self-contained: it loads nothing from the network.</p></footer>"
        "</main></body></html>\n"
    )

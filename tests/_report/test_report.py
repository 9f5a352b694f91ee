import base64
import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate
from sklearn.linear_model import LogisticRegression

from fairlearn_divine._cli import main
from fairlearn_divine._report import audit_to_json, readings, render_html, run_audit
from fairlearn_divine.datasets import make_divine_synthetic

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "x' onmouseover='alert(1)",
    "--><svg onload=alert(2)>",
    "$\\frac{a}{0}$ & </td>",
]
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "dl", "dt",
    "dd", "nav", "ol", "ul", "li", "a", "section", "div", "p", "strong", "code", "table",
    "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption", "footer",
}  # fmt: skip


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)


def _parse(page):
    parser = _Collector()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def audit():
    data = make_divine_synthetic(n_samples=400, n_outliers=10, random_state=0)
    X = pd.DataFrame(data.X, columns=data.feature_names)
    sf = pd.Series(data.sensitive_features, name="A")
    model = LogisticRegression(tol=1e-8, max_iter=2000).fit(X, data.y)
    return run_audit(
        model,
        X,
        data.y,
        sf,
        n_points=4,
        top=6,
        max_fraction=0.15,
        info={"data": "synthetic", "model": "LogisticRegression", "target": "y"},
    )


@pytest.fixture(scope="module")
def page(audit):
    return render_html(audit)


def test_sections_and_embedded_figures(page):
    for section in ("findings", "model", "harmful", "divine", "tradeoff", "map", "removal"):
        assert f'<section id="{section}">' in page
        assert f'href="#{section}"' in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    for data in images:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_self_contained_no_external_requests(page):
    parsed = _parse(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags
    for tag, name, value in parsed.attrs:
        if name in ("src", "href"):
            assert value.startswith(("data:image/png;base64,", "#")), (tag, name, value[:40])
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page)
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    csp = [v for tag, k, v in parsed.attrs if tag == "meta" and k == "content" and "src" in v]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]


def test_tables_match_metricframe_and_scores(audit, page):
    y = audit.y
    model_pred = (audit.by_group, audit.overall)
    assert [r["group"] for r in model_pred[0]] == ["0", "1"]
    assert sum(r["count"] for r in audit.by_group) == len(y)
    # the hard metric of the report is fairlearn's
    data = make_divine_synthetic(n_samples=400, n_outliers=10, random_state=0)
    pred = LogisticRegression(tol=1e-8, max_iter=2000).fit(data.X, data.y).predict(data.X)
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "sr": selection_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=data.sensitive_features,
    )
    tnr = MetricFrame(
        metrics=lambda t, p: np.mean(p[t == 0] == 0),
        y_true=y,
        y_pred=pred,
        sensitive_features=data.sensitive_features,
    )
    assert audit.unfairness == pytest.approx(mf.difference()["tpr"] + tnr.difference())
    assert audit.difference["selection rate"] == pytest.approx(mf.difference()["sr"])
    assert f"{audit.unfairness:.4f}" in page
    # the most harmful table lists the most negative scores first
    fair = audit.scores["equal_accuracy"]
    np.testing.assert_array_equal(audit.top_harmful, np.argsort(fair, kind="stable")[:6])
    assert f"{fair[audit.top_harmful[0]]:.3g}" in page


def test_removal_effects_are_refits(audit):
    data = make_divine_synthetic(n_samples=400, n_outliers=10, random_state=0)
    keep = np.ones(len(data.y), dtype=bool)
    keep[audit.top_harmful[:4]] = False
    refit = LogisticRegression(tol=1e-8, max_iter=2000).fit(data.X[keep], data.y[keep])
    acc, unf, k = audit.effects["without the 4 most harmful points"]
    assert k == 4
    assert acc == pytest.approx(refit.score(data.X, data.y))
    pred = refit.predict(data.X)
    sf = data.sensitive_features
    gaps = [
        abs(
            np.mean(pred[(sf == 0) & (data.y == j)] == j)
            - np.mean(pred[(sf == 1) & (data.y == j)] == j)
        )
        for j in (0, 1)
    ]
    assert unf == pytest.approx(sum(gaps))


def test_readings_are_plain_sentences(audit, page):
    read = readings(audit)
    c = audit.curve
    removal = read["removal"][0]
    assert removal.startswith("Refitting without the 5% of the points with the lowest scores ")
    assert re.search(
        rf"(lowered|raised) equal accuracy from {c.baseline_unfairness:.2f}\d* to \d|"
        rf"left equal accuracy unchanged at {c.baseline_unfairness:.2f}",
        removal,
    )
    assert "on the training data" in removal and "accuracy" in removal
    assert read["model"][0].startswith("The model classifies ")
    assert "DIVINE picks 4 points" in read["divine"][0]
    for sentences in read.values():
        for sentence in sentences:
            assert html.escape(sentence) in page


def test_json_summary(audit):
    result = json.loads(json.dumps(audit_to_json(audit)))
    assert result["objective"] == "equal_accuracy"
    assert result["metrics"]["equal_accuracy"] == pytest.approx(audit.unfairness)
    assert len(result["most_harmful"]["equal_accuracy"]) == 6
    assert len(result["most_harmful"]["log_loss"]) == 6
    assert len(result["divine"]["points"]) == 4
    assert result["scores"]["equal_accuracy"]["n_harmful"] == int(
        np.sum(audit.scores["equal_accuracy"] < 0)
    )
    assert result["removal"]["curve"]["fractions"] == pytest.approx([0.05, 0.1, 0.15])


def test_without_figures_the_report_says_so(audit):
    page = render_html(audit, figures=False)
    assert "<img" not in page
    assert page.count("Figure not drawn") == 3


def _hostile_csv(path, n=160, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            HOSTILE[0]: rng.normal(size=n),
            HOSTILE[1]: rng.choice(["<b>bold</b>", "a&b", "<svg onload=alert(3)>"], n),
            HOSTILE[2]: rng.choice(["<script>g1</script>", "g2"], n),
        }
    )
    logit = df[HOSTILE[0]] + 0.7 * (df[HOSTILE[2]] == "g2") + rng.normal(size=n)
    df[HOSTILE[4]] = np.where(logit > 0, "<i>yes</i>", "no\"'")
    df.to_csv(path, index=False)


def test_hostile_column_names_and_values_are_escaped(capsys, tmp_path):
    csv = tmp_path / "<img src=x onerror=alert(9)>.csv"
    _hostile_csv(csv)
    out = tmp_path / "report.html"
    code = main(
        [
            "audit",
            "--data",
            str(csv),
            "--target",
            HOSTILE[4],
            "--sensitive",
            HOSTILE[2],
            "--max-fraction",
            "0.1",
            "--top",
            "4",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    parsed = _parse(page)
    assert set(parsed.tags) <= ALLOWED_TAGS
    assert "script" not in parsed.tags and "svg" not in parsed.tags and "b" not in parsed.tags
    assert parsed.tags.count("img") == 3
    for tag, name, value in parsed.attrs:
        assert not name.startswith("on"), (tag, name)
        if name == "src":
            assert value.startswith("data:image/png;base64,")
    # the strings are there, escaped
    for text in (HOSTILE[0], HOSTILE[1], HOSTILE[2], "<script>g1</script>", "<svg onload"):
        assert html.escape(text) in page
    assert html.escape(csv.name) in page
    for raw in ("<script", "<svg", "<b>", "<i>", "<img src=x"):
        assert raw not in page

"""The audit report in a real headless browser (Debian's chromium; .ci/run installs it).

The report is rendered to a screenshot and to its DOM, with the browser's console captured:
the figures must be in the rendered DOM, the page must not log anything (no script error, no
Content-Security-Policy violation, which is what any attempt to load an external resource or
run a script from the data would give), and the screenshot must not be blank.
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_report import HOSTILE, _hostile_csv

from fairlearn_divine._cli import main

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _browse(chromium, tmp_path, url, *extra):
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def _console(stderr):
    """Messages the page logged (chromium prints them as '...:CONSOLE(...)] "text", source')."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_console_capture_works(chromium, tmp_path):
    # a page with a script error: the capture used below must see it
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefined_fn()</script></body></html>")
    _, err = _browse(chromium, tmp_path, page.as_uri(), "--dump-dom")
    assert any("Uncaught" in line for line in _console(err)), err[-2000:]


def _report(tmp_path, kind):
    out = tmp_path / "report.html"
    args = ["audit", "--quiet", "--output", str(out), "--max-fraction", "0.1", "--top", "5"]
    if kind == "synthetic":
        args += ["--n-samples", "400"]
    else:
        csv = tmp_path / "hostile.csv"
        _hostile_csv(csv)
        args += ["--data", str(csv), "--target", HOSTILE[4], "--sensitive", HOSTILE[2]]
    assert main(args) == 0
    return out


@pytest.mark.parametrize("kind", ["synthetic", "hostile_csv"])
def test_report_renders_in_chromium(chromium, tmp_path, kind, capsys):
    report = _report(tmp_path, kind)
    capsys.readouterr()

    dom, err = _browse(chromium, tmp_path, report.as_uri(), "--dump-dom")
    assert _console(err) == [], _console(err)
    assert dom.count('<img src="data:image/png;base64,') == 3
    assert len(re.findall(r"<(img|svg)\b", dom)) == 3
    assert "<script" not in dom
    for section in ("findings", "model", "harmful", "divine", "tradeoff", "map", "removal"):
        assert f'<section id="{section}">' in dom
    if kind == "hostile_csv":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom

    shot = tmp_path / "report.png"
    _, err = _browse(
        chromium,
        tmp_path,
        report.as_uri(),
        f"--screenshot={shot}",
        "--window-size=1200,3000",
        "--hide-scrollbars",
    )
    assert _console(err) == [], _console(err)
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(shot) as im:
        assert im.size == (1200, 3000)
        pixels = np.asarray(im.convert("L"), dtype=float)
    # text, tables and figures: a good share of the page is not background
    assert (pixels < 200).mean() > 0.01
    # the figures (from ~1/3 of the page down in this layout) are drawn, not blank boxes
    assert pixels[1000:].std() > 20

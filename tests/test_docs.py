"""The Sphinx documentation builds without warnings and documents every public name.

Runs ``python -m sphinx -W --keep-going -q -j 1 -b html docs <tmp>`` in a subprocess (about 30 s,
bounded at 180 s). Skipped when Sphinx or myst-parser is not installed, except in CI (``CI=true``),
where both come with the ``test`` extra and a missing one is a failure.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fairlearn_divine
import fairlearn_divine.datasets
import fairlearn_divine.plotting

DOCS = Path(__file__).resolve().parent.parent / "docs"
BUILD_TIMEOUT = 180  # seconds (the build runs examples/adult_audit_workflow.py)


def _public_names():
    """(module name, public name) for every entry of the three ``__all__`` lists."""
    modules = [fairlearn_divine, fairlearn_divine.datasets, fairlearn_divine.plotting]
    return [(module.__name__, name) for module in modules for name in module.__all__]


def _require_sphinx():
    missing = [
        dist
        for dist, module in (("sphinx", "sphinx"), ("myst-parser", "myst_parser"))
        if importlib.util.find_spec(module) is None
    ]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (pip install '.[docs]')"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI installs it with the 'test' extra")
    pytest.skip(message)


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory):
    _require_sphinx()
    out = tmp_path_factory.mktemp("docs_html")
    doctrees = tmp_path_factory.mktemp("docs_doctrees")
    command = [
        sys.executable, "-m", "sphinx",
        "-W", "--keep-going", "-q", "-E", "-j", "1",
        "-b", "html", "-d", str(doctrees),
        str(DOCS), str(out),
    ]  # fmt: skip
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=DOCS.parent
    )
    assert proc.returncode == 0, (
        f"sphinx build failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return out


def test_build_writes_pages(html_dir):
    for page in ("index.html", "api.html", "user_guide.html", "importance.html"):
        assert (html_dir / page).is_file(), page


def test_api_page_documents_every_public_name(html_dir):
    api = (html_dir / "api.html").read_text(encoding="utf-8")
    for module, name in _public_names():
        # each name has its own documented entry (an anchor with its full dotted name)
        assert f'id="{module}.{name}"' in api, f"{module}.{name} is not documented in api.rst"


def test_user_guide_links_every_public_name_to_the_api_page(html_dir):
    guide = (html_dir / "user_guide.html").read_text(encoding="utf-8")
    for module, name in _public_names():
        if name == "__version__":
            continue
        assert f'href="api.html#{module}.{name}"' in guide, f"user guide does not link {name}"

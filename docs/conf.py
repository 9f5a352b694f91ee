"""Sphinx configuration for the fairlearn-divine documentation.

Build (no network needed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The existing pages are Markdown (MyST); the root document is ``index.md``, the API reference is
``api.rst``. Nothing in this configuration fetches anything: intersphinx is not enabled, and
MathJax is only *referenced* by the built HTML (it is loaded by the reader's browser from
Sphinx's default CDN address, or from a local copy given by ``FAIRLEARN_DIVINE_MATHJAX_PATH``).
"""

import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Document the working tree even when the package is not installed (or installed elsewhere).
sys.path.insert(0, str(ROOT))

import fairlearn_divine  # noqa: E402

project = "fairlearn-divine"
author = "fairlearn-divine developers"
copyright = "fairlearn-divine developers"  # noqa: A001
release = fairlearn_divine.__version__
version = ".".join(release.split(".")[:2])

root_doc = "index"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []

# -- MyST (Markdown pages) --------------------------------------------------------------------
# dollarmath: $...$ and $$...$$ as in the existing pages; heading anchors for #section links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / autosummary / napoleon (numpydoc-style docstrings) -----------------------------
autosummary_generate = False  # api.rst documents every object on the page itself
autodoc_default_options = {}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures come from the code, types from the numpydoc text
autodoc_inherit_docstrings = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_param = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" sections as field lists: no duplicate object entries
napoleon_preprocess_types = False
# Result objects (dicts with attribute access) list their entries under "Keys".
napoleon_custom_sections = [("Keys", "params_style")]

# -- math -------------------------------------------------------------------------------------
# sphinx.ext.mathjax only writes a <script src=...> tag; the build itself never touches the
# network. Point it at a local MathJax 3 (e.g. Debian's libjs-mathjax or a vendored copy) for
# fully offline reading.
_local_mathjax = os.environ.get("FAIRLEARN_DIVINE_MATHJAX_PATH")
if _local_mathjax:
    mathjax_path = _local_mathjax

# -- cross references --------------------------------------------------------------------------
nitpicky = False
# No intersphinx (it downloads inventories); references to numpy/sklearn types stay plain text.
suppress_warnings = []

# -- HTML -------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"fairlearn-divine {release}"
html_static_path = []
html_theme_options = {
    "description": "Which training points drive a classifier's loss or unfairness",
}

# shap and matplotlib emit deprecation warnings at import time (DivineExplainer imports shap);
# they are not documentation problems.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

# -- examples run in the build ----------------------------------------------------------------
# examples/adult_audit_workflow.py runs at every build (a few seconds); its output is included
# by adult_workflow.md. It needs the real Adult data (FAIRLEARN_DIVINE_DATA): without it the
# page says so, except under CI=true, where the build fails.
RUN_EXAMPLES = ("adult_audit_workflow",)


def _run_examples(app):
    import subprocess

    out_dir = Path(app.srcdir) / "_generated"
    out_dir.mkdir(exist_ok=True)
    for name in RUN_EXAMPLES:
        script = ROOT / "examples" / f"{name}.py"
        proc = subprocess.run(
            [sys.executable, "-W", "error", str(script)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        if proc.returncode == 0:
            text = proc.stdout
        elif "FileNotFoundError" in proc.stderr and os.environ.get("CI") != "true":
            text = "(not run: the Adult data set was not found; set FAIRLEARN_DIVINE_DATA)\n"
        else:
            raise RuntimeError(f"examples/{name}.py failed:\n{proc.stderr[-3000:]}")
        (out_dir / f"{name}.txt").write_text(text)


def setup(app):
    app.connect("builder-inited", _run_examples)

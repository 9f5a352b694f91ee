"""The package's layout shows its data flow: no import cycle, no reach into other stages.

Parses every module of ``fairlearn_divine`` (imports inside functions included) and checks

* the module import graph has no cycle;
* a module imports from another *stage* (a top-level subpackage or module such as
  ``_models``, ``_importance``, ``_mitigation``) only names without a leading underscore and
  only from that stage's namespace (``from .._models import make_view``, not
  ``from .._models._glm import ...``); the shared plumbing (``_core``, ``_warnings``,
  ``_version``) is exempt from the namespace rule but not from the private-name rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fairlearn_divine

ROOT = Path(fairlearn_divine.__file__).resolve().parent
PLUMBING = {"_core", "_warnings", "_version"}


def _module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(name):
    return (ROOT.parent / Path(*name.split(".")) / "__init__.py").exists()


def _exists(name):
    base = ROOT.parent / Path(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path):
    """(target module, imported names) for every fairlearn_divine import in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("fairlearn_divine"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if _exists(sub):  # "from . import datasets": the submodule itself
                    out.append((sub, []))
                else:
                    out.append((target, [alias.name]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fairlearn_divine"):
                    out.append((alias.name, []))
    return name, out


def _stage(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


MODULES = sorted(ROOT.rglob("*.py"))
GRAPH = dict(_imports(p) for p in MODULES)


def test_every_module_is_parsed():
    assert "fairlearn_divine._core.refit" in GRAPH
    assert "fairlearn_divine._models" in GRAPH
    assert len(GRAPH) == len(MODULES)


def test_no_import_cycle():
    edges = {m: sorted({t for t, _ in imps if t in GRAPH and t != m}) for m, imps in GRAPH.items()}
    state = {}
    stack = []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in edges[m]:
            if state.get(t) == "open":
                cycle = stack[stack.index(t) :] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_stage_reaches_into_another(module):
    own = _stage(module)
    for target, names in GRAPH[module]:
        stage = _stage(target)
        if stage is None or stage == own:
            continue
        private = [n for n in names if n.startswith("_") and not n.endswith("__")]
        assert not private, f"{module} imports private {private} from {target}"
        if stage in PLUMBING:
            continue
        namespace = f"fairlearn_divine.{stage}"
        assert target == namespace, (
            f"{module} imports from {target}; import from the stage's namespace {namespace}"
        )


def test_stage_packages_export_what_they_share():
    # every name another stage takes from a stage package is in that package's __all__
    import importlib

    for module, imps in GRAPH.items():
        for target, names in imps:
            stage = _stage(target)
            if not names or stage in (None, _stage(module)) or stage in PLUMBING:
                continue
            if not _is_package(target):
                continue
            exported = getattr(importlib.import_module(target), "__all__", [])
            missing = [n for n in names if n not in exported]
            assert not missing, f"{module} uses {missing} of {target}, not in its __all__"

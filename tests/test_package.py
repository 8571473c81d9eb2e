"""The package as a whole: CI runs the README's test command; layers import downward only."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lower index = lower layer (DESIGN.md). A module may import only modules at a lower index
# (or the same layer group, listed together).
LAYERS = [
    {"data"},
    {"init"},
    {"models"},
    {"diagnostics", "theory", "lsuv"},
    {"shard"},
    {"train"},
    {"sweep"},
    {"results", "checkpoint"},
    {"plots"},
    {"experiments"},
    {"cli", "cli_args"},
]


def layer_of(module: str) -> int:
    for i, group in enumerate(LAYERS):
        if module in group:
            return i
    raise AssertionError(f"initjax.{module} is not placed in a layer: add it to LAYERS")


def initjax_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("initjax"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "initjax" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```\n(.*pytest.*)\n```", readme)
    assert commands, "README has no test command block"
    assert commands[0] in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "initjax").rglob("*.py") if p.name != "__init__.py"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_layers_import_downward_only(path):
    rel = path.relative_to(ROOT / "initjax")
    me = rel.parts[0].removesuffix(".py")
    for other in initjax_imports(path) - {me}:
        assert layer_of(other) <= layer_of(me), f"initjax.{me} imports higher layer initjax.{other}"


def test_package_init_only_reexports():
    tree = ast.parse((ROOT / "initjax" / "__init__.py").read_text())
    defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert defs == ["__getattr__"]

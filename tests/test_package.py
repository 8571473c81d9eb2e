"""The package as a whole: CI runs the README's test command; layers import downward only."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lower index = lower layer (DESIGN.md). A module may import only modules at a lower index
# (or the same layer group, listed together).
LAYERS = [
    {"errors"},
    {"aggregate", "equivalence", "trainability", "variables", "docfields", "logs", "atomic"},
    {"plugins"},
    {"dataset"},
    {"fashion_mnist"},
    {"data"},
    {"activations", "cell_layout", "cpu_conv"},
    {"initializer", "gains"},
    {"fan_schemes", "fixed_schemes"},
    {"init"},
    {"nets", "parametrization"},
    {"models"},
    {"spectra", "meanfield", "statistics"},
    {"diagnostics", "theory", "lsuv"},
    {"shard", "optim"},
    {"config", "coerce"},
    {"step"},
    {"train"},
    {"grid", "coordcheck", "grid_values", "init_scale", "memory", "outer", "plan"},
    {"tables"},
    {"results", "checkpoint", "checkpointer", "seal", "lock", "space", "stop"},
    {"sweep"},
    {"plots"},
    {"verdict"},
    {"report"},
    {"study"},
    {"sweep_report", "tensorboard"},
    {"cli", "cli_args", "cli_parser", "cli_sweep", "config_file", "cli_report"},
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


@pytest.mark.data
def test_readme_library_examples_run_and_say_what_they_show():
    """Every ```python block of the README runs, in order, in one namespace (as a reader
    would paste them); the numbers its comments quote are checked."""
    import jax
    import numpy as np

    import initjax as ij

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    ns: dict = {}
    try:
        with jax.numpy_dtype_promotion("standard"):  # as a user runs it (tests are strict)
            for block in blocks:
                exec(compile(block, "README.md", "exec"), ns)
        assert abs(float(ns["hist"].test_acc[-1]) - 0.83) < 0.015
        res = ns["res"]
        assert list(res.scheme.values) == ["he_normal", "lecun_normal", "student_t"]
        assert res.test_acc.dims == ("scheme", "seed", "sigma", "lr", "epoch")
        final = res.test_acc.isel(epoch=-1).mean("seed")
        assert float(final.max()) > 0.45  # the tiny CNN learns MNIST-1D (chance: 0.1)
        # Student-t's scale is its std; lecun's std at gain 1 is 1/√fan_in (output: 20·8 inputs).
        np.testing.assert_allclose(
            res.init_std.sel(layer="output", scheme="lecun_normal", sigma=1.0), 160**-0.5, rtol=0.05
        )
        np.testing.assert_allclose(
            res.init_std.sel(layer="output", scheme="student_t").values, [0.5, 1, 2], rtol=0.05
        )
    finally:
        for name in ("student_t",):
            if name in ij.init.names():
                ij.init.unregister(name)
        if "tiny_cnn" in ij.models.names():
            ij.models.unregister("tiny_cnn")


def test_every_library_module_is_exported():
    import initjax

    parts = {
        "__init__",
        "cli_args",
        "errors",
        "initializer",
        "fan_schemes",
        "fixed_schemes",
        "gains",
        "meanfield",
    }
    modules = {p.stem for p in (ROOT / "initjax").glob("*.py")} - parts
    assert modules <= set(initjax.__all__), modules - set(initjax.__all__)
    assert initjax.checkpoint.__name__ == "initjax.checkpoint"


def test_durations_table_sums_each_files_phases_and_names_only_existing_files():
    import json
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from update_durations import per_file, slowest
    finally:
        sys.path.remove(str(ROOT / "tests"))
    report = (
        "12.50s setup    tests/test_a.py::test_one\n"
        "3.25s call     tests/test_a.py::test_one[x-1]\n"
        "0.25s teardown tests/test_a.py::test_two\n"
        "7.00s call     tests/test_b.py::Case::test_three\n"
        "(3 durations < 0.005s hidden.)\n"
    )
    assert per_file(report) == {"tests/test_a.py": 16.0, "tests/test_b.py": 7.0}
    assert slowest(report, 2) == {"tests/test_a.py::test_one": 12.5,
                                  "tests/test_b.py::Case::test_three": 7.0}  # fmt: skip
    table = json.loads((ROOT / "tests" / "durations.json").read_text())["seconds"]
    assert table and all((ROOT / path).is_file() for path in table), table

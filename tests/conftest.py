"""Test setup: 2 virtual CPU devices and strict promotion, fixed before JAX starts.

The device count must be set before the first JAX computation, so it happens at import of
this conftest (pytest imports it before any test module).
"""

import contextlib
import json
import os
import re
import shutil
import tempfile
import types
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Most tests are compile-bound (a quick experiment compiles a dozen programs and trains them for
# seconds), so the suite asks XLA for less optimization (LLVM at -O0, no expensive passes; HLO
# fusion still runs): measured on 2 cores, deep_relu's quick run took 30% and residual_depth's
# 26% less CPU time, d2l_softmax's (compute-bound) 5% more, same verdicts. Every process of
# the session (workers, CLI subprocesses, the docs build) inherits it, so programs compared
# with each other are compiled alike. JAX_DISABLE_MOST_OPTIMIZATIONS=0 tests the default.
# The execution-bound quick runs are the exception (EXECUTION_BOUND below).
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# One persistent compilation cache for the whole session (both xdist workers, every CLI
# subprocess, the docs build's kernels): a program another test already compiled is read back
# instead of compiled again. Fresh per run, so nothing carries over between runs; the lock that
# a size limit turns on keeps concurrent readers off half-written entries.
# The process that sets it (pytest itself, before its workers start) removes it at the end.
_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _OWN_CACHE = Path(tempfile.mkdtemp(prefix="initjax-test-cache-"))
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(_OWN_CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 << 30))
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=2").strip()

# The research scripts of this checkout, whatever the working directory or installed copy.
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
os.environ["INITJAX_EXPERIMENTS"] = str(EXPERIMENTS)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_unconfigure(config):
    if _OWN_CACHE is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def require_data() -> bool:
    """True when a missing dataset must fail the test instead of skipping it (CI)."""
    return os.environ.get("INITJAX_REQUIRE_DATA", "") not in ("", "0")


@pytest.fixture(scope="session")
def fashion_mnist():
    """Fashion-MNIST (unit scaled); skipped when absent unless INITJAX_REQUIRE_DATA=1."""
    from initjax import data

    try:
        return data.load("fashion_mnist")
    except data.DataNotFoundError:
        if require_data():
            raise
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


@pytest.fixture(scope="session")
def mnist1d_data():
    from initjax import data

    return data.load("mnist1d")


# Quick runs whose time goes into running, not compiling, their programs: these compile with
# XLA's full optimization (the session's -O0 default above costs them more at run time than it
# saves at compile time). Measured on 2 idle cores, each quick run alone, -O0 vs full: glorot_tanh
# 40 -> 27 s, saturation 27 -> 20, clt_depth_width 12 -> 6, d2l_mlp 43 -> 39, gaussian_
# preactivations 13 -> 10, schemes_mnist1d 25 -> 23; the compile-bound ones go the other way
# (residual_depth at 16 blocks 58 -> 64 s, width_transfer 36 -> 44, sigma_map 25 -> 32) and keep -O0.
EXECUTION_BOUND = frozenset(
    {"glorot_tanh", "saturation", "clt_depth_width", "d2l_mlp", "gaussian_preactivations",
     "schemes_mnist1d"}
)  # fmt: skip


@contextlib.contextmanager
def _optimized(on: bool):
    """Compile with XLA's optimizations on (``on``) or as the session does, then restore."""
    before = bool(jax.config.read("jax_disable_most_optimizations"))
    jax.config.update("jax_disable_most_optimizations", before and not on)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory):
    """Every experiment's quick run, done once per test session and shared.

    ``quick_runs(name)`` runs experiment ``name`` at quick scale on first use (later calls
    return the same rows) and ``quick_runs.root`` is the output folder, laid out as
    ``initjax reproduce --quick`` lays out ``runs/``.
    """
    from initjax import shard, study

    root = tmp_path_factory.mktemp("runs")
    done: dict[str, list] = {}

    def get(name: str) -> list:
        # On one device, as `initjax run`/`reproduce` (whose --devices default is 1) run them:
        # sharded over this session's 2 virtual devices residual_depth's (16 blocks) took
        # 250 s, not 195.
        # Sharded grids are tested on their own (test_sweep, test_shard).
        if name not in done:
            with shard.on_devices(jax.devices()[:1]), _optimized(name in EXECUTION_BOUND):
                done[name] = study.run_one(name, root, "quick", progress=False)
        return done[name]

    get.root = root  # type: ignore[attr-defined]
    return get


class QuickRun(NamedTuple):
    """One experiment's quick run: its verdict rows, its saved results (``exp.load(out)``) and
    its output folder."""

    name: str
    rows: list
    results: Any
    out: Path

    def row(self, words: str, rows: list | None = None) -> Any:
        """The one row whose claim contains ``words``, among ``rows`` (default: this run's)."""
        (found,) = [r for r in (self.rows if rows is None else rows) if words in r.claim]
        return found

    @property
    def failed(self) -> list[str]:
        """Claims of the rows that did not pass (failed or n/a)."""
        return [r.claim for r in self.rows if r.passed is not True]

    def assert_figures(self) -> None:
        """The figure is drawn: a PNG of some substance and an SVG beside it."""
        assert (self.out / f"{self.name}.png").stat().st_size > 10_000
        assert (self.out / f"{self.name}.svg").exists()


@pytest.fixture(scope="module")
def quick(request, quick_runs) -> QuickRun:
    """The quick run of the experiment the test module loads as ``exp = study.load(NAME)``."""
    exp = request.module.exp
    rows = quick_runs(exp.NAME)
    out = quick_runs.root / exp.NAME
    return QuickRun(exp.NAME, rows, exp.load(out), out)


def pytest_collection_modifyitems(config, items):
    """Tests that use an experiment's quick run are end to end: ``-m "not e2e"`` skips them.

    ``slow`` tests are left out unless ``-m`` names them (``-m slow``); this is done here
    rather than with ``addopts = -m "not slow"`` so that ``-m "not e2e"`` does not bring them
    back (a second ``-m`` replaces the first).
    """
    for item in items:
        if "quick_runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
    _longest_files_first(items)
    if "slow" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("slow") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


# Seconds each test file kept a worker busy in a measured run (setup + call + teardown of its
# tests), written by tests/update_durations.py; files it lacks fall back to _fallback_seconds.
DURATIONS = Path(__file__).with_name("durations.json")


def _fallback_seconds(item) -> float:
    """A file missing from DURATIONS: the docs build's ~2 min, an experiment's declared quick
    time (RUNTIME["quick"]: "~75 s (...)", "~2 min (...)"), else 0."""
    if item.get_closest_marker("docs") is not None:
        return 120.0
    if item.get_closest_marker("e2e") is None:
        return 0.0
    module = getattr(item, "module", None)
    loaded = [v for v in vars(module).values() if isinstance(v, types.ModuleType)] if module else []
    seconds = [1.0]  # an end-to-end file whose time is not declared: before the small ones
    for exp in loaded:
        runtime = getattr(exp, "RUNTIME", None)
        if not isinstance(runtime, dict):
            continue
        found = re.match(r"~?\s*([\d.]+)\s*(s|min)", str(runtime.get("quick", "")))
        if found is not None:
            seconds.append(float(found[1]) * (60.0 if found[2] == "min" else 1.0))
    return max(seconds)


def _longest_files_first(items: list) -> None:
    """Order the test files longest first, each file's tests kept together and in order.

    ``--dist loadfile`` hands whole files to the workers in this order (pytest_configure turns
    off xdist's default, most-tests-first, which started the few-test files that run a whole
    experiment last): long files start first and short ones fill the end, so that neither
    worker waits long on the other's last file. Only the order changes, never what runs.
    """
    known = json.loads(DURATIONS.read_text())["seconds"] if DURATIONS.exists() else {}
    files = [item.nodeid.split("::", 1)[0] for item in items]
    cost: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, (path, item) in enumerate(zip(files, items, strict=True)):
        if path not in cost:
            first[path] = i
            cost[path] = float(known[path]) if path in known else _fallback_seconds(item)
    order = sorted(range(len(items)), key=lambda i: (-cost[files[i]], first[files[i]], i))
    items[:] = [items[i] for i in order]


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the order set above
        config.option.loadscopereorder = False

"""The experiment machinery: finding ``experiments/``, running one, reproducing all, REPORT.md.

An experiment is a research script ``experiments/<name>.py`` (outside the installed package)
that imports only the public ``initjax`` API and defines:

* ``NAME``, ``QUESTION`` (one line), ``CLAIMS`` (ids from ANCHORS.md, e.g. ``("C2", "C4")``),
  ``RUNTIME`` (``{"quick": "...", "full": "..."}``, measured on 2 CPU cores), ``ORDER`` (its
  place in REPORT.md, the order of the study note's argument) and, for a script that
  ``reproduce`` skips (it measures the machine, not a claim), ``EXTRA = True``;
* ``CONFIGS``: ``{"quick": ..., "full": ...}``, its configs per scale: a ``train.Config`` and
  its grid (``(cfg, {"seeds": 3, "sigmas": (...)})``), or a dict of such, one per part;
* ``run(out_dir, scale="quick", progress=True) -> None``: trains through :mod:`initjax.sweep`
  and saves labelled results (netCDF via :mod:`initjax.results`) under ``out_dir``; a long
  sweep passes ``out=study.checkpoints(out_dir, part)``, so that a killed run resumes where
  it stopped (:func:`run_one` removes the checkpoints once the results are saved);
* ``load(out_dir)``: the saved results (a Dataset, or a dict of them);
* ``measure(results) -> dict``: the numbers the verdict and the tests check;
* ``verdict(measures) -> list[Row]``: compares them with the anchors, named constants at the
  top of the script (with their sources); a row that holds by construction (it checks the
  code, not the claim) is ``Row(..., kind="sanity")`` and does not count toward its claim;
* ``figures(out_dir) -> list[Path]``: draws PNG and SVG figures from the saved results only;
* at its end ``if __name__ == "__main__": study.main(__file__)``, so that
  ``python experiments/saturation.py --quick --out runs`` runs it on its own.

Scripts are found (:func:`where`) at ``--experiments DIR`` / ``$INITJAX_EXPERIMENTS``, else in
``./experiments``, else in the source checkout of an editable install; they are loaded by path
(:func:`load`), never installed into site-packages.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from initjax import checkpoint, results
from initjax.errors import unknown
from initjax.report import ERROR, REPORT, write_report
from initjax.verdict import Row, counts, line, load_verdict, save_verdict

__all__ = [
    "ENV",
    "ERROR",
    "REPORT",
    "SCALES",
    "ExperimentsFailed",
    "ExperimentsNotFound",
    "Row",
    "check_scale",
    "judge",
    "load",
    "load_verdict",
    "main",
    "mean_spread",
    "measures",
    "names",
    "report",
    "reproduce",
    "run_one",
    "where",
]

SCALES = ("quick", "full")
ENV = "INITJAX_EXPERIMENTS"


class ExperimentsNotFound(LookupError):
    """No ``experiments/`` folder where the scripts are expected (the CLI exits 2)."""


class ExperimentsFailed(RuntimeError):
    """Raised by :func:`reproduce` after the report is written when some experiments failed."""

    def __init__(self, report: Path, failed: dict[str, str]):
        self.report, self.failed = report, failed
        super().__init__(
            f"{len(failed)} experiment(s) failed: "
            + "; ".join(f"{k}: {v}" for k, v in failed.items())
            + f" (details in {report})"
        )


CHECKPOINTS = "_checkpoints"  # under an experiment's out_dir: its sweeps' checkpoint folders


def checkpoints(out_dir: str | Path, part: str) -> Path:
    """The checkpoint folder of sweep ``part`` of the experiment writing into ``out_dir``.

    Pass it as ``sweep.run(..., out=study.checkpoints(out_dir, part))``: the sweep saves its
    state as it trains, and running the experiment again into the same ``out_dir`` resumes
    it (a finished part is read back, verified against its config's fingerprint; a folder
    left by another config is an error naming it). :func:`run_one` removes
    ``out_dir/_checkpoints`` once ``run`` has saved the results.
    """
    return Path(out_dir) / CHECKPOINTS / part


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise unknown("scale", scale, SCALES)
    return scale


def mean_spread(values: Any, digits: int = 3, unit: str = "") -> str:
    """``"mean ± std (n=k)"`` over the finite entries of ``values`` (std with ddof 0)."""
    a = np.asarray(values, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        return "n/a (no finite value)"
    if a.size == 1:
        return f"{a[0]:.{digits}f}{unit} (n=1)"
    return f"{a.mean():.{digits}f} ± {a.std():.{digits}f}{unit} (n={a.size})"


# ----------------------------------------------------------------------------- finding


def best_lr(res: Any) -> tuple[Any, Any]:
    """Per cell of a results Dataset, the index along ``lr`` of the lr with the lowest
    seed-mean final train loss among the lrs where no seed diverged, and a mask that is False
    where every lr diverged: the "best lr" of the experiments that tune lr per cell."""
    last = res.isel(epoch=-1)
    loss = last.train_loss.where(~last.diverged.astype(bool))
    score = loss.mean("seed", skipna=False).reset_coords(drop=True)  # NaN: a seed diverged
    return score.fillna(np.inf).argmin("lr"), score.notnull().any("lr")


def tuned_lr(res: Any) -> Any:
    """The :func:`best_lr` value per cell (NaN where every lr diverged)."""
    best, ok = best_lr(res)
    return res.lr.isel(lr=best).where(ok).drop_vars("lr")


def lr_at_edge(tuned: Any, lrs: Any) -> bool:
    """Whether any of the ``tuned`` lrs sits at an end of the grid ``lrs`` (or the grid has one
    lr): a wider grid could change a comparison made there, so its row is not decided."""
    lrs = list(lrs)
    return len(lrs) < 2 or any(t in (min(lrs), max(lrs)) for t in tuned)


def best_lr_final(res: Any, metric: str = "train_loss", epoch: int = -1) -> Any:
    """``metric`` at ``epoch`` (default: the last) per cell and seed at the cell's
    :func:`best_lr` (NaN where every lr diverged)."""
    best, ok = best_lr(res)
    return res[metric].isel(epoch=epoch).isel(lr=best).where(ok)


def _source_checkout() -> Path | None:
    """The checkout this package was imported from (editable install or PYTHONPATH), if any."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "initjax"' in pyproject.read_text():
        return root
    return None


def where(directory: str | Path | None = None) -> Path:
    """The folder of experiment scripts: ``directory``, ``$INITJAX_EXPERIMENTS``,
    ``./experiments``, or ``experiments/`` in the source checkout of an editable install.

    Raises :class:`ExperimentsNotFound`, saying where the scripts are expected.
    """
    explicit = directory if directory is not None else os.environ.get(ENV) or None
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise ExperimentsNotFound(
                f"experiments folder {path} does not exist (from "
                f"{'--experiments' if directory is not None else '$' + ENV})"
            )
        return path.resolve()
    candidates = [Path.cwd() / "experiments"]
    checkout = _source_checkout()
    if checkout is not None:
        candidates.append(checkout / "experiments")
    for path in candidates:
        if path.is_dir() and any(path.glob("[!_]*.py")):
            return path.resolve()
    raise ExperimentsNotFound(
        "no experiments/ folder found: the research scripts live in experiments/ at the top "
        "of an initjax checkout (git clone, then `pip install -e .`). Run from the checkout, "
        f"or point to the folder with --experiments DIR or ${ENV}; looked in: "
        + ", ".join(str(p) for p in candidates)
    )


def scripts(directory: str | Path | None = None) -> dict[str, Path]:
    """Every experiment script (``*.py`` not starting with ``_``) in :func:`where`, by name."""
    root = where(directory)
    return {p.stem: p for p in sorted(root.glob("*.py")) if not p.name.startswith("_")}


def load(name: str, directory: str | Path | None = None) -> ModuleType:
    """The experiment script ``name`` as a module; ValueError lists the valid names.

    The script's folder goes on ``sys.path`` so that its helpers beside it (``_bench.py``)
    import as they do when the script runs on its own.
    """
    found = scripts(directory)
    if name not in found:
        raise unknown("experiment", name, tuple(found))
    path = found[name]
    key = f"initjax_experiments.{name}"
    cached = sys.modules.get(key)
    if cached is not None and Path(getattr(cached, "__file__", "")) == path:
        return cached
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(key, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


def modules(directory: str | Path | None = None) -> dict[str, ModuleType | str]:
    """Every script loaded (or why it failed to import), in report order (``ORDER``)."""
    out: dict[str, ModuleType | str] = {}
    for name in scripts(directory):
        try:
            out[name] = load(name, directory)
        except Exception as e:
            out[name] = f"script fails to import: {type(e).__name__}: {e}"
    return dict(sorted(out.items(), key=lambda kv: (getattr(kv[1], "ORDER", 1e9), kv[0])))


def names(directory: str | Path | None = None, include_extra: bool = True) -> tuple[str, ...]:
    """Experiment names in report order; extras (``EXTRA = True``) last or left out."""
    found = modules(directory)
    main_ = tuple(n for n, m in found.items() if not getattr(m, "EXTRA", False))
    extra = tuple(n for n in found if n not in main_)
    return main_ + (extra if include_extra else ())


# ----------------------------------------------------------------------------- running


def run_one(
    name: str,
    out_root: str | Path,
    scale: str = "quick",
    progress: bool = True,
    directory: str | Path | None = None,
) -> list[Row]:
    """Run experiment ``name`` at ``scale`` into ``out_root/name``, draw and judge it.

    A failure leaves ``out_root/name/error.json`` (with the traceback); a stop asked for by
    Ctrl-C or SIGTERM (:class:`~initjax.checkpoint.Interrupted`) and a sweep folder refused
    as another sweep's (:class:`~initjax.checkpoint.FingerprintMismatch`) leave none. Either way the
    sweeps' checkpoints (:func:`checkpoints`) stay, so that running it again resumes; the
    exception is re-raised.
    """
    check_scale(scale)
    module = load(name, directory)
    out_dir = Path(out_root) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ERROR).unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        module.run(out_dir, scale=scale, progress=progress)
        seconds = time.perf_counter() - t0
        shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)
        module.figures(out_dir)
        rows = judge(module, out_dir)
    except (checkpoint.Interrupted, checkpoint.FingerprintMismatch):
        raise  # a stop or a refusal, not a failure: the checkpoints say where to resume
    except Exception as e:
        results.write_json(
            out_dir / ERROR,
            {
                "name": name,
                "scale": scale,
                "seconds": round(time.perf_counter() - t0, 1),
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            },
        )
        raise
    meta = {"name": name, "scale": scale, "seconds": round(seconds, 1)}
    results.write_json(out_dir / "run.json", meta)
    save_verdict(out_dir, rows)
    return rows


def measures(module: ModuleType, out_dir: str | Path) -> dict[str, Any]:
    """The experiment's numbers from its saved results: ``module.measure(module.load(out_dir))``."""
    return module.measure(module.load(Path(out_dir)))


def judge(module: ModuleType, out_dir: str | Path) -> list[Row]:
    """Verdict rows from saved results: ``verdict(measure(load(out_dir)))``."""
    return module.verdict(measures(module, out_dir))


def report(
    out_root: str | Path = "runs", redraw: bool = False, directory: str | Path | None = None
) -> Path:
    """Write ``out_root/REPORT.md`` from saved results; ``redraw``: figures and verdicts too.

    Without experiment scripts (none found) the report is made from the saved verdicts alone.
    """
    try:
        found = modules(directory)
    except ExperimentsNotFound:
        found, redraw = {}, False
    return write_report(out_root, found, redraw=redraw, judge=judge)


def reproduce(
    scale: str = "quick",
    out_root: str | Path = "runs",
    only: Sequence[str] | None = None,
    progress: bool = True,
    directory: str | Path | None = None,
) -> Path:
    """Run ``only`` (default: every experiment but the extras) at ``scale``, write REPORT.md.

    A failing experiment is recorded (its ``error.json`` and a row in the report) and the
    others still run; :class:`ExperimentsFailed` is raised at the end if any failed.
    Returns the report's path.
    """
    from tqdm.auto import tqdm

    check_scale(scale)
    valid = names(directory)
    todo = names(directory, include_extra=False) if only is None else tuple(only)
    for name in todo:
        if name not in valid:
            raise unknown("experiment", name, valid)
    root = Path(out_root)
    root.mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}
    bar = tqdm(todo, disable=not progress, unit="experiment", desc="reproduce")
    for i, name in enumerate(bar, 1):
        bar.set_description(f"[{i}/{len(todo)}] {name}")
        t0 = time.perf_counter()
        try:
            rows = run_one(name, root, scale, progress=progress, directory=directory)
        except checkpoint.Interrupted:
            bar.close()
            raise  # a stop asked for: not a failure, and not a reason to start the next one
        except Exception as e:
            failed[name] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            line = f"[{i}/{len(todo)}] {name}: FAILED ({failed[name]})"
        else:
            line = f"[{i}/{len(todo)}] {name}: {counts(rows)} in {time.perf_counter() - t0:.0f} s"
        if progress:
            bar.write(line)
    bar.close()
    path = report(root, directory=directory)
    if failed:
        raise ExperimentsFailed(path, failed)
    return path


def main(script: str | Path, argv: Sequence[str] | None = None) -> int:
    """``python experiments/NAME.py [--quick | --full] [--out runs]``: run one script alone."""
    path = Path(script).resolve()
    parser = argparse.ArgumentParser(prog=f"python {path.name}", description=__doc__)
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick")
    scale.add_argument("--full", dest="scale", action="store_const", const="full")
    parser.set_defaults(scale="quick")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="output root")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    rows = run_one(path.stem, args.out, args.scale, not args.quiet, directory=path.parent)
    for r in rows:
        print(line(r))
    print(f"results: {args.out / path.stem}")
    return 0

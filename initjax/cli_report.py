"""The ``initjax`` commands that look at saved results: report, plot, tensorboard.

``report`` re-makes an experiments folder's REPORT.md (what ``reproduce``/``run`` wrote), or
writes one for sweep folders (:mod:`initjax.sweep_report`); ``plot`` draws sweep folders;
``tensorboard`` exports one (:mod:`initjax.tensorboard`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


def _say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def add_parsers(sub: Any) -> None:
    """Add the report, plot and tensorboard commands to ``sub`` (argparse subparsers)."""
    report = sub.add_parser(
        "report",
        help="REPORT.md and figures from saved results: experiments or sweeps (no training)",
        description="For a folder of experiment results (what `reproduce`/`run` wrote): "
        "re-make their figures and OUT/REPORT.md. For sweep folders (results.nc + "
        "fingerprint.json, what `initjax sweep --out` wrote), or a folder holding some: a "
        "REPORT.md with the settings, the grid, the summary table (mean ± 95% CI, n finite "
        "/ N seeds) and the figures of `initjax plot`; several folders are compared.",
        allow_abbrev=False,
    )
    report.add_argument(
        "dir",
        nargs="*",
        type=Path,
        default=[Path("runs")],
        metavar="DIR",
        help="experiment results root or sweep folder(s) (default: runs)",
    )
    _figure_flags(report)
    plot = sub.add_parser(
        "plot",
        help="figures of one or several sweep folders (PNG + SVG)",
        description="Draw from sweep folders (written by `initjax sweep --out`): the final "
        "metric against σ (or init_std) per lr with 95% seed intervals and diverged cells "
        "marked, learning curves, and a σ × lr heatmap. Several folders share the axes.",
        allow_abbrev=False,
    )
    plot.add_argument("dir", nargs="+", type=Path, metavar="DIR", help="sweep folder(s)")
    _figure_flags(plot)
    tb = sub.add_parser(
        "tensorboard",
        help="export a finished sweep's per-epoch metrics as TensorBoard event files",
        description="One TensorBoard run per cell (outer values, seed, σ, lr), named and "
        "tagged (HParams) by its coordinates. Needs the tensorboard extra: "
        'pip install "initjax[tensorboard]".',
        allow_abbrev=False,
    )
    tb.add_argument("dir", type=Path, metavar="DIR", help="a sweep folder")
    tb.add_argument(
        "--logdir", type=Path, metavar="LOGDIR", help="where the runs go (default: DIR/tensorboard)"
    )


def _figure_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metric", default="test_acc", help="the per-epoch variable to draw (default: test_acc)"
    )
    p.add_argument(
        "--x",
        choices=("sigma", "init_std"),
        default="sigma",
        help="x axis of the final-metric figure: the scheme's σ, or the std each layer's "
        "kernel is drawn with (init_std; compares schemes whose σ means different things)",
    )
    p.add_argument("--layer", help="with --x init_std: the layer (default: the first)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where figures (and REPORT.md) go (default: DIR/figures, or for several folders "
        "their common parent)",
    )


def report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from initjax import study, sweep_report

    try:
        names = study.names(args.experiments)
    except study.ExperimentsNotFound:
        names = ()  # no scripts here: only sweep folders can be reported
    dirs = list(args.dir)
    for d in dirs:
        if not d.is_dir():
            parser.error(
                f"{d} is not a folder of results (run `initjax reproduce --quick`, "
                "`initjax run EXPERIMENT` or `initjax sweep ... --out DIR` first)",
            )
    experiments = [d for d in dirs if any((d / n).is_dir() for n in names)]
    if len(dirs) == 1 and experiments and not sweep_report.is_sweep(dirs[0]):
        _say(f"report: {study.report(dirs[0], redraw=True, directory=args.experiments)}")
        return 0
    sweeps = [s for d in dirs for s in sweep_report.find(d)]
    if not sweeps:
        print(
            f"initjax report: error: {', '.join(map(str, dirs))} holds neither experiment "
            f"results (folders named after experiments: {', '.join(names) or '(none found)'}, "
            "written by "
            "`initjax run`/`reproduce`) nor sweeps (folders with results.nc and "
            "fingerprint.json, written by `initjax sweep --out DIR`)",
            file=sys.stderr,
        )
        return 1
    out = args.out if args.out is not None else (dirs[0] if len(dirs) == 1 else None)
    return _sweep_output(sweeps, lambda: sweep_report.write(sweeps, out, args.metric, args.x))


def plot(args: argparse.Namespace) -> int:
    from initjax import sweep_report

    sweeps = [s for d in args.dir for s in sweep_report.find(d)]
    missing = [d for d in args.dir if not sweep_report.find(d)]
    if missing:
        print(
            f"initjax plot: error: no sweep in {', '.join(map(str, missing))}: expected a folder "
            "with results.nc and fingerprint.json (written by `initjax sweep --out DIR`), or "
            "one holding such folders",
            file=sys.stderr,
        )
        return EXIT_USAGE

    def draw() -> list[Path]:
        return sweep_report.figures(sweeps, args.out, args.metric, args.x, args.layer)

    return _sweep_output(sweeps, draw)


def tensorboard(args: argparse.Namespace) -> int:
    from initjax import sweep_report, tensorboard

    try:
        ds = next(iter(sweep_report.load([args.dir]).values()))
        logdir = args.logdir if args.logdir is not None else args.dir / "tensorboard"
        runs = tensorboard.export(ds, logdir)
    except (sweep_report.NoSweeps, ImportError) as e:
        print(f"initjax tensorboard: error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, sweep_report.NoSweeps) else 1
    _say(f"wrote {len(runs)} runs to {logdir}; view with: tensorboard --logdir {logdir}")
    return 0


def _sweep_output(sweeps: list[Path], make: Any) -> int:
    """Run ``make`` (figures or a report), print what it wrote and a line per sweep with
    diverged runs; a bad --metric/--layer exits 2."""
    import warnings

    from initjax import aggregate, sweep_report

    try:
        loaded = sweep_report.load(sweeps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", aggregate.DivergedWarning)  # said below instead
            made = make()
    except ValueError as e:
        print(f"initjax: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for name, ds in loaded.items():
        message = aggregate.diverged_message(ds)
        if message is not None:
            _say(f"warning: {name}: {message}")
    for path in made if isinstance(made, list) else [made]:
        _say(f"wrote {path}")
    return 0

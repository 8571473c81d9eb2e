"""The ``initjax`` command: sweep, run EXPERIMENT, reproduce, report, list.

Thin on purpose: every command parses and validates its arguments (building the Config,
reading the grids, loading the data) before anything is written, then calls the library
(:mod:`initjax.checkpoint`, :mod:`initjax.sweep`, :mod:`initjax.study`).
Bad flags or values exit with status 2 and a message naming the valid choices; an
interrupted sweep exits with 130 after printing the command that resumes it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import initjax
from initjax import cli_args

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

DESCRIPTION = """\
initjax: weight initialization studied with JAX.

  initjax sweep --model softmax --scheme normal --sigmas 0,1e-3,1e-2,1e-1,1 --seeds 5 \\
      --epochs 10 --out runs/d2l        a (seed, σ, lr) grid as one compiled program
  initjax run d2l_softmax --quick      one experiment: results, figures, verdict
  initjax reproduce --quick            every experiment, then runs/REPORT.md
  initjax report runs                  REPORT.md and figures again from saved results
  initjax list                         schemes, activations, datasets, experiments
"""


def _epilog() -> str:
    fields = ", ".join(cli_args.flag(n) for n in cli_args.config_field_names())
    return (
        "`initjax sweep` takes one flag per training-config field (initjax.train.Config): "
        f"{fields}. See `initjax sweep --help` for what each means."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="initjax",
        description=DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"initjax {initjax.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sweep = sub.add_parser(
        "sweep",
        help="train a (seed, σ, lr) grid; with --out, resumable and saved",
        description="Train every (seed, σ, lr) cell of a grid as one compiled program. "
        "A Config flag given several values (a comma list, or a semicolon list for a list "
        "field: --scheme he_normal,lecun_normal, --hidden '64,64;256,256') is an outer axis: "
        "one program per value, all in one results file with a dimension per axis. "
        "With --out DIR the sweep is checkpointed every --checkpoint-every epochs and the "
        "same command resumes it after Ctrl-C or a crash; results go to DIR/results.nc "
        "(netCDF) and DIR/results.csv. Without --out nothing is written.",
        allow_abbrev=False,
    )
    grid = sweep.add_argument_group("grid")
    grid.add_argument(
        "--sigmas",
        type=cli_args.grid_values,
        metavar="GRID",
        help="values of the scheme's scale argument (σ, gain, ...): "
        f"{cli_args.GRID_SYNTAX} (default: --sigma, else the scheme's default)",
    )
    grid.add_argument(
        "--lrs",
        type=cli_args.grid_values,
        metavar="GRID",
        help=f"learning rates: {cli_args.GRID_SYNTAX} (default: --lr)",
    )
    grid.add_argument(
        "--seeds",
        type=cli_args.seed_values,
        default=[0],
        metavar="SEEDS",
        help=f"{cli_args.SEED_SYNTAX} (default: 1, i.e. seed 0)",
    )
    sweep.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="import a Python file that registers schemes/models/optimizers (initjax.init."
        "register, initjax.models.register, initjax.train.register_optimizer) before the other "
        "flags are read; repeatable; its path and SHA-256 go into the results' provenance",
    )
    out = sweep.add_argument_group("output and data")
    out.add_argument("--out", type=Path, metavar="DIR", help="folder for results/checkpoints")
    out.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        metavar="N",
        help="with --out: save a checkpoint every N epochs (default: 1)",
    )
    out.add_argument(
        "--overwrite",
        action="store_true",
        help="discard what --out holds (results, checkpoints) and start again",
    )
    out.add_argument("--data-dir", type=Path, metavar="DIR", help="where the dataset lives")
    out.add_argument(
        "--data-args",
        type=cli_args.key_values,
        default={},
        metavar="KEY=VALUE,...",
        help="extra arguments of initjax.data.load, e.g. n_train=512,dim=16 for synthetic",
    )
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    where = sweep.add_argument_group(
        "devices and hosts",
        "The grid is sharded over every device JAX sees; results equal the one-device run.",
    )
    where.add_argument(
        "--devices",
        type=int,
        metavar="N",
        help="split the CPU into N virtual devices (CPU only; default: 1, see README)",
    )
    where.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="join a multi-process sweep (jax.distributed) coordinated by process 0 at HOST:PORT",
    )
    where.add_argument("--num-processes", type=int, metavar="N", help="processes in the sweep")
    where.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1")
    cli_args.add_config_flags(sweep)

    run = sub.add_parser(
        "run",
        help="run one experiment: results, figures, verdict",
        description="Run one experiment into OUT/EXPERIMENT and update OUT/REPORT.md.",
        allow_abbrev=False,
    )
    run.add_argument(
        "experiment", metavar="EXPERIMENT", help="a script's name (`initjax list` lists them)"
    )
    _scale_flags(run)

    rep = sub.add_parser(
        "reproduce",
        help="run every experiment and write OUT/REPORT.md",
        description="Run every experiment, then write OUT/REPORT.md with a verdict per claim.",
        allow_abbrev=False,
    )
    _scale_flags(rep)

    report = sub.add_parser(
        "report",
        help="re-make figures and REPORT.md from saved results (no training)",
        allow_abbrev=False,
    )
    report.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("runs"),
        metavar="DIR",
        help="the folder `reproduce`/`run` wrote (default: runs)",
    )
    _experiments_flag(report)
    lst = sub.add_parser(
        "list", help="schemes, models, optimizers, activations, datasets, experiments"
    )
    lst.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="import a file that registers schemes/models/optimizers first (repeatable)",
    )
    _experiments_flag(lst)
    return parser


def _scale_flags(p: argparse.ArgumentParser) -> None:
    scale = p.add_mutually_exclusive_group()
    scale.add_argument(
        "--quick",
        dest="scale",
        action="store_const",
        const="quick",
        help="seconds to a minute per experiment on 2 CPU cores (default)",
    )
    scale.add_argument(
        "--full",
        dest="scale",
        action="store_const",
        const="full",
        help="the paper-scale configs (see each experiment's runtime)",
    )
    p.set_defaults(scale="quick")
    p.add_argument(
        "--out", type=Path, default=Path("runs"), metavar="DIR", help="output root (default: runs)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _experiments_flag(p)


def _experiments_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--experiments",
        type=Path,
        metavar="DIR",
        help="the folder of experiment scripts (default: $INITJAX_EXPERIMENTS, ./experiments, "
        "or experiments/ of the checkout initjax is installed from)",
    )


def _usage_error(parser: argparse.ArgumentParser, command: str, message: str) -> NoReturn:
    sub = _subparser(parser, command)
    sub.error(message)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser


def _say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


# ----------------------------------------------------------------------------- sweep


def cmd_sweep(
    args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]
) -> int:
    from initjax import checkpoint, results, sweep, train
    from initjax import data as datasets

    def fail(message: str) -> NoReturn:
        _usage_error(parser, "sweep", message)

    try:
        cfg, over = cli_args.config_from_args(args)
        axes = sweep.outer_axes(cfg, over)
    except ValueError as e:
        fail(str(e))
    try:
        grid = sweep.Grid.make(
            args.seeds,
            args.sigmas if args.sigmas is not None else [cfg.default_sigma()],
            args.lrs if args.lrs is not None else [cfg.lr],
        )
    except ValueError as e:
        fail(str(e))
    if args.checkpoint_every < 1:
        fail(f"--checkpoint-every must be a positive number of epochs, got {args.checkpoint_every}")
    if args.out is None and args.overwrite:
        fail("--overwrite needs --out")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        fail(f"--out {args.out} exists and is not a folder")
    try:
        data = datasets.load(
            cfg.dataset, data_dir=args.data_dir, normalize=cfg.normalize, **args.data_args
        )
    except datasets.DataNotFoundError as e:
        print(f"initjax sweep: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as e:
        fail(f"cannot load dataset {cfg.dataset!r}: {e}")
    try:
        train._check_data(cfg, data)
    except ValueError as e:
        fail(str(e))

    n_outer = 1
    for _, values in axes:
        n_outer *= len(values)
    runs = f"{grid.shape[0]} seeds × {grid.shape[1]} σ × {grid.shape[2]} lr = {grid.size} runs"
    if axes:
        outer = " × ".join(f"{len(v)} {n}" for n, v in axes)
        runs = f"{outer} programs of {runs} ({n_outer * grid.size} in all)"
    what = " ".join(
        "(" + "|".join(map(str, map(sweep.coord_label, dict(axes)[f]))) + ")"
        if f in dict(axes)
        else train.label(getattr(cfg, f))
        for f in ("model", "scheme")
    )
    _say(f"sweep: {what} on {data.name}, {cfg.epochs} epochs; {runs}")
    progress = not args.quiet
    if args.out is None or axes:
        try:
            ds = sweep.run(
                cfg,
                data,
                grid.seeds.tolist(),
                grid.sigmas.tolist(),
                grid.lrs.tolist(),
                over=dict(axes),
                out=args.out,
                checkpoint_every=args.checkpoint_every,
                overwrite=args.overwrite,
                progress=progress,
            )
        except checkpoint.FingerprintMismatch as e:
            fail(str(e))
        except (checkpoint.Interrupted, KeyboardInterrupt) as e:
            done = f" after epoch {e.epochs_done} of {e.epochs}" if hasattr(e, "epochs") else ""
            resume = "initjax " + shlex.join(a for a in argv if a != "--overwrite")
            _say(
                f"interrupted{done}; checkpoints kept in {args.out}", "resume with:", f"  {resume}"
            )
            return EXIT_INTERRUPTED
        where = (
            "(no --out: nothing written)"
            if args.out is None
            else (
                f"results: {args.out / checkpoint.RESULTS} (netCDF), {args.out / checkpoint.TABLE}"
            )
        )
        _say(results.summary(ds), where)
        return 0
    resume = "initjax " + shlex.join(a for a in argv if a != "--overwrite")
    try:
        outcome = checkpoint.run(
            cfg,
            data,
            grid,
            args.out,
            every=args.checkpoint_every,
            overwrite=args.overwrite,
            progress=progress,
        )
    except checkpoint.FingerprintMismatch as e:
        fail(str(e))
    except checkpoint.Interrupted as e:
        _say(
            f"interrupted after epoch {e.epochs_done} of {e.epochs}; checkpoint saved in "
            f"{args.out / checkpoint.CHECKPOINTS}",
            "resume with:",
            f"  {resume}",
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _say("aborted; the last complete checkpoint (if any) is kept. Resume with:", f"  {resume}")
        return EXIT_INTERRUPTED
    if outcome.already_complete:
        _say(f"{args.out} already holds this sweep, complete; nothing to train.")
    _say(
        results.summary(outcome.result),
        f"results: {args.out / checkpoint.RESULTS} (netCDF), {args.out / checkpoint.TABLE}",
    )
    return 0


# ----------------------------------------------------------------------------- experiments


def _rows_table(rows: Sequence[Any]) -> str:
    lines = []
    for r in rows:
        lines.append(f"  [{r.status:>4}] {r.claim}: ours {r.ours}; anchor {r.anchor}")
    return "\n".join(lines)


def _no_experiments(command: str, e: Exception) -> int:
    print(f"initjax {command}: {e}", file=sys.stderr)
    return EXIT_USAGE


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from initjax import study
    from initjax.errors import unknown

    try:
        valid = study.names(args.experiments)
    except study.ExperimentsNotFound as e:
        return _no_experiments("run", e)
    if args.experiment not in valid:
        _usage_error(parser, "run", str(unknown("experiment", args.experiment, valid)))
    t0 = time.perf_counter()
    try:
        rows = study.run_one(
            args.experiment, args.out, args.scale, not args.quiet, directory=args.experiments
        )
    except Exception as e:
        path = study.report(args.out, directory=args.experiments)
        print(
            f"initjax run: {args.experiment} failed: {type(e).__name__}: {e}\n"
            f"(recorded in {args.out / args.experiment / study.ERROR} and {path})",
            file=sys.stderr,
        )
        return 1
    path = study.report(args.out, directory=args.experiments)
    _say(
        f"{args.experiment} ({args.scale}) done in {time.perf_counter() - t0:.0f} s: "
        f"{args.out / args.experiment}",
        _rows_table(rows),
        f"report: {path}",
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from initjax import study

    try:
        study.where(args.experiments)
        path = study.reproduce(
            args.scale, args.out, progress=not args.quiet, directory=args.experiments
        )
    except study.ExperimentsNotFound as e:
        return _no_experiments("reproduce", e)
    except study.ExperimentsFailed as e:
        print(f"initjax reproduce: {e}", file=sys.stderr)
        return 1
    _say(f"report: {path}")
    return 0


def cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from initjax import study

    if not args.dir.is_dir():
        _usage_error(
            parser,
            "report",
            f"{args.dir} is not a folder of results "
            "(run `initjax reproduce --quick` or `initjax run EXPERIMENT` first)",
        )
    _say(f"report: {study.report(args.dir, redraw=True, directory=args.experiments)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from initjax import data as datasets
    from initjax import init as schemes
    from initjax import models, study, train

    def scale(name: str) -> str:
        param = schemes.scale_param(name)
        return f"{name} (scale: {param})" if param else name

    lines = ["init schemes (--scheme; --sigmas sets the scale argument shown):"]
    lines += [f"  {scale(n)}" for n in schemes.names()]
    lines += ["models (--model):", "  " + ", ".join(models.names())]
    lines += ["optimizers (--optimizer):", "  " + ", ".join(train.optimizer_names())]
    lines += ["lr schedules (--schedule):", "  " + ", ".join(train.SCHEDULES)]
    lines += ["activations (--activation):", "  " + ", ".join(models.activation_names())]
    lines += ["datasets (--dataset):", "  " + ", ".join(datasets.names())]
    try:
        found = study.modules(args.experiments)
    except study.ExperimentsNotFound as e:
        lines.append(f"experiments: none ({e})")
    else:
        lines.append(f"experiments in {study.where(args.experiments)} (initjax run NAME; "
                     "reproduce runs all but extras):")  # fmt: skip
        for name, module in found.items():
            extra = " [extra]" if getattr(module, "EXTRA", False) else ""
            text = module if isinstance(module, str) else getattr(module, "QUESTION", "")
            lines.append(f"  {name}{extra}: {text}")
    _say(*lines)
    return 0


def _place(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Apply --devices and the multi-process flags; must run before JAX starts a backend."""
    import os

    from initjax import shard

    if args.devices is not None:
        if args.devices < 1:
            parser.error(f"--devices must be a positive number of devices, got {args.devices}")
        shard.set_cpu_devices(args.devices)
    multi = (args.coordinator, args.num_processes, args.process_id)
    from_env = "JAX_COORDINATOR_ADDRESS" in os.environ
    if any(v is not None for v in multi) or from_env:
        if not from_env and any(v is None for v in multi):
            parser.error("--coordinator, --num-processes and --process-id go together")
        if args.num_processes is not None and not 0 <= (args.process_id or 0) < args.num_processes:
            parser.error(
                f"--process-id must be in 0..{args.num_processes - 1}, got {args.process_id}"
            )
        shard.initialize(args.coordinator, args.num_processes, args.process_id)


def _load_plugins(argv: Sequence[str]) -> None:
    """Import every ``--plugin FILE`` before the parser is built, so that what they register
    is a valid choice (and shows in ``--help``). A bad plugin exits 2."""
    from initjax import plugins

    paths = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            paths.append(arg.removeprefix("--plugin="))
    for path in paths:
        try:
            plugins.load(path)
        except plugins.PluginError as e:
            print(f"initjax sweep: error: --plugin: {e}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _load_plugins(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            _place(args, _subparser(parser, "sweep"))
            return cmd_sweep(args, parser, argv)
        if args.command == "run":
            return cmd_run(args, parser)
        if args.command == "reproduce":
            return cmd_reproduce(args)
        if args.command == "report":
            return cmd_report(args, parser)
        return cmd_list(args)
    except KeyboardInterrupt:
        print(f"initjax {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``initjax`` command: sweep, run EXPERIMENT, reproduce, report, list.

Thin on purpose: every command parses and validates its arguments (building the Config,
reading the grids, loading the data) before anything is written, then calls the library
(:mod:`initjax.checkpoint`, :mod:`initjax.sweep`, :mod:`initjax.study`).
Exit status: 0 done; 1 a failure that is not the command's fault (dataset missing, results
damaged beyond recovery, disk full), in one line naming it; 2 a bad flag or value, an
unusable ``--out``, a folder holding another sweep or in use by another process — nothing
written; 130 (Ctrl-C) or 143 (SIGTERM) interrupted, after printing the command that resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import initjax
from initjax import cli_args, cli_report

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
_CONFIG_FILE = "sweep.toml"  # config_file.FILE, without importing it for --help
MAX_DEVICES = 1024  # virtual CPU devices; XLA takes minutes to set up many thousands

DESCRIPTION = """\
initjax: weight initialization studied with JAX.

  initjax sweep --model softmax --scheme normal --sigmas 0,1e-3,1e-2,1e-1,1 --seeds 5 \\
      --epochs 10 --out runs/d2l        a (seed, σ, lr) grid as one compiled program
  initjax run d2l_softmax --quick      one experiment: results, figures, verdict
  initjax reproduce --quick            every experiment, then runs/REPORT.md
  initjax report runs                  REPORT.md and figures again from saved results
  initjax plot runs/d2l                figures of a sweep folder (several: compared)
  initjax report runs/d2l              a sweep's REPORT.md: settings, table, figures
  initjax list                         schemes, activations, datasets, experiments
"""


def _epilog() -> str:
    fields = ", ".join(cli_args.flag(n) for n in cli_args.config_field_names())
    return (
        "`initjax sweep` takes one flag per training-config field (initjax.train.Config): "
        f"{fields}. See `initjax sweep --help` for what each means.\n\n"
        "Documentation (tutorials, API, CLI, experiments): docs/ in the source checkout; build "
        "it with `python -m sphinx -b html docs docs/_build/html`."
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
    out.add_argument(
        "--out", type=cli_args.out_dir, metavar="DIR", help="folder for results/checkpoints"
    )
    out.add_argument(
        "--checkpoint-every",
        type=cli_args.positive_int,
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
    out.add_argument(
        "--max-memory",
        type=cli_args.memory_size,
        metavar="SIZE",
        help="memory a grid may use, e.g. 8GB (default: $INITJAX_MEMORY_LIMIT, else the "
        "available memory); a grid that needs more runs in chunks of seeds that fit",
    )
    out.add_argument(
        "--dry-run",
        action="store_true",
        help="print the memory estimate, the number of programs and an ETA from a short "
        "timed probe, then exit 0 without training or writing anything",
    )
    out.add_argument(
        "--log-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when stderr is not a terminal (a log file), progress is one line per chunk of "
        "epochs; write at most one per SECONDS (default: 0, every chunk)",
    )
    out.add_argument(
        "--config",
        metavar="FILE.toml",
        help="read settings from a TOML file (keys: the flags' names, e.g. hidden = [64], "
        "sigmas = [0.5, 1], scheme = ['a', 'b'] for an outer axis); flags given as well "
        f"override it; with --out the effective settings are stored as DIR/{_CONFIG_FILE}",
    )
    out.add_argument(
        "--dump-config",
        action="store_true",
        help="print the effective settings (file, flags, defaults, grids) as TOML and exit",
    )
    where = sweep.add_argument_group(
        "devices and hosts",
        "The grid is sharded over every device JAX sees; results equal the one-device run.",
    )
    where.add_argument(
        "--devices",
        type=cli_args.positive_int,
        metavar="N",
        help="split the CPU into N virtual devices (CPU only; default: 1, see README)",
    )
    where.add_argument(
        "--coordinator",
        type=cli_args.host_port,
        metavar="HOST:PORT",
        help="join a multi-process sweep (jax.distributed) coordinated by process 0 at HOST:PORT",
    )
    where.add_argument(
        "--num-processes", type=cli_args.positive_int, metavar="N", help="processes in the sweep"
    )
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

    cli_report.add_parsers(sub)
    _experiments_flag(sub.choices["report"])
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


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- sweep


def cmd_sweep(
    args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]
) -> int:
    from initjax import (
        checkpoint,
        config_file,
        lock,
        memory,
        plan,
        results,
        space,
        stop,
        sweep,
        train,
    )
    from initjax import data as datasets

    def fail(message: str) -> NoReturn:
        _usage_error(parser, "sweep", message)

    try:
        cfg, over = cli_args.config_from_args(args)
        axes = sweep.outer_axes(cfg, over)
    except (ValueError, TypeError, OverflowError) as e:
        kwargs = args.scheme_kwargs if isinstance(args.scheme_kwargs, dict) else {}
        fail(cli_args.name_flags(str(e), e, kwargs.items()))
    try:
        grid = sweep.Grid.make(
            args.seeds,
            args.sigmas if args.sigmas is not None else [cfg.default_sigma()],
            args.lrs if args.lrs is not None else [cfg.lr],
        )
    except ValueError as e:
        word = str(e).split()[0]  # Grid.make's messages start with the axis they are about
        fail(f"--{word}: {e}" if word in ("seeds", "sigmas", "lrs") else str(e))
    if args.out is None and args.overwrite:
        fail("--overwrite needs --out")
    if args.out is not None and (problem := cli_args.unusable_out(args.out)):
        fail(f"--out {args.out}: {problem}")
    settings = config_file.dump(cfg, dict(axes), grid, _sweep_options(args))
    if args.dump_config:
        print(settings, end="")
        return 0
    try:
        data = datasets.load(
            cfg.dataset, data_dir=args.data_dir, normalize=cfg.normalize, **args.data_args
        )
    except datasets.DataNotFoundError as e:
        print(f"initjax sweep: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OverflowError, MemoryError) as e:
        fail(f"--data-args: cannot load dataset {cfg.dataset!r}: {type(e).__name__}: {e}")
    names = [n for n, _ in axes]
    subs, chunked = [], False
    for combo in itertools.product(*(v for _, v in axes)):  # one config per outer combination
        sub = cfg.replace(**dict(zip(names, combo, strict=True)))
        subs.append(sub)
        try:
            train._check_data(sub, data)
            # Memory is estimated by tracing the model: bad scheme arguments fail here too.
            chunked |= len(plan.seed_chunks(sub, grid, data, args.max_memory)) > 1
        except memory.TooBig as e:
            fail(str(e))
        except Exception as e:  # anything the config meets first inside the model
            text = f"{type(e).__name__}: {e}".removeprefix("ValueError: ")
            fail(cli_args.name_flags(text, e, sub.scheme_kwargs))

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
    if args.dry_run:
        _say("dry run: " + plan.dry_run(subs, grid, data, args.max_memory).describe())
        return 0
    progress = not args.quiet
    resume = "initjax " + shlex.join(a for a in argv if a != "--overwrite")
    abort = f"the last complete checkpoint is kept. Resume with:\n  {resume}"
    if args.out is None:
        abort = "nothing was saved (no --out)"
    # Ctrl-C/SIGTERM: stop at the next chunk, a second one leaves at once (never unwinding
    # into a running XLA compile). Not for outer axes without --out: nothing could stop them.
    handled = args.out is not None or not axes
    try:
        with stop.StopOnSignal(_err, abort) if handled else contextlib.nullcontext() as stopper:
            if args.out is None or axes or chunked:

                def on_chunk(state: Any) -> None:
                    if stopper is not None and stopper.requested:
                        raise KeyboardInterrupt

                extra = {} if (axes or chunked) else {"on_chunk": on_chunk}
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
                    max_memory=args.max_memory,
                    **extra,
                )
                complete = False
            else:
                outcome = checkpoint.run(
                    cfg,
                    data,
                    grid,
                    args.out,
                    every=args.checkpoint_every,
                    overwrite=args.overwrite,
                    progress=progress,
                    abort_message=abort,
                )
                ds, complete = outcome.result, outcome.already_complete
    except (checkpoint.FingerprintMismatch, lock.FolderLocked) as e:
        fail(str(e))
    except (results.DamagedResults, space.DiskFull) as e:
        print(f"initjax sweep: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except (checkpoint.Interrupted, KeyboardInterrupt) as e:
        for s in stop.SIGNALS:  # a further signal must not cut the message short
            signal.signal(s, signal.SIG_IGN)
        if args.out is None:
            _say("interrupted; nothing was saved (no --out)")
            return EXIT_INTERRUPTED
        if isinstance(e, checkpoint.Interrupted) and e.epochs_done:
            done = f" after epoch {e.epochs_done} of {e.epochs}; checkpoints kept in {args.out}"
        else:
            done = f"; the last complete checkpoints (if any) are kept in {args.out}"
        _say(f"interrupted{done}", "resume with:", f"  {resume}")
        return getattr(e, "exit_code", EXIT_INTERRUPTED)
    if args.out is None:
        _say(results.summary(ds), "(no --out: nothing written)")
        return 0
    if complete:
        _say(f"{args.out} already holds this sweep, complete; nothing to train.")
    results.write_text(args.out / config_file.FILE, settings)
    _say(
        results.summary(ds),
        f"results: {args.out / checkpoint.RESULTS} (netCDF), {args.out / checkpoint.TABLE}",
    )
    return 0


def _sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep options (not Config fields, not grids) that a config file keeps."""
    return {
        "data_args": args.data_args,
        "data_dir": args.data_dir,
        "checkpoint_every": args.checkpoint_every,
        "plugin": args.plugin,
    }


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
        if args.devices > MAX_DEVICES:
            parser.error(f"--devices must be at most {MAX_DEVICES}, got {args.devices}")
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
        try:
            shard.initialize(args.coordinator, args.num_processes, args.process_id)
        except Exception as e:  # jax.distributed: unreachable coordinator, bad environment
            parser.error(f"--coordinator: cannot join the multi-process sweep: {e}")


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
    from initjax import config_file

    try:
        argv = config_file.expand(argv)
    except config_file.ConfigFileError as e:
        print(f"initjax sweep: error: --config: {e}", file=sys.stderr)
        return EXIT_USAGE
    _load_plugins(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            _place(args, _subparser(parser, "sweep"))
            if not args.log_every >= 0:
                _usage_error(parser, "sweep", f"--log-every must be >= 0 s, got {args.log_every}")
            from initjax import aggregate, logs

            with logs.interval(args.log_every), warnings.catch_warnings():
                warnings.simplefilter("ignore", aggregate.DivergedWarning)  # summary says it
                return cmd_sweep(args, parser, argv)
        if args.command == "run":
            return cmd_run(args, parser)
        if args.command == "reproduce":
            return cmd_reproduce(args)
        if args.command == "report":
            return cli_report.report(args, _subparser(parser, "report"))
        if args.command == "plot":
            return cli_report.plot(args)
        if args.command == "tensorboard":
            return cli_report.tensorboard(args)
        return cmd_list(args)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        print(f"initjax {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``initjax`` command: sweep, run EXPERIMENT, reproduce, report, list.

Thin on purpose: every command parses and validates its arguments (building the Config,
reading the grids, loading the data) before anything is written, then calls the library
(:mod:`initjax.checkpoint`, :mod:`initjax.sweep`, :mod:`initjax.study`).
The parser is :mod:`initjax.cli_parser` and ``sweep`` :mod:`initjax.cli_sweep`; the other
commands are here (``report``/``plot``/``tensorboard``: :mod:`initjax.cli_report`).
Exit status: 0 done; 1 a failure that is not the command's fault (dataset missing, results
damaged beyond recovery, disk full), in one line naming it; 2 a bad flag or value, an
unusable ``--out``, a folder holding another sweep or in use by another process — nothing
written; 130 (Ctrl-C) or 143 (SIGTERM) interrupted, after printing the command that resumes.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from initjax import cli_report
from initjax.cli_parser import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MAX_DEVICES,
    build_parser,
    say,
    subparser,
    usage_error,
)
from initjax.cli_sweep import cmd_sweep

__all__ = ["build_parser", "cmd_list", "cmd_reproduce", "cmd_run", "cmd_sweep", "main"]

# ----------------------------------------------------------------------------- experiments


def _rows_table(rows: Sequence[Any]) -> str:
    from initjax.verdict import counts, line

    return "\n".join([*(line(r) for r in rows), f"  {counts(rows)}"])


def _no_experiments(command: str, e: Exception) -> int:
    print(f"initjax {command}: {e}", file=sys.stderr)
    return EXIT_USAGE


def _stopped(command: str, e: Exception, where: Path) -> int:
    """A stop asked for by Ctrl-C or SIGTERM: what was kept and how to go on."""
    print(
        f"initjax {command}: stopped ({e}); the checkpoints and finished parts are kept in "
        f"{where}: run the same command again to resume",
        file=sys.stderr,
    )
    return int(getattr(e, "exit_code", EXIT_INTERRUPTED))


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from initjax import study
    from initjax.errors import unknown

    try:
        valid = study.names(args.experiments)
    except study.ExperimentsNotFound as e:
        return _no_experiments("run", e)
    if args.experiment not in valid:
        usage_error(parser, "run", str(unknown("experiment", args.experiment, valid)))
    from initjax import checkpoint, plan

    t0 = time.perf_counter()
    try:
        with plan.seeds_per_program(args.seeds_per_program):
            rows = study.run_one(
                args.experiment, args.out, args.scale, not args.quiet, directory=args.experiments
            )
    except checkpoint.Interrupted as e:
        return _stopped("run", e, args.out / args.experiment)
    except checkpoint.FingerprintMismatch as e:  # refused before training that sweep
        print(
            f"initjax run: {args.experiment}: {e.out_dir} holds a different sweep "
            f"(fingerprint mismatch): {'; '.join(e.differences)}. Nothing was recorded as "
            f"failed; use another --out folder, or delete {e.out_dir} to train it anew.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except Exception as e:
        path = study.report(args.out, directory=args.experiments)
        print(
            f"initjax run: {args.experiment} failed: {type(e).__name__}: {e}\n"
            f"(recorded in {args.out / args.experiment / study.ERROR} and {path})",
            file=sys.stderr,
        )
        return 1
    path = study.report(args.out, directory=args.experiments)
    say(
        f"{args.experiment} ({args.scale}) done in {time.perf_counter() - t0:.0f} s: "
        f"{args.out / args.experiment}",
        _rows_table(rows),
        f"report: {path}",
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from initjax import checkpoint, plan, study

    try:
        study.where(args.experiments)
        with plan.seeds_per_program(args.seeds_per_program):
            path = study.reproduce(
                args.scale, args.out, progress=not args.quiet, directory=args.experiments
            )
    except checkpoint.Interrupted as e:
        return _stopped("reproduce", e, args.out)
    except study.ExperimentsNotFound as e:
        return _no_experiments("reproduce", e)
    except study.ExperimentsFailed as e:
        print(f"initjax reproduce: {e}", file=sys.stderr)
        return 1
    say(f"report: {path}")
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
    say(*lines)
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
            _place(args, subparser(parser, "sweep"))
            if not args.log_every >= 0:
                usage_error(parser, "sweep", f"--log-every must be >= 0 s, got {args.log_every}")
            from initjax import aggregate, logs, plan

            with (
                logs.interval(args.log_every),
                warnings.catch_warnings(),
                plan.seeds_per_program(args.seeds_per_program),
            ):
                warnings.simplefilter("ignore", aggregate.DivergedWarning)  # summary says it
                return cmd_sweep(args, parser, argv)
        if args.command == "run":
            return cmd_run(args, parser)
        if args.command == "reproduce":
            return cmd_reproduce(args)
        if args.command == "report":
            return cli_report.report(args, subparser(parser, "report"))
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

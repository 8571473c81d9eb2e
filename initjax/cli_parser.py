"""The ``initjax`` command line: its argument parser, exit statuses and output helpers.

:func:`build_parser` builds every command's flags (``sweep``'s one per
:class:`initjax.train.Config` field, from :mod:`initjax.cli_args`; ``report``/``plot``/
``tensorboard`` from :mod:`initjax.cli_report`); the commands themselves are
:mod:`initjax.cli` and :mod:`initjax.cli_sweep`, which share the helpers here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

import initjax
from initjax import cli_args, cli_report

__all__ = [
    "DESCRIPTION",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "MAX_DEVICES",
    "build_parser",
    "err",
    "say",
    "subparser",
    "usage_error",
]

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
_CONFIG_FILE = "sweep.toml"  # config_file.FILE, without importing it for --help
MAX_DEVICES = 1024  # virtual CPU devices; XLA takes minutes to set up many thousands

DESCRIPTION = """\
initjax: weight initialization studied with JAX.

  initjax sweep --model softmax --scheme normal --sigmas 0,1e-3,1e-2,1e-1,1 --seeds 5 \\
      --epochs 10 --out runs/d2l        a (seed, σ, lr) grid as one compiled program
  initjax run d2l_softmax --quick      one experiment: results, figures, verdict
  initjax reproduce --quick            every experiment but throughput, then runs/REPORT.md
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
        "Documentation (tutorials, API, CLI, experiments gallery): docs/ in the source checkout; "
        'build it with `python -m pip install -e ".[docs]" && python -m sphinx -W -b html docs '
        "docs/_build/html` and open docs/_build/html/index.html. Committed full-scale results: "
        "docs/<experiment>/, listed with their commands and machines in docs/README.md."
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
        "one program per value, all in one results file with a dimension per axis "
        "(not --lr and --sigma: --lrs and --sigmas are the grid's own axes; not --dataset, "
        "--num-classes, --normalize, --epochs: one sweep per value). "
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
        "--seeds-per-program",
        type=cli_args.positive_int,
        metavar="N",
        help="at most N seeds per compiled program (default: as many as fit in memory), each "
        "saved, sealed, in OUT/parts/<j>/ when done (removed once the whole sweep is saved), "
        "so that a sweep stopped early keeps its finished programs; a resume needs the same N",
    )
    out.add_argument(
        "--dry-run",
        action="store_true",
        help="print the memory estimate, the number of programs (and how many --out already "
        "holds finished: they are read back, not trained) and an ETA for the epochs left "
        "(less those an epoch checkpoint in --out holds) from a short timed probe, then exit 0 without training or writing anything (2 when --out holds "
        "another sweep, as the run would)",
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
        help="run every experiment (not the extras) and write OUT/REPORT.md",
        description="Run every experiment but the extras (the throughput benchmark: run it "
        "with initjax run throughput), then write OUT/REPORT.md with a verdict per claim.",
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
        help="seconds to ~2 minutes per experiment on 2 CPU cores (default)",
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
    p.add_argument(
        "--seeds-per-program",
        type=cli_args.positive_int,
        metavar="N",
        help="train at most N seeds per compiled program (default: as many as fit in memory); "
        "in the experiments that checkpoint their sweeps (the long ones) each program is "
        "saved, sealed, under OUT/EXPERIMENT/_checkpoints when done, so a run stopped early "
        "keeps its finished programs to resume from, here or on another machine; a resume "
        "needs the same N",
    )
    _experiments_flag(p)


def _experiments_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--experiments",
        type=Path,
        metavar="DIR",
        help="the folder of experiment scripts (default: $INITJAX_EXPERIMENTS, ./experiments, "
        "or experiments/ of the checkout initjax is installed from)",
    )


def usage_error(parser: argparse.ArgumentParser, command: str, message: str) -> NoReturn:
    sub = subparser(parser, command)
    sub.error(message)


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser


def say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

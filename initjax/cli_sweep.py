"""``initjax sweep``: a (seed, σ, lr) grid, with outer axes, from the command line.

Every flag is parsed and checked (the Config, the grids, the dataset, the memory a grid
needs) before anything is written; then :func:`initjax.sweep.run` or, for a resumable
``--out`` folder, :func:`initjax.checkpoint.run` trains, and the summary table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from initjax import cli_args
from initjax.cli_parser import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, err, say, usage_error

__all__ = ["cmd_sweep"]


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

    def fail(message: str) -> NoReturn:  # a flag's value: the usage, then the message
        usage_error(parser, "sweep", message)

    def refuse(message: str) -> NoReturn:  # the folder's or machine's state: no usage text
        print(f"initjax sweep: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)

    try:
        cfg, over = cli_args.config_from_args(args)
        axes = sweep.outer_axes(cfg, over)
    except (ValueError, TypeError, OverflowError) as e:
        kwargs = args.scheme_kwargs if isinstance(args.scheme_kwargs, dict) else {}
        fail(cli_args.name_flags(str(e), e, kwargs.items()))
    try:
        grid = sweep.Grid.of(cfg, args.seeds, args.sigmas, args.lrs)
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
    subs, chunks = [], []  # chunks: each combination's seed chunks (one program each)
    for combo in itertools.product(*(v for _, v in axes)):  # one config per outer combination
        sub = cfg.replace(**dict(zip(names, combo, strict=True)))
        subs.append(sub)
        try:
            train._check_data(sub, data)
            # Memory is estimated by tracing the model: bad scheme arguments fail here too.
            chunks.append(plan.seed_chunks(sub, grid, data, args.max_memory))
        except memory.TooBig as e:
            refuse(str(e))
        except Exception as e:  # anything the config meets first inside the model
            text = f"{type(e).__name__}: {e}".removeprefix("ValueError: ")
            fail(cli_args.name_flags(text, e, sub.scheme_kwargs))

    chunked = any(len(c) > 1 for c in chunks)
    n_outer = 1
    for _, values in axes:
        n_outer *= len(values)
    runs = f"{grid.shape[0]} seeds × {grid.shape[1]} σ × {grid.shape[2]} lr = {grid.size} runs"
    if axes:
        outer = " × ".join(f"{len(v)} {n}" for n, v in axes)
        runs = f"{outer} programs of {runs} ({n_outer * grid.size} in all)"
    if chunked:
        each = {"+".join(str(s.size) for s in c) for c in chunks}
        runs += "; seeds split into programs of " + " / ".join(sorted(each)) + " seeds"
        if axes:
            runs += " per combination"
    what = " ".join(
        "(" + "|".join(map(str, map(sweep.coord_label, dict(axes)[f]))) + ")"
        if f in dict(axes)
        else train.label(getattr(cfg, f))
        for f in ("model", "scheme")
    )
    epochs = f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}"
    say(f"sweep: {what} on {data.name}, {epochs}; {runs}")
    if args.dry_run:
        held: list[int] = []  # per program, the epochs --out already holds
        if args.out is not None:
            try:
                lock.check(args.out)  # as the run would: refused while another one runs
                if not args.overwrite:
                    held = sweep.epochs_done(cfg, data, grid, axes, chunks, args.out)
            except (checkpoint.FingerprintMismatch, lock.FolderLocked) as e:
                refuse(str(e))
        say("dry run: " + plan.dry_run(subs, grid, data, args.max_memory, held).describe())
        if (
            args.overwrite
            and args.out is not None
            and args.out.exists()
            and any(args.out.iterdir())
        ):
            say(f"--overwrite: the run would first discard everything {args.out} holds")
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
        with stop.StopOnSignal(err, abort) if handled else contextlib.nullcontext() as stopper:
            if args.out is None or axes or chunked:

                def on_chunk(state: Any) -> None:
                    if stopper is not None and stopper.requested:
                        raise KeyboardInterrupt

                extra = {} if (axes or chunked) else {"on_chunk": on_chunk}
                ds = sweep.run(
                    cfg,
                    data,
                    *grid.values(),
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
        refuse(str(e))
    except (results.DamagedResults, space.DiskFull) as e:
        print(f"initjax sweep: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except (checkpoint.Interrupted, KeyboardInterrupt) as e:
        for s in stop.SIGNALS:  # a further signal must not cut the message short
            signal.signal(s, signal.SIG_IGN)
        if args.out is None:
            say("interrupted; nothing was saved (no --out)")
            return EXIT_INTERRUPTED
        if isinstance(e, checkpoint.Interrupted) and e.epochs_done:
            done = f" after epoch {e.epochs_done} of {e.epochs}; checkpoints kept in {args.out}"
        else:
            done = f"; the last complete checkpoints (if any) are kept in {args.out}"
        say(f"interrupted{done}", "resume with:", f"  {resume}")
        return getattr(e, "exit_code", EXIT_INTERRUPTED)
    if args.out is None:
        say(results.summary(ds), "(no --out: nothing written)")
        return 0
    if complete:
        say(f"{args.out} already holds this sweep, complete; nothing to train.")
    results.write_text(args.out / config_file.FILE, settings)
    say(
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
        # the seed chunks are part of what a folder holds: a resume needs the same ones
        "max_memory": args.max_memory,
        "seeds_per_program": args.seeds_per_program,
    }

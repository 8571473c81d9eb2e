"""A finished sweep's per-epoch metrics as TensorBoard event files: one run per cell.

Needs the ``tensorboard`` extra (``pip install "initjax[tensorboard]"``: tensorboardX, which
writes event files without TensorFlow)::

    ij.tensorboard.export(ij.results.load("runs/d2l/results.nc"), "runs/d2l/tensorboard")
    # or: initjax tensorboard runs/d2l ; then: tensorboard --logdir runs/d2l/tensorboard

Each cell (outer values × seed × σ × lr) is one run, named by its coordinates
(``scheme=he_normal/seed=0,sigma=0.5,lr=0.1``); its scalars are the per-epoch variables
(``test_acc``, ``train_loss`` …; a per-layer one as ``grad_norm/hidden_0``) at step = epoch
(a diverged run's NaN epochs left out), and its coordinates are its hyperparameters (TensorBoard's HParams tab filters on them), with
``diverged`` and the final metrics. :func:`read` reads the scalars back as a table.
"""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

CELL_DIMS = ("seed", "sigma", "lr")


def _writer() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError(
            "TensorBoard export needs tensorboardX, which is not installed: "
            'pip install "initjax[tensorboard]" (or pip install tensorboardX)'
        ) from None
    return SummaryWriter


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return value if isinstance(value, int | float | bool) else str(value)


def cells(ds: xr.Dataset) -> list[dict[str, Any]]:
    """Every cell's coordinates: outer axes, then seed, σ, lr."""
    dims = [str(d) for d in ds["diverged"].dims if d not in CELL_DIMS] + list(CELL_DIMS)
    values = [ds[d].values.tolist() for d in dims]
    return [dict(zip(dims, combo, strict=True)) for combo in itertools.product(*values)]


def run_name(cell: dict[str, Any]) -> str:
    """``"scheme=he_normal/seed=0,sigma=0.5,lr=0.1"`` (outer axes as a folder level)."""
    outer = ",".join(f"{k}={_fmt(v)}" for k, v in cell.items() if k not in CELL_DIMS)
    inner = ",".join(f"{k}={_fmt(cell[k])}" for k in CELL_DIMS)
    return f"{outer}/{inner}".replace(" ", "_") if outer else inner


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value).replace("/", "_")


def export(ds: xr.Dataset, logdir: str | Path) -> list[Path]:
    """Write one TensorBoard run per cell of ``ds`` under ``logdir``; returns the run folders."""
    from tensorboardX.summary import hparams

    writer_cls = _writer()
    per_epoch = [
        str(v) for v in ds.data_vars if "epoch" in ds[v].dims and ds[v].dtype.kind in "fiub"
    ]
    finals = [m for m in ("test_acc", "test_loss", "train_loss") if m in per_epoch]
    epochs = ds["epoch"].values.tolist()
    out = []
    for cell in cells(ds):
        where = Path(logdir) / run_name(cell)
        at = ds.sel(cell)
        with writer_cls(str(where), flush_secs=3600) as w:
            for name in per_epoch:
                var = at[name]
                extra = [d for d in var.dims if d != "epoch"]
                for combo in itertools.product(*(var[d].values.tolist() for d in extra)):
                    series = var.sel(dict(zip(extra, combo, strict=True))).values
                    tag = "/".join([name, *map(str, combo)])
                    for epoch, value in zip(epochs, series, strict=True):
                        if np.isfinite(value):  # a diverged run's NaN epochs are left out
                            w.add_scalar(tag, float(value), int(epoch))
            params = {k: _plain(v) for k, v in cell.items()}
            params["diverged"] = bool(at["diverged"])
            final = {m: float(at[m].isel(epoch=-1)) for m in finals}
            metrics = {f"final/{m}": v for m, v in final.items() if np.isfinite(v)}
            for summary in hparams(params, metrics):
                w._get_file_writer().add_summary(summary)
        out.append(where)
    return out


def _records(path: Path) -> list[bytes]:
    """The records of a TFRecord file (length-prefixed; CRCs not checked)."""
    data, out, i = path.read_bytes(), [], 0
    while i + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        out.append(data[i + 12 : i + 12 + n])
        i += 12 + n + 4
    return out


def read(logdir: str | Path) -> pd.DataFrame:
    """The scalars of every run under ``logdir``: columns run, tag, step, value."""
    from tensorboardX.proto import event_pb2

    rows = []
    root = Path(logdir)
    for path in sorted(root.rglob("events.out.tfevents.*")):
        run = str(path.parent.relative_to(root))
        for record in _records(path):
            event = event_pb2.Event.FromString(record)
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    rows.append((run, v.tag, int(event.step), float(v.simple_value)))
    return pd.DataFrame(rows, columns=["run", "tag", "step", "value"])

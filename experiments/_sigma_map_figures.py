"""sigma_map's figure (beside ``sigma_map.py``): one row of panels per dataset, one panel per
depth, the tuned accuracy over σ per width with the He and Xavier nets marked at their std."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from initjax import plots

MARKERS = {
    "he_normal": ("s", 2.0, "He net (every layer at its own fan-in; shown at √(2/n))"),
    "xavier_normal": ("^", 1.0, "Xavier net (likewise; shown at √(1/n))"),
}
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def draw_map(
    accs: dict[str, xr.DataArray],
    ms: dict[str, dict[str, Any]],
    stem: Path,
    *,
    d2l_sigma: float,
    chance: float,
    lost: dict[str, xr.DataArray] | None = None,
) -> list[Path]:
    """``accs[dataset]``: seed-mean tuned accuracy (width, depth, σ); ``ms``: sigma_map's
    measure (the schemes' accuracies per cell); ``lost[dataset]``: True where every lr
    diverged (those σ count as chance and are crossed out). Writes ``stem``.png/.svg."""
    ncols = max(len(m["depths"]) for m in ms.values())
    fig, axes = plots.figure(nrows=len(ms), ncols=ncols, size=(3.6, 3.2))
    for row, (name, m) in enumerate(ms.items()):
        mean = accs[name]
        colors = dict(zip(mean.width.values, COLORS, strict=False))
        panels = axes[row * ncols : (row + 1) * ncols]
        for ax in panels[len(m["depths"]) :]:
            ax.set_axis_off()
        for ax, d in zip(panels, mean.depth.values, strict=False):
            for w, c in colors.items():
                ax.plot(mean.sigma.values, mean.sel(width=w, depth=d), "o-", ms=3, color=c,
                        label=f"n = {w}")  # fmt: skip
                if lost is not None:
                    gone = lost[name].sel(width=w, depth=d).values.astype(bool)
                    ax.plot(mean.sigma.values[gone], np.full(gone.sum(), chance), "x", ms=7,
                            mew=1.5, color=c)  # fmt: skip
                cell = m["cells"][f"{int(w)}x{int(d)}"]
                for s, (marker, gain2, _) in MARKERS.items():
                    ax.plot([math.sqrt(gain2 / int(w))], [np.mean(cell["schemes"][s])], marker,
                            color=c, mec="k", ms=7)  # fmt: skip
            plots.anchor_line(ax, d2l_sigma, "σ = 0.01 (d2l)", vertical=True, color="gray")
            plots.anchor_line(ax, chance, "chance")
            for marker, _, label in MARKERS.values():
                ax.plot([], [], marker, color="w", mec="k", label=label)
            if lost is not None and bool(lost[name].sel(depth=d).any()):
                ax.plot([], [], "x", color="k", label="every lr diverged (counted as chance)")
            ax.set(xscale="log", ylim=(0, None))
            plots.label(ax, "σ of every kernel", "final test acc (tuned lr, seed mean)",
                        f"{plots.dataset_name(name)}: {int(d)} hidden layer(s), "
                        f"{m['epochs']} epochs", fontsize=6)  # fmt: skip
    fig.suptitle("ReLU MLP, every kernel N(0, σ²), SGD: final test accuracy over σ × width × depth")
    return plots.save(fig, stem)

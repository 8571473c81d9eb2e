"""edge_of_chaos's figure panels (beside ``edge_of_chaos.py``): the trainability heatmap over
σ_w² × depth with its boundary and fit, and the length map q^l, theory vs simulation."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from initjax import plots
from initjax.trainability import boundary


def heatmap(
    ax: Any,
    fig: Any,
    heat: xr.Dataset,
    acc: xr.DataArray,
    ok: np.ndarray,
    epoch: int,
    c: float,
    *,
    chance: float,
    published: float,
) -> None:
    """Seed-mean train accuracy ``acc`` over σ_w² × depth after ``epoch`` epochs, the
    trainable-depth boundary of ``ok``, 6 ξ_c and the fitted multiple ``c`` of ξ_c."""
    sw2, depths = heat.sigma.values, heat.depth.values
    crit = float(heat.attrs["critical_sigma_w2"])
    mesh = ax.pcolormesh(plots.cell_edges(sw2), plots.cell_edges(depths, log=True), acc.values, cmap="viridis",
                         vmin=chance, shading="flat")  # fmt: skip
    ax.set_yscale("log")
    if acc.size <= 40:  # small grids: print each cell's accuracy
        for (i, j), a in np.ndenumerate(acc.values):
            light = a > (chance + float(acc.max())) / 2
            ax.text(sw2[j], depths[i], f"{a:.2f}", ha="center", va="center", fontsize=7,
                    color="k" if light else "w")  # fmt: skip
    bound = boundary(ok, depths)
    if np.isfinite(bound).any():  # every σ_w² censored: nothing to draw, no legend entry
        ax.plot(sw2, bound, "o", mfc="none", mec="r", ms=6, label="trainable-depth boundary")
    ax.set_ylim(*plots.cell_edges(depths, log=True)[[0, -1]])
    ax.set_xlim(*plots.cell_edges(sw2)[[0, -1]])
    fig.colorbar(mesh, ax=ax, label="train accuracy (seed mean)")
    ax.plot(heat.sigma_w2_grid, heat.six_xi_c, "w--", lw=2, label="6 ξ_c (mean-field theory)")
    if np.isfinite(c):
        ax.plot(heat.sigma_w2_grid, heat.six_xi_c * c / published, "r:", lw=1.5,
                label=f"fit: {c:.1f} ξ_c")  # fmt: skip
    ax.axvline(crit, color="0.7", ls=":", lw=1, label=f"critical σ_w² = {crit:.2f}")
    ax.set_xlabel("σ_w² (weight variance × fan-in)")
    ax.set_ylabel("depth (hidden tanh layers)")
    ax.set_yticks(depths, [str(d) for d in depths])
    ax.minorticks_off()
    ax.legend(fontsize=6, loc="lower right", framealpha=0.8)
    ax.set_title(f"after {epoch} epoch{'s' * (epoch > 1)} (chance = 0.1)", fontsize=9)


def length_map(ax_q: Any, qmap: xr.Dataset, sigma_b2: float) -> None:
    """q^l per layer at init: theory (lines) and simulation (dots, ± 1 sd over seeds)."""
    for k, v in enumerate(qmap.sigma_w2.values):
        color = f"C{k % 10}"
        q = qmap.q_measured.sel(sigma_w2=v)
        ax_q.plot(qmap.layer, qmap.q_predicted.sel(sigma_w2=v), "-", color=color,
                  label=f"σ_w²={v:g}")  # fmt: skip
        ax_q.errorbar(qmap.layer, q.mean("seed"), yerr=q.std("seed"), fmt="o", ms=3,
                      color=color, capsize=2)  # fmt: skip
    ax_q.set_xlabel("layer $l$")
    ax_q.set_ylabel("$q^l$ = mean squared pre-activation at init")
    ax_q.set_yscale("log")
    ax_q.legend(fontsize=6, ncol=2, title="line: theory, dots: simulation", title_fontsize=7)
    ax_q.set_title(f"Length map, width {qmap.attrs['width']} (σ_b² = {sigma_b2})", fontsize=9)

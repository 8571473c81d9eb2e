"""For one fixed input, is a pre-activation Gaussian over weight draws at any depth? (claim C7)

Question: the note says a unit's pre-activation z = Σ_i h_i W_i is Gaussian at init by the
central limit theorem over its n inputs (C7). As the CLT is stated, the randomness is the
weights and the input is fixed. In layer 1 of a Gaussian-weight net z is exactly Gaussian. In
layer L it is Gaussian *given* the previous layer, z = s·g with g ~ N(0, 1) and s² =
σ_w²‖h^(L−1)‖²/n, but s varies from draw to draw: over the draws z is a Gaussian scale mixture,
whose excess kurtosis grows with depth/width. For ReLU with He's σ_w² = 2,
s_L² = s_1² · Π_(l<L) R_l with independent R_l = (2/n)·χ²_B, B ~ Binomial(n, 1/2), so
E[R] = 1, Var R = 5/n, and

    excess kurtosis = 3·((1 + 5/n)^(L−1) − 1) ≈ 3·(e^(5(L−1)/n) − 1),

Hanin & Nica 2019 (arXiv:1812.05994; Hanin 2018, arXiv:1801.03744: the 5·Σ 1/n_l); for a
linear net (σ_w² = 1) R = χ²_n/n, Var R = 2/n, and the same form with 2 (our derivation, the
same argument). The log of s² is a sum of L − 1 independent terms, so Var(log s_L²) ≈ 5(L−1)/n
(ReLU) at every depth, also where the kurtosis is too heavy-tailed to estimate from samples.
tanh (σ_w² = 1, b = 0) has no closed form and is measured only.

Method: the Markov chain above, sampled exactly (per layer n Gaussian numbers per draw instead
of an n × n matrix, so widths to 2048 and depths to 100 are cheap), checked against nets
whose full weight matrices are drawn (widths 32 and 64, depth 5: a sanity check that the
chain is the network). Excess kurtosis of z pooled over draws and units (units share s, so
pooling over them only sharpens the moments), with a 95% bootstrap interval over draws.
The pooled-over-*inputs* effect (one net, many inputs: a scale mixture over ‖x‖) is
``gaussian_preactivations``' layer-1 row.

Command: ``initjax run clt_depth_width --quick`` (widths 32, 128, 512 × depths 1, 5, 20, 100;
1000 draws) or ``--full`` (widths 32 … 2048 × depths 1 … 100; 4000 draws).
Expected: layer 1 exactly Gaussian; the ReLU and linear kurtosis on the formula where it can be
estimated (predicted excess ≤ 5); "≈ Gaussian" (excess < 0.25) only where (L−1)/n ≤ 1/100, and
far from it (excess > 1) wherever L/n ≥ 1/2.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
import scipy.stats
import xarray as xr

from initjax import plots, results, study
from initjax.study import Row, check_scale

NAME = "clt_depth_width"
ORDER = 4.6  # after gaussian_preactivations
QUESTION = (
    "For one fixed input, is a pre-activation Gaussian over weight draws at every depth and width?"
)
CLAIMS = ("C7",)
RUNTIME = {
    "quick": "~6 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~1 min (2 CPU cores, measured: 61 s)",
}

ACTS = ("relu", "linear", "tanh")
SW2 = {"relu": 2.0, "linear": 1.0, "tanh": 1.0}  # He for ReLU; σ_w² = 1 otherwise; b = 0
VAR_R = {"relu": 5.0, "linear": 2.0}  # n·Var R_l: the per-layer factor of the formula
GAUSSIAN = 0.25  # "≈ Gaussian": |excess kurtosis| below this
NOT_GAUSSIAN = 1.0  # clearly not: the interval above this
ESTIMABLE = 5.0  # formula rows use cells whose predicted excess kurtosis is at most this
COVERAGE = 0.8  # ... and pass when the prediction is inside the 95% interval in this share
BOOT = 1000
CHECK = {"widths": (32, 64), "depth": 5}  # full weight matrices: the chain's sanity check

CONFIGS = {
    "quick": {"widths": (32, 128, 512), "depths": (1, 5, 20, 100), "draws": 1000},
    "full": {
        "widths": (32, 64, 128, 256, 512, 1024, 2048),
        "depths": (1, 2, 5, 10, 20, 50, 100),
        "draws": 4000,
    },
}


def phi(act: str, z: jax.Array) -> jax.Array:
    return {"relu": jax.nn.relu, "linear": lambda v: v, "tanh": jnp.tanh}[act](z)


@functools.partial(jax.jit, static_argnames=("act", "width", "depth", "draws"))
def chain(key: jax.Array, act: str, width: int, depth: int, draws: int) -> tuple[jax.Array, ...]:
    """Per layer 1…depth and draw: log s², Σ g² and Σ g⁴ over the n units (z = s·g), for a
    fixed input with ‖x‖²/n₀ = 1. Log scale, so ReLU's s² may range over many decades."""
    homogeneous = act != "tanh"  # φ(s·g)² = s²·φ(g)²: stay in log space

    def layer(log_s2: jax.Array, k: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        g = jax.random.normal(k, (draws, width))
        if homogeneous:
            nxt = log_s2 + jnp.log(jnp.mean(phi(act, g) ** 2, axis=-1))
        else:
            z = jnp.exp(0.5 * log_s2)[:, None] * g
            nxt = jnp.log(jnp.mean(phi(act, z) ** 2, axis=-1))
        out = (log_s2, jnp.sum(g**2, axis=-1), jnp.sum(g**4, axis=-1))
        return jnp.log(SW2[act]) + nxt, out

    start = jnp.full((draws,), math.log(SW2[act]))
    _, out = jax.lax.scan(layer, start, jax.random.split(key, depth))
    return out


@functools.partial(jax.jit, static_argnames=("act", "width", "depth", "draws"))
def network(key: jax.Array, act: str, width: int, depth: int, draws: int) -> jax.Array:
    """z of layer ``depth`` of ``draws`` nets with full N(0, σ_w²/n) matrices, input all ones
    (‖x‖²/n = 1); shape (draws, width)."""

    def one(k: jax.Array) -> jax.Array:
        def layer(h: jax.Array, kk: jax.Array) -> tuple[jax.Array, jax.Array]:
            z = h @ (jax.random.normal(kk, (width, width)) * math.sqrt(SW2[act] / width))
            return phi(act, z), z

        _, zs = jax.lax.scan(layer, jnp.ones(width), jax.random.split(k, depth))
        return zs[-1]

    return jax.vmap(one)(jax.random.split(key, draws))


def kurtosis(a: np.ndarray, b: np.ndarray, n: int, seed: int = 0) -> tuple[float, float, float]:
    """Excess kurtosis of z pooled over draws and ``n`` units from per-draw Σ z² (``a``) and
    Σ z⁴ (``b``), with the 95% bootstrap interval over draws."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)

    def k(i: Any) -> Any:
        m2, m4 = a[i].mean(-1) / n, b[i].mean(-1) / n
        return m4 / m2**2 - 3

    idx = np.random.default_rng(seed).integers(len(a), size=(BOOT, len(a)))
    boot = k(idx)
    return float(k(slice(None))), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def chain_kurtosis(log_s2: np.ndarray, g2: np.ndarray, g4: np.ndarray, n: int) -> tuple:
    """:func:`kurtosis` of one layer of :func:`chain` from its per-draw log s², Σ g², Σ g⁴
    (s² rescaled by its largest draw: the kurtosis is scale-free, float64 is not unbounded)."""
    s2 = np.exp(log_s2 - log_s2.max())
    return kurtosis(s2 * g2, s2**2 * g4, n)


def predicted(act: str, width: int, depth: int) -> float:
    """Excess kurtosis 3·((1 + c/n)^(L−1) − 1) (NaN for tanh: no closed form)."""
    if act not in VAR_R:
        return math.nan
    return 3 * ((1 + VAR_R[act] / width) ** (depth - 1) - 1)


def log_var(act: str, width: int) -> float:
    """Var(log R_l) of one layer's factor, exactly: log χ²_b has variance ψ'(b/2) and mean
    ψ(b/2) + log 2; for ReLU b ~ Binomial(n, 1/2) (b = 0, probability 2⁻ⁿ, left out), for a
    linear net b = n. About 5/n (ReLU) and 2/n (linear) at large n. NaN for tanh."""
    if act == "linear":
        return float(scipy.special.polygamma(1, width / 2))
    if act != "relu":
        return math.nan
    b = np.arange(1, width + 1)
    pmf = scipy.stats.binom.pmf(b, width, 0.5)
    pmf = pmf / pmf.sum()
    mean = scipy.special.digamma(b / 2)
    within = float((pmf * scipy.special.polygamma(1, b / 2)).sum())
    return within + float((pmf * (mean - (pmf * mean).sum()) ** 2).sum())


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    g = CONFIGS[check_scale(scale)]
    widths, depths, draws = g["widths"], g["depths"], g["draws"]
    shape = (len(ACTS), len(widths), len(depths))
    k, lo, hi, logvar = (np.zeros(shape) for _ in range(4))
    for i, act in enumerate(ACTS):
        for j, n in enumerate(widths):
            log_s2, g2, g4 = (np.asarray(v, np.float64) for v in chain(
                jax.random.key(1000 * i + j), act, n, max(depths), draws))  # fmt: skip
            for d, depth in enumerate(depths):
                k[i, j, d], lo[i, j, d], hi[i, j, d] = chain_kurtosis(
                    log_s2[depth - 1], g2[depth - 1], g4[depth - 1], n
                )
                logvar[i, j, d] = log_s2[depth - 1].var(ddof=1)
        if progress:
            print(f"[clt_depth_width] {act}: {len(widths)} widths done", flush=True)
    check = np.zeros((len(CHECK["widths"]), 2, 3))  # (width, chain/network, value/lo/hi)
    for j, n in enumerate(CHECK["widths"]):
        z = np.asarray(network(jax.random.key(7 + j), "relu", n, CHECK["depth"], draws), np.float64)
        z = z / np.sqrt((z**2).mean())
        check[j, 1] = kurtosis((z**2).sum(-1), (z**4).sum(-1), n)
        log_s2, g2, g4 = (np.asarray(v, np.float64) for v in chain(
            jax.random.key(99 + j), "relu", n, CHECK["depth"], draws))  # fmt: skip
        check[j, 0] = chain_kurtosis(log_s2[-1], g2[-1], g4[-1], n)
    pred = np.array([[[predicted(a, n, d) for d in depths] for n in widths] for a in ACTS])
    pred_lv = np.array([[[(d - 1) * log_var(a, n) for d in depths] for n in widths] for a in ACTS])
    ds = xr.Dataset(
        {
            "kurtosis": (("act", "width", "depth"), k),
            "ci_low": (("act", "width", "depth"), lo),
            "ci_high": (("act", "width", "depth"), hi),
            "predicted": (("act", "width", "depth"), pred),
            "log_s2_var": (("act", "width", "depth"), logvar),
            "log_s2_var_predicted": (("act", "width", "depth"), pred_lv),
            "check": (("check_width", "sampler", "stat"), check),
        },
        coords={
            "act": list(ACTS), "width": list(widths), "depth": list(depths),
            "check_width": list(CHECK["widths"]), "sampler": ["chain", "network"],
            "stat": ["value", "ci_low", "ci_high"],
        },
        attrs={"draws": draws, "check_depth": CHECK["depth"], "boot": BOOT},
    )  # fmt: skip
    results.save(ds, Path(out_dir) / "results.nc")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "results.nc")


def figures(out_dir: Path) -> list[Path]:
    res = load(out_dir)
    res = res.isel(depth=np.flatnonzero(res.depth.values > 1))  # layer 1: x = 0 on a log axis
    fig, (ax_k, ax_v) = plots.figure(ncols=2, size=(5.0, 3.8))
    colors = {"relu": "tab:red", "linear": "tab:blue", "tanh": "tab:green"}
    n, depth = np.meshgrid(res.width.values, res.depth.values, indexing="ij")
    ratio = ((depth - 1) / n).ravel()
    order = np.argsort(ratio)
    for act in ACTS:
        sel = res.sel(act=act)
        kk = sel.kurtosis.values.ravel()
        err = np.maximum([kk - sel.ci_low.values.ravel(), sel.ci_high.values.ravel() - kk], 0)
        ax_k.errorbar(ratio, kk, yerr=err, fmt="o", ms=3, capsize=2, color=colors[act],
                      alpha=0.7, label=f"{act}, measured")  # fmt: skip
        if act in VAR_R:
            ax_k.plot(ratio[order], sel.predicted.values.ravel()[order], "-", color=colors[act],
                      lw=1, label=f"{act}: 3((1 + {VAR_R[act]:g}/n)^(L−1) − 1)")  # fmt: skip
            ax_v.plot(ratio, sel.log_s2_var.values.ravel(), "o", ms=4, color=colors[act],
                      label=f"{act}, measured")  # fmt: skip
            lv = sel.log_s2_var_predicted.values.ravel()
            ax_v.plot(ratio, lv, "x", color="k", ms=5, label=f"{act}: (L−1)·Var(log R)")
    plots.anchor_line(ax_k, GAUSSIAN, f"≈ Gaussian below {GAUSSIAN}", color="gray")
    ax_k.set_xscale("log")
    ax_k.set_yscale("symlog", linthresh=1e-2)
    ax_k.set_ylim(-0.05, None)
    plots.label(ax_k, "(L − 1) / n", "excess kurtosis of z over weight draws (95% CI)",
                f"a fixed input, {res.attrs['draws']} draws per cell", fontsize=6)  # fmt: skip
    ax_v.set(xscale="log", yscale="log")
    plots.label(ax_v, "(L − 1) / n", "Var(log s²) over draws", "the log-scale of z: a random walk",
                fontsize=6)  # fmt: skip
    fig.suptitle("C7: the CLT's Gaussian holds only while depth ≪ width (He-ReLU, linear, tanh)")
    return plots.save(fig, Path(out_dir) / NAME)


def measure(res: xr.Dataset) -> dict[str, Any]:
    """Per act: the cells (width, depth) with measured kurtosis and interval, the prediction;
    the chain-vs-network check."""
    out: dict[str, Any] = {"draws": int(res.attrs["draws"]), "cells": {}}
    for act in ACTS:
        rows = []
        for n in res.width.values:
            for d in res.depth.values:
                c = res.sel(act=act, width=n, depth=d)
                rows.append({
                    "width": int(n), "depth": int(d), "kurtosis": float(c.kurtosis),
                    "lo": float(c.ci_low), "hi": float(c.ci_high),
                    "predicted": float(c.predicted), "logvar": float(c.log_s2_var),
                    "logvar_predicted": float(c.log_s2_var_predicted),
                })  # fmt: skip
        out["cells"][act] = rows
    out["check"] = {
        int(w): res.check.sel(check_width=w).values.tolist() for w in res.check_width.values
    }
    out["check_depth"] = int(res.attrs["check_depth"])
    return out


def _formula_row(m: dict[str, Any], act: str) -> Row:
    cells = [c for c in m["cells"][act] if c["depth"] > 1 and c["predicted"] <= ESTIMABLE]
    inside = [c["lo"] <= c["predicted"] <= c["hi"] for c in cells]
    share = float(np.mean(inside)) if cells else math.nan
    worst = max(cells, key=lambda c: abs(c["kurtosis"] - c["predicted"])) if cells else None
    c = VAR_R[act]
    return Row(
        f"C7 ({act}): excess kurtosis over draws = 3((1 + {c:g}/n)^(L−1) − 1)",
        f"the prediction inside the 95% bootstrap interval in ≥ {COVERAGE:.0%} of the cells "
        f"with depth > 1 and predicted excess ≤ {ESTIMABLE:g}",
        "Hanin & Nica 2019, arXiv:1812.05994; Hanin 2018, arXiv:1801.03744 (ReLU: 5Σ1/n_l)"
        if act == "relu"
        else "derived: R_l = χ²_n/n has variance 2/n (the ReLU argument without the gate)",
        f"inside in {sum(inside)} of {len(cells)} cells; farthest: n = {worst['width']}, L = "
        f"{worst['depth']}: {worst['kurtosis']:.3f} [{worst['lo']:.3f}, {worst['hi']:.3f}] vs "
        f"{worst['predicted']:.3f}"
        if worst
        else "no cell to judge",
        bool(share >= COVERAGE) if cells else None,
        "the draws' scale s is a product of L − 1 independent factors of variance c/n",
    )


def verdict(m: dict[str, Any]) -> list[Row]:
    relu = m["cells"]["relu"]
    near = [c for c in relu if (c["depth"] - 1) / c["width"] <= 0.01]
    far = [c for c in relu if c["depth"] / c["width"] >= 0.5]
    first = [c for act in ACTS for c in m["cells"][act] if c["depth"] == 1]
    chk = m["check"]
    same = all(v[0][1] <= v[1][2] and v[1][1] <= v[0][2] for v in chk.values())
    logvar = [c for c in relu if c["depth"] > 1]
    rel = [c["logvar"] / c["logvar_predicted"] for c in logvar]
    return [
        Row(
            "C7 holds while depth ≪ width, not at depth ~ width (ReLU, He)",
            f"|excess kurtosis| < {GAUSSIAN} wherever (L−1)/n ≤ 1/100, and its 95% interval "
            f"above {NOT_GAUSSIAN} wherever L/n ≥ 1/2",
            "the note's C7 as the CLT states it (fixed input, random weights); Hanin & Nica 2019",
            f"(L−1)/n ≤ 1/100: max |excess| "
            f"{max((abs(c['kurtosis']) for c in near), default=math.nan):.3f} over {len(near)} "
            f"cells; L/n ≥ 1/2: min lower bound "
            f"{min((c['lo'] for c in far), default=math.nan):.2f} over {len(far)} cells",
            bool(
                near
                and far
                and all(abs(c["kurtosis"]) < GAUSSIAN for c in near)
                and all(c["lo"] > NOT_GAUSSIAN for c in far)
            ),
            "the CLT holds layer by layer given the previous layer; over draws the layer scale "
            "is random, and its spread grows like e^(5L/n): the note's claim needs L ≪ n",
        ),
        _formula_row(m, "relu"),
        _formula_row(m, "linear"),
        Row(
            "ReLU: Var(log s_L²) over draws = (L−1)·Var(log R) ≈ 5(L−1)/n",
            "measured / predicted within [0.8, 1.25] in every cell with depth > 1 (Var(log R) "
            "exact: ψ' and ψ over Binomial(n, 1/2))",
            "Hanin & Nica 2019 (the log-norm is Gaussian with variance ∝ Σ 1/n_l)",
            f"ratio {min(rel):.2f}–{max(rel):.2f} over {len(rel)} cells",
            bool(rel and 0.8 <= min(rel) and max(rel) <= 1.25),
            "log s² is a sum of L − 1 independent terms, each of variance ≈ 5/n: estimable at "
            "every depth, where the kurtosis itself is too heavy-tailed to measure",
        ),
        Row(
            "layer 1 is exactly Gaussian (all activations)",
            "excess kurtosis' 95% interval contains 0 at depth 1",
            "z = Σ x_i W_i with Gaussian W and a fixed x is Gaussian",
            f"{sum(c['lo'] <= 0 <= c['hi'] for c in first)} of {len(first)} cells",
            bool(all(c["lo"] <= 0 <= c["hi"] for c in first)),
            "a sanity check: it holds by construction",
            kind="sanity",
        ),
        Row(
            f"the chain is the network (ReLU, depth {m['check_depth']})",
            "kurtosis of full-matrix nets and of the chain: their 95% intervals overlap",
            "z^L | h^(L−1) ~ N(0, σ_w²‖h‖²/n), independent layers",
            "; ".join(
                f"n = {w}: chain {v[0][0]:.3f} [{v[0][1]:.3f}, {v[0][2]:.3f}], network "
                f"{v[1][0]:.3f} [{v[1][1]:.3f}, {v[1][2]:.3f}]"
                for w, v in chk.items()
            ),
            same,
            "a sanity check of the sampler: the shortcut draws what the full matrices draw",
            kind="sanity",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

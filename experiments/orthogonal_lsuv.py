"""Orthogonal init and LSUV: depth-independent learning, dynamical isometry, unit variance.

Question: is a "suitably scaled Gaussian" (the note's advice) all a deep net needs?

(a) Saxe et al. 2013 (arXiv:1312.6120): deep *linear* MLPs (width = input dim = 32) on a
    linear-teacher task (``data.synthetic``), orthogonal W (gain 1) vs scaled Gaussian
    N(0, 1/n_in) (``lecun_normal``). Learning time = first epoch with train loss ≤ 0.3 at the
    best lr of a grid, as Saxe compares depths at their optimal rates. Expected: nearly flat
    for orthogonal (a finite delay), growing with depth for Gaussian.
(b) Pennington et al. 2017 (arXiv:1711.04735): singular values s of J^L = ∂z^L/∂x of width-N
    nets at init; tanh at σ_w = 1, σ_b = 0 and ReLU at σ_w² = 2 (both critical), orthogonal vs
    Gaussian, inputs with q^0 = 1. Spread v = Var(s²)/E[s²]² (0: dynamical isometry). Free
    probability (S-transforms multiply) gives v = L·v_W + Σ_{l<L} v_D(q^l), v_W = 1 for
    Gaussian W (Marchenko–Pastur) and 0 for orthogonal, v_D(q) = E[φ′⁴]/E[φ′²]² − 1 (ReLU: 1).
(c) Mishkin & Matas 2015 (arXiv:1511.06422): :func:`initjax.lsuv.lsuv` on a deep ReLU MLP
    (MNIST-1D batch) vs plain orthogonal / Gaussian (gain 1) and He init: per-layer output std.
    LSUV'd params are not trained: a sweep draws its params from a scheme, LSUV needs data.

Command: ``initjax run orthogonal_lsuv --quick`` (depths 1 and 16; spectra to depth 32 at
N = 128; LSUV on 20 layers; ~40 s on 2 CPU cores) or ``--full`` (depths 1–64, spectra to 64
at N = 400, LSUV on 30 layers; 21 min measured on 2 shared CPU cores). Full-scale result:
orthogonal needs 4, 5, 6, 6, 7, 7, 7 epochs at depths 1–64, Gaussian 4, 5, 8, 18, 62 and never
within 100 epochs at 32 and 64; at depth 64 the spread v is 1.4 (tanh, orthogonal; theory 1.4),
80 (tanh, Gaussian; 65), 67 (ReLU, orthogonal; 63), 145 (ReLU, Gaussian; 127); LSUV leaves every
layer within 1 ± 0.1 with one rescaling and a mean hidden gain of 1.413 ≈ √2.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from initjax import data as datasets
from initjax import init as schemes
from initjax import models, plots, results, study, sweep, theory, train
from initjax.lsuv import lsuv
from initjax.study import Row, check_scale, mean_spread

NAME = "orthogonal_lsuv"
ORDER = 8
QUESTION = "Do orthogonal weights and LSUV do what a scaled Gaussian cannot in deep nets?"
CLAIMS = ("C3", "C8")
RUNTIME = {"quick": "~40 s (2 CPU cores)", "full": "~21 min (2 CPU cores)"}

LOSS_THRESHOLD = 0.3  # nats: "learned", part (a)
LINEAR_SCHEMES = {"orthogonal": "orthogonal", "gaussian": "lecun_normal"}  # both gain 1
GAINS = {"tanh": 1.0, "relu": math.sqrt(2.0)}  # σ_w of part (b): critical for each
LSUV_TOL = 0.1  # Mishkin & Matas: Tol_var = 0.1


@dataclass(frozen=True)
class Settings:
    seeds: int
    depths: tuple[int, ...]
    """(a) hidden layers of the deep linear nets."""
    epochs: int
    lrs: tuple[float, ...]
    """(a) SGD learning rates; each depth's best one is used."""
    jac_width: int
    jac_depth: int
    """(b) spectra of every depth 1..jac_depth; full spectra kept at ``jac_keep``."""
    jac_keep: tuple[int, ...]
    lsuv_depth: int
    lsuv_width: int
    jac_examples: int = 4
    jac_seeds: int = 4
    """(b) weight draws: all examples share a draw, so the spread's noise falls with seeds."""
    devices: int | None = None
    """Devices the sweeps shard over (None: all); a quick run is compile-bound and one
    device compiles ~30% faster than two."""


def _lrs(lo: int, hi: int, n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(np.logspace(lo, hi, n), 5))


CONFIGS = {
    "quick": Settings(
        seeds=2, depths=(1, 16), epochs=30, lrs=_lrs(-2, 0, 9),
        jac_width=128, jac_depth=32, jac_keep=(2, 8, 32),
        lsuv_depth=20, lsuv_width=128, devices=1,
    ),
    "full": Settings(
        seeds=3, depths=(1, 2, 4, 8, 16, 32, 64), epochs=100, lrs=_lrs(-3, 0, 13),
        jac_width=400, jac_depth=64, jac_keep=(2, 8, 64), jac_examples=8, jac_seeds=8,
        lsuv_depth=30, lsuv_width=256,
    ),
}  # fmt: skip


# ---------------------------------------------------------------- (a) deep linear nets


def linear_config(s: Settings, depth: int, scheme: str) -> train.Config:
    return train.Config(
        model="mlp",
        hidden=(32,) * depth,
        activation="linear",
        scheme=scheme,
        optimizer="sgd",
        batch_size=64,
        epochs=s.epochs,
        dataset="synthetic",
    )


def _linear_sweep(s: Settings, data: datasets.Dataset, depth: int, scheme: str, progress: bool):
    devices = None if s.devices is None else jax.devices()[: s.devices]
    # jax 0.10 on CPU can deadlock running one program with many batched QRs (orthogonal init
    # of a deep net vmapped over more than ~4 cells; the XLA flag
    # --xla_cpu_enable_concurrency_optimized_scheduler=false avoids it). So orthogonal grids
    # go one lr at a time: every call has the same grid shape and reuses one compilation.
    chunks = [[lr] for lr in s.lrs] if scheme == "orthogonal" else [list(s.lrs)]
    cfg = linear_config(s, depth, scheme)
    parts = [
        sweep.run(cfg, data, s.seeds, [1.0], c, progress=progress, devices=devices) for c in chunks
    ]
    res = xr.concat(parts, dim="lr") if len(parts) > 1 else parts[0]
    return res[["train_loss", "train_acc", "diverged"]].squeeze("sigma", drop=True).drop_attrs()


def learning_time(linear: xr.Dataset) -> xr.DataArray:
    """First epoch with train loss ≤ LOSS_THRESHOLD at the best lr; NaN if none reached it."""
    hit = linear.train_loss <= LOSS_THRESHOLD
    return hit.argmax("epoch").where(hit.any("epoch")).min("lr")


# ---------------------------------------------------------------- (b) Jacobian spectra


@functools.partial(jax.jit, static_argnames=("activation", "keep"))
def jacobians(
    w_LxNxN: jax.Array, x_KxN: jax.Array, activation: str, keep: tuple[int, ...]
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """J^l = ∂z^l/∂x of z^1 = x W^1, z^l = φ(z^{l−1}) W^l (l = 1..L), for each example.

    J^l = (W^l)ᵀ D^{l−1} J^{l−1}, D = diag φ′(z) (row-vector layers). Returns the moments
    m_k = tr((J Jᵀ)^k)/N of the squared singular values, m1 and m2 (L, K), at every depth
    (cheap), and the singular values (len(keep), K, N) at the depths ``keep`` (SVDs are not).
    """
    phi = models.activation(activation)

    def one(x_N: jax.Array) -> jax.Array:
        def layer(carry: tuple, w_NxN: jax.Array) -> tuple:
            h_N, jh_NxN = carry
            z_N, jz_NxN = h_N @ w_NxN, w_NxN.T @ jh_NxN
            h_N, d_N = jax.jvp(phi, (z_N,), (jnp.ones_like(z_N),))
            return (h_N, d_N[:, None] * jz_NxN), jz_NxN

        return jax.lax.scan(layer, (x_N, jnp.eye(x_N.shape[0], dtype=x_N.dtype)), w_LxNxN)[1]

    j_LxKxNxN = jax.vmap(one, out_axes=1)(x_KxN)
    n = x_KxN.shape[1]
    jjt = j_LxKxNxN @ j_LxKxNxN.swapaxes(-1, -2)
    m1, m2 = jnp.trace(jjt, axis1=-2, axis2=-1) / n, jnp.sum(jjt**2, axis=(-2, -1)) / n
    sv = jnp.linalg.svd(j_LxKxNxN[jnp.asarray(keep) - 1], compute_uv=False)
    return m1, m2, sv


@functools.partial(jax.jit, static_argnames=("scheme", "shape"))
def _weights(key: jax.Array, scheme: str, shape: tuple[int, ...]) -> jax.Array:
    """Independent (N, N) kernels of gain 1, ``shape = (..., N, N)``, in one batched draw."""
    keys = jax.random.split(key, math.prod(shape[:-2])).reshape(shape[:-2])
    init = functools.partial(schemes.get(scheme), shape=shape[-2:])
    for _ in shape[:-2]:
        init = jax.vmap(init)
    return init(keys)


def v_d(activation: str, q: np.ndarray) -> np.ndarray:
    """v_D(q) = E[φ′(√q z)⁴]/E[φ′(√q z)²]² − 1, z ~ N(0, 1); ReLU: 1 (φ′ is 0 or 1).

    Trapezoid rule on a fine grid (spectrally accurate for tanh's smooth φ′; Gauss–Hermite
    nodes are too sparse for the narrow sech⁴(√q z) at large q).
    """
    if activation == "relu":
        return np.ones_like(q)
    z = np.linspace(-12.0, 12.0, 9601)
    w = np.exp(-(z**2) / 2)
    d2 = (1 - np.tanh(np.sqrt(q)[..., None] * z) ** 2) ** 2
    return (d2**2 @ w) * w.sum() / (d2 @ w) ** 2 - 1


def _spectra(s: Settings) -> xr.Dataset:
    acts, kinds, n, depth = list(GAINS), list(LINEAR_SCHEMES), s.jac_width, s.jac_depth
    shape = (len(acts), len(kinds), s.jac_seeds)
    m1, m2 = np.zeros((2, *shape, depth, s.jac_examples))
    sv = np.zeros((*shape, len(s.jac_keep), s.jac_examples, n), np.float32)
    key_w, key_x = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (s.jac_seeds, s.jac_examples, n))  # q^0 = 1
    w = {k: _weights(key_w, LINEAR_SCHEMES[k], (s.jac_seeds, depth, n, n)) for k in kinds}
    for (i, act), (j, kind), seed in itertools.product(
        enumerate(acts), enumerate(kinds), range(s.jac_seeds)
    ):
        w_LxNxN = jnp.float32(GAINS[act]) * w[kind][seed]
        m1[i, j, seed], m2[i, j, seed], sv[i, j, seed] = jacobians(
            w_LxNxN, x[seed], act, s.jac_keep
        )
    # v = Var(λ)/E[λ]², λ = s² pooled over the examples and the N singular values.
    mean_s2 = m1.mean(axis=-1)
    v = m2.mean(axis=-1) / mean_s2**2 - 1
    layer = np.arange(1, depth + 1)
    q = np.asarray(theory.predicted_variances(depth, 1.0, 1.0, 0.0, "tanh"))[1:-1]  # q^1..q^{L-1}
    sum_vd = {a: np.concatenate([[0.0], np.cumsum(v_d(a, q))]) for a in acts}
    pred = [[layer * (kind == "gaussian") + sum_vd[a] for kind in kinds] for a in acts]
    dims = ("activation", "scheme", "seed")
    return xr.Dataset(
        {
            "spread": ((*dims, "depth"), v),
            "mean_s2": ((*dims, "depth"), mean_s2),
            "spread_theory": (("activation", "scheme", "depth"), np.asarray(pred)),
            "sv": ((*dims, "kept_depth", "example", "k"), sv),
        },
        coords={
            "activation": acts,
            "scheme": kinds,
            "depth": layer,
            "kept_depth": list(s.jac_keep),
        },
        attrs={"width": n, "q0": 1.0},
    )


# ---------------------------------------------------------------- (c) LSUV


def _lsuv(s: Settings, data: datasets.Dataset) -> xr.Dataset:
    x_fit, x_new = (jnp.asarray(data.x_train[a : a + 256]) for a in (0, 256))
    keys = jax.random.split(jax.random.key(0), s.seeds)

    def mlp(kernel_init: schemes.Initializer) -> models.MLP:
        return models.MLP(
            (s.lsuv_width,) * s.lsuv_depth, activation="relu", kernel_init=kernel_init
        )

    @functools.partial(jax.jit, static_argnames="scheme")
    def init(key: jax.Array, gain: jax.Array, scheme: str) -> dict:
        return mlp(schemes.get(scheme, gain=gain)).init(key, x_fit[:1])["params"]

    def draw(scheme: str, gain: float) -> list:  # per seed: vmapped QR stacks can deadlock
        return [init(k, jnp.float32(gain), scheme) for k in keys]

    def stds(params: dict, x: jax.Array) -> jax.Array:  # std of z^l per Dense layer, logits last
        logits, preacts, _ = models.forward(model, {"params": params}, x)
        return jnp.stack([jnp.std(z) for z in [*preacts, logits]])

    model = mlp(schemes.orthogonal())  # relu; kernel_init matters only to draw()
    inits = {
        "orthogonal": draw("orthogonal", 1.0),
        "gaussian": draw("lecun_normal", 1.0),
        "he": draw("lecun_normal", math.sqrt(2.0)),  # = he_normal: N(0, 2/n_in)
    }
    inits, reports = {"lsuv": [], **inits}, []
    for p in inits["orthogonal"]:  # the paper's LSUV: orthonormal pre-init, then rescaling
        fitted, report = lsuv(model, p, x_fit, tol=LSUV_TOL)
        inits["lsuv"].append(fitted)
        reports.append(report)
    # An orthonormal kernel has ‖W‖_F² = min(n_in, n_out): the ratio is LSUV's gain per layer.
    gains = [
        [
            float(jnp.linalg.norm(p[n]["kernel"])) / math.sqrt(min(p[n]["kernel"].shape))
            for n in r.layers
        ]
        for p, r in zip(inits["lsuv"], reports, strict=True)
    ]
    measure = jax.jit(stds)
    std = [[[measure(p, x) for p in ps] for x in (x_fit, x_new)] for ps in inits.values()]
    return xr.Dataset(
        {
            "output_std": (("init", "batch", "seed", "layer"), np.asarray(std)),
            "iterations": (("seed", "layer"), np.asarray([r.iterations for r in reports])),
            "gain": (("seed", "layer"), np.asarray(gains)),
        },
        coords={
            "init": list(inits),
            "batch": ["fit", "held_out"],
            "layer": np.arange(1, s.lsuv_depth + 2),
        },
        attrs={"width": s.lsuv_width, "depth": s.lsuv_depth},
    )


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    s = CONFIGS[check_scale(scale)]
    out_dir = Path(out_dir)
    data = datasets.load("synthetic", n_train=1024, n_test=512, dim=32)
    by_scheme = [
        xr.concat(
            [_linear_sweep(s, data, d, scheme, progress) for d in s.depths],
            dim=pd.Index(list(s.depths), name="depth"),
        )
        for scheme in LINEAR_SCHEMES.values()
    ]
    linear = xr.concat(by_scheme, dim=pd.Index(list(LINEAR_SCHEMES), name="scheme"))
    linear.attrs = {
        "settings": json.dumps(asdict(s)),
        "config_deepest": linear_config(s, max(s.depths), "orthogonal").to_json(),
    }
    results.save(linear, out_dir / "linear.nc")
    results.save(_spectra(s), out_dir / "spectra.nc")
    results.save(_lsuv(s, datasets.load("mnist1d")), out_dir / "lsuv.nc")


# ---------------------------------------------------------------- figures and verdict

_LS = {"orthogonal": "-", "gaussian": "--"}
_LSUV_LABELS = {
    "lsuv": "LSUV (orthogonal, rescaled)",
    "orthogonal": "orthogonal, gain 1",
    "gaussian": "Gaussian N(0, 1/n)",
    "he": "He N(0, 2/n)",
}


def _label(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def _depth_axis(ax: Any, depths: np.ndarray) -> None:
    ax.set_xscale("log", base=2)
    ticks = [d for d in depths if d & (d - 1) == 0]  # powers of two
    ax.set_xticks(ticks, [str(d) for d in ticks])


def figures(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    linear, spec = results.load(out_dir / "linear.nc"), results.load(out_dir / "spectra.nc")
    lsv = results.load(out_dir / "lsuv.nc")
    fig, (ax_t, ax_v, ax_h, ax_s) = plots.figure(ncols=2, nrows=2, size=(5.0, 3.6))

    t, epochs = learning_time(linear), int(linear.epoch.max())
    for name in t.scheme.values:
        runs = t.sel(scheme=name).transpose("seed", "depth").values
        plots.band(
            ax_t,
            t.depth.values,
            np.nan_to_num(runs, nan=epochs + 1),
            label=str(name),
            marker="o",
            ls=_LS[str(name)],
        )
    ax_t.axhline(epochs + 1, color="gray", ls=":", lw=1, label=f"not reached in {epochs} epochs")
    _depth_axis(ax_t, t.depth.values)
    _label(
        ax_t,
        "depth (hidden linear layers, width 32)",
        f"epochs to train loss ≤ {LOSS_THRESHOLD} (best lr)",
        "(a) Deep linear nets learning a linear teacher (Saxe 2013)",
    )

    for k, act in enumerate(spec.activation.values):
        for kind in spec.scheme.values:
            v = spec.spread.sel(activation=act, scheme=kind).transpose("seed", "depth")
            plots.band(
                ax_v,
                spec.depth.values,
                v.values,
                color=f"C{k}",
                ls=_LS[str(kind)],
                label=f"{act}, {kind}",
            )
            ax_v.plot(
                spec.depth,
                spec.spread_theory.sel(activation=act, scheme=kind),
                "k",
                ls=_LS[str(kind)],
                lw=0.7,
            )
    _depth_axis(ax_v, spec.depth.values)
    ax_v.set_yscale("symlog", linthresh=0.1)
    ax_v.set_ylim(0, None)
    _label(
        ax_v,
        "depth L (weight layers)",
        "spread Var(s²)/E[s²]² of J's singular values",
        f"(b) Jacobian spread, width {spec.attrs['width']} (thin black: theory)",
    )

    deep, bins = int(spec.kept_depth.max()), np.logspace(-6, 2, 81)
    for k, act in enumerate(spec.activation.values):
        for kind in spec.scheme.values:
            s2 = spec.sv.sel(activation=act, scheme=kind, kept_depth=deep).values.ravel() ** 2
            ax_h.hist(
                np.clip(s2 / s2.mean(), bins[0], None),
                bins=bins,
                histtype="step",
                color=f"C{k}",
                ls=_LS[str(kind)],
                label=f"{act}, {kind}",
            )
    ax_h.set(xscale="log", yscale="log")
    _label(
        ax_h,
        f"s² / mean(s²) (values below {bins[0]:g} piled in the first bin)",
        "count (all seeds and examples)",
        f"(b) squared singular values of J at depth {deep}",
    )

    for k, name in enumerate(lsv.init.values):
        runs = lsv.output_std.sel(init=name, batch="held_out").transpose("seed", "layer").values
        plots.band(
            ax_s, lsv.layer.values, runs, label=_LSUV_LABELS[str(name)], color=f"C{k}", marker="."
        )
    ax_s.axhspan(1 - LSUV_TOL, 1 + LSUV_TOL, color="gray", alpha=0.3, label="1 ± 0.1 (LSUV tol)")
    ax_s.set_yscale("log")
    ax_s.xaxis.get_major_locator().set_params(integer=True)
    _label(
        ax_s,
        "Dense layer (the last one gives the logits)",
        "std of the layer's output z (held-out batch)",
        f"(c) ReLU MLP {lsv.attrs['depth']}×{lsv.attrs['width']} at init, MNIST-1D",
    )
    fig.suptitle("Orthogonal init, dynamical isometry and LSUV")
    return plots.save(fig, out_dir / "orthogonal_lsuv")


def _growth(t: xr.DataArray, scheme: str, epochs: int) -> tuple[float, str]:
    """time(deepest) / time(shallowest) of the seed means; never reached counts as epochs + 1
    (so for a censored run the ratio is a lower bound)."""
    shallow, deep = (t.sel(scheme=scheme).isel(depth=i).values for i in (0, -1))
    ratio = float(np.nan_to_num(deep, nan=epochs + 1).mean() / shallow.mean())
    never = int(np.isnan(deep).sum())
    text = f"{mean_spread(shallow, 1)} → {mean_spread(deep, 1)} epochs"
    return ratio, text + (f" ({never} seed(s) not within {epochs})" if never else "")


def verdict(out_dir: Path) -> list[Row]:
    out_dir = Path(out_dir)
    linear, spec = results.load(out_dir / "linear.nc"), results.load(out_dir / "spectra.nc")
    lsv = results.load(out_dir / "lsuv.nc")
    t, epochs = learning_time(linear), int(linear.epoch.max())
    d0, d1 = int(linear.depth.min()), int(linear.depth.max())
    (r_orth, txt_orth), (r_gauss, txt_gauss) = (_growth(t, k, epochs) for k in LINEAR_SCHEMES)

    L, n = int(spec.depth.max()), int(spec.attrs["width"])
    v, vt = spec.spread.sel(depth=L), spec.spread_theory.sel(depth=L)
    small = int(max(d for d in spec.depth.values if d <= n // 16))  # L ≪ N: the large-N limit
    rel = abs(spec.spread.sel(depth=small).mean("seed") / spec.spread_theory.sel(depth=small) - 1)

    def spectra_text(act: str) -> str:
        return "; ".join(
            f"{k}: {mean_spread(v.sel(activation=act, scheme=k), 2)} "
            f"(theory {float(vt.sel(activation=act, scheme=k)):.1f})"
            for k in spec.scheme.values
        )

    tanh, relu = v.mean("seed").sel(activation="tanh"), v.mean("seed").sel(activation="relu")
    fit, held = (lsv.output_std.sel(init="lsuv", batch=b) for b in ("fit", "held_out"))
    dev = float(abs(fit - 1).max())
    # Per-layer factor of the std over the hidden layers 2..L (geometric mean).
    factor = {
        k: (d.isel(layer=-2) / d.isel(layer=1)) ** (1 / (d.sizes["layer"] - 3))
        for k in ("orthogonal", "gaussian")
        for d in [lsv.output_std.sel(init=k, batch="held_out")]
    }
    gain = lsv.gain.isel(layer=slice(1, -1))  # hidden layers 2..L
    saxe = "Saxe et al. 2013, arXiv:1312.6120"
    penn = "Pennington et al. 2017, arXiv:1711.04735"
    return [
        Row(
            "Saxe: orthogonal deep linear nets learn in depth-independent time",
            f"time(depth {d1}) ≤ 2 × time(depth {d0}) at each depth's best lr",
            saxe,
            txt_orth,
            bool(r_orth <= 2),
            f"ratio {r_orth:.2f}: a product of orthogonal W is orthogonal",
        ),
        Row(
            "Saxe: scaled-Gaussian deep linear nets slow down with depth",
            f"time(depth {d1}) ≥ 2 × time(depth {d0})",
            saxe,
            txt_gauss,
            bool(r_gauss >= 2),
            f"ratio ≥ {r_gauss:.2f}: products of Gaussian W are ill-conditioned",
        ),
        Row(
            "Pennington: tanh reaches dynamical isometry only with orthogonal W",
            f"depth {L}, spread v: orthogonal O(1) (≤ 2), Gaussian ≈ L (≥ L/2)",
            penn,
            spectra_text("tanh"),
            bool(tanh.sel(scheme="orthogonal") <= 2 and tanh.sel(scheme="gaussian") >= L / 2),
            "critical tanh with orthogonal W keeps J's spectrum narrow at any depth",
        ),
        Row(
            "Pennington: ReLU nets cannot reach dynamical isometry",
            f"depth {L}: v ≥ (L−1)/2 for both (theory L−1 orthogonal, 2L−1 Gaussian)",
            penn,
            spectra_text("relu"),
            bool((relu >= (L - 1) / 2).all()),
            "ReLU zeroes about half the units: v_D = 1 per layer, whatever W is",
        ),
        Row(
            "Free-probability theory of J's spectrum",
            f"v within 15% of theory at depth {small} (≤ N/16, N = {n}), all four nets",
            f"{penn} (S-transforms of free products multiply)",
            f"max |rel. error| {float(rel.max()):.1%}",
            bool(rel.max() <= 0.15),
            "theory is the N → ∞ limit; at depth ≳ N/8 finite-width corrections grow",
        ),
        Row(
            "LSUV: every layer's output variance ≈ 1",
            f"std within 1 ± {LSUV_TOL} after ≤ 10 rescalings per layer",
            "Mishkin & Matas 2015, arXiv:1511.06422, Alg. 1",
            f"max |std − 1| {dev:.3f} (LSUV batch), {float(abs(held - 1).max()):.3f} (held-out "
            f"batch); rescalings per layer {mean_spread(lsv.iterations, 2)}",
            bool(dev <= LSUV_TOL and int(lsv.iterations.max()) <= 10),
            "b = 0, so one rescaling per layer is exact",
        ),
        Row(
            "C3/C8: with gain 1 a deep ReLU net's signal shrinks by 1/√2 per layer",
            f"per-layer std factor {1 / math.sqrt(2):.4f} ± 0.03",
            "He et al. 2015, arXiv:1502.01852, eq. (10)",
            "; ".join(f"{k}: {mean_spread(f, 4)}" for k, f in factor.items()),
            bool(all(abs(float(f.mean()) - 1 / math.sqrt(2)) <= 0.03 for f in factor.values())),
            f"{lsv.attrs['depth']} layers shrink the logits ~2^{lsv.attrs['depth'] / 2:g}-fold: "
            "'suitably scaled' must include the activation's gain",
        ),
        Row(
            "LSUV rediscovers He's gain for orthogonal ReLU layers",
            f"mean hidden-layer gain √2 = {math.sqrt(2):.4f} within 5%",
            "derived: E[relu(z)²] = Var(z)/2 (He et al. 2015)",
            f"gain {mean_spread(gain, 3)}",
            bool(abs(float(gain.mean()) / math.sqrt(2) - 1) <= 0.05),
            "LSUV's data-driven scale is √2 on average; layer by layer it varies",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

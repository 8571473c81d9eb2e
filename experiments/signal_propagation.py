"""Signal propagation at init: Glorot's and He's per-layer scales (claims C3, C8).

Question: do activations and back-propagated gradients keep their scale through depth at init
(C3), and does that decide which init a deep ReLU net needs (C8)?

* Glorot & Bengio (2010), 5 tanh layers: "standard" W ~ U[−1/√n, 1/√n] (``lecun_uniform``,
  gain 1/√3: n·Var = 1/3) vs normalized (``xavier_uniform``): mean layer-Jacobian singular
  value ≈ 0.5 vs ≈ 0.8; back-propagated gradients shrink layer by layer vs stay level.
* He et al. (2015), 30 ReLU layers: Xavier's activations (n·Var = 1; ``he_normal`` gain 1/√2,
  He's §2.2 form, equal to ``xavier_normal`` on the square layers) shrink by 2^(−1/2) per
  layer; He's (n·Var = 2) stay level. Slopes of ln std are fitted over layers 2…30.

All at init: each net is a ``sweep`` with ``epochs=0`` and ``record=RECORD`` over seeds, on the
first ``probe_size`` training examples (b = 0); its epoch-0 losses use a ``subset`` of the
data. Layer Jacobians (2 examples) are taken on the same init draws (``train.init_params``).
Whether the pre-activations are Gaussian (C7) is ``gaussian_preactivations``.

Command: ``initjax run signal_propagation --quick`` (MNIST-1D, width 256, 8 seeds; ~35 s on
2 CPU cores under load) or ``--full`` (Fashion-MNIST, width 1000 as in Glorot 2010, 5 seeds; 157 s
measured on 2 CPU cores, ``docs/signal_propagation``; the 1000 × 1000 Jacobian SVDs take half). Expected: mean
Jacobian singular value ≈ 0.48 vs ≈ 0.77; standard-init gradients shrink ≈ 1/√3 per layer;
Xavier's ReLU slope −0.347 = −½ ln 2, He's ≈ 0.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from matplotlib.ticker import MaxNLocator

from initjax import data as datasets
from initjax import diagnostics as dg
from initjax import plots, results, study, sweep, train
from initjax.equivalence import band_test
from initjax.study import Row, check_scale
from initjax.verdict import all_of

NAME = "signal_propagation"
ORDER = 4
QUESTION = "Do activations and gradients keep their scale through depth at init?"
CLAIMS = ("C3", "C8")
RUNTIME = {
    "quick": "~35 s (2 CPU cores under load, 8 seeds, measured 2026-12-01)",
    "full": "~3 min (2 CPU cores; 157 s measured)",
}

GLOROT_SV = {"standard": 0.5, "normalized": 0.8}  # Glorot & Bengio 2010, §4.2.1
HALF_LN2 = 0.5 * math.log(2)  # He et al. 2015, eq. 10: Xavier's ReLU std shrinks 2^(−1/2)
XAVIER_GAIN, HE_GAIN = 1 / math.sqrt(2), 1.0  # he_normal gains: std √(1/n_in), √(2/n_in)
SV_ATOL = 0.1  # GLOROT_SV are approximate ("≈ 0.5", "≈ 0.8"): within 0.1 of each
RTOL = 0.1  # predicted per-layer factors (1/√3, 2^(−1/2)) within 10%
LEVEL = (0.8, 1.2)  # "stays level": normalized init's per-layer gradient factor
RECORD = ("act_std", "preact_grad_norm")
JACOBIAN_EXAMPLES = 2  # SVDs cost O(n³) each; 2 × n singular values per layer suffice


def nets(base: train.Config, width: int, grid: dict) -> dict[str, tuple[train.Config, dict]]:
    """Glorot's two 5-layer tanh nets and He's 30-layer ReLU net (Xavier and He gains: one
    sweep), each with its grid (``subset``: training examples kept; test: a quarter)."""
    tanh = base.replace(hidden=(width,) * 5, activation="tanh")
    return {
        "glorot_standard": (
            tanh.replace(scheme="lecun_uniform"),
            grid | {"sigmas": (1 / math.sqrt(3),)},
        ),
        "glorot_normalized": (tanh.replace(scheme="xavier_uniform"), grid | {"sigmas": (1.0,)}),
        "relu": (
            base.replace(hidden=(width,) * 30, activation="relu", scheme="he_normal"),
            grid | {"sigmas": (XAVIER_GAIN, HE_GAIN)},
        ),
    }


BASE = train.Config(model="mlp", dataset="mnist1d", epochs=0, record=RECORD, probe_size=256)
CONFIGS = {
    "quick": nets(BASE, 256, {"seeds": 8, "subset": 1000}),
    "full": nets(BASE.replace(dataset="fashion_mnist", probe_size=500), 1000,
                 {"seeds": 5, "subset": 2000}),
}  # fmt: skip


def _subset(data: datasets.Dataset, n: int) -> datasets.Dataset:
    m = n // 4
    return dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n],
                               x_test=data.x_test[:m], y_test=data.y_test[:m])  # fmt: skip


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    configs = CONFIGS[check_scale(scale)]
    for name, (cfg, grid) in configs.items():
        data = _subset(datasets.load(cfg.dataset), grid["subset"])
        res = sweep.run(cfg, data, seeds=grid["seeds"], sigmas=grid["sigmas"], progress=progress)
        res = res.isel(lr=0, epoch=0)
        if cfg.activation == "tanh":
            sv = jacobian_sv(cfg, grid["seeds"], grid["sigmas"], data.x_train[: cfg.probe_size])
            res["layer_jacobian_sv"] = (("seed", "sigma", "layer"), sv)
        results.save(res, Path(out_dir) / f"{name}.nc")


def jacobian_sv(cfg: train.Config, seeds: int, gains: tuple, x: np.ndarray) -> np.ndarray:
    """Mean singular value of each layer Jacobian ∂h^l/∂h^(l−1) on ``JACOBIAN_EXAMPLES``
    examples, for the sweep's own init draws: (seed, gain, layer).

    Taken here, not by the sweep's recorder: it takes 16 examples, and SVDs inside a grid
    sharded over XLA:CPU host devices can deadlock.
    """
    x_BxD, model = jnp.asarray(x), train.build_model(cfg)  # applies params: its init is unused

    def one(seed: jax.Array, gain: jax.Array) -> jax.Array:
        params = train.init_params(cfg, seed, gain, x_BxD)
        return dg.layer_jacobian_sv(model, {"params": params}, x_BxD, JACOBIAN_EXAMPLES)

    grid = jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))
    return np.asarray(grid(jnp.arange(seeds, dtype=jnp.int32), jnp.asarray(gains, jnp.float32)))


def load(out_dir: Path) -> dict[str, xr.Dataset]:
    return {n: results.load(Path(out_dir) / f"{n}.nc") for n in CONFIGS["quick"]}


def inits(r: dict[str, xr.Dataset]) -> dict[str, xr.Dataset]:
    """One dataset (seed, layer dims) per init: the two Glorot nets, ReLU Xavier and He."""
    relu = r["relu"]
    return {
        "standard": r["glorot_standard"].isel(sigma=0),
        "normalized": r["glorot_normalized"].isel(sigma=0),
        "xavier": relu.isel(sigma=int(np.argmin(np.abs(relu.sigma.values - XAVIER_GAIN)))),
        "he": relu.isel(sigma=int(np.argmin(np.abs(relu.sigma.values - HE_GAIN)))),
    }


LABELS = {
    "standard": "tanh, standard U[±1/√n]",
    "normalized": "tanh, normalized (Xavier)",
    "xavier": "ReLU, Xavier N(0, 1/n)",
    "he": "ReLU, He N(0, 2/n)",
}


def grad_rms(res: xr.Dataset) -> xr.DataArray:
    """RMS of ∂L/∂z^l per hidden layer, from ‖∂L/∂z^l‖_F over the probe batch and the units."""
    cfg = train.Config.from_json(str(res.attrs["config"]))
    g = res.preact_grad_norm.isel(layer=slice(0, -1)).rename(layer="hidden_layer")
    return g / np.sqrt(cfg.probe_size * cfg.hidden[0])


def layer_slope(values: np.ndarray, first: int = 1) -> float:
    """Least-squares slope of log(values) against layer index, from layer ``first`` (0-based) on."""
    v = np.asarray(values, dtype=np.float64)[first:]
    return float(np.polyfit(np.arange(v.size), np.log(v), 1)[0])


def _per_layer(ax: Any, res: xr.DataArray, label: str, **kwargs: Any) -> None:
    depth = np.arange(1, res.shape[-1] + 1)
    plots.band(ax, depth, res.transpose("seed", ...).values, label=label, marker=".", **kwargs)


def figures(out_dir: Path) -> list[Path]:
    r = load(out_dir)
    n = inits(r)
    cfg = train.Config.from_json(str(r["glorot_standard"].attrs["config"]))
    fig, axes = plots.figure(ncols=3, nrows=2, size=(4.6, 3.5))
    ax_act, ax_grad, ax_sv, ax_relu, ax_rgrad, unused = axes
    unused.set_visible(False)
    for k in ("standard", "normalized"):
        _per_layer(ax_act, n[k].act_std, LABELS[k])
        _per_layer(ax_grad, grad_rms(n[k]), LABELS[k])
        _per_layer(ax_sv, n[k].layer_jacobian_sv.isel(layer=slice(0, -1)), LABELS[k])
    for k, value in GLOROT_SV.items():
        plots.anchor_line(ax_sv, value)
        ax_sv.text(1, value + 0.01, f"Glorot 2010, {k}: ≈ {value}", fontsize=7)
    for k in ("xavier", "he"):
        _per_layer(ax_relu, n[k].act_std, LABELS[k])
        _per_layer(ax_rgrad, grad_rms(n[k]), LABELS[k])
    xavier2 = float(np.exp(np.log(n["xavier"].act_std.isel(hidden_layer=1)).mean()))
    depth = np.arange(2, n["xavier"].sizes["hidden_layer"] + 1)
    ax_relu.plot(
        depth,
        xavier2 * 2.0 ** (-(depth - 2) / 2),
        "k:",
        lw=1.5,
        label="Xavier at l = 2, × 2^(−(l−2)/2)",
    )
    for ax in (ax_grad, ax_relu, ax_rgrad):
        ax.set_yscale("log")
    titles = (
        (ax_act, "std of activations h^l", f"(a) tanh, 5 × {cfg.hidden[0]}: activations"),
        (ax_grad, "RMS of back-propagated ∂L/∂z^l", "(b) tanh: back-propagated gradients"),
        (
            ax_sv,
            "mean singular value of ∂h^l/∂h^(l−1)",
            f"(c) tanh: layer Jacobians ({JACOBIAN_EXAMPLES} examples)",
        ),
        (ax_relu, "std of activations h^l", "(d) 30-layer ReLU: activations"),
        (
            ax_rgrad,
            "RMS of back-propagated ∂L/∂z^l",
            "(e) 30-layer ReLU: back-propagated gradients",
        ),
    )
    for ax, ylabel, title in titles:
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("hidden layer l")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6)
    fig.suptitle(
        f"Signal propagation at init on {plots.dataset_name(cfg.dataset)} ({cfg.probe_size} probe examples, b = 0; "
        f"bands: min–max over {r['relu'].sizes['seed']} seeds)"
    )
    return plots.save(fig, Path(out_dir) / "signal_propagation")


def measure(r: dict[str, xr.Dataset]) -> dict[str, Any]:
    """Per seed: Glorot's mean Jacobian singular values and gradient factors, the ReLU nets'
    log-std slopes of activations and gradients."""
    n = inits(r)
    width = train.Config.from_json(str(r["glorot_standard"].attrs["config"])).hidden[0]
    # hidden layers 2…5: the square Jacobians (layer 1 maps the input)
    sv = {
        k: n[k].layer_jacobian_sv.isel(layer=slice(1, -1)).mean("layer").values.tolist()
        for k in GLOROT_SV
    }
    factor = {
        k: np.exp([layer_slope(v[::-1], 0) for v in grad_rms(n[k]).values]).tolist()
        for k in GLOROT_SV
    }
    slope = {k: [layer_slope(v) for v in n[k].act_std.values] for k in ("xavier", "he")}
    gslope = {k: [layer_slope(v) for v in grad_rms(n[k]).values] for k in ("xavier", "he")}
    return {"width": width, "sv": sv, "factor": factor, "slope": slope, "gslope": gslope}


def _bands(**checks: tuple[Any, float, float]) -> tuple[bool | None, str]:
    """Each named sample's 95% t-interval against its band (``equivalence.band_test``): the
    row passes when every interval lies inside, fails when one lies wholly outside."""
    tests = {k: band_test(x, lo, hi) for k, (x, lo, hi) in checks.items()}
    return all_of(*(o for o, _ in tests.values())), "; ".join(
        f"{k}: {t}" for k, (_, t) in tests.items()
    )


def verdict(m: dict[str, Any]) -> list[Row]:
    width = m["width"]
    sv, factor = ({k: np.asarray(v) for k, v in m[key].items()} for key in ("sv", "factor"))
    slope, gslope = ({k: np.asarray(v) for k, v in m[key].items()} for key in ("slope", "gslope"))
    level = (-RTOL * HALF_LN2, RTOL * HALF_LN2)
    shrink, grow = (
        (-HALF_LN2 * (1 + RTOL), -HALF_LN2 * (1 - RTOL)),
        (HALF_LN2 * (1 - RTOL), HALF_LN2 * (1 + RTOL)),
    )
    sv_ok, sv_text = _bands(**{k: (sv[k], v - SV_ATOL, v + SV_ATOL) for k, v in GLOROT_SV.items()})
    f_ok, f_text = _bands(
        standard=(factor["standard"], (1 - RTOL) / math.sqrt(3), (1 + RTOL) / math.sqrt(3)),
        normalized=(factor["normalized"], *LEVEL),
    )
    s_ok, s_text = _bands(Xavier=(slope["xavier"], *shrink), He=(slope["he"], *level))
    g_ok, g_text = _bands(Xavier=(gslope["xavier"], *grow), He=(gslope["he"], *level))
    return [
        Row(
            "C3 (Glorot 2010): mean layer-Jacobian singular value, standard vs normalized",
            f"≈ 0.5 vs ≈ 0.8 (±{SV_ATOL} each; 95% CI of each mean inside)",
            "Glorot & Bengio 2010 §4.2.1, 5 × 1000 tanh",
            f"{sv_text} (tanh layers 2–5, width {width})",
            sv_ok,
            "quarter-circle law: mean singular value 0.85·√(n·Var) times E[tanh'] ≤ 1",
        ),
        Row(
            "C3 (Glorot 2010): back-propagated gradients shrink (standard), level (normalized)",
            f"per-layer factor, input-ward: 1/√3 = 0.577 (±{RTOL:.0%}) vs within "
            f"[{LEVEL[0]}, {LEVEL[1]}] (95% CI of each mean inside)",
            "Glorot & Bengio 2010 Fig. 7; Var[U(±1/√n)] = 1/(3n), tanh' ≈ 1 near 0",
            f_text,
            f_ok,
            "standard: layer 1 gets ≈ (1/3)² of layer 5's gradient; normalized loses only "
            "E[tanh'(z)²] < 1 per layer",
        ),
        Row(
            "C3/C8 (He 2015, 30 ReLU layers): Xavier's activations shrink 2^(−1/2) per layer, "
            "He's stay level",
            f"slope of ln std over layers 2–30: −½ ln 2 = {-HALF_LN2:.3f} (±{RTOL:.0%}) vs "
            f"|slope| ≤ {RTOL * HALF_LN2:.4f} (95% CI of each mean inside)",
            "He et al. 2015 §2.2 and eq. 10: Xavier's std is 1/√2^L of He's",
            s_text,
            s_ok,
            "E[relu(z)²] = Var(z)/2: n·Var = 2 (He) exactly undoes the halving, 1 (Xavier) not",
        ),
        Row(
            "C3 (He 2015): Xavier's gradients vanish toward the input, He's do not",
            f"slope of ln RMS ∂L/∂z over layers 2–30: Xavier +{HALF_LN2:.3f} (±{RTOL:.0%}), "
            f"He |slope| ≤ {RTOL * HALF_LN2:.4f} (95% CI of each mean inside)",
            "He et al. 2015 §2.2 (backward case), Fig. 4: 'the gradients are diminishing'",
            g_text,
            g_ok,
            "layer 1 gets ≈ 2^(−14.5) of layer 30's gradient under Xavier",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

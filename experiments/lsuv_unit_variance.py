"""LSUV: layer-sequential unit variance, against orthogonal, Gaussian and He init of a deep ReLU net.

Question: does Mishkin & Matas's data-driven LSUV (arXiv:1511.06422) give every layer unit
output variance, and what gain does it find? :func:`initjax.lsuv.lsuv` on a deep ReLU MLP
(an MNIST-1D batch) vs plain orthogonal / Gaussian (gain 1) and He init: per-layer output std,
on the batch LSUV saw and on a held-out one. LSUV'd params are not trained: a sweep draws its
params from a scheme, LSUV needs data.

Unit variance on the LSUV batch holds by construction (LSUV rescales until it does): that
row is a sanity check (``kind="sanity"``); the evidence is the gain it finds and the 1/√2
shrinkage per ReLU layer at gain 1.

Claims: C3, C8. Command: ``python experiments/lsuv_unit_variance.py --quick`` (20 layers ×
128, 8 seeds; ~15 s on 2 CPU cores) or ``--full`` (30 × 256, 5 seeds; ~20 s). Full-scale
result (5 seeds): LSUV leaves every layer within 1 ± 0.1 with one rescaling and a mean hidden
gain of 1.417 [1.404, 1.429] ≈ √2.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from initjax import data as datasets
from initjax import init as schemes
from initjax import models, plots, results, study
from initjax.equivalence import band_test
from initjax.lsuv import lsuv
from initjax.study import Row, check_scale, mean_spread
from initjax.verdict import all_of

NAME = "lsuv_unit_variance"
ORDER = 11
QUESTION = "Does LSUV give every layer of a deep ReLU net unit variance, and with which gain?"
CLAIMS = ("C3", "C8")
RUNTIME = {"quick": "~15 s (2 CPU cores)", "full": "~20 s (2 CPU cores, 15 s measured)"}

# Anchors: Mishkin & Matas 2015, Alg. 1 (Tol_var = 0.1, at most 10 tries per layer);
# He et al. 2015 eq. (10): with gain 1 a ReLU layer halves the second moment (factor 1/√2 in
# std), and the gain that undoes it is √2.
LSUV_TOL = 0.1
LSUV_MAX_TRIES = 10
RELU_FACTOR = 1 / math.sqrt(2)
FACTOR_TOL = 0.03
HE_GAIN = math.sqrt(2.0)
GAIN_RTOL = 0.05

# No training: the nets' shape and the number of init draws.
CONFIGS = {
    "quick": {"seeds": 8, "depth": 20, "width": 128},
    "full": {"seeds": 5, "depth": 30, "width": 256},
}
LABELS = {
    "lsuv": "LSUV (orthogonal, rescaled)",
    "orthogonal": "orthogonal, gain 1",
    "gaussian": "Gaussian N(0, 1/n)",
    "he": "He N(0, 2/n)",
}


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    c = CONFIGS[check_scale(scale)]
    data = datasets.load("mnist1d")
    x_fit, x_new = (jnp.asarray(data.x_train[a : a + 256]) for a in (0, 256))
    keys = jax.random.split(jax.random.key(0), c["seeds"])

    def mlp(kernel_init: schemes.Initializer) -> models.MLP:
        return models.MLP((c["width"],) * c["depth"], activation="relu", kernel_init=kernel_init)

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
    measure_std = jax.jit(stds)
    std = [[[measure_std(p, x) for p in ps] for x in (x_fit, x_new)] for ps in inits.values()]
    res = xr.Dataset(
        {
            "output_std": (("init", "batch", "seed", "layer"), np.asarray(std)),
            "iterations": (("seed", "layer"), np.asarray([r.iterations for r in reports])),
            "gain": (("seed", "layer"), np.asarray(gains)),
        },
        coords={
            "init": list(inits),
            "batch": ["fit", "held_out"],
            "layer": np.arange(1, c["depth"] + 2),
        },
        attrs={"width": c["width"], "depth": c["depth"]},
    )
    results.save(res, Path(out_dir) / "lsuv.nc")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "lsuv.nc")


def figures(out_dir: Path) -> list[Path]:
    lsv = load(out_dir)
    fig, (ax,) = plots.figure(size=(5.0, 3.6))
    for k, name in enumerate(lsv.init.values):
        runs = lsv.output_std.sel(init=name, batch="held_out").transpose("seed", "layer").values
        plots.band(ax, lsv.layer.values, runs, label=LABELS[str(name)], color=f"C{k}", marker=".")
    ax.axhspan(1 - LSUV_TOL, 1 + LSUV_TOL, color="gray", alpha=0.3, label="1 ± 0.1 (LSUV tol)")
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    plots.label(
        ax,
        "Dense layer (the last one gives the logits)",
        "std of the layer's output z (held-out batch)",
        f"ReLU MLP {lsv.attrs['depth']}×{lsv.attrs['width']} at init, MNIST-1D",
    )
    return plots.save(fig, Path(out_dir) / NAME)


def measure(lsv: xr.Dataset) -> dict[str, Any]:
    """LSUV's worst deviation from std 1, its rescalings and gains; per-layer std factors."""
    fit, held = (lsv.output_std.sel(init="lsuv", batch=b) for b in ("fit", "held_out"))
    # Per-layer factor of the std over the hidden layers 2..L (geometric mean), per seed.
    factor = {
        k: ((d.isel(layer=-2) / d.isel(layer=1)) ** (1 / (d.sizes["layer"] - 3))).values.tolist()
        for k in ("orthogonal", "gaussian")
        for d in [lsv.output_std.sel(init=k, batch="held_out")]
    }
    return {
        "depth": int(lsv.attrs["depth"]),
        "max_dev_fit": float(abs(fit - 1).max()),
        "max_dev_held_out": float(abs(held - 1).max()),
        "iterations": lsv.iterations.values.tolist(),
        "factor": factor,
        "hidden_gain": lsv.gain.isel(layer=slice(1, -1)).values.tolist(),  # layers 2..L
    }


def verdict(m: dict[str, Any]) -> list[Row]:
    dev, iters, gain = m["max_dev_fit"], np.asarray(m["iterations"]), np.asarray(m["hidden_gain"])
    factor = {k: np.asarray(f) for k, f in m["factor"].items()}
    shrink = {
        k: band_test(f, RELU_FACTOR - FACTOR_TOL, RELU_FACTOR + FACTOR_TOL)
        for k, f in factor.items()
    }
    gain_ok, gain_text = band_test(
        gain.reshape(len(gain), -1).mean(axis=1),
        HE_GAIN * (1 - GAIN_RTOL),
        HE_GAIN * (1 + GAIN_RTOL),
    )
    return [
        Row(
            "LSUV: every layer's output variance ≈ 1",
            f"std within 1 ± {LSUV_TOL} after ≤ 10 rescalings per layer",
            "Mishkin & Matas 2015, arXiv:1511.06422, Alg. 1",
            f"max |std − 1| {dev:.3f} (LSUV batch), {m['max_dev_held_out']:.3f} (held-out "
            f"batch); rescalings per layer {mean_spread(iters, 2)}",
            bool(dev <= LSUV_TOL and int(iters.max()) <= LSUV_MAX_TRIES),
            "b = 0, so one rescaling per layer is exact: LSUV makes it so (a sanity check)",
            kind="sanity",
        ),
        Row(
            "C3/C8: with gain 1 a deep ReLU net's signal shrinks by 1/√2 per layer",
            f"per-layer std factor {RELU_FACTOR:.4f} ± {FACTOR_TOL} (95% CI of each mean inside)",
            "He et al. 2015, arXiv:1502.01852, eq. (10)",
            "; ".join(f"{k}: {t}" for k, (_, t) in shrink.items()),
            all_of(*(o for o, _ in shrink.values())),
            f"{m['depth']} layers shrink the logits ~2^{m['depth'] / 2:g}-fold: "
            "'suitably scaled' must include the activation's gain",
        ),
        Row(
            "LSUV rediscovers He's gain for orthogonal ReLU layers",
            f"mean hidden-layer gain √2 = {HE_GAIN:.4f} within {GAIN_RTOL:.0%} (95% CI of the "
            "mean over seeds inside)",
            "derived: E[relu(z)²] = Var(z)/2 (He et al. 2015)",
            f"gain per layer {mean_spread(gain, 3)}; per seed's mean over layers: {gain_text}",
            gain_ok,
            "LSUV's data-driven scale is √2 on average; layer by layer it varies",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

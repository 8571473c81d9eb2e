"""The spectral half of ``deep_cnn.py``: its three kernels and the Jacobian spectrum at init.

The squared singular values of J = ∂z^L/∂x for a stack of stride-1 3×3 SAME convolutions
(c channels, tanh, no bias) and their spread v = Var(s²)/E[s²]², against free probability's
v = L·v_W + Σ_{l<L} v_D(q^l) (see ``deep_cnn.py``'s docstring).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import xarray as xr

from initjax import init as schemes
from initjax import spectra, theory

SIGMA_W = 1.0  # tanh, σ_b = 0: critical (χ₁ = 1 at q* = 0)
TAPS = 9  # 3×3 kernels
INITS = ("gaussian", "orthogonal", "delta_orthogonal")
SCHEMES = {"gaussian": "lecun_normal", "orthogonal": "orthogonal",
           "delta_orthogonal": "delta_orthogonal"}  # fmt: skip
V_W = {"gaussian": 1.0, "orthogonal": 1.0 - 1.0 / TAPS, "delta_orthogonal": 0.0}


conv = spectra.conv_same  # the tests' hand-built stacks use the same convolution
conv_jacobian_sv2 = spectra.conv_stack_sv2


def kernels(key: jax.Array, init: str, depth: int, channels: int) -> jax.Array:
    """``depth`` independent (3, 3, c, c) kernels of ``init`` at gain σ_w; (depth, 3, 3, c, c)."""
    draw = schemes.get(SCHEMES[init], gain=SIGMA_W)
    keys = jax.random.split(key, depth)
    return jax.vmap(lambda k: draw(k, (3, 3, channels, channels)))(keys)


def spectrum(grid: dict[str, Any], channels: int, side: int) -> xr.Dataset:
    """Squared singular values of J (init, seed, kept_depth, k) and the theory's spread."""
    j = grid["jacobian"]
    keep, depth = tuple(j["keep"]), j["depth"]
    sv2 = np.zeros((len(INITS), j["seeds"], len(keep), side * side * channels), np.float32)
    for s in range(j["seeds"]):
        key_x, key_w = jax.random.split(jax.random.key(1000 + s))
        x = jax.random.normal(key_x, (side, side, channels))  # q⁰ = 1
        for i, init in enumerate(INITS):
            w = kernels(jax.random.fold_in(key_w, i), init, depth, channels)
            sv2[i, s] = conv_jacobian_sv2(w, x, "tanh", keep)
    q = np.asarray(theory.predicted_variances(depth, 1.0, SIGMA_W, 0.0, "tanh"))[1:-1]
    sum_vd = np.concatenate([[0.0], np.cumsum(theory.v_d(q, "tanh"))])  # Σ_{l<L} v_D(q^l)
    kept = np.asarray(keep)
    pred = [kept * V_W[i] + sum_vd[kept - 1] for i in INITS]
    return xr.Dataset(
        {
            "sv2": (("init", "jac_seed", "kept_depth", "k"), sv2),
            "spread_theory": (("init", "kept_depth"), np.asarray(pred)),
        },
        coords={"init": list(INITS), "kept_depth": list(keep)},
    )


def spread(sv2: Any) -> np.ndarray:
    """v = Var(s²)/E[s²]² over the last axis (float64; :func:`initjax.spectra.spread`)."""
    a = np.asarray(sv2, dtype=np.float64)
    return np.asarray(spectra.spread(a, a**2))

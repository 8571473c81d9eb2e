"""Width parametrizations of an MLP: standard (SP), NTK and µP, as per-layer multipliers.

Every parametrization is written in SP form: the kernels are drawn by the run's scheme (SP's
init, e.g. He: Var = gain²/fan_in), then each layer gets an **init multiplier** on that draw
and an **lr multiplier** on its update. For SGD an abc-parametrization with forward
multipliers is equivalent to one without them (W = n^(−a) w trained at lr η equals W drawn
n^(−a)-scaled and trained at lr η·n^(−2a); Yang & Hu 2021, §3), so this form loses
nothing for SGD; for Adam the lr rule is the one of Yang et al. 2022 (TP-V), Table 3.

Widths enter relative to ``base_width`` n₀ (where every parametrization equals SP), as the
width multiplier m = n/n₀ of the layer's width-like fan: the input layer's fan_out, the
hidden layers' fan_in, the output layer's fan_in. "input" is ``hidden_0``, "hidden" are
``hidden_i`` (i ≥ 1), "output" is ``output``; a bias follows its layer's output width.

==========  ==================  ================  =================  ================
param.      layer               init std ×        SGD lr ×           Adam lr ×
==========  ==================  ================  =================  ================
SP          every               1                 1                  1
NTK         input, its bias     1                 1                  1
NTK         hidden              1                 1/m                1/√m
NTK         output              1                 1/m                1/√m
µP          input, hidden bias  1                 m                  1
µP          hidden              1                 1                  1/m
µP          output              1/√m (or 0)       1/m                1/m
==========  ==================  ================  =================  ================

(µP: TP-V Table 3 — init Var 1/fan_in, 1/fan_in, 1/fan_in²; SGD lr η·fan_out, η, η/fan_in;
Adam lr η, η/fan_in, η/fan_in for input, hidden and output weights — divided by its values
at n₀. ``readout_zero`` draws the output layer as 0, the option TP-V recommends.) NTK: the
layer computes W x/√fan_in with w ~ N(0, σ²) at lr η, i.e. SP's init with lr η/fan_in
(SGD) or η/√fan_in (Adam, which normalizes the gradient's scale).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import optax

from initjax.errors import unknown

PARAMETRIZATIONS = ("sp", "ntk", "mup")
ADAPTIVE = ("adam", "adamw", "rmsprop")
"""Optimizers whose update is invariant to the gradient's scale (Adam's lr column)."""


def role(path: Sequence[str]) -> str:
    """``input``, ``hidden``, ``output`` or ``other`` for a parameter path like
    ``("hidden_0", "kernel")``."""
    layer = path[0] if path else ""
    if layer == "output":
        return "output"
    if layer == "hidden_0":
        return "input"
    if layer.startswith("hidden_"):
        return "hidden"
    return "other"


def multipliers(
    parametrization: str, layer_role: str, kind: str, m: float, adaptive: bool
) -> tuple[float, float]:
    """(init std multiplier, lr multiplier) of one parameter, from the module's table.

    ``kind`` is ``kernel`` or ``bias``; ``m`` the layer's width multiplier n/n₀.
    """
    if parametrization not in PARAMETRIZATIONS:
        raise unknown("parametrization", parametrization, PARAMETRIZATIONS)
    if parametrization == "sp" or layer_role == "other":
        return 1.0, 1.0
    if kind == "bias":
        if parametrization == "mup" and layer_role in ("input", "hidden") and not adaptive:
            return 1.0, m
        return 1.0, 1.0
    if parametrization == "ntk":
        if layer_role == "input":
            return 1.0, 1.0
        return 1.0, (1 / math.sqrt(m)) if adaptive else 1 / m
    # µP
    if layer_role == "input":
        return 1.0, 1.0 if adaptive else m
    if layer_role == "hidden":
        return 1.0, (1 / m) if adaptive else 1.0
    return 1 / math.sqrt(m), 1 / m


def width_multiplier(layer_role: str, shape: Sequence[int], base_width: int) -> float:
    """m = n/n₀ of a kernel (or bias) of ``shape`` in a layer of ``layer_role``."""
    if layer_role == "input" or len(shape) == 1:
        return shape[-1] / base_width
    return shape[-2] / base_width  # hidden, output: the fan_in


def _names(path: Any) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def scale_lr_by_layer(cfg: Any) -> optax.GradientTransformation:
    """Multiply each parameter's update by its lr multiplier (identity for SP)."""
    adaptive = cfg.optimizer in ADAPTIVE

    def factor(path: Any, u: jax.Array) -> float:
        names = _names(path)
        r = role(names)
        m = width_multiplier(r, u.shape, cfg.base_width) if r != "other" else 1.0
        return multipliers(cfg.parametrization, r, names[-1], m, adaptive)[1]

    def update_fn(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        del params
        scaled = jax.tree_util.tree_map_with_path(lambda p, u: u * factor(p, u), updates)
        return scaled, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def output_init(
    cfg: Any, kernel_init: Callable[..., jax.Array], fan_in: int
) -> Callable[..., jax.Array]:
    """The output layer's initializer under ``cfg.parametrization`` (µP: scaled or zero)."""
    if cfg.parametrization != "mup":
        return kernel_init
    if cfg.readout_zero:
        return lambda key, shape, dtype=None: jax.numpy.zeros(shape, dtype or "float32")
    scale = 1 / math.sqrt(fan_in / cfg.base_width)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = None) -> jax.Array:
        w = kernel_init(key, shape) if dtype is None else kernel_init(key, shape, dtype)
        return w * jax.numpy.asarray(scale, w.dtype)

    return init

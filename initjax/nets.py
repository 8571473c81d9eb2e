"""Architectures beyond the note: a vanilla conv net and a residual MLP without normalization.

Both take their kernels from the run's scheme (``kernel_init`` with σ bound), so every
scheme — delta-orthogonal included — and every grid axis applies to them. They are the
built-in models ``cnn`` and ``resmlp`` of :mod:`initjax.models`.

* :class:`CNN` (Xiao et al. 2018's "vanilla" deep CNN): ``len(hidden)`` 3×3 convolutions
  with ``hidden[i]`` channels, SAME padding, no normalization, no skips; the first one has
  stride 2 on images (28×28 → 14×14, to keep CPU cost down), then global average pooling
  and a dense ``output``. A flat input of D = s² features is an s×s image; any other D is a
  1-D signal (MNIST-1D: length 40) with 3-tap convolutions. Layers are ``hidden_i`` and
  sow ``preact``/``act``, the documented per-layer form.
* :class:`ResMLP`: ``input`` Dense to width n, then ``len(hidden)`` pre-activation blocks
  h ← h + α·W₂ φ(W₁ φ(h)) and ``output``. ``residual_init`` chooses how the blocks start:
  ``standard`` (α = 1, W from the scheme), ``zero`` (a learnable scalar α = 0 per block:
  SkipInit, De & Smith 2020; ReZero, Bachlechner et al. 2020), ``fixup`` (Zhang et al. 2019:
  W₁ scaled by L^(−1/(2m−2)) = L^(−1/2) for m = 2 layers per branch, W₂ = 0, the output layer
  0, scalar biases before each layer and a scalar multiplier 1 per branch). With ``zero`` and
  ``fixup`` every block is the identity at init. The residual stream entering and leaving
  block i is sown as ``intermediates/block_i_in`` and ``block_i_out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from initjax.errors import unknown

Array = jax.Array
RESIDUAL_INITS = ("standard", "zero", "fixup")


def _zeros(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
    return jnp.zeros(shape, dtype)


class CNN(nn.Module):
    """Vanilla conv net: convolutions ``hidden_i`` → global average pool → ``output``."""

    hidden: Sequence[int]
    num_classes: int
    phi: Callable[[Array], Array]
    kernel_init: Callable[..., Array]
    bias_init: Callable[..., Array]

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        del train
        d = x.shape[-1]
        side = math.isqrt(d)
        image = side * side == d and d > 1
        x = x.reshape(x.shape[0], side, side, 1) if image else x.reshape(x.shape[0], d, 1)
        window = (3, 3) if image else (3,)
        for i, channels in enumerate(self.hidden):
            stride = 2 if (i == 0 and image) else 1
            conv = nn.Conv(
                channels,
                window,
                strides=stride,
                padding="SAME",
                kernel_init=self.kernel_init,
                bias_init=self.bias_init,
                name=f"hidden_{i}",
            )
            z = conv(x)
            conv.sow("intermediates", "preact", z)
            x = self.phi(z)
            conv.sow("intermediates", "act", x)
        pooled = x.mean(axis=tuple(range(1, x.ndim - 1)))
        return nn.Dense(
            self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init, name="output"
        )(pooled)


class ResMLP(nn.Module):
    """Residual MLP without normalization (see the module docstring for ``residual_init``)."""

    hidden: Sequence[int]
    num_classes: int
    phi: Callable[[Array], Array]
    kernel_init: Callable[..., Array]
    bias_init: Callable[..., Array]
    residual_init: str = "standard"

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        del train
        if self.residual_init not in RESIDUAL_INITS:
            raise unknown("residual_init", self.residual_init, RESIDUAL_INITS)
        if len(set(self.hidden)) != 1:
            raise ValueError(f"resmlp blocks share one width; got hidden={tuple(self.hidden)}")
        width, depth = self.hidden[0], len(self.hidden)
        fixup = self.residual_init == "fixup"
        h = nn.Dense(width, kernel_init=self.kernel_init, bias_init=self.bias_init, name="input")(x)
        w1_init = self.kernel_init
        if fixup:
            base = self.kernel_init
            scale = depth ** (-0.5)  # L^(-1/(2m-2)) with m = 2 layers per branch

            def w1_init(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
                return scale * base(key, shape, dtype)

        w2_init = _zeros if fixup else self.kernel_init
        for b in range(depth):
            block = f"block_{b}"
            self.sow("intermediates", f"{block}_in", h)
            u = self.phi(h)
            if fixup:
                u = u + self.param(f"{block}_bias_0", _zeros, ())
            u = nn.Dense(width, kernel_init=w1_init, bias_init=self.bias_init, name=f"{block}_fc1")(
                u
            )
            u = self.phi(u + (self.param(f"{block}_bias_1", _zeros, ()) if fixup else 0.0))
            u = nn.Dense(width, kernel_init=w2_init, bias_init=self.bias_init, name=f"{block}_fc2")(
                u
            )
            if self.residual_init == "zero":
                u = self.param(f"{block}_alpha", _zeros, ()) * u
            elif fixup:
                u = self.param(f"{block}_scale", nn.initializers.ones, ()) * u
                u = u + self.param(f"{block}_bias_2", _zeros, ())
            h = h + u
            self.sow("intermediates", f"{block}_out", h)
        out_init = _zeros if fixup else self.kernel_init
        return nn.Dense(self.num_classes, kernel_init=out_init, bias_init=self.bias_init,
                        name="output")(self.phi(h))  # fmt: skip

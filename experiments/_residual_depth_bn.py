"""The BatchNorm residual net that ``residual_depth.py`` compares its inits against.

A model factory (``Config(model=bn_resmlp)``), registered by nothing: the experiment passes
the function itself, as a researcher's own model would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax


class BNResMLP(nn.Module):
    """``resmlp`` with BatchNorm before each ReLU: h ← h + W₂ φ(BN(W₁ φ(BN(h)))) (He et al.
    2016's pre-activation block), the same ``input``/``output`` layers and sown stream."""

    hidden: Sequence[int]
    num_classes: int
    kernel_init: Callable[..., jax.Array]
    bias_init: Callable[..., jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        def bn(name: str) -> nn.BatchNorm:
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)

        def dense(name: str, width: int) -> nn.Dense:
            return nn.Dense(
                width, kernel_init=self.kernel_init, bias_init=self.bias_init, name=name
            )

        width = self.hidden[0]
        h = dense("input", width)(x)
        for b in range(len(self.hidden)):
            self.sow("intermediates", f"block_{b}_in", h)
            u = dense(f"block_{b}_fc1", width)(nn.relu(bn(f"block_{b}_bn1")(h)))
            h = h + dense(f"block_{b}_fc2", width)(nn.relu(bn(f"block_{b}_bn2")(u)))
            self.sow("intermediates", f"block_{b}_out", h)
        return dense("output", self.num_classes)(nn.relu(bn("bn_out")(h)))


def bn_resmlp(kernel_init: Callable, bias_init: Callable, num_classes: int, cfg: Any) -> nn.Module:
    """Model factory (Config(model=bn_resmlp)): the BatchNorm residual net of ``cfg.hidden``."""
    return BNResMLP(cfg.hidden, num_classes, kernel_init, bias_init)


# Momentum SGD (Fixup's optimizer) with He-normal kernels, ReLU; depth = len(hidden) blocks.

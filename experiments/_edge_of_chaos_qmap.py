"""edge_of_chaos's length-map simulation (beside ``edge_of_chaos.py``): the second moment q^l
of every layer's pre-activations at init, drawn exactly as the sweep draws its nets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from initjax import models, train


def measure_q(cfg: train.Config, x: np.ndarray, seeds: int, sigma_w2: np.ndarray) -> np.ndarray:
    """Per-layer mean of z² over examples and units at init, for the sweep's own init draws:
    (seed, σ_w², layer)."""
    x_BxD, model = jnp.asarray(x), train.build_model(cfg)  # applies params: its init is unused

    def one(seed: jax.Array, sw2: jax.Array) -> jax.Array:
        params = train.init_params(cfg, seed, sw2, x_BxD)
        _, preacts, _ = models.forward(model, {"params": params}, x_BxD)
        return jnp.stack([jnp.mean(z**2) for z in preacts])

    over_sigma = jax.jit(jax.vmap(one, in_axes=(None, 0)))  # one compile, seeds in a loop
    sw2 = jnp.asarray(sigma_w2, jnp.float32)
    return np.stack([np.asarray(over_sigma(jnp.int32(k), sw2)) for k in range(seeds)])

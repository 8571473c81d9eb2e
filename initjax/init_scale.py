"""The physical scale of a sweep's init: what σ means for its scheme, and the standard
deviation each layer's kernel is drawn with (``init_std``, a variable of every sweep result).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.traverse_util
import jax
import numpy as np
import xarray as xr

from initjax import data as datasets
from initjax import train
from initjax.config import Config

SIGMA_MEANING = {"sigma": "std", "gain": "gain", "scale": "scale", "value": "value"}
"""What σ is for a scheme, by the name of its scale argument (others: that name)."""


def sigma_attrs(cfg: Config) -> dict[str, str]:
    """Attributes of the σ coordinate: what σ means for ``cfg``'s scheme."""
    param = cfg.scale_param()
    meaning = SIGMA_MEANING.get(param, param)
    return {
        "long_name": f"init scale σ ({meaning} of {train.label(cfg.scheme)})",
        "units": "1",
        "scale_param": param,
        "meaning": meaning,
    }


def init_std(
    cfg: Config, data: datasets.Dataset, sigmas: np.ndarray, draws: int = 16
) -> xr.DataArray:
    """The standard deviation each layer's kernel is drawn with, per σ: dims (sigma, layer).

    Monte Carlo: the model is initialized ``draws`` times per σ (fixed keys, independent of
    the sweep's seeds) and each kernel's values are pooled; the relative error of the
    estimate is about 1/√(2·draws·size): 2% for a 64-weight kernel, 0.2% for 784×10. This puts
    schemes whose σ means different things (std, gain, scale) on one physical axis.

    The draws are vmapped but not jitted: op by op, each initializer's program is compiled
    once per kernel shape and reused by every layer, σ and later sweep, where one jitted
    program of the whole model's init took as long to compile as the training step (18 s
    for a 100-layer net). Draws go in groups of at most ``_INIT_STD_BYTES`` of parameters.
    """
    x = jax.numpy.asarray(data.x_train[:1])
    keys = jax.random.split(jax.random.key(20100513), draws)

    def one(model: Any, key: jax.Array) -> dict[str, jax.Array]:
        params = model.init(key, x, train=False)["params"]
        flat = flax.traverse_util.flatten_dict(params, sep="/")
        return {
            k.removesuffix("/kernel"): jax.numpy.stack([v.mean(), (v * v).mean()])
            for k, v in flat.items()
            if k.endswith("kernel")
        }

    probe = train.build_model(cfg)
    shapes = jax.eval_shape(lambda k: probe.init(k, x, train=False)["params"], keys[0])
    size = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(shapes))
    group = int(max(1, min(draws, _INIT_STD_BYTES // max(size, 1))))
    rows = []
    for sigma in np.asarray(sigmas, np.float32):
        model = train.build_model(cfg, jax.numpy.float32(sigma))
        parts = [
            jax.vmap(functools.partial(one, model))(keys[i : i + group])
            for i in range(0, draws, group)
        ]
        rows.append(
            {k: np.concatenate([np.asarray(p[k]) for p in parts]).mean(0) for k in parts[0]}
        )
    layers = list(rows[0])
    mom = np.stack([[r[k] for k in layers] for r in rows])  # (sigma, layer, 2)
    std = np.sqrt(np.maximum(mom[..., 1] - mom[..., 0] ** 2, 0.0))
    return xr.DataArray(
        std,
        dims=("sigma", "layer"),
        coords={"sigma": np.asarray(sigmas, np.float64), "layer": layers},
        attrs={"long_name": "std of the initial kernel (per layer)", "units": "1"},
    )


_INIT_STD_BYTES = 1 << 28
"""The most parameter bytes :func:`init_std` draws at once (256 MiB)."""

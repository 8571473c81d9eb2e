"""The µP "coordinate check" (Yang et al. 2022, §D): how far each layer's activations move in
the first few steps, as a function of width. Under µP the typical size of the change is the
same at every width (slope ≈ 0 in log-log); under SP at a fixed lr it grows with width.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from initjax import data as datasets
from initjax import models, train


def coordinate_check(
    cfg: train.Config,
    data: datasets.Dataset,
    widths: Sequence[int],
    *,
    steps: int = 4,
    sigma: float | None = None,
    lr: float | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    probe: int = 256,
) -> dict[str, np.ndarray]:
    """RMS change of each hidden layer's activations and of the logits after ``steps`` SGD
    steps, per width: ``{"hidden_i": (len(widths),), ..., "logits": ...}`` averaged over
    ``seeds``. ``cfg.hidden`` gives the depth; every hidden layer gets the width."""
    x_probe = jnp.asarray(data.x_train[:probe])
    arrays = train.DataArrays.from_dataset(data)
    out: dict[str, list[float]] = {}
    for width in widths:
        c = cfg.replace(hidden=(int(width),) * len(cfg.hidden), epochs=1, eval_epochs=())
        model = train.build_model(c)
        step = jax.jit(train._step_fn(c, model, arrays))
        sums: dict[str, float] = {}
        for seed in seeds:
            state, _ = train.init_run(
                c, arrays, jnp.int32(seed), jnp.float32(c.default_sigma() if sigma is None else sigma),
                jnp.float32(c.lr if lr is None else lr),
            )  # fmt: skip
            before = _activations(model, state, x_probe)
            for t in range(steps):
                idx = (jnp.arange(c.batch_size) + t * c.batch_size) % data.num_train
                state, _ = step(state, (arrays.x_train[idx], arrays.y_train[idx]))
            after = _activations(model, state, x_probe)
            for name in before:
                rms = float(jnp.sqrt(jnp.mean((after[name] - before[name]) ** 2)))
                sums[name] = sums.get(name, 0.0) + rms / len(seeds)
        for name, value in sums.items():
            out.setdefault(name, []).append(value)
    return {k: np.asarray(v) for k, v in out.items()}


def _activations(model, state, x):
    variables = {"params": state.params}
    if state.batch_stats is not None:
        variables["batch_stats"] = state.batch_stats
    logits, _, acts = models.forward(model, variables, x)
    return {**{f"hidden_{i}": a for i, a in enumerate(acts)}, "logits": logits}


def slopes(widths: Sequence[int], changes: dict[str, np.ndarray]) -> dict[str, float]:
    """Least-squares slope of log(change) against log(width), per layer."""
    lw = np.log(np.asarray(widths, np.float64))
    return {k: float(np.polyfit(lw, np.log(v), 1)[0]) for k, v in changes.items()}

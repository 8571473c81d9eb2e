"""Layer-sequential unit-variance (LSUV) initialization, Mishkin & Matas (2015, arXiv:1511.06422).

A data-dependent init: start from orthonormal kernels, then walk the Dense layers in forward
order and rescale each kernel until the layer's output has the target standard deviation on
one batch. :func:`lsuv` runs eagerly (a Python loop with data-dependent stopping), once, before training;
each measurement is one jit-compiled forward pass, compiled once and reused.
:func:`lsuv_traced` is the same algorithm as a pure function of arrays (``lax.while_loop`` per
layer), so it can run inside a compiled, vmapped init: ``Config(lsuv_examples=N)`` applies it to
every run of a sweep, on the first N training examples.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from initjax import init as schemes
from initjax import models

Array = jax.Array


class LSUVReport(NamedTuple):
    """What :func:`lsuv` did, one entry per Dense layer in forward order."""

    layers: tuple[str, ...]
    """Layer names, ``hidden_0 … output``."""
    iterations: tuple[int, ...]
    """Rescalings of that layer's kernel (0 when its output std was already within tol)."""
    stds: tuple[float, ...]
    """The layer's output std on the batch when LSUV left it."""
    converged: tuple[bool, ...]
    """Whether |std − target_std| <= tol for that layer."""
    orthonormal: bool
    """Whether the kernels were first replaced by orthonormal ones (a key was given)."""


def _dense_outputs(model: nn.Module, variables: dict[str, Any], x: Array) -> list[Array]:
    """z^l = h^{l-1} W^l + b^l of every Dense layer in forward order (the last: the logits)."""
    if len(models.layer_names(model)) == 1:  # no hidden layer sows intermediates
        return [model.apply(variables, x, train=False)]  # type: ignore[list-item]
    logits, preacts, _ = models.forward(model, variables, x)
    return [*preacts, logits]


def lsuv(
    model: nn.Module,
    params: Any,
    x_batch: Array,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    key: Array | None = None,
    batch_stats: Any = None,
) -> tuple[Any, LSUVReport]:
    """LSUV: orthonormal W^l, then W^l ← W^l · target / std(z^l) until |std(z^l) − target| <= tol.

    Mishkin & Matas (2015), Algorithm 1, with the standard deviation in place of the variance
    (the paper: Var(B_L) within Tol_var of 1, at most T_max tries; with the target 1 the two
    agree). For l = hidden_0, …, output in order, z^l = h^{l-1} W^l + b^l is the layer's
    output (its pre-activation, before any BatchNorm; the logits for ``output``) on
    ``x_batch``, and std(z^l) pools the batch and the units. Choices:

    - Every Dense layer is scaled, the output layer included, as in the paper.
    - Only kernels are scaled, never biases (zero at init in the paper; scaling them would
      change what the caller chose). With b = 0, std(z^l) is proportional to the scale of
      W^l, so one rescaling is exact; with b ≠ 0 it takes a few.
    - ``key=None`` skips the orthonormal pre-init and rescales the kernels as given (LSUV on
      top of the caller's scheme, keeping its seed); pass a key for the paper's version.
    - A layer whose output std is 0 (its input is constant, e.g. all zero), not finite, or
      still outside the tolerance after ``max_iter`` rescalings (e.g. a bias whose spread
      across units exceeds the target) is left as it is; one warning names all such layers.
      LSUV never loops more than ``max_iter`` times per layer.

    Args:
      model: an :class:`~initjax.models.MLP` or :class:`~initjax.models.SoftmaxRegression`.
      params: its parameters (not modified; a new tree is returned).
      x_batch: (B, D) inputs, e.g. one training minibatch.
      target_std: the output std to reach (> 0).
      tol: accepted |std − target_std| (>= 0).
      max_iter: most rescalings per layer (>= 0).
      key: PRNG key for the orthonormal kernels (:func:`initjax.init.orthogonal`), or None.
      batch_stats: the model's BatchNorm statistics, if it has BatchNorm (evaluation mode).

    Returns:
      ``(params, report)``: the new parameters and an :class:`LSUVReport`.

    >>> model = models.MLP(hidden=(64,) * 3)
    >>> x = jax.random.normal(jax.random.key(0), (256, 32))
    >>> params = model.init(jax.random.key(1), x)["params"]
    >>> params, report = lsuv(model, params, x, key=jax.random.key(2))
    >>> all(abs(s - 1) <= 0.1 for s in report.stds)
    True
    """
    if not (math.isfinite(target_std) and target_std > 0):
        raise ValueError(f"target_std must be a positive finite number, got {target_std!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    names = models.layer_names(model)
    params = {k: dict(v) for k, v in params.items()}  # a copy two levels deep: {layer: {w, b}}
    if key is not None:
        for name, k in zip(names, jax.random.split(key, len(names)), strict=True):
            w = params[name]["kernel"]
            params[name]["kernel"] = schemes.orthogonal()(k, w.shape, w.dtype)

    extra = {} if batch_stats is None else {"batch_stats": batch_stats}

    @jax.jit
    def output_stds(p: Any) -> list[Array]:
        return [jnp.std(z) for z in _dense_outputs(model, {"params": p, **extra}, x_batch)]

    iterations, stds, converged, failures = [], [], [], []
    for layer, name in enumerate(names):
        n = 0
        std = float(output_stds(params)[layer])
        while abs(std - target_std) > tol and n < max_iter and math.isfinite(std) and std > 0:
            w = params[name]["kernel"]
            params[name]["kernel"] = w * jnp.asarray(target_std / std, w.dtype)
            n += 1
            std = float(output_stds(params)[layer])
        ok = abs(std - target_std) <= tol
        iterations.append(n)
        stds.append(std)
        converged.append(ok)
        if not ok:
            if std == 0:
                why = "its input is constant (e.g. all zero), so no kernel scale changes it"
            elif not math.isfinite(std):
                why = "not finite (the forward pass overflows)"
            else:
                why = f"after {n} rescalings (max_iter={max_iter}); a bias can hold it there"
            failures.append(f"{name}: output std {std:.4g}, {why}")
    if failures:
        warnings.warn(
            f"LSUV could not bring every layer's output std within {tol} of {target_std}; "
            "left as they are: " + "; ".join(failures),
            stacklevel=2,
        )
    report = LSUVReport(
        tuple(names), tuple(iterations), tuple(stds), tuple(converged), key is not None
    )
    return params, report


def lsuv_traced(
    model: nn.Module,
    params: Any,
    x_batch: Array,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
) -> Any:
    """:func:`lsuv` without the orthonormal pre-init (``key=None``), pure and traceable.

    Layer by layer in forward order, W^l ← W^l · target / std(z^l) while |std(z^l) − target|
    > tol, at most ``max_iter`` times (a ``lax.while_loop``; under ``vmap`` it runs until every
    member is done, the finished ones unchanged). A layer whose std is 0 or not finite is left
    as it is. No report and no warning (nothing can be printed from a compiled program); the
    eager :func:`lsuv` gives both. Draw the kernels orthonormal with the ``orthogonal`` scheme
    for the paper's version.

    >>> model = models.MLP(hidden=(64,) * 3)
    >>> x = jax.random.normal(jax.random.key(0), (256, 32))
    >>> params = model.init(jax.random.key(1), x)["params"]
    >>> p = jax.jit(lambda p, x: lsuv_traced(model, p, x))(params, x)
    >>> [round(float(jnp.std(z)), 2) for z in _dense_outputs(model, {"params": p}, x)]
    [1.0, 1.0, 1.0, 1.0]
    """
    names = models.layer_names(model)
    params = {k: dict(v) for k, v in params.items()}
    for layer, name in enumerate(names):

        def std_of(kernel: Array, layer: int = layer, name: str = name) -> Array:
            p = {**params, name: {**params[name], "kernel": kernel}}
            return jnp.std(_dense_outputs(model, {"params": p}, x_batch)[layer])

        def go(std: Array) -> Array:
            return jnp.isfinite(std) & (std > 0) & (jnp.abs(std - target_std) > tol)

        def body(carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
            n, kernel, std = carry
            kernel = kernel * jnp.where(go(std), target_std / std, 1.0).astype(kernel.dtype)
            return n + 1, kernel, std_of(kernel)

        def cond(carry: tuple[Array, Array, Array]) -> Array:
            n, _, std = carry
            return (n < max_iter) & go(std)

        kernel = params[name]["kernel"]
        _, kernel, _ = lax.while_loop(cond, body, (jnp.int32(0), kernel, std_of(kernel)))
        params[name]["kernel"] = kernel
    return params

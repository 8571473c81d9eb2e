"""Per-layer diagnostics of a network on one batch: pure, jit-able, vmappable over a grid.

Every function takes a model from :mod:`initjax.models`, its ``variables`` (``{"params": …}``
plus ``"batch_stats"`` for BatchNorm) and a batch: inputs ``x`` (B, D) and integer labels ``y``
(B,) (these arguments are not repeated in the docstrings below). Results are float32 arrays.
Wrap calls in ``jax.jit``: eagerly, each of the many small operations compiles on first use.
Layers are walked in forward order: ``hidden_0 … hidden_{L-1}`` (L hidden layers) then
``output`` (L + 1 Dense layers). Conventions:

* z^l = h^{l-1} W^l + b^l is the Dense output of layer l (the *pre-activation*, before BatchNorm),
  h^l its activation (h^0 = x; for ``output``, h = z = the logits).
* Statistics of z^l and h^l are pooled over the batch and the units of the layer (B·n_l values),
  with population moments (ddof = 0).
* The loss is the mean cross-entropy over the batch (what training minimizes), so gradients
  carry a 1/B.
* BatchNorm runs in evaluation mode (running averages), so each example is processed alone.
* Per-hidden-layer results have length L; for :class:`~initjax.models.SoftmaxRegression`
  (L = 0) they are empty arrays of shape (0,), not errors, so one ``record`` list works for
  every model. Per-Dense-layer results have length L + 1.

Glorot & Bengio (2010) for the layer Jacobian and the "standard" init; He et al. (2015,
arXiv:1502.01852) for dead ReLUs and gradient flow; Saxe et al. (2013, arXiv:1312.6120) for
input–output Jacobian spectra. The statistics of one array (moments, KS distance, saturation,
symmetry distance, rank) are in :mod:`initjax.statistics`, re-exported here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from initjax import models
from initjax.spectra import JACOBIAN_EXAMPLES, io_jacobian_sv
from initjax.statistics import (
    SATURATION,
    cross_entropy,
    ks_normal,
    moments,
    numerical_rank,
    saturation,
    softmax_saturation,
    symmetry_distance,
)

__all__ = [
    "SATURATION",
    "cross_entropy",
    "forward_stats",
    "gradient_norms",
    "io_jacobian_sv",
    "ks_normal",
    "layer_jacobian_sv",
    "layer_jacobians",
    "moments",
    "numerical_rank",
    "record",
    "recordable",
    "saturation",
    "softmax_saturation",
    "summary",
    "symmetry_distance",
    "weight_stats",
]

Array = jax.Array
Variables = dict[str, Any]


# ---------------------------------------------------------------- weights


def weight_stats(model: nn.Module, variables: Variables) -> dict[str, Array]:
    """Per Dense layer: std of the kernel entries, symmetry distance and numerical rank.

    Returns:
      ``{"weight_std", "symmetry_distance", "weight_rank"}``, each float32 (L + 1,) (the rank
      as a float so that a diverged run can mask it with NaN).
    """
    kernels = [variables["params"][n]["kernel"] for n in models.layer_names(model)]
    return {
        "weight_std": jnp.stack([jnp.std(w).astype(jnp.float32) for w in kernels]),
        "symmetry_distance": jnp.stack([symmetry_distance(w) for w in kernels]),
        "weight_rank": jnp.stack([numerical_rank(w).astype(jnp.float32) for w in kernels]),
    }


# ---------------------------------------------------------------- forward statistics


def _forward(
    model: nn.Module, variables: Variables, x: Array, delta: dict[str, Array] | None = None
) -> tuple[Array, list[Array], list[Array]]:
    """``models.forward`` in evaluation mode, with δ^l added to each Dense output z^l.

    The δ's enter through a Flax method interceptor, so the models need no hooks: ∂L/∂δ^l at
    δ = 0 is ∂L/∂z^l, and a tangent on δ^l gives the layer's elementwise gain ∂h^l/∂z^l.
    """
    hook = nn.intercept_methods(_adder(delta)) if delta is not None else contextlib.nullcontext()
    with hook:
        if len(models.layer_names(model)) == 1:
            # No hidden layer sows intermediates, which models.forward expects to find.
            return model.apply(variables, x, train=False), [], []  # type: ignore[return-value]
        return models.forward(model, variables, x)


def _adder(delta: dict[str, Array]) -> Callable[..., Any]:
    """A Flax interceptor adding ``delta[name]`` to the output of each Dense layer ``name``."""

    def add_delta(next_fun: Callable, args: Any, kwargs: Any, context: Any) -> Any:
        out = next_fun(*args, **kwargs)
        if isinstance(context.module, nn.Dense) and context.method_name == "__call__":
            out = out + delta[str(context.module.name)]
        return out

    return add_delta


def _zero_deltas(model: nn.Module, variables: Variables, batch: int) -> dict[str, Array]:
    params = variables["params"]
    return {
        n: jnp.zeros((batch, params[n]["kernel"].shape[-1]), params[n]["kernel"].dtype)
        for n in models.layer_names(model)
    }


def _stack(values: Sequence[Array]) -> Array:
    """Per-layer scalars as one (len,) array; (0,) for a model with no hidden layer."""
    return jnp.stack(list(values)) if values else jnp.zeros((0,), jnp.float32)


def forward_stats(model: nn.Module, variables: Variables, x: Array, y: Array) -> dict[str, Array]:
    """Per hidden layer: moments and normality of z^l, mean/std/saturation of h^l; the softmax.

    Returns:
      Per hidden layer, float32 (L,): ``preact_mean``, ``preact_std``, ``preact_skewness``,
      ``preact_kurtosis`` (excess), ``preact_ks`` (:func:`ks_normal`), ``act_mean``,
      ``act_std``, ``saturation`` (:func:`saturation`); scalars: ``softmax_saturation``,
      ``loss`` (:func:`cross_entropy`) and ``log_num_classes`` = ln C, the loss of a uniform
      prediction, to compare with it.
    """
    logits, preacts, acts = _forward(model, variables, x)
    z_moments, h_moments = [moments(z) for z in preacts], [moments(h) for h in acts]
    activation = getattr(model, "activation", "linear")
    out = {f"preact_{k}": _stack([m[k] for m in z_moments]) for k in _MOMENTS}
    out |= {f"act_{k}": _stack([m[k] for m in h_moments]) for k in ("mean", "std")}
    out["preact_ks"] = _stack([ks_normal(z) for z in preacts])
    out["saturation"] = _stack([saturation(activation, h) for h in acts])
    out["softmax_saturation"] = softmax_saturation(logits)
    out["loss"] = cross_entropy(logits, y).astype(jnp.float32)
    out["log_num_classes"] = jnp.log(jnp.float32(logits.shape[-1]))
    return out


# ---------------------------------------------------------------- gradients and Jacobians


def gradient_norms(model: nn.Module, variables: Variables, x: Array, y: Array) -> dict[str, Array]:
    """‖∂L/∂W^l‖_F and ‖∂L/∂z^l‖_F for every Dense layer l = hidden_0 … output.

    ∂L/∂z^l (B, n_l) is the gradient with respect to δ^l at δ^l = 0 in z^l = h^{l-1} W^l + b^l
    + δ^l; backpropagation gives ∂L/∂W^l = (h^{l-1})ᵀ ∂L/∂z^l. L is the batch-mean
    cross-entropy, so both carry the 1/B of the mean (Glorot & Bengio 2010, Fig. 7).

    Returns:
      ``{"grad_norm", "preact_grad_norm"}``, each float32 (L + 1,).
    """
    names = models.layer_names(model)

    def loss(params: Any, delta: dict[str, Array]) -> Array:
        logits, _, _ = _forward(model, {**variables, "params": params}, x, delta)
        return cross_entropy(logits, y)

    delta = _zero_deltas(model, variables, x.shape[0])
    g_params, g_delta = jax.grad(loss, argnums=(0, 1))(variables["params"], delta)
    return {
        "grad_norm": jnp.stack([jnp.linalg.norm(g_params[n]["kernel"]) for n in names]),
        "preact_grad_norm": jnp.stack([jnp.linalg.norm(g_delta[n]) for n in names]),
    }


def layer_jacobians(model: nn.Module, variables: Variables, x: Array) -> list[Array]:
    """J^l_b = ∂h^l/∂h^{l-1} = diag(φ'(z^l_b)) (W^l)ᵀ for each example b and Dense layer l.

    The elementwise gain ∂h^l/∂z^l (φ', times γ/√(var + ε) under BatchNorm) is read off a
    forward-mode tangent of ones on z^l; for ``output`` it is 1 (h = z = logits).

    Returns:
      One (B, n_l, n_{l-1}) float array per Dense layer, in forward order.
    """
    names = models.layer_names(model)
    delta = _zero_deltas(model, variables, x.shape[0])
    out = []
    for i, name in enumerate(names):
        w = variables["params"][name]["kernel"]
        if name == "output":
            gain = jnp.ones_like(delta[name])
        else:
            tangent = {n: (jnp.ones_like(d) if n == name else d) for n, d in delta.items()}
            _, (_, _, d_acts) = jax.jvp(
                lambda d: _forward(model, variables, x, d), (delta,), (tangent,)
            )
            gain = d_acts[i]
        out.append(gain[:, :, None] * w.T[None, :, :])
    return out


def layer_jacobian_sv(
    model: nn.Module, variables: Variables, x: Array, num_examples: int = JACOBIAN_EXAMPLES
) -> Array:
    """Glorot & Bengio's (2010, §4.2.1) measure: the mean singular value of J^l, per layer.

    s̄^l = mean_b mean_k s_k(J^l_b) over the first ``num_examples`` examples b, with J^l_b =
    ∂h^l/∂h^{l-1} from :func:`layer_jacobians`. Values below 1 shrink back-propagated
    gradients; they report ≈ 0.5 for "standard" init and ≈ 0.8 for normalized (Xavier) init.

    Args:
      num_examples: how many examples (from the first) to average over.

    Returns:
      float32 (L + 1,).
    """
    x = x[:num_examples]
    jacobians = layer_jacobians(model, variables, x)
    return jnp.stack(
        [jnp.mean(jnp.linalg.svd(j, compute_uv=False)).astype(jnp.float32) for j in jacobians]
    )


# ---------------------------------------------------------------- summary and recording


Group = Callable[[nn.Module, Variables, Array, Array], dict[str, Array]]


def _weights(model: nn.Module, variables: Variables, x: Array, y: Array) -> dict[str, Array]:
    return weight_stats(model, variables)


def _jacobians(model: nn.Module, variables: Variables, x: Array, y: Array) -> dict[str, Array]:
    return {"layer_jacobian_sv": layer_jacobian_sv(model, variables, x)}


_MOMENTS = ("mean", "std", "skewness", "kurtosis")
_PER_HIDDEN = (*(f"preact_{k}" for k in _MOMENTS), "preact_ks", "act_mean", "act_std")
# The function that computes each recordable name (log_num_classes is constant: not recorded).
_RECORDABLE: dict[str, Group] = {
    **dict.fromkeys((*_PER_HIDDEN, "saturation", "softmax_saturation", "loss"), forward_stats),
    **dict.fromkeys(("grad_norm", "preact_grad_norm"), gradient_norms),
    **dict.fromkeys(("weight_std", "symmetry_distance", "weight_rank"), _weights),
    "layer_jacobian_sv": _jacobians,
}


def summary(
    model: nn.Module,
    variables: Variables,
    x: Array,
    y: Array,
    *,
    num_examples: int = JACOBIAN_EXAMPLES,
) -> dict[str, Array]:
    """Every diagnostic of this module on one batch, as a flat dict of float32 arrays.

    Args:
      model, variables: the network (``variables`` with ``"batch_stats"`` under BatchNorm).
      x, y: a batch, (B, D) inputs and (B,) integer labels.
      num_examples: examples whose Jacobians are taken.

    Returns:
      The keys of :func:`forward_stats`, :func:`gradient_norms`, :func:`weight_stats`,
      ``layer_jacobian_sv`` (L + 1,) and ``io_jacobian_sv`` (K, min(C, D)).
    """
    out = forward_stats(model, variables, x, y)
    out |= gradient_norms(model, variables, x, y) | weight_stats(model, variables)
    out["layer_jacobian_sv"] = layer_jacobian_sv(model, variables, x, num_examples)
    out["io_jacobian_sv"] = io_jacobian_sv(model, variables, x, num_examples)
    return out


def recordable() -> tuple[str, ...]:
    """Names :func:`record` accepts: scalars or per-layer vectors of fixed length per model.

    Per hidden layer (L,): preact_mean/std/skewness/kurtosis/ks, act_mean/std, saturation.
    Per Dense layer (L + 1,): grad_norm, preact_grad_norm, weight_std, symmetry_distance,
    weight_rank, layer_jacobian_sv. Scalars: softmax_saturation, loss (on the probe batch).
    """
    return tuple(sorted(_RECORDABLE))


def record(
    names: Sequence[str],
    model: nn.Module,
    params: Any,
    batch_stats: Any,
    probe: tuple[Array, Array],
) -> dict[str, Array]:
    """The diagnostics ``names`` of the current parameters on a probe batch (what a sweep stores).

    Only the groups of statistics that ``names`` need are computed.

    Args:
      names: a subset of :func:`recordable`.
      model: the network's module.
      params, batch_stats: its variables (``batch_stats`` None without BatchNorm).
      probe: ``(x, y)``, the batch to measure on.

    Returns:
      ``{name: float32 array}`` with the shapes listed in :func:`recordable`.
    """
    unknown = [n for n in names if n not in _RECORDABLE]
    if unknown:
        raise ValueError(f"cannot record {unknown}; valid choices: {', '.join(recordable())}")
    variables: Variables = {"params": params}
    if batch_stats is not None:
        variables["batch_stats"] = batch_stats
    x, y = probe
    computed: dict[str, Array] = {}
    for group in dict.fromkeys(_RECORDABLE[n] for n in names):  # each group once, in order
        computed |= group(model, variables, x, y)
    return {n: computed[n] for n in names}

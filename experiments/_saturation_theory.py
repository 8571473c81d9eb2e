"""Theory beside ``saturation.py``: softmax regression at init, where logits are Gaussian.

With W ~ N(0, σ²) and b = 0 the K logits of an input x are i.i.d. N(0, s²), s = σ‖x‖, over
W. From K standard normals g (Monte Carlo) follow the scale s* at which max softmax(s·g)
reaches SAT, the fraction of saturated examples at each σ, and the initial loss
E[logsumexp(s·g) − s·g_y]; no fitting.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from initjax import data as datasets

SAT = 0.99  # initjax.diagnostics.SATURATION
MC_DRAWS = 20_000


def softmax_predictions(
    sigmas: np.ndarray, data: datasets.Dataset, probe: int
) -> dict[str, tuple[str, np.ndarray] | float]:
    """Softmax regression at init: logits of x are K i.i.d. N(0, s²), s = σ‖x‖, over W."""
    x, k = data.x_train.astype(np.float64), data.num_classes
    norms = np.linalg.norm(x, axis=1)
    probe_norms = norms[:probe]
    # To first order L = ln K − Σ_k w_k·m_k, m_k = mean_b x_b (1[y_b = k] − 1/K): a zero-mean
    # fluctuation of std σ·sqrt(Σ_k ‖m_k‖²) from one draw of W to the next.
    m_KxD = (np.eye(k)[data.y_train] - 1 / k).T @ x / len(x)
    g_MxK = np.random.default_rng(0).standard_normal((MC_DRAWS, k))
    s_star = np.sort(saturating_scale(g_MxK))

    def saturated(sigma: float, nrm: np.ndarray) -> float:
        return float(np.mean(np.searchsorted(s_star, sigma * nrm) / MC_DRAWS))

    # E_g[logsumexp(s·g) − s·g_y] on a fine grid of s; y is any fixed class (W ⟂ labels).
    s_grid = np.logspace(-5, 3, 161)
    g_NxK = g_MxK[:4000]
    loss_grid = [np.mean(logsumexp(sg * g_NxK, axis=1) - sg * g_NxK[:, 0]) for sg in s_grid]
    sub = norms[:: max(1, norms.size // 4000)]
    loss = [np.mean(np.interp(np.log(sg * sub), np.log(s_grid), loss_grid)) for sg in sigmas]
    fine = np.logspace(-3, 2, 501)
    frac = np.array([saturated(f, probe_norms) for f in fine])
    return {
        "pred_softmax_saturation": ("sigma", np.array([saturated(g, probe_norms) for g in sigmas])),
        "pred_initial_loss": ("sigma", np.asarray(loss)),
        "pred_sigma50": float(np.exp(np.interp(0.5, frac, np.log(fine)))),
        "pred_logit_std": ("sigma", sigmas * float(np.sqrt(np.mean(probe_norms**2)))),
        "loss_first_order": float(np.sqrt((m_KxD**2).sum())),
    }


def saturating_scale(g_MxK: np.ndarray) -> np.ndarray:
    """s* per row g: max softmax(s·g) = 0.99 at s = s* (it rises monotonically in s).

    max softmax(s·g) = 1 / Σ_j exp(−s·d_j) with gaps d_j = max(g) − g_j ≥ 0; bisection on log s.
    """
    d = g_MxK.max(axis=1, keepdims=True) - g_MxK
    lo, hi = np.full(len(d), 1e-3), np.full(len(d), 1e5)
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        below = np.exp(-mid[:, None] * d).sum(axis=1) > 1 / SAT
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.sqrt(lo * hi)


def crossing(sigmas: np.ndarray, frac: np.ndarray, level: float = 0.5) -> float:
    """σ where ``frac`` (rising in σ) first reaches ``level``, interpolated in log σ; NaN if never."""
    above = np.nonzero(frac >= level)[0]
    if above.size == 0 or above[0] == 0:
        return math.nan
    i = above[0]
    t = (level - frac[i - 1]) / (frac[i] - frac[i - 1])
    return float(np.exp(np.log(sigmas[i - 1]) + t * (np.log(sigmas[i]) - np.log(sigmas[i - 1]))))

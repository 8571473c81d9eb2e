"""Does delta-orthogonal init at criticality train a deep vanilla CNN where Gaussian does not?

Question (Xiao et al. 2018, ICML, arXiv:1806.05393, "Dynamical Isometry and a Mean Field
Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural Networks"): a vanilla
CNN (``cnn``: 3×3 SAME convolutions of c channels, the first with stride 2, tanh, no
normalization, no skips, global average pool, dense output) at the order-to-chaos transition
— tanh with σ_b = 0 is critical at σ_w² = 1 (χ₁ = σ_w² E[φ′(√q* z)²] = 1 at q* = 0; Poole et
al. 2016) — starts from one of three kernels of the same variance σ_w²/fan_in, fan_in = 9c:

* ``gaussian``: ``lecun_normal`` with gain σ_w (W ~ N(0, σ_w²/(9c)), a plain Gaussian);
* ``orthogonal``: ``orthogonal`` with gain σ_w, the (9c × c) flattened kernel with
  orthonormal columns (what "orthogonal init" does to a conv kernel in most libraries);
* ``delta_orthogonal``: ``delta_orthogonal`` with gain σ_w, zero but at the centre tap,
  which holds a c × c orthogonal matrix (Xiao et al.'s Algorithm 1, its simplest form).

What is tested, precisely:

* **Jacobian spectrum at init** (no training): the squared singular values s² of
  J^l = ∂z^l/∂x for a stack z^1 = conv(x, W^1), z^l = conv(tanh(z^{l−1}), W^l) of the net's
  stride-1 layers (c channels, SAME padding, no bias) on a side × side grid — the grid the
  trained nets' stride-1 layers see — with x ~ N(0, 1) per entry (q⁰ = 1, as in Pennington et
  al. 2017), every depth l of ``keep``; spread v = Var(s²)/E[s²]² (0: dynamical isometry).
  Free probability (Pennington et al. 2017; Xiao et al. §4 for the conv operator) predicts
  v = L·v_W + Σ_{l<L} v_D(q^l): v_W = 1 for a Gaussian conv operator (each spatial frequency
  is a c × c Ginibre matrix), 0 for delta-orthogonal (an orthogonal map per position), and
  1 − 1/9 for the flattened-orthogonal kernel (each frequency is 3× a c × c block of a
  9c-dimensional rotation: the free compression of two rank-c projections, v = b(1 − a)/a
  with a = b = 1/9). The prediction ignores SAME padding's borders and finite c; it is drawn
  and reported, the verdict uses the coarse criterion of ``dynamical_isometry``: "isometry"
  is v ≤ 2 at depth L, "none" v ≥ L/2.
* **Trainability vs depth**: the final train loss after a fixed budget of momentum-SGD
  epochs on a Fashion-MNIST subset, at the best lr of a small grid per (init, depth) (lrs
  where a seed diverged are left out), seeds varying both init and data order
  (``order="per_seed"``), against chance ln 10 = 2.303. "Trains" means every seed ends below
  ``TRAINED`` = ln 10 − 0.5 nats (the standard of ``residual_depth``). Both scales pool the
  images 2×2 to 14×14 (the stride-2 layer then leaves 7×7) to fit 2 CPU cores.

Baseline: the practitioner's default for a deep plain conv net, ReLU with ``he_normal``
kernels (W ~ N(0, 2/(9c))), trained on the same images, depths, seeds and lrs (trainability
only; its Jacobian is not part of the spectral comparison, which is about tanh at
criticality): He et al. 2015 (arXiv:1502.01852, Fig. 3) trained a 30-layer plain ReLU conv
net from scratch with this init, where Xavier's did not converge.

Anchors: delta-orthogonal kernels at criticality train vanilla CNNs of 10,000 layers (Xiao et
al. 2018, abstract, Fig. 1); dynamical isometry needs "the convolution operator [to] be an
orthogonal transformation in the sense that it is norm-preserving" (abstract), which the
flattened-orthogonal kernel is not; with Gaussian kernels deep vanilla CNNs do not train
(the study note's anchor) and, at the same critical σ_w, orthogonal weights learn faster than
Gaussian ones, the more so the deeper (Pennington et al. 2017, arXiv:1711.04735, dense nets).

Command: ``initjax run deep_cnn --quick`` (depths 4 and 32, c = 8, 3 seeds, lrs 0.03, 0.1,
512 pooled images, 6 epochs of batch 32; spectra to depth 64) or ``--full`` (depths 8, 32, 128,
c = 16, 5 seeds, lrs 0.001–0.03, 2000 pooled images, 10 epochs of batch 32; spectra to depth
256). A row decided where a best lr sits at an end of the lr grid stays undecided. Full result
(committed in ``docs/deep_cnn``, run with lrs 0.01, 0.03, 0.1; numbers in ``docs/README.md``):
the spectra agree with Xiao et al.; every training row is undecided, each deep net's best lr
being that grid's smallest, so the full grid now reaches down to 0.001 (not run yet).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from _deep_cnn_figures import LABELS, draw
from _deep_cnn_spectra import (  # noqa: F401  (the experiment's API)
    INITS,
    SCHEMES,
    SIGMA_W,
    TAPS,
    V_W,
    conv,
    conv_jacobian_sv2,
    kernels,
    spectrum,
    spread,
)

from initjax import data as datasets
from initjax import equivalence, results, study, sweep, train
from initjax.study import Row, check_scale, mean_spread
from initjax.verdict import all_of

NAME = "deep_cnn"
ORDER = 21
QUESTION = (
    "Does delta-orthogonal init at criticality train a deep vanilla CNN where Gaussian does not?"
)
CLAIMS = ("C3",)
BEYOND_NOTE = True  # REPORT.md's "Beyond the note" (issue 19)
RUNTIME = {
    "quick": "~75 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~2.2 h (2 CPU cores, est.: 4/3 of the 3-lr run's 42 + 55 min, 2026-12-03)",
}

XIAO = "Xiao et al. 2018, arXiv:1806.05393"
PENNINGTON = "Pennington et al. 2017, arXiv:1711.04735"
LN10 = math.log(10)
TRAINED = LN10 - 0.5  # "trains": every seed's final train loss 0.5 nats below chance
ISOMETRY_SPREAD = 2.0  # "O(1)" at depth L (dynamical_isometry's criterion) ...
NO_ISOMETRY = 0.5  # ... against v ≥ L/2 without isometry
BASELINE = "he_relu"  # ReLU + he_normal: trained beside the three, not in the spectra
TRAINED_INITS = (*INITS, BASELINE)
HE = "He et al. 2015, arXiv:1502.01852"
# He's argument keeps the *mean* squared pre-activation level; per net, log E[z²] drifts
# down with variance ∝ depth / fan-in (Hanin & Rolnick 2018), so the baseline row is judged
# only where fan-in is wide against depth, as in the paper's ImageNet nets (hundreds of
# channels): 9c ≥ 16 L. At quick scale (c = 8, L = 32: 9c/L = 2.25) it is shown, not judged.
HE_FANIN_PER_LAYER = 16.0

BASE = train.Config(
    model="cnn", hidden=(8,), activation="tanh", scheme="lecun_normal", optimizer="momentum",
    momentum=0.9, batch_size=32, epochs=6, dataset="fashion_mnist", order="per_seed",
    eval_examples=256,
)  # fmt: skip
CONFIGS = {
    "quick": (
        BASE,
        {
            "depths": (4, 32),
            "channels": 8,
            "seeds": 3,
            "lrs": (0.03, 0.1),
            "train_examples": 512,
            "test_examples": 512,
            "pool": 2,
            "jacobian": {"depth": 64, "keep": (1, 2, 4, 8, 16, 32, 64), "seeds": 3},
        },
    ),
    "full": (
        BASE.replace(epochs=10, eval_every=2, eval_examples=1000),
        {
            "depths": (8, 32, 128),
            "channels": 16,
            "seeds": 5,
            "lrs": (0.001, 0.003, 0.01, 0.03),  # the committed run's: (0.01, 0.03, 0.1)
            "train_examples": 2000,
            "test_examples": 2000,
            "pool": 2,
            "jacobian": {"depth": 256, "keep": (1, 2, 4, 8, 16, 32, 64, 128, 256), "seeds": 4},
        },
    ),
}
KEEP = ("train_loss", "train_acc", "test_loss", "test_acc", "diverged")


def subset(data: datasets.Dataset, n_train: int, n_test: int, pool: int) -> datasets.Dataset:
    """The first ``n_train``/``n_test`` examples, images averaged over pool × pool pixel blocks
    (28×28 → 14×14 for pool 2; the result is still an s × s image for ``cnn``)."""

    def shrink(x: np.ndarray) -> np.ndarray:
        side = math.isqrt(x.shape[1])
        s = side // pool
        img = x.reshape(len(x), s, pool, s, pool).mean(axis=(2, 4))
        return np.ascontiguousarray(img.reshape(len(x), s * s), dtype=np.float32)

    head = data.first(n_train, n_test)
    return dataclasses.replace(
        head, x_train=shrink(head.x_train), y_train=np.array(head.y_train),
        x_test=shrink(head.x_test), y_test=np.array(head.y_test),
    )  # fmt: skip


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    base, grid = CONFIGS[check_scale(scale)]
    c, depths = grid["channels"], tuple(grid["depths"])
    data = subset(
        datasets.load(base.dataset), grid["train_examples"], grid["test_examples"], grid["pool"]
    )
    kw = {"seeds": grid["seeds"], "lrs": grid["lrs"], "progress": progress}
    hidden = [(c,) * d for d in depths]
    res = sweep.run(
        base.replace(hidden=hidden[0]), data, sigmas=(SIGMA_W,),
        over={"scheme": [SCHEMES[i] for i in INITS], "hidden": hidden},
        out=study.checkpoints(out_dir, "tanh"), **kw,
    )  # fmt: skip
    ds = res[list(KEEP)].drop_attrs().squeeze("sigma", drop=True)
    ds = ds.assign_coords(scheme=list(INITS), hidden=list(depths))
    ds = ds.rename(scheme="init", hidden="depth")
    relu = base.replace(hidden=hidden[0], activation="relu", scheme="he_normal")
    he = sweep.run(relu, data, sigmas=(1.0,), over={"hidden": hidden},
                   out=study.checkpoints(out_dir, BASELINE), **kw)  # fmt: skip
    he = he[list(KEEP)].drop_attrs().squeeze("sigma", drop=True)
    he = he.assign_coords(hidden=list(depths)).rename(hidden="depth").expand_dims(init=[BASELINE])
    ds = xr.concat([ds, he], dim="init", join="exact")
    ds.attrs.update({k: v for k, v in res.attrs.items() if k != "config"})
    side = math.isqrt(data.input_dim) // 2  # after the first layer's stride 2
    ds = ds.merge(spectrum(grid, c, side), join="left")  # the baseline's spectra: NaN
    ds.attrs.update(
        channels=c, side=side, dataset=base.dataset, train_examples=data.num_train,
        pool=grid["pool"], sigma_w=SIGMA_W,
    )  # fmt: skip
    results.save(ds, Path(out_dir) / "results.nc")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "results.nc")


best_lr_final = study.best_lr_final  # tests and figures use it by this name


def measure(res: xr.Dataset) -> dict[str, Any]:
    """Per (init, depth): best-lr final train loss and test accuracy per seed, the initial
    loss, the lrs where a seed diverged, the best lr itself (NaN: all diverged); per init:
    the Jacobian spread per seed at the deepest kept depth, its theory, and E[s²] there."""
    loss, acc = best_lr_final(res), best_lr_final(res, "test_acc")
    depths = [int(d) for d in res.depth.values]
    init_loss = res.train_loss.isel(epoch=0, lr=0)  # before training: lr does not matter yet
    jdepth = int(res.kept_depth.max())
    sv2 = res.sv2.sel(kept_depth=jdepth)
    out: dict[str, Any] = {
        "depths": depths, "epochs": int(res.epoch.max()), "jac_depth": jdepth,
        "channels": int(res.attrs["channels"]), "side": int(res.attrs["side"]),
        "lrs": [float(v) for v in res.lr.values], "final_loss": {}, "test_acc": {},
        "init_loss": {}, "diverged_lrs": {}, "spread": {}, "spread_theory": {}, "mean_s2": {},
        "tuned_lr": {},
    }  # fmt: skip
    tuned = study.tuned_lr(res)
    for i in TRAINED_INITS:
        for key, arr in (("final_loss", loss), ("test_acc", acc), ("init_loss", init_loss)):
            out[key][i] = {d: arr.sel(init=i, depth=d).values.tolist() for d in depths}
        div = res.diverged.sel(init=i).astype(bool).any("seed")
        out["diverged_lrs"][i] = {
            d: [float(lr) for lr in res.lr.values[div.sel(depth=d).values]] for d in depths
        }
        out["tuned_lr"][i] = {d: float(tuned.sel(init=i, depth=d)) for d in depths}
    for i in INITS:
        out["spread"][i] = spread(sv2.sel(init=i).values).tolist()
        out["spread_theory"][i] = float(res.spread_theory.sel(init=i, kept_depth=jdepth))
        out["mean_s2"][i] = float(sv2.sel(init=i).mean())
    return out


def _edge(m: dict[str, Any], inits: Any, depths: Any) -> bool:
    """Whether a best lr of these cells sits at an end of the lr grid (glorot_tanh's rule: a
    wider grid could change a row decided there, so it stays undecided)."""
    lrs = [m["tuned_lr"][i][d] for i in inits for d in depths]
    return study.lr_at_edge([lr for lr in lrs if np.isfinite(lr)], m["lrs"])


def _trains(m: dict[str, Any], init: str) -> tuple[bool | None, str]:
    """Every seed below TRAINED at every depth (True); False where a depth misses it, None
    where every depth that misses it had its best lr at an end of the grid."""
    parts, missed = [], []
    for d in m["depths"]:
        v = np.asarray(m["final_loss"][init][d], dtype=float)
        if not (np.isfinite(v).all() and np.all(v < TRAINED)):
            missed.append(d)
        parts.append(f"L={d}: {mean_spread(v)} at lr {m['tuned_lr'][init][d]:g}")
    ok = None if missed and _edge(m, [init], missed) else not missed
    return ok, "final train loss " + "; ".join(parts)


EDGE = "undecided: a best lr at an end of the lr grid ({}), where a wider grid could change it"


def verdict(m: dict[str, Any]) -> list[Row]:
    jd, deep, n_ep = m["jac_depth"], m["depths"][-1], m["epochs"]
    sp = {i: float(np.mean(m["spread"][i])) for i in INITS}

    def spread_text(*inits: str) -> str:
        return "; ".join(
            f"{LABELS[i]} {mean_spread(m['spread'][i], 2)} (theory {m['spread_theory'][i]:.1f})"
            for i in inits
        )

    grid = f"c = {m['channels']}, {m['side']}×{m['side']} grid, SAME padding"
    rows = [
        Row(
            f"Xiao: delta-orthogonal kernels give a critical tanh CNN dynamical isometry, "
            f"Gaussian ones do not (depth {jd})",
            f"spread v of J's s²: delta-orthogonal ≤ {ISOMETRY_SPREAD:g}, Gaussian ≥ L/2 = {jd / 2:g}",
            f"{XIAO}, §4 (the CNN Jacobian's spectrum); {PENNINGTON}",
            spread_text("delta_orthogonal", "gaussian") + f" ({grid})",
            bool(sp["delta_orthogonal"] <= ISOMETRY_SPREAD and sp["gaussian"] >= NO_ISOMETRY * jd),
            "delta-orthogonal maps each position by an orthogonal matrix: only tanh spreads J",
        ),
        Row(
            f"Xiao: orthogonal in the flattened sense is not enough; the convolution must be "
            f"orthogonal (depth {jd})",
            f"flattened-orthogonal kernels: v ≥ L/2 = {jd / 2:g} (theory (1 − 1/9)·L + Σ v_D)",
            f"{XIAO}, abstract (the conv operator must be norm-preserving)",
            spread_text("orthogonal"),
            bool(sp["orthogonal"] >= NO_ISOMETRY * jd),
            "WᵀW = I over the 9c taps leaves each spatial frequency a random contraction",
        ),
    ]
    ok, ours = _trains(m, "delta_orthogonal")
    he_ok, he_ours = _trains(m, BASELINE)
    wide = TAPS * m["channels"] >= HE_FANIN_PER_LAYER * deep
    rows.append(
        Row(
            f"Xiao: delta-orthogonal at criticality trains the vanilla tanh CNN at every depth "
            f"({', '.join(map(str, m['depths']))} layers)",
            f"every seed's final train loss < ln 10 − 0.5 = {TRAINED:.2f} (best lr)",
            f"{XIAO}, abstract and Fig. 1 (10,000 layers)",
            ours + f" after {n_ep} epochs",
            ok,
            EDGE.format(m["lrs"])
            if ok is None
            else "isometric Jacobian: gradients reach every layer at any depth",
        )
    )
    final = {i: np.asarray(m["final_loss"][i][deep], dtype=float) for i in INITS}
    # Paired by seed (same data order); a net that diverged at every lr counts as chance.
    chance = {i: np.where(np.isfinite(v), v, LN10) for i, v in final.items()}
    ahead = {
        i: equivalence.paired_difference(chance["delta_orthogonal"], chance[i])
        for i in ("gaussian", "orthogonal")
    }
    deep_edge = _edge(m, INITS, [deep])
    rows.append(
        Row(
            f"Pennington/Xiao: at {deep} layers delta-orthogonal learns faster than Gaussian and "
            "flattened-orthogonal kernels",
            f"lower final train loss after {n_ep} epochs (best lr each): the paired 95% CI of "
            "each loss difference above 0",
            f"{PENNINGTON} (orthogonal beats Gaussian at the same critical σ_w); {XIAO}",
            "; ".join(f"{LABELS[i]} {mean_spread(final[i])}" for i in INITS)
            + "; "
            + "; ".join(f"{LABELS[i]} − delta-orthogonal: {t}" for i, (_, t) in ahead.items()),
            None if deep_edge else all_of(*(ok for ok, _ in ahead.values())),
            EDGE.format(m["lrs"])
            if deep_edge
            else "learning speed follows the Jacobian's conditioning",
        )
    )
    gauss, g_edge = final["gaussian"], _edge(m, ["gaussian"], [deep])
    rows.append(
        Row(
            f"Gaussian kernels at criticality do not train the vanilla CNN at {deep} layers",
            f"every seed's final train loss ≥ {TRAINED:.2f} or diverged, at every lr",
            f"the study note's anchor ({XIAO}: Gaussian init does not train very deep vanilla CNNs)",
            f"best-lr final train loss {mean_spread(gauss)} at lr "
            f"{m['tuned_lr']['gaussian'][deep]:g} after {n_ep} epochs; diverged at lrs "
            f"{m['diverged_lrs']['gaussian'][deep]}",
            False if np.any(gauss < TRAINED) else None if g_edge else True,
            EDGE.format(m["lrs"])
            if g_edge and not np.any(gauss < TRAINED)
            else "the paper's "
            "failures are at thousands of layers; mean field makes σ_w² = 1 trainable to depths "
            "∝ ξ_c",
        )
    )
    rows.append(
        Row(
            f"He: He-initialized plain ReLU conv nets train at every depth "
            f"({', '.join(map(str, m['depths']))} layers; the practitioner's baseline)",
            f"every seed's final train loss < ln 10 − 0.5 = {TRAINED:.2f} (best lr)",
            f"{HE}, Fig. 3 (a 30-layer plain ReLU conv net converges from scratch)",
            he_ours + f" after {n_ep} epochs",
            he_ok if wide else None,
            (
                EDGE.format(m["lrs"])
                if he_ok is None
                else "W ~ N(0, 2/fan_in) keeps a ReLU "
                "net's forward and backward signal level with depth"
            )
            if wide
            else f"not judged: fan-in 9c = {TAPS * m['channels']} < {HE_FANIN_PER_LAYER:g} × "
            f"{deep} layers, where a narrow ReLU net's signal collapses whatever its mean "
            "variance (Hanin & Rolnick 2018); shown as the baseline",
        )
    )
    return rows


def figures(out_dir: Path) -> list[Path]:
    return draw(load(out_dir), Path(out_dir) / NAME, INITS, TRAINED_INITS)


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

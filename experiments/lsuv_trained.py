"""LSUV-initialized deep ReLU nets, trained against He and He + BatchNorm (claims C3, C9).

Question: ``lsuv_unit_variance`` shows that LSUV (Mishkin & Matas 2015) gives every layer unit
variance at init. Does that buy anything in training? The paper reports LSUV-initialized nets
reaching the test accuracy of nets with the MSRA (He) init or better, and matching batch
normalization without its per-step cost (arXiv:1511.06422, Tables 2–4, Sec. 4).

Design: a deep ReLU MLP, b = 0, three inits: **he** (``he_normal``), **lsuv** (orthogonal
kernels, then LSUV on the first 256 training examples inside the compiled init:
``Config(lsuv_examples=256)``), **bn** (``he_normal`` with BatchNorm after every hidden
Dense). Plain SGD, lr tuned per init over a grid (lowest final train loss); a seed sets the
init key and the data order, so the three inits of one seed see the same minibatches and are
compared paired by seed. Rows: LSUV is *non-inferior* to He and to BN in final test accuracy:
the 90% interval of (LSUV − other) lies above −1 point (agrees); it lies below −1 point, or its
95% interval lies below 0 while reaching past −1 point (disagrees); otherwise undecided. A row
is undecided when a compared tuned lr sits at an end of the grid. The LSUV nets' unit output
std at init is a sanity check (the algorithm's own stopping rule).

Command: ``initjax run lsuv_trained --quick`` (MNIST-1D, 10 × 64 ReLU, 5 seeds, lrs 0.01–1,
5 epochs; ~25 s on 2 CPU cores) or ``--full`` (Fashion-MNIST, 20 × 256, 5 seeds, lrs
0.003–0.3, 10 epochs; 109 min measured on 2 CPU cores, ~40 of them beside a test suite).

Full result (``docs/lsuv_trained``, 2026-12-01, commit ``6194a15``): every tuned lr inside the
grid (He 0.01, LSUV 0.03, He + BN 0.03); test accuracy LSUV 0.870, He 0.867, He + BN 0.876.
LSUV − He +0.3 points (90% CI [−0.2, +0.9]) and LSUV − BN −0.6 points (90% CI [−0.9, −0.3])
are both non-inferior at the 1-point margin (agree), though BN's lead is significant (95% CI
[−1.0, −0.2]); LSUV's init stds are 1.000 in all 21 layers. He and LSUV diverge from lr 0.1 on,
BN trains at every lr of the grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from initjax import aggregate, models, plots, results, study, sweep, train
from initjax import data as datasets
from initjax.equivalence import paired_difference, tost_paired
from initjax.study import Row, check_scale

NAME = "lsuv_trained"
ORDER = 16.5
QUESTION = "Do LSUV-initialized deep ReLU nets train as well as He-initialized and BatchNorm nets?"
CLAIMS = ("C3", "C9")
RUNTIME = {
    "quick": "~25 s (2 CPU cores, 45 CPU-seconds; measured 2026-12-01)",
    "full": "109 min (2 CPU cores; measured)",
}

LSUV_EXAMPLES = 256  # the paper's LSUV batch: one minibatch
MARGIN = 0.01  # test accuracy: 1 point, the non-inferiority margin
LSUV_TOL = 0.1  # the paper's Tol_var
CHANCE = 0.1
LABEL = {"he": "He", "lsuv": "LSUV", "bn": "He + BN"}
KEEP = ("train_loss", "train_acc", "test_loss", "test_acc", "diverged")

BASE = train.Config(
    model="mlp", hidden=(64,) * 10, activation="relu", scheme="he_normal", bias_scheme="zeros",
    optimizer="sgd", batch_size=64, epochs=10, dataset="mnist1d", order="per_seed",
)  # fmt: skip
INITS = {
    "he": {},
    "lsuv": {"scheme": "orthogonal", "lsuv_examples": LSUV_EXAMPLES},
    "bn": {"batch_norm": True},
}
CONFIGS = {
    "quick": (BASE.replace(epochs=5), {"seeds": 5, "lrs": (0.01, 0.03, 0.1, 0.3, 1.0)}),
    "full": (
        BASE.replace(hidden=(256,) * 20, dataset="fashion_mnist"),
        {"seeds": 5, "lrs": (0.003, 0.01, 0.03, 0.1, 0.3)},
    ),
}


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    cfg, grid = CONFIGS[check_scale(scale)]
    data = datasets.load(cfg.dataset)
    parts = []
    for name, fields in INITS.items():
        res = sweep.run(cfg.replace(**fields), data, grid["seeds"], sigmas=(1.0,),
                        lrs=grid["lrs"], progress=progress,
                        out=study.checkpoints(out_dir, name))  # fmt: skip
        parts.append(res[list(KEEP)].squeeze("sigma", drop=True).drop_attrs())
    out = xr.concat(parts, dim="init", join="exact", combine_attrs="override")
    out = out.assign_coords(init=list(INITS)).assign_attrs(config=cfg.to_json())
    # The LSUV nets' per-layer output std at init on LSUV's own batch, from the sweep's draws.
    lsuv_cfg = cfg.replace(**INITS["lsuv"])
    x = jnp.asarray(data.x_train)
    model = train.build_model(lsuv_cfg)

    def stds(seed: jax.Array) -> jax.Array:
        p = train.init_params(lsuv_cfg, seed, jnp.float32(1.0), x)
        logits, preacts, _ = models.forward(model, {"params": p}, x[:LSUV_EXAMPLES])
        return jnp.stack([jnp.std(z) for z in [*preacts, logits]])

    init_std = np.stack([np.asarray(jax.jit(stds)(jnp.int32(s))) for s in range(grid["seeds"])])
    out["lsuv_init_std"] = (("seed", "dense_layer"), init_std)
    results.save(out, Path(out_dir) / "lsuv.nc")


def load(out_dir: Path) -> dict[str, xr.Dataset]:
    return {"lsuv": results.load(Path(out_dir) / "lsuv.nc")}


def measure(r: dict[str, xr.Dataset]) -> dict[str, Any]:
    """Per init: the tuned lr and the final test accuracy per seed; LSUV's init stds."""
    res = r["lsuv"]
    acc = study.best_lr_final(res, "test_acc").fillna(CHANCE).transpose("init", "seed")
    cfg = train.Config.from_json(str(res.attrs["config"]))
    tuned = study.tuned_lr(res)
    return {
        "dataset": cfg.dataset, "width": int(cfg.hidden[0]), "depth": len(cfg.hidden),
        "epochs": int(res.epoch.max()), "seeds": int(res.sizes["seed"]),
        "lrs": [float(v) for v in res.lr.values],
        "tuned_lr": {i: float(tuned.sel(init=i)) for i in INITS},
        "acc": {i: acc.sel(init=i).values.tolist() for i in INITS},
        "init_std": res.lsuv_init_std.values.tolist(),
    }  # fmt: skip


def at_edge(m: dict[str, Any], *inits: str) -> bool:
    """Whether a tuned lr of ``inits`` is at an end of the lr grid (or the grid has one lr)."""
    return study.lr_at_edge([m["tuned_lr"][i] for i in inits], m["lrs"])


def non_inferior(lsuv: Any, other: Any) -> tuple[bool | None, str]:
    """LSUV − other in test accuracy, paired: True when the 90% CI lies above −MARGIN; False
    when it lies below −MARGIN, or the 95% CI lies below 0 while the 90% one reaches −MARGIN."""
    t = tost_paired(other, lsuv, margin=MARGIN)  # Δ = lsuv − other, 90% CI
    worse, text95 = paired_difference(other, lsuv)
    lo, hi = t.ci
    outcome = True if lo > -MARGIN else False if (hi < -MARGIN or worse is False) else None
    return outcome, f"{t.text()}; {text95}"


def _row(m: dict[str, Any], other: str, anchor: str, source: str) -> Row:
    lsuv, ref = (np.asarray(m["acc"][i]) for i in ("lsuv", other))
    outcome, text = non_inferior(lsuv, ref)
    edge = at_edge(m, "lsuv", other)
    lrs = ", ".join(f"{i} {m['tuned_lr'][i]:g}" for i in ("lsuv", other))
    return Row(
        f"LSUV-initialized nets train as well as {LABEL[other]} ones (test accuracy)",
        anchor,
        source,
        f"{m['depth']} × {m['width']} ReLU on {m['dataset']}, {m['epochs']} epochs: LSUV "
        f"{aggregate.seed_ci(lsuv)}, {other} {aggregate.seed_ci(ref)}; LSUV − {other} {text}; tuned lr over {m['lrs']}: "
        f"{lrs}",
        None if edge else outcome,
        "undecided: a tuned lr is at the edge of the lr grid"
        if edge
        else {True: f"LSUV is within {100 * MARGIN:g} point of {other} or better",
              False: f"LSUV trains to a lower accuracy than {other}",
              None: f"the seeds cannot tell LSUV from {other} within the margin"}[outcome],
    )  # fmt: skip


def verdict(m: dict[str, Any]) -> list[Row]:
    stds = np.asarray(m["init_std"])
    return [
        _row(m, "he", "LSUV ≥ MSRA (He) init in final test accuracy (non-inferior, 1 point)",
             "Mishkin & Matas 2015, Tables 2–3"),
        _row(m, "bn", "LSUV ≈ BatchNorm in final test accuracy (non-inferior, 1 point)",
             "Mishkin & Matas 2015, Sec. 4 (LSUV and batch normalization)"),
        Row(
            "LSUV: unit output std in every layer at init (the trained nets' draws)",
            f"|std − 1| ≤ {LSUV_TOL} in every Dense layer (LSUV's stopping rule)",
            "Mishkin & Matas 2015, Algorithm 1",
            f"stds {stds.min():.3f}–{stds.max():.3f} over {stds.shape[1]} layers × "
            f"{stds.shape[0]} seeds",
            bool(np.all(np.abs(stds - 1) <= LSUV_TOL + 1e-6)),
            "the in-program LSUV did its job on every trained net",
            kind="sanity",
        ),
    ]  # fmt: skip


def figures(out_dir: Path) -> list[Path]:
    res = load(out_dir)["lsuv"]
    m = measure({"lsuv": res})
    best, ok = study.best_lr(res)
    fig, (ax_c, ax_l, ax_d) = plots.figure(ncols=3, size=(4.0, 3.4))
    for k, i in enumerate(INITS):
        loss = res.train_loss.isel(lr=best).where(ok).sel(init=i)
        ax_c.plot(loss.epoch, loss.mean("seed"), color=f"C{k}",
                  label=f"{i} (lr {m['tuned_lr'][i]:g})")  # fmt: skip
        final = res.test_acc.isel(epoch=-1).sel(init=i).fillna(CHANCE)
        ax_l.plot(res.lr, final.mean("seed"), "o-", color=f"C{k}", label=i)
        a = np.asarray(m["acc"][i])
        ax_d.plot(k + np.linspace(-0.12, 0.12, a.size), a, "o", ms=4, color=f"C{k}")
        ax_d.errorbar(k, a.mean(), yerr=1.96 * a.std(ddof=1) / np.sqrt(a.size), fmt="_", ms=14,
                      color="k", capsize=3)  # fmt: skip
    ax_c.set(xlabel="epoch", ylabel="train loss at the tuned lr", yscale="log")
    ax_c.legend(fontsize=7)
    ax_l.set(xlabel="lr", ylabel="final test accuracy (seed mean)", xscale="log")
    ax_l.axhline(CHANCE, color="0.6", ls=":", lw=1)
    ax_l.legend(fontsize=7)
    ax_d.set_xticks(range(len(INITS)), list(INITS))
    ax_d.set_ylabel("final test accuracy (mean ± 95% CI)")
    fig.suptitle(f"LSUV vs He vs He + BN: {m['depth']} × {m['width']} ReLU MLPs on "
                 f"{m['dataset']}, plain SGD")  # fmt: skip
    return plots.save(fig, Path(out_dir) / "lsuv_trained")


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

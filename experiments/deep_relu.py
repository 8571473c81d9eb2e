"""Deep ReLU MLPs: He init trains at 30 layers where Xavier stalls (claims C3, C8; He 2015).

Question: He et al. (2015, arXiv:1502.01852) train deep ReLU nets with std √(2/n_in) and
compare with "Xavier", which they implement (§2.2) as the forward-only rule n·Var[w] = 1,
std √(1/n_in). Over L ReLU layers Xavier's signal is 2^(−L/2) of He's. Fig. 3 (22 layers):
both converge, He earlier. Fig. 4 (30 layers): Xavier "completely stalls the learning, and
the gradients are diminishing". Do a 30-layer and a moderate-depth ReLU MLP on MNIST-1D
behave the same way?

Settings: MNIST-1D (4000 × 40), square hidden layers, b = 0, SGD with momentum 0.9 (He's
ImageNet recipe, without weight decay), batch 100; lr tuned per (depth, init) over a grid
around He's 0.01 (the lr with the lowest seed-mean final train loss, no seed diverged; the
stall rows tune at their own budget, below); a
seed sets the init and the minibatch order (order="per_seed"). Both inits are one sweep over
the gain of ``he_normal``: gain 1 is He, gain 1/√2 is He's Xavier (std √(1/n_in), exactly;
same draws scaled). The full config adds Glorot's own ``xavier_normal`` (fan average,
√(2/(n_in + n_out)): equal to √(1/n) on the square hidden layers, different on the first and
last). At init, outside training, the per-layer activation std and weight-gradient norms of
the deepest net are measured on 512 training examples over 8 init seeds.

Command: ``initjax run deep_relu --quick`` (depths 10 and 30, width 64, 3 seeds, lr ∈ {0.01,
0.03}, 10 epochs; ~20 s on 2 CPU cores) or ``--full`` (depths 22 and 30 as in He 2015, width
128, 5 seeds, lr ∈ {0.003, 0.01, 0.03}, 50 epochs, plus xavier_normal; 15 min on 2 CPU cores,
measured). He et al. say the 30-layer Xavier net "does not converge
even given more epochs": two budgets, two rows. The stall rows read the train loss at
``SHORT_BUDGET`` = 10 epochs, at the lr tuned at that epoch; the escape row records each
seed's escape epoch (train loss below 2.0) by 10 and by the last epoch (50 at full scale), a
distribution rather than one verdict on a mixture of stalled and escaped seeds.
Expected: at 30 layers He's train loss falls below 2.0 within 1–3 epochs while Xavier's
stays at ln 10 = 2.303 (test accuracy at chance) for the 10 epochs of quick; at moderate
depth both learn, He first (22 layers: epoch ~1 vs ~12); Xavier's activations shrink by
0.707 per layer and its gradients are ~10^−5 of He's. Measured at full scale (``docs/deep_relu``,
lr tuned): both Xavier inits stall at 10 epochs (loss 2.3024, 95% CI [2.3023, 2.3026] for
He's Xavier, [2.3022, 2.3026] for xavier_normal); by epoch 50, 4 of 5 seeds of each escape
(epochs 33–43 and 26–47; xavier_normal's final loss 1.63 ± 0.39), all 5 He seeds by epoch 3:
at this width the "stall" is a long delay, not a permanent one, so He et al.'s "not even given
more epochs" does not hold here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from _deep_relu_figures import draw

from initjax import data as datasets
from initjax import equivalence, models, results, study, sweep, train
from initjax.study import Row, check_scale, mean_spread

NAME = "deep_relu"
ORDER = 6
QUESTION = "Does He init train a 30-layer ReLU MLP where Xavier stalls, and start earlier at moderate depth?"
CLAIMS = ("C3", "C8")
RUNTIME = {
    "quick": "~20 s (2 idle CPU cores, measured 2026-12-01)",
    "full": "~15 min (2 CPU cores, measured)",
}

HE_GAIN = 1.0  # he_normal: std √(2/n_in)
XAVIER_GAIN = 1 / math.sqrt(2)  # he_normal(1/√2): std √(1/n_in), He 2015's "Xavier"
LOSS_THRESHOLD = 2.0  # "learning has started": 0.3 nats below ln 10
STALL_TOL = 0.02  # stalled: the 95% CI of the mean loss at SHORT_BUDGET within ln 10 ± this
LN10 = math.log(10)
INITS = {
    "xavier": "Xavier √(1/n) (He 2015 §2.2)",
    "he": "He √(2/n)",
    "glorot": "Glorot xavier_normal √(2/(n_in+n_out))",
}
PROBE, STAT_SEEDS = 512, 8
SHORT_BUDGET = 10  # epochs: the stall rows' budget (lr tuned at it); the quick budget, set
# after the 50-epoch run showed the stall to be a delay (at 50 epochs the stall rows read a
# mixture of stalled and escaped seeds: mean loss 1.76 and 1.63, and disagreed)
LONG_BUDGET = 40  # epochs from which the escape-time row is decided (He: "even given more")
ESCAPE_SHARE = 0.1  # "does not converge" is contradicted when over 1 in 10 inits escape


# He's ImageNet recipe without weight decay, on MNIST-1D; hidden is set per depth and scheme
# per init. The grid: depths (a moderate one, then the deep one, last), width, seeds, and
# whether Glorot's xavier_normal (fan average) is trained too (one more sweep per depth).
BASE = train.Config(
    model="mlp", hidden=(64,), activation="relu", scheme="he_normal", optimizer="momentum",
    lr=0.01, momentum=0.9, batch_size=100, epochs=10, dataset="mnist1d", order="per_seed",
)  # fmt: skip
CONFIGS = {
    "quick": (
        BASE,
        {"depths": (10, 30), "width": 64, "seeds": 3, "lrs": (0.01, 0.03), "glorot": False},
    ),
    "full": (
        BASE.replace(epochs=50),
        {"depths": (22, 30), "width": 128, "seeds": 5, "lrs": (0.003, 0.01, 0.03),
         "glorot": True},
    ),
}  # fmt: skip


def config(base: train.Config, grid: dict, depth: int, scheme: str) -> train.Config:
    return base.replace(hidden=(grid["width"],) * depth, scheme=scheme)


def _init_stats(cfg: train.Config, gain: float, data: datasets.Dataset) -> tuple[list, list]:
    """Per-hidden-layer activation std and per-Dense-layer kernel-gradient norm at init,
    geometric means over STAT_SEEDS inits on the first PROBE training examples."""
    x, y = jnp.asarray(data.x_train[:PROBE]), jnp.asarray(data.y_train[:PROBE])
    model = train.build_model(cfg, gain)
    names = models.layer_names(model)

    @jax.jit
    def stats(params: dict) -> tuple[jax.Array, jax.Array]:
        _, _, acts = models.forward(model, {"params": params}, x)
        grads = jax.grad(
            lambda p: train.loss_and_accuracy(model.apply({"params": p}, x), y)[0]  # type: ignore[arg-type]
        )(params)
        return (
            jnp.stack([a.std() for a in acts]),
            jnp.stack([jnp.linalg.norm(grads[n]["kernel"]) for n in names]),
        )

    out = [stats(model.init(jax.random.key(k), x[:1])["params"]) for k in range(STAT_SEEDS)]
    act = np.exp(np.mean([np.log(np.asarray(a)) for a, _ in out], axis=0))
    grad = np.exp(np.mean([np.log(np.asarray(g)) for _, g in out], axis=0))
    return act.tolist(), grad.tolist()


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    base, grid = CONFIGS[check_scale(scale)]
    data = datasets.load("mnist1d")
    per_depth, configs = [], {}
    for depth in grid["depths"]:
        cfg = config(base, grid, depth, "he_normal")
        res = sweep.run(cfg, data, grid["seeds"], sigmas=(XAVIER_GAIN, HE_GAIN), lrs=grid["lrs"],
                        progress=progress)  # fmt: skip
        res = res.assign_coords(init=("sigma", ["xavier", "he"]))
        parts = [res.swap_dims(sigma="init")]
        configs[f"config_L{depth}"] = cfg.to_json()
        if grid["glorot"]:
            gcfg = config(base, grid, depth, "xavier_normal")
            g = sweep.run(gcfg, data, grid["seeds"], sigmas=(1.0,), lrs=grid["lrs"],
                          progress=progress)  # fmt: skip
            g = g.assign_coords(init=("sigma", ["glorot"]))
            parts.append(g.swap_dims(sigma="init"))
            configs[f"config_L{depth}_glorot"] = gcfg.to_json()
        attrs = parts[0].attrs
        per_depth.append(xr.concat([p.drop_attrs() for p in parts], dim="init").assign_attrs(attrs))
    ds = xr.concat(
        [p.drop_attrs() for p in per_depth],
        dim=pd.Index(list(grid["depths"]), name="depth"),
        join="outer",
    )
    ds.attrs.update(per_depth[0].attrs | configs)
    # Init-time signal statistics of the deepest net, for each init trained.
    deep = grid["depths"][-1]
    stats = {
        init: _init_stats(config(base, grid, deep, scheme), gain, data)
        for init, scheme, gain in (
            ("xavier", "he_normal", XAVIER_GAIN),
            ("he", "he_normal", HE_GAIN),
            ("glorot", "xavier_normal", 1.0),
        )
        if init in ds.init.values
    }
    inits = list(stats)
    ds["act_std_init"] = (("init", "act_layer"), np.array([stats[i][0] for i in inits]))
    ds["grad_norm_init"] = (("init", "dense_layer"), np.array([stats[i][1] for i in inits]))
    ds = ds.assign_coords(act_layer=np.arange(1, deep + 1), dense_layer=np.arange(1, deep + 2))
    ds.attrs["stats_depth"] = deep
    results.save(ds, Path(out_dir) / "results.nc")


def tuned(res: xr.Dataset, var: str = "train_loss") -> xr.DataArray:
    """``var`` per (depth, init, seed[, epoch]) at the lr tuned per (depth, init)
    (:func:`initjax.study.best_lr`; NaN where every lr diverged)."""
    best, ok = study.best_lr(res)
    return res[var].isel(lr=best).where(ok)


def at_budget(res: xr.Dataset, epoch: int) -> tuple[xr.DataArray, xr.DataArray]:
    """Train loss per (depth, init, seed) at ``epoch``, at the lr with the lowest seed-mean
    train loss at that epoch (an lr where a seed had diverged by then is left out; NaN where
    every lr had), and that lr per (depth, init)."""
    loss = res.train_loss.sel(epoch=epoch)
    score = loss.mean("seed", skipna=False)
    best, ok = score.fillna(np.inf).argmin("lr"), score.notnull().any("lr")
    return loss.isel(lr=best).where(ok), res.lr.isel(lr=best).where(ok)


def tuned_lr(res: xr.Dataset) -> dict[str, float]:
    """The tuned lr per ``"depth/init"`` (:func:`initjax.study.tuned_lr`)."""
    lr = study.tuned_lr(res)
    return {f"{int(d)}/{i}": float(lr.sel(depth=d, init=i))
            for d in res.depth.values for i in res.init.values}  # fmt: skip


def epochs_to(loss: xr.DataArray, threshold: float = LOSS_THRESHOLD) -> xr.DataArray:
    """First epoch whose train loss is below ``threshold``; NaN when none is."""
    below = loss < threshold
    first = below.argmax("epoch").astype(float)
    return first.where(below.any("epoch"))


def per_layer_ratio(std: np.ndarray) -> float:
    """exp of the least-squares slope of log std over layers: the factor per layer."""
    std = std[np.isfinite(std)]
    return float(np.exp(np.polyfit(np.arange(std.size), np.log(std), 1)[0]))


def figures(out_dir: Path) -> list[Path]:
    res = load(out_dir)
    loss = tuned(res)
    deep = int(res.depth.values[-1])
    escape = {str(i): epochs_to(loss.sel(depth=deep, init=i)).values for i in res.init.values}
    return draw(res, loss, tuned_lr(res), escape, INITS, LOSS_THRESHOLD, Path(out_dir) / NAME)


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "results.nc")


def measure(res: xr.Dataset) -> dict[str, Any]:
    """Per seed: epochs to learn at the moderate depth, final losses and accuracies at the
    deepest, the deepest's loss at the short budget (``loss_short_deep``, at the lr tuned
    there: ``lr_short_deep``) and its escape epochs; per-layer activation-std ratios and the
    Xavier/He gradient ratio at init."""
    mid, deep = (int(d) for d in res.depth.values[[0, -1]])
    loss = tuned(res)
    last = loss.isel(epoch=-1)
    t_mid = epochs_to(loss.sel(depth=mid))
    acc_deep = tuned(res, "test_acc").isel(epoch=-1).sel(depth=deep)
    inits = [str(i) for i in res.init.values]
    g = res.grad_norm_init
    div = tuned(res, "diverged").sel(depth=deep).sum("seed")
    short = min(SHORT_BUDGET, int(res.epoch.max()))
    loss_short, lr_short = at_budget(res.sel(depth=deep), short)
    return {
        "mid": mid, "deep": deep, "epochs": int(res.epoch.max()), "short": short,
        "loss_short_deep": {i: loss_short.sel(init=i).values.tolist() for i in inits},
        "lr_short_deep": {i: float(lr_short.sel(init=i)) for i in inits},
        "epochs_to_learn_mid": {i: t_mid.sel(init=i).values.tolist() for i in ("he", "xavier")},
        "final_loss_mid": {i: last.sel(depth=mid, init=i).values.tolist() for i in ("he", "xavier")},
        "final_loss_deep": {i: last.sel(depth=deep, init=i).values.tolist() for i in inits},
        "test_acc_deep": {i: acc_deep.sel(init=i).values.tolist() for i in inits},
        "act_ratio": {i: per_layer_ratio(res.act_std_init.sel(init=i).values)
                      for i in ("he", "xavier")},
        "grad_ratio": float(np.exp(np.mean(np.log(g.sel(init="xavier") / g.sel(init="he"))))),
        "diverged_deep": {} if not div.any() else div.to_series().to_dict(),
        "lrs": [float(v) for v in res.lr.values], "tuned_lr": tuned_lr(res),
        "escape": {i: epochs_to(loss.sel(depth=deep, init=i)).values.tolist() for i in inits},
    }  # fmt: skip


def _escape_epochs(t: np.ndarray) -> str:
    """The escape epochs of the seeds that escaped, sorted ("none" if none did)."""
    return ", ".join(str(int(e)) for e in np.sort(t[np.isfinite(t)])) or "none"


def _stall_row(m: dict[str, Any], init: str, words: str, source: str) -> Row:
    """He 2015's "completely stalls" at the short budget, with lr tuned at that budget: the
    interval of the mean train loss against ln 10 ± STALL_TOL (the escape row reads the long
    budget, so the two budgets are two rows, not one verdict on a bimodal mixture)."""
    deep, short, n_ep = m["deep"], m["short"], m["epochs"]
    loss = np.asarray(m["loss_short_deep"][init], dtype=float)
    lr = m["lr_short_deep"][init]
    lr_text = f"{lr:g} of {m['lrs']}" if math.isfinite(lr) else "none: every lr had diverged"
    stalled, text = equivalence.band_test(loss, LN10 - STALL_TOL, LN10 + STALL_TOL)
    below, above = int(np.sum(loss < LN10 - STALL_TOL)), int(np.sum(loss > LN10 + STALL_TOL))
    counts = (
        f"at epoch {short}, of {loss.size} seeds: {below} below ln 10 − {STALL_TOL}, {above} above "
        f"ln 10 + {STALL_TOL}, {int(np.sum(~np.isfinite(loss)))} diverged"
    )
    if stalled:
        why = (
            f"logits start 2^(−{deep // 2}) of He's: the softmax stays uniform and SGD barely "
            f"moves for {short} epochs"
        )
        if n_ep > short:  # the long budget: say what became of the stall
            esc = np.asarray(m["escape"][init], dtype=float)
            when = _escape_epochs(esc)
            why += (
                f"; by epoch {n_ep} (lr tuned on the final loss) {int(np.isfinite(esc).sum())} of "
                f"{esc.size} seeds escape (epochs {when}): a delay, not a permanent stall"
            )
    else:
        why = counts
    return Row(
        f"C8 at {deep} layers: {words} ({short} epochs)",
        f"train loss at epoch {short} stays at ln 10 = {LN10:.3f} (±{STALL_TOL}; 95% CI of the "
        "mean inside), lr tuned at that budget; 'completely stalls'",
        source,
        f"train loss at epoch {short} {text} (lr tuned at epoch {short}: {lr_text})",
        stalled,
        why,
    )


def _escape_row(m: dict[str, Any]) -> Row:
    """He 2015's "does not converge even given more epochs", at two budgets: the short one and
    the last; decided only when the last is long (≥ LONG_BUDGET epochs)."""
    deep, n_ep = m["deep"], m["epochs"]
    xa, he = (np.asarray(m["escape"][i], dtype=float) for i in ("xavier", "he"))
    early = int(np.sum(xa <= m["short"]))
    late = int(np.sum(np.isfinite(xa)))
    when = _escape_epochs(xa)
    long = n_ep >= LONG_BUDGET
    lo, hi = equivalence.proportion_interval(late, xa.size)
    return Row(
        f"C8 at {deep} layers: Xavier does not converge 'even given more epochs'",
        f"no Xavier seed's train loss below {LOSS_THRESHOLD} within {n_ep} epochs; contradicted "
        f"when over 1 in {int(1 / ESCAPE_SHARE)} inits escape (exact 95% CI of the share above "
        f"{ESCAPE_SHARE}); decided from {LONG_BUDGET} epochs on",
        "He et al. 2015, §3.1 and Fig. 4",
        f"Xavier seeds escaped by epoch {m['short']}: {early} of {xa.size}; by epoch {n_ep}: "
        f"{late} of {xa.size} (epochs {when}; share 95% CI [{lo:.2f}, {hi:.2f}]); He: "
        f"{int(np.sum(np.isfinite(he)))} of {he.size}, by epoch "
        f"{np.nanmax(he) if np.isfinite(he).any() else math.nan:g}; Xavier at its lr tuned on "
        f"the final loss, {m['tuned_lr'][f'{deep}/xavier']:g}, test acc "
        f"{mean_spread(m['test_acc_deep']['xavier'])} at epoch {n_ep}"
        + ("" if long else f" (quick: {n_ep} epochs decide nothing)"),
        (True if late == 0 else False if lo > ESCAPE_SHARE else None) if long else None,
        "a stall at one budget can be a long delay: the escape times are the distribution",
    )


def verdict(m: dict[str, Any]) -> list[Row]:
    mid, deep, n_ep = m["mid"], m["deep"], m["epochs"]
    he_mid, xa_mid = (np.asarray(m["epochs_to_learn_mid"][i]) for i in ("he", "xavier"))
    he_deep = np.asarray(m["final_loss_deep"]["he"])
    ratio_he, ratio_xa = m["act_ratio"]["he"], m["act_ratio"]["xavier"]
    g_ratio, g_pred = m["grad_ratio"], 2.0 ** (-deep / 2)
    div_note = f"; diverged runs: {m['diverged_deep']}" if m["diverged_deep"] else ""
    lr = m["tuned_lr"]
    tuned_mid = f" (tuned lr: He {lr[f'{mid}/he']:g}, Xavier {lr[f'{mid}/xavier']:g} of {m['lrs']})"
    tuned_deep = f" (tuned lr: He {lr[f'{deep}/he']:g}, Xavier {lr[f'{deep}/xavier']:g})"
    both = bool(np.isfinite(he_mid).all() and np.isfinite(xa_mid).all())
    later, gap = equivalence.paired_difference(he_mid, xa_mid) if both else (False, "")
    rows = [
        Row(
            f"C8 at {mid} layers: both inits learn, He earlier",
            "both converge; He starts reducing the error earlier (Xavier − He epochs to learn: "
            "paired 95% CI above 0; below: fails)",
            "He et al. 2015, arXiv:1502.01852, Fig. 3 (22 layers)",
            f"epochs to train loss < {LOSS_THRESHOLD}: He {mean_spread(he_mid, 1)}, "
            f"Xavier {mean_spread(xa_mid, 1)}; final loss He "
            f"{mean_spread(m['final_loss_mid']['he'])}, Xavier "
            f"{mean_spread(m['final_loss_mid']['xavier'])}{tuned_mid}"
            + (f"; Xavier − He: {gap}" if gap else "; not every seed learned"),
            later,
            "Xavier's 2^(−L/2) smaller signal delays the start of learning, not its end",
        ),
        Row(
            f"C8 at {deep} layers: He trains",
            f"He converges (we ask: train loss < {LOSS_THRESHOLD} for every seed)",
            "He et al. 2015, Fig. 4 (30 layers)",
            f"final train loss {mean_spread(he_deep)}; test acc "
            f"{mean_spread(m['test_acc_deep']['he'])} after {n_ep} epochs{div_note}{tuned_deep}",
            bool(np.all(he_deep < LOSS_THRESHOLD)),
            "std √(2/n_in) keeps the forward and backward signal level through ReLUs",
        ),
        _stall_row(m, "xavier", "Xavier stalls", "He et al. 2015, Fig. 4 (30 layers)"),
        _escape_row(m),
        Row(
            f"C3: per-layer activation scale at init ({deep} layers)",
            "std ratio per layer √(n·Var[w]/2): 0.707 for Xavier √(1/n), 1 for He (±0.05)",
            "He et al. 2015, eq. (10)",
            f"fitted ratio per layer: Xavier {ratio_xa:.3f}, He {ratio_he:.3f} "
            f"({STAT_SEEDS} inits × {PROBE} examples)",
            bool(abs(ratio_xa - 2**-0.5) < 0.05 and abs(ratio_he - 1) < 0.05),
            "each ReLU halves the second moment; He's factor 2 restores it, Xavier's does not",
        ),
        Row(
            f"C3: 'the gradients are diminishing' ({deep} layers, Xavier)",
            f"weight-gradient norms at init ≈ 2^(−L/2) = {g_pred:.1e} of He's (within 10×)",
            "scale argument: forward and backward signals each shrink 2^(−1/2) per layer",
            f"Xavier / He gradient norm (geometric mean over layers): {g_ratio:.1e}",
            bool(abs(math.log10(g_ratio / g_pred)) < 1),
            "every layer's gradient is tiny, not only the first layers': SGD barely moves",
        ),
    ]
    if "glorot" in m["loss_short_deep"]:
        rows.append(
            _stall_row(
                m,
                "glorot",
                "Glorot's xavier_normal (fan average) also stalls",
                "He et al. 2015, Fig. 4, with Glorot & Bengio 2010's √(2/(n_in+n_out)) "
                "(= √(1/n) on the square hidden layers)",
            )
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

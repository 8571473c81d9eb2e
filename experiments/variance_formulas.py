"""The note's variance table (claim C5): Xavier's and He's Var[W] and uniform bounds, measured.

Question: is the note's table right? It gives Xavier's variance as 1/(n_in + n_out); Glorot &
Bengio (2010, eq. 12 and 16) have 2/(n_in + n_out), He et al. (2015, eq. 10) 2/n_in, and the
uniform forms U(±√(6/(n_in + n_out))) and U(±√(6/n_in)). Empirical Var[W] = E[W²] and max|W|
of ``xavier_normal``, ``xavier_uniform``, ``he_normal`` and ``he_uniform`` over several
(n_in, n_out), at least ``entries`` weights each (relative standard error √(2/entries)).

Both rows are sanity checks (``kind="sanity"``): a sampled variance against the formula the
weights were drawn from holds by construction, so they check that initjax draws what the
papers define, not the claim. Whether the note's table is right is read off the papers'
equations (REPORT.md lists it under "What the note got wrong"); the rows put numbers on it.

Command: ``python experiments/variance_formulas.py --quick`` (250 000 weights per cell; ~5 s
on 2 CPU cores) or ``--full`` (2 000 000). Expected: (n_in + n_out)·Var = 2.00 for Xavier,
not 1; n_in·Var = 2 for He; max|W| just under each bound.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from initjax import init as schemes
from initjax import results, study
from initjax.study import Row, check_scale

NAME = "variance_formulas"
ORDER = 5
QUESTION = "Are the note's variance formulas for Xavier and He init right?"
CLAIMS = ("C5",)
RUNTIME = {"quick": "~5 s (2 CPU cores)", "full": "~10 s (2 CPU cores; 5 s measured)"}

# Anchors: Glorot & Bengio 2010 eq. 12 and 16 (Var = 2/(n_in + n_out), U(±√(6/(n_in +
# n_out)))); He et al. 2015 eq. 10 (Var = 2/n_in); the note's table says 1/(n_in + n_out).
VAR_RTOL = 0.02
VAR_SCHEMES = ("xavier_normal", "xavier_uniform", "he_normal", "he_uniform")
PAIRS = ((784, 256), (256, 256), (256, 10), (40, 1000), (1000, 1000))  # (n_in, n_out)
# No training: weights drawn per (scheme, shape).
CONFIGS = {"quick": {"entries": 250_000}, "full": {"entries": 2_000_000}}


def run(out_dir: Path, scale: str = "quick", progress: bool = True) -> None:
    entries = CONFIGS[check_scale(scale)]["entries"]
    results.save(variance_table(PAIRS, entries), Path(out_dir) / "variance.nc")


def load(out_dir: Path) -> xr.Dataset:
    return results.load(Path(out_dir) / "variance.nc")


def figures(out_dir: Path) -> list[Path]:
    """No figure: the verdict's two rows are the result (a table of ratios)."""
    return []


def variance_table(pairs: tuple[tuple[int, int], ...], entries: int) -> xr.Dataset:
    """Empirical Var[W] and max|W| of at least ``entries`` weights per scheme and shape.

    Var is E[W²] (the schemes are zero-mean by construction); its relative standard error is
    √(2/entries) for a normal, less for a uniform.
    """
    var, top = (np.asarray(a, np.float64) for a in draw_stats(pairs, entries))
    n_in = np.array([p[0] for p in pairs], dtype=np.float64)
    n_out = np.array([p[1] for p in pairs], dtype=np.float64)
    xavier = np.char.startswith(np.array(VAR_SCHEMES), "xavier")[:, None]
    theory = np.where(xavier, 2 / (n_in + n_out)[None, :], 2 / n_in[None, :])
    return xr.Dataset(
        {
            "var": (("scheme", "pair"), var),
            "var_theory": (("scheme", "pair"), theory),  # 2/(n_in + n_out) or 2/n_in
            "max_abs": (("scheme", "pair"), top),
            # U(−b, b) has Var b²/3: b = √(6/(n_in + n_out)) (Xavier), √(6/n_in) (He)
            "bound": (("scheme", "pair"), np.sqrt(3 * theory)),
            "n_in": ("pair", n_in),
            "n_out": ("pair", n_out),
        },
        coords={"scheme": list(VAR_SCHEMES), "pair": [f"{a}x{b}" for a, b in pairs]},
        attrs={"entries": entries},
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def draw_stats(pairs: tuple[tuple[int, int], ...], entries: int) -> tuple[jax.Array, jax.Array]:
    """(E[W²], max|W|), each (scheme, pair): every draw in one program (one compilation)."""
    var, top = [], []
    for i, name in enumerate(VAR_SCHEMES):
        init = schemes.get(name)
        for j, shape in enumerate(pairs):
            keys = jax.random.split(
                jax.random.key(100 * i + j), -(-entries // (shape[0] * shape[1]))
            )
            w = jax.vmap(lambda k, s=shape, f=init: f(k, s))(keys)
            var.append(jnp.mean(w**2))
            top.append(jnp.max(jnp.abs(w)))
    shape_ = (len(VAR_SCHEMES), len(pairs))
    return jnp.stack(var).reshape(shape_), jnp.stack(top).reshape(shape_)


def measure(v: xr.Dataset) -> dict[str, Any]:
    """Var[W] over its formula, per scheme and shape; (n_in + n_out)·Var for Xavier; max|W|
    over the uniform bound."""
    ratio = v["var"] / v.var_theory
    xavier, he = (
        ratio.sel(scheme=["xavier_normal", "xavier_uniform"]),
        ratio.sel(scheme=["he_normal", "he_uniform"]),
    )
    fill = (v.max_abs / v.bound).sel(scheme=["xavier_uniform", "he_uniform"])
    note = (v["var"] * (v.n_in + v.n_out)).sel(scheme=["xavier_normal", "xavier_uniform"])
    return {
        "xavier_ratio": xavier.values.ravel().tolist(),
        "he_ratio": he.values.ravel().tolist(),
        "fill": fill.values.ravel().tolist(),
        "xavier_sum_var": note.values.ravel().tolist(),
    }


def verdict(m: dict[str, Any]) -> list[Row]:
    xavier, he, fill, note = (
        np.asarray(m[k]) for k in ("xavier_ratio", "he_ratio", "fill", "xavier_sum_var")
    )
    return [
        Row(
            "C5: Xavier Var = 2/(n_in+n_out), not the note's table's 1/(n_in+n_out)",
            "(n_in + n_out)·Var[W] = 2 (±2%); the note's table gives 1",
            "Glorot & Bengio 2010 eq. 12 and 16; torch/JAX glorot_*",
            f"(n_in + n_out)·Var = {float(note.min()):.3f}–{float(note.max()):.3f} over "
            f"{note.size} (scheme, shape) cells",
            bool(np.all(np.abs(xavier - 1) <= VAR_RTOL)),
            "the note's table is wrong by a factor 2 (it lists 1/(n_in+n_out))",
            kind="sanity",
        ),
        Row(
            "C5: He Var = 2/n_in; uniform bounds √(6/(n_in+n_out)) and √(6/n_in)",
            "n_in·Var[W] = 2 (±2%); max|W| within the bound and > 99% of it",
            "He et al. 2015 eq. 10; Glorot & Bengio 2010 eq. 16",
            f"n_in·Var / 2 = {float(he.min()):.3f}–{float(he.max()):.3f}; max|W| / bound "
            f"{float(fill.min()):.4f}–{float(fill.max()):.4f} (float32: ≤ 1 + 1e-6)",
            bool(
                np.all(np.abs(he - 1) <= VAR_RTOL)
                and float(fill.max()) <= 1 + 1e-6
                and float(fill.min()) > 0.99
            ),
            "the note's He formulas and both uniform bounds are right",
            kind="sanity",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(study.main(__file__))

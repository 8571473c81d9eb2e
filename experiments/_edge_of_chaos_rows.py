"""edge_of_chaos's verdict rows on the trainable-depth boundary (beside ``edge_of_chaos.py``):
cells beyond 6 ξ_c, the fitted multiple of ξ_c, and the log-log slope, per budget."""

from __future__ import annotations

from typing import Any

import numpy as np

from initjax.study import Row

PUBLISHED_MULTIPLE = 6.0  # trainable depth ≈ 6 ξ_c (Schoenholz et al. 2017, Sec. 5)
BEYOND_UNTRAINABLE = 0.9  # 6 ξ_c bound: this share of the cells beyond it do not train
MIN_FIT_POINTS = 4  # uncensored σ_w² values a fit needs to be decided
# The fitted multiple agrees when its 95% CI meets [6/√2, 6·√2]: the boundary is known only to
# within one doubling of depth, so its midpoint is within a factor √2 of the true one.
MULTIPLE_BAND = (PUBLISHED_MULTIPLE / 2**0.5, PUBLISHED_MULTIPLE * 2**0.5)
MAX_CI_RATIO = 4.0  # a multiple's CI wider than hi/lo = 4 leaves the row undecided
MAX_SLOPE_HALF_WIDTH = 0.5  # a slope CI wider than ±0.5 leaves the row undecided


def beyond_row(m: dict[str, Any], b: int) -> Row:
    pb, n_beyond = m["per_budget"][str(b)], m["cells_beyond"]
    frac = pb["beyond_untrainable"]
    return Row(
        f"C3: networks deeper than 6 ξ_c do not train ({b} epoch{'s' * (b > 1)})",
        f"cells with depth > 6 ξ_c(σ_w²) untrainable (≥ {BEYOND_UNTRAINABLE:.0%} of them)",
        "Schoenholz et al. 2017, Sec. 5, Fig. 5–6 (a one-sided bound)",
        f"{frac:.0%} of {n_beyond} cells beyond 6 ξ_c untrainable ({m['seeds']} seeds; "
        f"trainable = halfway from chance to the best cell); cells on either side that match "
        f"the boundary: {pb['agree']:.0%} (shown, not judged)",
        None if n_beyond < 2 else bool(frac >= BEYOND_UNTRAINABLE),
        "n/a with fewer than 2 cells beyond 6 ξ_c"
        if n_beyond < 2
        else "the depth scale ξ_c bounds the trainable depth",
    )


def multiple_row(m: dict[str, Any], b: int) -> Row:
    f = m["fits"][str(b)]
    lo, hi = MULTIPLE_BAND
    decided = f["n"] >= MIN_FIT_POINTS and f["c_hi"] / f["c_lo"] <= MAX_CI_RATIO
    ours = (
        f"c = {f['c']:.2f}, 95% CI [{f['c_lo']:.2f}, {f['c_hi']:.2f}] over {f['n']} uncensored "
        f"σ_w² (boundary = midpoint between the deepest trainable and the next depth)"
        if f["n"] >= 2
        else f"{f['n']} uncensored σ_w²: no fit"
    )
    return Row(
        f"C3: the trainable depth is ≈ 6 ξ_c ({b} epoch{'s' * (b > 1)})",
        f"L_max = c · ξ_c with c ≈ {PUBLISHED_MULTIPLE:g} (agrees if the CI meets "
        f"[{lo:.2f}, {hi:.2f}], one depth-grid step)",
        "Schoenholz et al. 2017, Sec. 5 (white dashed 6 ξ_c line, Fig. 5)",
        ours,
        bool(f["c_lo"] <= hi and f["c_hi"] >= lo) if decided else None,
        multiple_why(f, decided),
    )


def multiple_why(f: dict[str, Any], decided: bool) -> str:
    lo, hi = MULTIPLE_BAND
    if not decided:
        why = []
        if f["n"] < MIN_FIT_POINTS:
            why.append(f"{f['n']} uncensored σ_w², needs ≥ {MIN_FIT_POINTS}")
        if f["n"] >= 2 and f["c_hi"] / f["c_lo"] > MAX_CI_RATIO:
            why.append(f"CI ratio {f['c_hi'] / f['c_lo']:.2f} > {MAX_CI_RATIO:g}")
        return "undecided: " + "; ".join(why)
    if f["c_hi"] < lo:
        return "the trainable depth is shorter than 6 ξ_c at this budget: the budget binds first"
    if f["c_lo"] > hi:
        return "nets train deeper than 6 ξ_c at this budget"
    return "the multiple of ξ_c that bounds trainability is the paper's"


def slope_row(m: dict[str, Any], b: int) -> Row:
    f = m["fits"][str(b)]
    decided = f["n"] >= MIN_FIT_POINTS and f["slope_half"] <= MAX_SLOPE_HALF_WIDTH
    ok = bool(abs(f["slope"] - 1.0) <= f["slope_half"])
    return Row(
        f"C3: the trainable depth scales as ξ_c ({b} epochs)",
        "slope of log L_max on log ξ_c = 1 (95% CI contains 1)",
        "Schoenholz et al. 2017, Sec. 5: depth scale ξ_c sets trainability",
        f"slope {f['slope']:.2f} ± {f['slope_half']:.2f} (95% CI) over {f['n']} σ_w²"
        if np.isfinite(f["slope"])
        else f"{f['n']} uncensored σ_w²: no slope",
        ok if decided else None,
        ("L_max follows ξ_c across σ_w², not just at one point" if ok
         else "L_max does not follow ξ_c across σ_w² at this budget: something else sets it")
        if decided
        else f"undecided: needs ≥ {MIN_FIT_POINTS} uncensored σ_w² and a CI within "
        f"±{MAX_SLOPE_HALF_WIDTH:g}",
    )  # fmt: skip

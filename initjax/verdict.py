"""Verdict rows, and what a claim's rows add up to, in words a reader understands.

An experiment's verdict is a list of :class:`Row`: our measurement against an *anchor* (a
published or derived number). A row is one of two kinds:

* ``"evidence"``: a measurement that could come out either way; it bears on the science.
* ``"sanity"``: a check that holds by construction (a sampled variance against the formula it
  was drawn from, a Monte-Carlo prediction of the very quantity measured). It checks the
  code, not the claim; a failing one is a bug.

A claim's status (:func:`claim_status`) counts evidence rows only: *supported* (every decided
evidence row agrees with its anchor), *contradicted* (every decided one disagrees), *mixed*
(some of each), *inconclusive* (no decided evidence row), or *not run*.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from initjax import results
from initjax.errors import unknown

__all__ = [
    "KINDS",
    "VERDICT",
    "Row",
    "agreement_counts",
    "all_of",
    "claim_status",
    "counts",
    "line",
    "load_verdict",
    "save_verdict",
]

VERDICT = "verdict.json"
KINDS = ("evidence", "sanity")
"""A row's kinds: a measurement that could fail, or a check that holds by construction."""


@dataclass(frozen=True)
class Row:
    """One line of a verdict table."""

    claim: str
    """Claim id and a few words, e.g. ``"C2 large σ saturates the softmax"``."""
    anchor: str
    """The published or derived number we compare with."""
    source: str
    """Where the anchor comes from (paper, table, or formula)."""
    ours: str
    """Our value: mean ± spread over seeds, with units."""
    passed: bool | None
    """True/False when this scale decides it; None when it does not (e.g. quick scale)."""
    why: str
    """One line: why it passed or failed, or what the note got wrong."""
    kind: str = "evidence"
    """``"evidence"`` (could come out either way) or ``"sanity"`` (holds by construction:
    it checks the code, not the claim; a claim's status does not count it)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise unknown("verdict row kind", self.kind, KINDS)

    @property
    def status(self) -> str:
        """``"pass"``, ``"FAIL"`` or ``"n/a"`` (not decided at this scale)."""
        return {True: "pass", False: "FAIL", None: "n/a"}[self.passed]

    @property
    def agreement(self) -> str:
        """Whether our measurement agrees with the anchor: ``"agrees"``, ``"disagrees"`` or
        ``"undecided"``."""
        return {True: "agrees", False: "disagrees", None: "undecided"}[self.passed]

    @property
    def sanity(self) -> bool:
        return self.kind == "sanity"

    @property
    def outcome(self) -> str:
        """The word REPORT.md shows: an evidence row's :attr:`agreement`, a sanity check's
        :attr:`status`."""
        return self.status if self.sanity else self.agreement


def all_of(*outcomes: bool | None) -> bool | None:
    """Three-valued AND of a row's conditions: False when any condition fails, True when all
    pass, None (undecided) otherwise, and None with no condition at all (nothing shown)."""
    if any(o is False for o in outcomes):
        return False
    return True if outcomes and all(o is True for o in outcomes) else None


def save_verdict(out_dir: Path, rows: Sequence[Row]) -> Path:
    path = Path(out_dir) / VERDICT
    results.write_json(path, [dataclasses.asdict(r) for r in rows])
    return path


def load_verdict(out_dir: Path) -> list[Row]:
    """The rows saved in ``out_dir/verdict.json``; files written before rows had a ``kind``
    load as evidence."""
    raw = json.loads((Path(out_dir) / VERDICT).read_text())
    return [Row(**r) for r in raw]


def line(r: Row) -> str:
    """One row on the console: ``"  [pass] C2: ...: ours ...; anchor ..."``."""
    tag = " (sanity check)" if r.sanity else ""
    return f"  [{r.status:>4}] {r.claim}{tag}: ours {r.ours}; anchor {r.anchor}"


def agreement_counts(rows: Sequence[Row]) -> dict[str, int]:
    """How many of ``rows`` pass, FAIL and are n/a."""
    return {s: sum(r.status == s for r in rows) for s in ("pass", "FAIL", "n/a")}


def _sanity_words(checks: Sequence[Row]) -> str:
    """``"2 sanity checks pass"``, or which of them do not (a failing one is a bug)."""
    if not checks:
        return ""
    n = agreement_counts(checks)
    noun = "sanity check" if len(checks) == 1 else "sanity checks"
    if n["pass"] == len(checks):
        return f"{len(checks)} {noun} {'passes' if len(checks) == 1 else 'pass'}"
    parts = [f"{n['pass']} pass" if n["pass"] else ""]
    parts.append(f"{n['FAIL']} FAIL (a bug, not a finding)" if n["FAIL"] else "")
    parts.append(f"{n['n/a']} undecided" if n["n/a"] else "")
    return "sanity checks: " + ", ".join(p for p in parts if p)


def counts(rows: Sequence[Row]) -> str:
    """``"5 evidence rows: 3 agree, 1 disagrees, 1 undecided; 2 sanity checks pass"``."""
    evidence = [r for r in rows if not r.sanity]
    n = agreement_counts(evidence)
    noun = "evidence row" if len(evidence) == 1 else "evidence rows"
    text = (
        f"{len(evidence)} {noun}: {n['pass']} {'agrees' if n['pass'] == 1 else 'agree'}, "
        f"{n['FAIL']} {'disagrees' if n['FAIL'] == 1 else 'disagree'}, {n['n/a']} undecided"
    )
    sanity = _sanity_words([r for r in rows if r.sanity])
    return f"{text}; {sanity}" if sanity else text


def claim_status(rows: Sequence[Row], ran: bool = True) -> str:
    """A claim's status from the rows that name it, counting evidence rows only.

    ``"supported (3 of 3 evidence rows agree; 2 sanity checks pass)"``; *contradicted* when every
    decided evidence row disagrees with its anchor, *mixed* when some agree and some disagree,
    *inconclusive* when none is decided (or there is none), and ``"not run"`` when no
    experiment naming the claim has results (``ran`` False and no rows).
    """
    if not ran and not rows:
        return "not run"
    evidence = [r for r in rows if not r.sanity]
    n = agreement_counts(evidence)
    agree, disagree, undecided = n["pass"], n["FAIL"], n["n/a"]
    of = f"of {len(evidence)} evidence rows"
    if agree and disagree:
        word, detail = "mixed", f"{agree} agree, {disagree} disagree {of}"
    elif agree:
        word, detail = "supported", f"{agree} {of} agree"
    elif disagree:
        word, detail = "contradicted", f"{disagree} {of} disagree"
    elif evidence:
        word, detail = "inconclusive", f"{undecided} {of} undecided at this scale"
    else:
        word, detail = "inconclusive", "no evidence row"
    if undecided and (agree or disagree):
        detail += f", {undecided} undecided"
    sanity = _sanity_words([r for r in rows if r.sanity])
    return f"{word} ({detail}{'; ' + sanity if sanity else ''})"


CLAIM_IDS = tuple(f"C{i}" for i in range(1, 10))

# The note's claims, in a few words (ANCHORS.md has them in full).
CLAIM_TEXT = {
    "C1": "Gaussian noise breaks symmetry; equal weights make every neuron learn the same",
    "C2": "too large a σ saturates the softmax at the start",
    "C3": "good init keeps gradients from vanishing or exploding in deep nets",
    "C4": "a zero-mean, suitably scaled Gaussian keeps initial outputs in range",
    "C5": "Xavier Var = 2/(n_in+n_out), U(±√(6/(n_in+n_out))); He Var = 2/n_in",
    "C6": "biases start at zero; weight randomness alone breaks symmetry",
    "C7": "by the CLT, pre-activations at init are ≈ Gaussian",
    "C8": "Xavier for tanh/sigmoid, He for ReLU; He better for deep nets",
    "C9": "BatchNorm lessens sensitivity to init",
}
# Known errors of the note, listed whatever was run (ANCHORS.md).
NOTE_ERRORS = (
    (
        "C5",
        "The note's table gives Xavier's variance as 1/(n_in+n_out); Glorot & Bengio's "
        "normalized init has Var = 2/(n_in+n_out) (its uniform form U(±√(6/(n_in+n_out))), "
        "which the note also gives, has exactly that variance).",
    ),
    (
        "C1",
        "The symmetry argument does not apply to softmax regression: the problem is convex and "
        "∇W = Xᵀ(P−Y)/m has distinct columns at W = 0, so W = 0 trains as well as N(0, 0.01²). "
        "It does apply to hidden units.",
    ),
)

"""``REPORT.md`` from saved results: verdict rows, figures, claims C1–C9, the note's errors.

A verdict is a list of :class:`~initjax.verdict.Row` saved as ``verdict.json`` beside an
experiment's results (:mod:`initjax.verdict`: evidence rows and sanity checks, a claim's
status in words). The report lists evidence rows and sanity checks in separate tables, with
the scale (quick/full, from ``run.json``) each row was measured at; claim statuses count
evidence rows only.
``write_report`` only reads what the experiments saved under ``out_root/<name>/``
(``verdict.json``, ``run.json``, ``error.json``, figures), so the report can be re-made
without training; with ``redraw=True`` it asks each experiment module for its figures and
verdict again (from saved results). Finding and running experiments is :mod:`initjax.study`'s
job; an experiment that was never run, or whose run failed, is reported as such, never skipped.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from initjax import results
from initjax.verdict import (  # re-exported: the report's texts live with the claims
    CLAIM_IDS,
    CLAIM_TEXT,
    NOTE_ERRORS,
    VERDICT,
    Row,
    claim_status,
    counts,
    load_verdict,
    save_verdict,
)

REPORT = "REPORT.md"
ERROR = "error.json"


# ----------------------------------------------------------------------------- collecting


@dataclasses.dataclass
class Entry:
    """What the report knows about one experiment."""

    name: str
    out_dir: Path
    module: ModuleType | None = None
    status: str = "not run"  # done | not run | error
    reason: str = ""
    rows: list[Row] = dataclasses.field(default_factory=list)
    run: dict[str, Any] = dataclasses.field(default_factory=dict)
    figures: list[Path] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def claims(self) -> tuple[str, ...]:
        declared = getattr(self.module, "CLAIMS", None)
        return tuple(declared) if declared else tuple(self.run.get("claims", ()))

    @property
    def scale(self) -> str:
        """The scale its saved rows were measured at (run.json's ``"scale"``), or ``"?"``."""
        return str(self.run.get("scale") or "?")

    @property
    def question(self) -> str:
        return str(getattr(self.module, "QUESTION", "") or self.run.get("question", "")) or "—"


Modules = Mapping[str, "ModuleType | str"]
"""Experiment name → its module, or why it could not be imported (a message)."""


Judge = Callable[[ModuleType, Path], "list[Row]"]
"""Verdict rows of an experiment module from its saved results (``initjax.study.judge``)."""


def collect(
    out_root: str | Path, modules: Modules, redraw: bool = False, judge: Judge | None = None
) -> list[Entry]:
    """One :class:`Entry` per experiment in ``modules`` (extras only when they were run),
    then one per other experiment folder under ``out_root`` with saved results.

    With ``redraw``, figures and verdicts of experiments with saved results are made again
    from those results (no training); a failure there is noted, and the saved ones are kept.
    """
    root = Path(out_root)

    def ran(name: str) -> bool:
        return (root / name / "run.json").exists() or (root / name / ERROR).exists()

    names = [n for n, m in modules.items() if not getattr(m, "EXTRA", False) or ran(n)]
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if p.name not in modules and ran(p.name))
    entries = []
    for name in names:
        e = Entry(name, root / name)
        found = modules.get(name, f"no script {name}.py among the experiments")
        e.module, import_problem = (None, found) if isinstance(found, str) else (found, "")
        err = _read_json(e.out_dir / ERROR)
        if err is not None:
            e.status, e.reason = "error", str(err.get("error", "unknown error"))
            e.run = err
        elif (e.out_dir / VERDICT).exists():
            e.status, e.run = "done", _read_json(e.out_dir / "run.json") or {}
            if redraw and judge is not None:
                _redraw(e, judge)
            try:
                e.rows = load_verdict(e.out_dir)
            except (OSError, ValueError, TypeError) as ex:
                e.status, e.reason = "error", f"verdict.json unreadable: {ex}"
            if import_problem:
                e.notes.append(import_problem)
        elif e.module is None:
            e.status, e.reason = "error", import_problem
        else:
            e.reason = f"no results in {e.out_dir}"
        e.figures = sorted(e.out_dir.glob("*.png")) if e.out_dir.is_dir() else []
        entries.append(e)
    return entries


def _redraw(e: Entry, judge: Judge) -> None:
    if e.module is None or not any(e.out_dir.glob("*.nc")):
        return
    try:
        e.module.figures(e.out_dir)
    except Exception as ex:
        e.notes.append(f"figures not redrawn ({type(ex).__name__}: {ex}); older ones shown")
    try:
        save_verdict(e.out_dir, judge(e.module, e.out_dir))
    except Exception as ex:
        e.notes.append(f"verdict not recomputed ({type(ex).__name__}: {ex}); saved one shown")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def claim_ids(text: str) -> list[str]:
    """Claim ids named in a row's claim text: ``"C2: large σ"`` → ``["C2"]``."""
    return [f"C{i}" for i in sorted(set(re.findall(r"\bC([1-9])\b", text)), key=int)]


# ----------------------------------------------------------------------------- writing


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _anchor(name: str) -> str:
    return f"[{name}](#{name})"  # GitHub's heading anchor of "### name"


def _label(r: Row) -> str:
    """``"agrees"`` for an evidence row, ``"sanity check: pass"`` for a sanity check."""
    return f"sanity check: {r.status}" if r.sanity else r.agreement


def _claims_status(entries: Sequence[Entry]) -> list[list[str]]:
    out = []
    for cid in CLAIM_IDS:
        exps = [e for e in entries if cid in e.claims]
        rows = [
            (e, r)
            for e in entries
            if e.status == "done"
            for r in e.rows
            if cid in claim_ids(r.claim)
        ]
        done = [e for e in exps if e.status == "done"]
        status = claim_status([r for _, r in rows], ran=bool(done))
        missing = [e.name for e in exps if e.status != "done"]
        if missing and status != "not run":
            status += f"; not run: {', '.join(missing)}"
        where = ", ".join(_anchor(e.name) for e in exps) or "—"
        evidence = [
            f"{e.name}: {r.claim} ({r.agreement}, {e.scale})" for e, r in rows if not r.sanity
        ]
        out.append([cid, CLAIM_TEXT[cid], where, "; ".join(evidence) or "—", status])
    return out


def _verdict_rows(entries: Sequence[Entry]) -> list[list[str]]:
    """Evidence rows only, one line per experiment without any."""
    out = []
    for e in entries:
        evidence = [r for r in e.rows if not r.sanity]
        for r in evidence:
            out.append(
                [_anchor(e.name), r.claim, r.anchor, r.source, r.ours, r.agreement, e.scale, r.why]
            )
        if e.status != "done":
            claims = ", ".join(e.claims) or "—"
            scale = e.scale if e.status == "error" else "—"  # error.json names its scale
            out.append([_anchor(e.name), claims, "—", "—", "—", e.status, scale, e.reason])
        elif not evidence:
            claims = ", ".join(e.claims) or "—"
            why = "its rows hold by construction: see Sanity checks" if e.rows else "no rows"
            out.append([_anchor(e.name), claims, "—", "—", "—", "no evidence row", e.scale, why])
    return out


def _sanity_rows(entries: Sequence[Entry]) -> list[list[str]]:
    return [
        [_anchor(e.name), r.claim, r.anchor, r.source, r.ours, r.status, e.scale, r.why]
        for e in entries
        for r in e.rows
        if r.sanity
    ]


BEYOND = (
    "Questions the note does not ask (issue 19): how init must scale with width and depth, "
    "and what it does in residual and convolutional nets. An experiment joins this table by "
    "setting ``BEYOND_NOTE = True``; its rows are in the Verdicts table too, with the papers "
    "they are checked against."
)


def _beyond_rows(entries: Sequence[Entry]) -> list[list[str]]:
    """One line per experiment beyond the note: its question, papers, status, scale."""
    out = []
    for e in entries:
        if not getattr(e.module, "BEYOND_NOTE", False):
            continue
        evidence = [r for r in e.rows if not r.sanity]
        sources = "; ".join(dict.fromkeys(r.source for r in evidence)) or "—"
        status = claim_status(e.rows, ran=e.status == "done") if e.status != "error" else "error"
        scale = e.scale if e.status != "not run" else "—"
        out.append([_anchor(e.name), e.question, sources, status, scale])
    return out


def _note_errors(entries: Sequence[Entry]) -> list[str]:
    lines = []
    for cid, text in NOTE_ERRORS:
        support = [
            f"{e.name}: {r.claim} ({_label(r)})"
            for e in entries
            for r in e.rows
            if cid in claim_ids(r.claim)
        ]
        seen = f" Checked by: {'; '.join(support)}." if support else " (Not yet checked by a run.)"
        lines.append(f"- **{cid}.** {text}{seen}")
    for e in entries:
        for r in e.rows:
            if re.search(r"\bnote\b", r.why, re.IGNORECASE):
                lines.append(
                    f"- {_anchor(e.name)}, *{_cell(r.claim)}* ({_label(r)}): {_cell(r.why)}"
                )
    return lines


def _section(e: Entry, root: Path) -> list[str]:
    scale = e.run.get("scale", "quick")
    out = [f"### {e.name}", "", f"**Question.** {e.question}", ""]
    out.append(f"**Claims.** {', '.join(e.claims) or '—'}  ")
    out.append(f"**Command.** `initjax run {e.name} --{scale}`  ")
    documented = getattr(e.module, "RUNTIME", {}).get(scale, "") if e.module else ""
    if e.status == "done" and "seconds" in e.run:
        measured = f"{e.run['seconds']:.1f} s at {scale} scale (measured)"
        out.append(
            f"**Runtime.** {measured}{f'; documented: {documented}' if documented else ''}  "
        )
    elif documented:
        out.append(f"**Runtime.** documented: {documented}  ")
    if e.status == "done":
        out.append(f"**Scale.** {e.scale}: every row below was measured at this scale  ")
        made = results.recorded_commits(root / e.name)
        if made:
            out.append(
                f"**Made at.** commit {', '.join(f'`{c}`' for c in made)} (the results' "
                "`git_commit`; the script's config may have changed since: see `git log`)  "
            )
    out.append(f"**Status.** {e.status}{f': {e.reason}' if e.reason else ''}")
    out.append("")
    for note in e.notes:
        out += [f"> {note}", ""]
    for fig in e.figures:
        rel = fig.relative_to(root).as_posix()
        out += [f"![{e.name}: {fig.stem}](<{rel}>)", ""]
    if e.rows:
        out += _table(
            ["kind", "claim", "anchor", "source", "ours", "outcome", "why"],
            [[r.kind, r.claim, r.anchor, r.source, r.ours, r.outcome, r.why] for r in e.rows],
        )
        out.append("")
    return out


WORDS = (
    "Each evidence row compares our measurement with its *anchor* (a published or derived "
    "number) and says whether it **agrees**, **disagrees** or is **undecided** at the scale "
    "it was measured at (column *scale*: `quick` is the CI smoke run, `full` the paper-scale "
    "config). The anchor states the claim as published work knows it, not as the note words "
    "it: where the note is wrong, an agreeing row shows it. A claim is **supported** when "
    "every decided evidence row naming it agrees, **contradicted** when every one disagrees, "
    "**mixed** when some do each and **inconclusive** when none is decided; *not run* when no "
    "experiment naming it has results. *Sanity checks* hold by construction (they check the "
    "code, not the claim): they are listed apart and never count toward a claim's status; a "
    "failing one is a bug."
)


def render(entries: Sequence[Entry], root: Path) -> str:
    rows = [r for e in entries for r in e.rows]
    done = sum(e.status == "done" for e in entries)
    scales = sorted({e.scale for e in entries if e.status == "done"})
    sanity = _sanity_rows(entries)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# initjax: reproduction report",
        "",
        f"Generated {now} from the results under this folder (commit "
        f"`{results.git_commit()[:12]}`; scale: {', '.join(scales) or '—'}). "
        "Re-make it without training: `initjax report " + root.as_posix() + "`.",
        "",
        f"**{done} of {len(entries)} experiments have results; {counts(rows)}.**",
        "",
        WORDS,
        "",
        "## Claims C1–C9",
        "",
        *_table(
            ["claim", "the note says", "experiments", "evidence rows", "status"],
            _claims_status(entries),
        ),
        "",
        "## Verdicts",
        "",
        "Evidence rows only; the sanity checks follow in their own table.",
        "",
        *_table(
            ["experiment", "claim", "anchor", "source", "ours", "vs anchor", "scale", "why"],
            _verdict_rows(entries),
        ),
        "",
        "## Sanity checks (hold by construction)",
        "",
        "They check the code, not the science (a sampled variance against the formula it was "
        "drawn from, a Monte-Carlo prediction of the very quantity measured); a claim's status "
        "does not count them.",
        "",
        *(
            _table(
                ["experiment", "check", "expected", "source", "ours", "status", "scale", "why"],
                sanity,
            )
            if sanity
            else ["No sanity checks among the saved verdicts."]
        ),
        "",
        "## What the note got wrong",
        "",
        *_note_errors(entries),
        "",
        "## Beyond the note",
        "",
        BEYOND,
        "",
        *(
            _table(["experiment", "question", "checked against", "status", "scale"], beyond)
            if (beyond := _beyond_rows(entries))
            else ["No experiment beyond the note."]
        ),
        "",
        "## Experiments",
        "",
    ]
    for e in entries:
        lines += _section(e, root)
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    out_root: str | Path, modules: Modules, redraw: bool = False, judge: Judge | None = None
) -> Path:
    """Write ``out_root/REPORT.md`` from saved results (``redraw``: figures and, through
    ``judge``, verdicts too)."""
    root = Path(out_root)
    entries = collect(root, modules, redraw=redraw, judge=judge)
    return results.write_text(root / REPORT, render(entries, root))

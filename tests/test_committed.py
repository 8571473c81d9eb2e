"""Every committed full-scale result under docs/ is judged again, from its saved results, by
the current script, and must give back the verdict committed beside it: a change to a verdict
rule shows up here until the committed verdict (and REPORT.md) is regenerated with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from initjax import study
from initjax.verdict import load_verdict

DOCS = Path(__file__).resolve().parents[1] / "docs"
COMMITTED = sorted(p.parent.name for p in DOCS.glob("*/verdict.json"))


def test_the_committed_runs_are_there():
    assert len(COMMITTED) >= 16 and {"edge_of_chaos", "lsuv_trained", "symmetry"} <= set(COMMITTED)


@pytest.mark.parametrize("name", COMMITTED)
def test_the_committed_verdict_is_what_the_script_judges_now(name):
    rows = study.judge(study.load(name), DOCS / name)
    saved = load_verdict(DOCS / name)
    assert [(r.claim, r.kind, r.passed) for r in rows] == [
        (r.claim, r.kind, r.passed) for r in saved
    ]
    assert rows == saved


def test_exact_identities_are_sanity_checks_not_evidence():
    kinds = {
        r.claim: r.kind for n in ("symmetry", "schemes_mnist1d") for r in load_verdict(DOCS / n)
    }
    assert kinds["C1 (MLP, constant W): hidden units stay identical"] == "sanity"
    assert kinds["C1 (ReLU MLP, W = 0): no kernel moves"] == "sanity"
    assert kinds["C1: an all-zero ReLU MLP cannot learn"] == "sanity"
    assert kinds["C1 (MLP, constant W): a one-unit net learns less"] == "evidence"


def test_the_report_names_the_commit_each_committed_run_was_made_at():
    text = (DOCS / "REPORT.md").read_text()
    section = text[text.index("### edge_of_chaos") :]
    assert "**Made at.** commit `6f758a1`" in section.split("### ", 2)[1]

"""Verdict rows and claim words: evidence vs sanity checks, supported/contradicted/mixed/..."""

import json

import pytest

from initjax import verdict
from initjax.verdict import Row, claim_status, counts


def row(passed, kind="evidence", claim="C2: something"):
    return Row(claim, "anchor", "source", "ours", passed, "why", kind=kind)


AGREE, DISAGREE, UNDECIDED = row(True), row(False), row(None)
SANITY, SANITY_FAIL = row(True, "sanity"), row(False, "sanity")


def test_a_row_is_evidence_unless_it_says_sanity():
    assert AGREE.kind == "evidence" and not AGREE.sanity
    assert SANITY.sanity
    with pytest.raises(ValueError, match="unknown verdict row kind 'proof'; valid choices: "
                       "evidence, sanity"):  # fmt: skip
        row(True, kind="proof")


def test_status_words_stay_and_agreement_words_say_the_same():
    assert [r.status for r in (AGREE, DISAGREE, UNDECIDED)] == ["pass", "FAIL", "n/a"]
    assert [r.agreement for r in (AGREE, DISAGREE, UNDECIDED)] == [
        "agrees",
        "disagrees",
        "undecided",
    ]
    assert AGREE.outcome == "agrees" and SANITY.outcome == "pass"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([AGREE, AGREE, AGREE, SANITY, SANITY],
         "supported (3 of 3 evidence rows agree; 2 sanity checks pass)"),
        ([DISAGREE, DISAGREE], "contradicted (2 of 2 evidence rows disagree)"),
        ([AGREE, DISAGREE, UNDECIDED],
         "mixed (1 agree, 1 disagree of 3 evidence rows, 1 undecided)"),
        ([UNDECIDED, SANITY], "inconclusive (1 of 1 evidence rows undecided at this scale; "
         "1 sanity check passes)"),
        ([SANITY, SANITY], "inconclusive (no evidence row; 2 sanity checks pass)"),
        ([AGREE, UNDECIDED], "supported (1 of 2 evidence rows agree, 1 undecided)"),
    ],
)  # fmt: skip
def test_claim_words_count_evidence_rows_only(rows, expected):
    assert claim_status(rows) == expected


def test_sanity_checks_never_decide_a_claim():
    # A failing sanity check is a bug to fix, not evidence against the claim.
    assert claim_status([AGREE, SANITY_FAIL]) == (
        "supported (1 of 1 evidence rows agree; sanity checks: 1 FAIL (a bug, not a finding))"
    )
    assert claim_status([SANITY_FAIL, SANITY_FAIL]).startswith("inconclusive (no evidence row")
    assert claim_status([DISAGREE, SANITY, SANITY_FAIL]) == (
        "contradicted (1 of 1 evidence rows disagree; sanity checks: 1 pass, 1 FAIL (a bug, "
        "not a finding))"
    )


def test_not_run_only_without_results_and_rows():
    assert claim_status([], ran=False) == "not run"
    assert claim_status([], ran=True) == "inconclusive (no evidence row)"
    assert claim_status([AGREE], ran=False).startswith("supported")


def test_counts_split_evidence_from_sanity():
    assert counts([AGREE, AGREE, DISAGREE, UNDECIDED, SANITY, SANITY]) == (
        "4 evidence rows: 2 agree, 1 disagrees, 1 undecided; 2 sanity checks pass"
    )
    assert counts([AGREE]) == "1 evidence row: 1 agrees, 0 disagree, 0 undecided"


def test_console_line_marks_sanity_checks():
    assert verdict.line(AGREE) == "  [pass] C2: something: ours ours; anchor anchor"
    assert verdict.line(SANITY_FAIL).startswith("  [FAIL] C2: something (sanity check): ")


def test_verdicts_round_trip_and_old_files_without_kind_load_as_evidence(tmp_path):
    verdict.save_verdict(tmp_path, [AGREE, SANITY])
    assert verdict.load_verdict(tmp_path) == [AGREE, SANITY]
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert [r["kind"] for r in saved] == ["evidence", "sanity"]
    for r in saved:
        del r["kind"]  # as written before rows had a kind
    (tmp_path / "verdict.json").write_text(json.dumps(saved))
    assert [r.kind for r in verdict.load_verdict(tmp_path)] == ["evidence", "evidence"]


@pytest.mark.parametrize(
    "outcomes, expected",
    [((True, True), True), ((True, None), None), ((None, False), False), ((True, False), False),
     ((None,), None), ((), None)],
)  # fmt: skip
def test_all_of_is_a_three_valued_and(outcomes, expected):
    assert verdict.all_of(*outcomes) is expected

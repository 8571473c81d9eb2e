"""REPORT.md from saved results: claims C1–C9, verdicts, figures, the note's errors, failures."""

import re
import types

from initjax import report, results, study
from initjax.report import Row

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
D2L_ROWS = [
    Row("d2l reproduction (σ = 0.01)", "loss ≈ 0.447", "d2l", "0.446 ± 0.001", True, "ok"),
    Row(
        "C1 (softmax): W = 0 breaks nothing",
        "within 0.5 points",
        "convexity",
        "0.83 vs 0.83",
        True,
        "the note's symmetry argument does not apply to softmax regression",
    ),
    Row("C2: large σ saturates | at start", "loss ≫ ln 10", "formula", "9.1 ± 0.3", False, "no"),
    Row("C4: small σ keeps logits small", "within 10%", "Var(xᵀw)", "0.98–1.01", None, "quick"),
]


def fake_runs(root, name="d2l_softmax", rows=D2L_ROWS, seconds=12.5):
    out = root / name
    out.mkdir(parents=True)
    report.save_verdict(out, rows)
    results.write_json(out / "run.json", {"name": name, "scale": "quick", "seconds": seconds})
    (out / f"{name}.png").write_bytes(PNG)
    return out


def claims_table(text):
    section = text.split("## Claims C1–C9")[1].split("\n## ")[0]
    return {m[0]: m for m in re.findall(r"^\| (C\d) \|(.*)$", section, re.MULTILINE)}


def test_report_from_one_experiment_marks_the_rest_not_run(tmp_path):
    fake_runs(tmp_path)
    path = study.report(tmp_path)
    text = path.read_text()
    assert path == tmp_path / "REPORT.md"
    claims = claims_table(text)
    assert sorted(claims) == [f"C{i}" for i in range(1, 10)]
    for cid in ("C3", "C5", "C6", "C7", "C8", "C9"):
        assert claims[cid][1].rstrip(" |").endswith("not run"), claims[cid]
    c2 = claims["C2"][1]
    assert "contradicted (1 of 1 evidence rows disagree)" in c2
    assert "not run: d2l_mlp, saturation" in c2
    assert "supported (1 of 1 evidence rows agree)" in claims["C1"][1]
    # Every linked figure exists, relative to the report.
    links = re.findall(r"!\[[^\]]*\]\(<?([^)>]+)>?\)", text)
    assert links == ["d2l_softmax/d2l_softmax.png"]
    assert all((tmp_path / link).is_file() for link in links)
    # The verdict table: the rows of d2l_softmax, then one "not run" row per other experiment.
    verdicts = text.split("## Verdicts")[1].split("\n## ")[0]
    assert "large σ saturates \\| at start" in verdicts  # a "|" in a cell is escaped
    others = study.names(include_extra=False)[1:]
    assert "symmetry" in others and "throughput" not in others
    for name in others:
        assert re.search(rf"^\| \[{name}\]\(#{name}\) \|.*\| not run \|", verdicts, re.M)
    assert "12.5 s at quick scale (measured)" in text
    assert "`initjax run d2l_softmax --quick`" in text


def test_what_the_note_got_wrong_lists_known_errors_and_rows_that_say_so(tmp_path):
    fake_runs(tmp_path)
    text = study.report(tmp_path).read_text()
    wrong = text.split("## What the note got wrong")[1].split("\n## ")[0]
    assert "1/(n_in+n_out)" in wrong and "2/(n_in+n_out)" in wrong
    assert "does not apply to softmax regression" in wrong
    assert "d2l_softmax: C1 (softmax): W = 0 breaks nothing (agrees)" in wrong
    assert "(Not yet checked by a run.)" in wrong  # C5: nothing ran that names it


def test_report_redraws_figures_and_verdicts_from_saved_results(tmp_path):
    out = fake_runs(tmp_path)
    (out / "results.nc").write_bytes(b"")  # "saved results" for the fake module below
    calls = []

    def figures(out_dir):
        calls.append("figures")
        (out_dir / "new.png").write_bytes(PNG)
        return [out_dir / "new.png"]

    def load(out_dir):
        calls.append("load")
        return {"saved": 1}

    def measure(saved):
        return {"value": saved["saved"]}

    def verdict(m):
        calls.append("verdict")
        return [Row("C4: redrawn", "a", "s", str(m["value"]), True, "from saved results")]

    fake = types.ModuleType("d2l_softmax")
    fake.__dict__.update(
        NAME="d2l_softmax",
        QUESTION="why?",
        CLAIMS=("C4",),
        RUNTIME={},
        figures=figures,
        load=load,
        measure=measure,
        verdict=verdict,
    )
    modules = {"d2l_softmax": fake}
    text = report.write_report(tmp_path, modules, redraw=True, judge=study.judge).read_text()
    assert calls == ["figures", "load", "verdict"]
    assert "(d2l_softmax/new.png)" in text.replace("<", "(").replace(">", ")")
    assert "C4: redrawn" in text
    assert "supported (1 of 1 evidence rows agree)" in claims_table(text)["C4"][1]
    assert report.load_verdict(out)[0].claim == "C4: redrawn"


def test_claim_ids_come_from_the_claim_text():
    assert report.claim_ids("C2: large σ") == ["C2"]
    assert report.claim_ids("C1 (softmax) and C6") == ["C1", "C6"]
    assert report.claim_ids("Linear-model ceiling, C10 no") == []


def test_report_over_this_sessions_quick_runs(quick_runs):
    """The real thing, without extra training: whatever experiments this test session ran
    (the experiment tests come first in a full run) are reported, the rest marked as such."""
    text = study.report(quick_runs.root).read_text()
    assert sorted(claims_table(text)) == [f"C{i}" for i in range(1, 10)]
    links = re.findall(r"!\[[^\]]*\]\(<([^>]+)>\)", text)
    assert all((quick_runs.root / link).is_file() for link in links)
    for name in study.names():
        if (quick_runs.root / name / "verdict.json").exists():
            rows = report.load_verdict(quick_runs.root / name)
            assert all(_cell_text(r.claim) in text for r in rows)
            assert f"{name}/" in "".join(links) or not list((quick_runs.root / name).glob("*.png"))


def _cell_text(value):
    return " ".join(str(value).split()).replace("|", "\\|")


def test_sanity_checks_are_listed_apart_and_claims_count_evidence_only(tmp_path):
    sanity = Row("C4: logit RMS = σ·√E‖x‖²", "within 10%", "Var(xᵀw)", "1.00", True, "formula",
                 kind="sanity")  # fmt: skip
    fake_runs(tmp_path, rows=[*D2L_ROWS, sanity])
    checks = Row("C5: Var = 2/(n_in+n_out)", "±2%", "Glorot", "2.00", True, "drawn", "sanity")
    fake_runs(tmp_path, name="variance_formulas", rows=[checks], seconds=3.0)
    results.write_json(
        tmp_path / "variance_formulas" / "run.json",
        {"name": "variance_formulas", "scale": "full", "seconds": 3.0},
    )
    text = study.report(tmp_path).read_text()
    assert "4 evidence rows: 2 agree, 1 disagrees, 1 undecided; 2 sanity checks pass" in text
    claims = claims_table(text)
    assert claims["C5"][1].endswith("| inconclusive (no evidence row; 1 sanity check passes) |")
    c4 = "| inconclusive (1 of 1 evidence rows undecided at this scale; 1 sanity check passes)"
    assert c4 in claims["C4"][1]
    assert "C4: logit RMS" not in claims["C4"][1]  # a sanity check is no evidence row
    verdicts = text.split("## Verdicts")[1].split("\n## ")[0]
    sanity_part = text.split("## Sanity checks (hold by construction)")[1].split("\n## ")[0]
    assert "C4: logit RMS" not in verdicts and "C4: logit RMS" in sanity_part
    assert "C5: Var" not in verdicts and "C5: Var" in sanity_part
    # Each row says whether ours agrees with its anchor, and at which scale it was measured.
    assert re.search(r"\| C2: large σ .*\| disagrees \| quick \|", verdicts)
    assert re.search(r"\| C4: small σ .*\| undecided \| quick \|", verdicts)
    assert re.search(r"\| C5: Var .*\| pass \| full \|", sanity_part)
    assert re.search(r"^\| \[variance_formulas\].*\| no evidence row \| full \|", verdicts, re.M)
    # The experiment's own table keeps both kinds, each labelled.
    section = text.split("### d2l_softmax")[1].split("\n### ")[0]
    assert "| sanity | C4: logit RMS" in section and "| evidence | C2: large σ" in section
    assert "**Scale.** quick" in section


def test_experiments_beyond_the_note_get_their_own_table_with_status_and_scale(tmp_path):
    rows = [
        Row(
            "µP: the best lr transfers across width",
            "drift ≤ 1 grid step",
            "Yang 2022",
            "0 steps",
            True,
            "fits",
        ),
        Row(
            "SP: the best lr drifts with width",
            "drift ≥ 1 step",
            "Yang 2022",
            "0 steps",
            False,
            "no drift",
        ),
        Row("Sanity: µP tables", "exact", "Yang 2021", "exact", True, "by construction", "sanity"),
    ]
    fake_runs(tmp_path, name="width_transfer", rows=rows)
    text = study.report(tmp_path).read_text()
    part = text.split("## Beyond the note")[1].split("\n## ")[0]
    assert study.load("width_transfer").BEYOND_NOTE and not hasattr(
        study.load("d2l_softmax"), "BEYOND_NOTE"
    )
    lines = {m[0]: m for m in re.findall(r"^\| \[(\w+)\]\(#\w+\) \|(.*)$", part, re.M)}
    assert set(lines) == {"width_transfer", "residual_depth", "deep_cnn"}
    assert (
        "mixed (1 agree, 1 disagree of 2 evidence rows; 1 sanity check passes)"
        in (lines["width_transfer"][1])
    )
    assert (
        "Yang 2022" in lines["width_transfer"][1] and "Yang 2021" not in lines["width_transfer"][1]
    )
    assert lines["width_transfer"][1].rstrip(" |").endswith("| quick")
    assert re.search(r"\| not run \| — \|$", "|" + lines["deep_cnn"][1])

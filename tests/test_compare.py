"""Issue 12 §5: imgconf compare — regressions, progressions, new and removed cases; exit 1 on a regression."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import imgconf_in_process  # the command's output and exit code; no child process needed
from report_demo import demo_run

from imgconf.compare import compare
from imgconf.report import build_summary
from imgconf.results import CaseResult, CheckResult, Level, Verdict


def _case(name: str, verdict: Verdict | None, *, error: str | None = None) -> CaseResult:
    checks = [CheckResult("status", ["IS-001"], Level.SHALL, verdict, "why")] if verdict else []
    return CaseResult(suite_id="s", suite="S", case=name, nodeid=f"s::{name}", area="a", requirement=["IS-001"],
                      level=Level.SHALL, checks=checks, error=error)


def _write(path: Path, cases: list[CaseResult]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps(build_summary(demo_run(), cases)), encoding="utf-8")
    return path


OLD = [_case("steady", Verdict.PASS), _case("breaks", Verdict.PASS), _case("heals", Verdict.FAIL),
       _case("hiccup", Verdict.PASS), _case("gone", Verdict.PASS), _case("info-now", Verdict.PASS)]
NEW = [_case("steady", Verdict.PASS), _case("breaks", Verdict.FAIL), _case("heals", Verdict.PASS),
       _case("hiccup", None, error="ConnectError: refused"), _case("added", Verdict.WARN), _case("info-now", Verdict.INFO)]


def test_compare_classifies_every_change() -> None:
    result = compare(build_summary(demo_run(), OLD), build_summary(demo_run(), NEW))
    assert [c.key for c in result.regressions] == ["s :: breaks"]
    assert [c.key for c in result.progressions] == ["s :: heals"]
    assert [(c.key, c.old, c.new) for c in result.not_judged] == [("s :: hiccup", "pass", "error")]  # no regression
    assert [c.key for c in result.new_cases] == ["s :: added"]
    assert [c.key for c in result.removed_cases] == ["s :: gone"]
    assert result.unchanged == 2 and not result.ok  # pass → info is no change in conformance


def test_cli_exit_1_on_regression_0_without(tmp_path: Path) -> None:
    old, new = _write(tmp_path / "old", OLD), _write(tmp_path / "new", NEW)
    regressed = imgconf_in_process("compare", str(old), str(new / "summary.json"), "--json", str(tmp_path / "c.json"))
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    assert "REGRESSION: s :: breaks [IS-001]: pass → fail" in regressed.stdout
    assert "1 regression(s), 1 progression(s), 1 judged in one run only, 1 new, 1 removed, 2 unchanged" in regressed.stdout
    assert json.loads((tmp_path / "c.json").read_text())["outcome"] == "regression"
    healed = imgconf_in_process("compare", str(new), str(old))
    # the other way round: 'heals' regresses (pass → fail)
    assert healed.returncode == 1 and "REGRESSION: s :: heals" in healed.stdout
    same = imgconf_in_process("compare", str(old), str(old))
    assert same.returncode == 0 and "0 regression(s)" in same.stdout


def test_cli_refuses_a_file_that_is_not_a_summary(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text("[1, 2]")
    proc = imgconf_in_process("compare", str(bogus), str(bogus))
    assert proc.returncode == 2 and "not an imgconf summary.json" in proc.stdout


def _with_id(case: CaseResult, case_id: str) -> CaseResult:
    case.case_id = case_id
    return case


def test_a_reworded_case_is_matched_by_its_id() -> None:
    old = [_with_id(_case("uid search finds the study", Verdict.PASS), "uid-search"),
           _with_id(_case("modality search", Verdict.PASS), "modality")]
    new = [_with_id(_case("a search by study UID finds the study", Verdict.FAIL), "uid-search"),
           _with_id(_case("modality search", Verdict.PASS), "modality-by-code")]  # a new id is a new case
    result = compare(build_summary(demo_run(), old), build_summary(demo_run(), new))
    assert [c.key for c in result.regressions] == ["s :: a search by study UID finds the study (was 'uid search finds the study')"]
    # Same name, different ids: two cases, not one matched by name.
    assert [c.key for c in result.new_cases] == ["s :: modality search"]
    assert [c.key for c in result.removed_cases] == ["s :: modality search"]


def test_a_summary_written_before_case_ids_is_matched_by_name() -> None:
    old = build_summary(demo_run(), [_case("steady", Verdict.PASS), _case("breaks", Verdict.PASS)])
    for entry in old["cases"]:
        entry.pop("case_id")  # as summary.json was before case ids
    new = build_summary(demo_run(), [_with_id(_case("steady", Verdict.PASS), "steady-id"),
                                     _with_id(_case("breaks", Verdict.FAIL), "breaks-id")])
    result = compare(old, new)
    assert [c.key for c in result.regressions] == ["s :: breaks"]
    assert result.unchanged == 1 and not result.new_cases and not result.removed_cases

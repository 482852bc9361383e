"""Issue 12 §1: outcomes that cannot mislead — PARTIAL for a selection, INCOMPLETE for infrastructure
errors (with the shared cause, and an early stop when the target cannot be reached), one set of counts."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hostile_support import IMGCONF
from imgconf.paths import suites_dir
from imgconf.report import build_summary
from report_demo import demo_run
from imgconf.report.html import render_html
from imgconf.report.outcome import UNREACHABLE_AFTER, UnreachableGuard, decide
from imgconf.results import CaseResult, CheckResult, Exchange, Level, Verdict

SEARCH_BASIC = suites_dir() / "imagingstudy" / "search-basic.yaml"
SEARCH_DATES = suites_dir() / "imagingstudy" / "search-dates.yaml"


def _case(name: str, checks: list[CheckResult] | None = None, **kw) -> CaseResult:
    return CaseResult(suite_id="s", suite="Suite", case=name, nodeid=name, area="a", requirement=["IS-001"],
                      level=Level.SHALL, checks=checks or [], **kw)


def _refused(name: str) -> CaseResult:
    ex = Exchange("GET", "http://127.0.0.1:9/fhir/ImagingStudy", {}, None, None, {}, None, 1.0,
                  error="ConnectError: [Errno 111] Connection refused")
    return _case(name, error="GET http://127.0.0.1:9/fhir/ImagingStudy: ConnectError: [Errno 111] Connection refused",
                 exchanges=[ex])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_selection_makes_a_passing_run_partial_never_pass() -> None:
    ok = [_case("a", [CheckResult("status", ["IS-001"], Level.SHALL, Verdict.PASS, "ok")])]
    assert decide(ok, selection={}, interrupted=False) == "pass"
    assert decide(ok, selection={"marker": "shall"}, interrupted=False) == "partial"
    assert decide(ok, selection={"read_only": True}, interrupted=True) == "interrupted"
    failed = ok + [_case("b", [CheckResult("status", ["IS-001"], Level.SHALL, Verdict.FAIL, "500")])]
    assert decide(failed, selection={"marker": "shall"}, interrupted=False) == "fail"
    # a SHOULD warning alone does not fail the run, and a selection still says PARTIAL
    warned = ok + [_case("c", [CheckResult("header", ["REST-011"], Level.SHOULD, Verdict.WARN, "no ETag")])]
    assert decide(warned, selection={"suites": ["x"]}, interrupted=False) == "partial"
    assert decide(warned, selection={}, interrupted=False, strict_should=True) == "fail"  # as the exit status says


def test_guard_trips_only_on_consecutive_connection_failures() -> None:
    guard = UnreachableGuard()
    for i in range(UNREACHABLE_AFTER - 1):
        guard.observe(_refused(f"r{i}"))
    guard.observe(_case("ok", [CheckResult("status", ["IS-001"], Level.SHALL, Verdict.PASS, "ok")]))
    assert not guard.tripped  # a success in between resets the streak
    timeout = _case("t", error="GET x: ReadTimeout: slow", exchanges=[
        Exchange("GET", "x", {}, None, None, {}, None, 1.0, error="ReadTimeout: slow")])
    for i in range(UNREACHABLE_AFTER):
        guard.observe(timeout)
    assert not guard.tripped  # a slow answer is not an unreachable target
    for i in range(UNREACHABLE_AFTER):
        guard.observe(_refused(f"r{i}"))
    assert guard.tripped and "Connection refused" in guard.not_run_reason()


def test_incomplete_banner_names_the_shared_cause() -> None:
    cases = [_refused(f"r{i}") for i in range(3)] + [_case("n", skipped_reason="not run: target unreachable (…)")]
    summary = build_summary(demo_run(), cases)
    assert summary["outcome"] == "incomplete"
    assert summary["incomplete"]["cause"] == "ConnectError: [Errno 111] Connection refused"
    assert summary["incomplete"]["cases_with_cause"] == 3 and summary["incomplete"]["not_run_unreachable"] == 1
    html = render_html(demo_run(), cases)
    assert 'class="badge outcome-incomplete"' in html
    assert "INCOMPLETE: 3 case(s) hit an infrastructure error and 1 were not run" in html
    assert "ConnectError: [Errno 111] Connection refused" in html


@pytest.mark.slow
def test_run_of_a_selection_is_partial_everywhere(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    proc = subprocess.run([*IMGCONF, "run", "--suites", str(SEARCH_BASIC), "-m", "shall", "-k", "not nonexistent",
                           "--reports-dir", str(reports)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["outcome"] == "partial", out[-2000:]
    assert summary["selection"] == {"marker": "shall", "keyword": "not nonexistent"}
    assert "outcome: PARTIAL" in out and "selection: -m 'shall'; -k 'not nonexistent'" in out
    html = (reports / "report.html").read_text()
    assert 'class="badge outcome-partial"' in html and "PARTIAL: only a selection ran" in html
    # one set of counts: the console's case line and the HTML's Cases row come from summary.json
    cases = summary["totals"]["cases"]
    for verdict, n in cases.items():
        if n:
            assert f"{n} {verdict}" in out


@pytest.mark.slow
def test_unreachable_target_stops_early_and_is_incomplete(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    started = time.monotonic()
    proc = subprocess.run([*IMGCONF, "run", "--target", f"http://127.0.0.1:{_free_port()}/fhir",
                           "--suites", str(SEARCH_BASIC), "--suites", str(SEARCH_DATES),
                           "--reports-dir", str(reports)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    out = proc.stdout + proc.stderr
    summary = json.loads((reports / "summary.json").read_text())
    assert proc.returncode != 0 and summary["outcome"] == "incomplete", out[-2000:]
    inc = summary["incomplete"]
    assert inc["errors"] == UNREACHABLE_AFTER and inc["cause"].startswith("ConnectError")
    assert inc["not_run_unreachable"] == len(summary["cases"]) - UNREACHABLE_AFTER > 20
    assert "outcome: INCOMPLETE" in out and "cause: ConnectError" in out
    assert elapsed < 120


def test_cases_that_never_ran_report_no_finding() -> None:
    never = _refused("r")
    never.requirement = ["IS-001", "FIND-14"]
    skipped = _case("s", skipped_reason="not run: target unreachable (…)")
    skipped.requirement = ["FIND-05"]
    summary = build_summary(demo_run(), [never, skipped])
    assert summary["findings"] == []
    assert "No check reported a specification finding." in render_html(demo_run(), [never, skipped])

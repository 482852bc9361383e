"""summary.json: totals, per-requirement verdicts, findings, coverage, determinism."""

from __future__ import annotations

import json
import random
from pathlib import Path

from imgconf import catalogue
from imgconf.report import build_summary, write_summary
from report_demo import demo_cases, demo_run
from imgconf.results import CaseResult, CheckResult, Exchange, Level, Verdict


def _case(nodeid: str, checks: list[CheckResult], **kw) -> CaseResult:
    return CaseResult(suite_id="s", suite="Suite", case=nodeid, nodeid=nodeid, area="a",
                      requirement=kw.pop("requirement", ["IS-001"]), level=Level.SHALL, checks=checks, **kw)


def test_totals_and_outcome() -> None:
    s = build_summary(demo_run(), demo_cases())
    assert s["outcome"] == "fail"
    t = s["totals"]
    assert t["checks"] == {"pass": 3, "fail": 1, "warn": 1, "info": 1, "skip": 0, "not-judged": 0, "error": 0}
    assert t["checks_by_level"]["SHALL"] == {"pass": 3, "fail": 1, "warn": 0, "info": 1, "skip": 0, "not-judged": 0, "error": 0}
    assert t["checks_by_level"]["SHOULD"]["warn"] == 1
    assert sum(t["checks_by_level"]["MAY"].values()) == 0
    assert t["cases"] == {"pass": 1, "fail": 1, "warn": 1, "info": 1, "skip": 1, "not-judged": 0, "error": 1}
    assert s["run"]["server_software"] == "ExamplePACS FHIR Gateway"
    assert s["catalogue"]["requirements"] == len(catalogue.requirements())


def test_requirements_worst_verdict_and_catalogue_order() -> None:
    s = build_summary(demo_run(), demo_cases())
    reqs = s["requirements"]
    assert list(reqs) == ["IS-051", "IS-053", "IS-056", "REST-010", "REST-011", "SMART-013", "SMART-022"]
    is051 = reqs["IS-051"]
    assert is051["verdict"] == "fail" and is051["counts"]["pass"] == 1 and is051["counts"]["fail"] == 1
    assert is051["level"] == "SHALL" and is051["title"].startswith("A Study-UID search uses the token form")
    assert is051["cases"] == ["suites/imagingstudy-search.yaml::study-uid-token"]
    # Cases that never produced a check still show under their requirements.
    assert reqs["IS-056"]["verdict"] == "skip" and reqs["SMART-013"]["verdict"] == "error"
    # A check naming its own requirement is filed there, not under the case's.
    assert reqs["REST-010"]["verdict"] == "pass" and reqs["REST-011"]["verdict"] == "warn"
    assert "FIND-14" not in reqs


def test_flat_checks_and_cases_without_bodies() -> None:
    s = build_summary(demo_run(), demo_cases())
    assert len(s["checks"]) == 6
    first = s["checks"][0]
    assert set(first) == {"suite_id", "suite", "case", "case_id", "nodeid", "check", "requirement", "level",
                          "verdict", "reason", "detail"}
    # Sorted by suite id, then node id.
    assert [c["verdict"] for c in s["cases"]] == ["pass", "fail", "skip", "warn", "error", "info"]
    by_id = {c["nodeid"]: c for c in s["cases"]}
    uid = by_id["suites/imagingstudy-search.yaml::study-uid-token"]
    assert uid["verdict"] == "fail" and uid["checks"] == 2
    assert set(uid["exchanges"][0]) == {"method", "url", "status", "elapsed_ms", "error"}
    assert "searchset" not in json.dumps(s)  # no response bodies in the summary
    assert by_id["suites/smart-backend.yaml::replay-jti"]["error"].startswith("ConnectError")


def test_findings_reported_by_checks() -> None:
    s = build_summary(demo_run(), demo_cases())
    assert [f["id"] for f in s["findings"]] == ["FIND-05", "FIND-14"]
    f14 = s["findings"][1]
    assert f14["title"] == "DICOM UID encoding in identifiers is inconsistent"
    assert f14["reported_by"][0]["nodeid"] == "suites/imagingstudy-search.yaml::study-uid-token"


def test_coverage_lists_uncited_mandatory_v_or_s_requirements() -> None:
    s = build_summary(demo_run(), demo_cases())
    cov = s["coverage"]
    assert "IS-001" in cov and "IS-011" in cov  # SHALL V, SHALL NOT V
    assert "IS-051" not in cov and "SMART-022" not in cov  # cited
    assert "IS-056" in cov  # only a skipped case named it: not exercised
    assert "IS-047" not in cov  # SHALL but client-only (C)
    assert "IS-012" not in cov  # SHOULD
    in_scope = s["totals"]["coverage"]["in_scope"]
    assert in_scope > 170  # the catalogue grows; the arithmetic must hold whatever its size
    assert s["totals"]["coverage"] == {"in_scope": in_scope, "cited": in_scope - len(cov), "not_cited": len(cov)}


def test_outcome_pass_without_fail_or_error() -> None:
    cases = [
        _case("a", [CheckResult("status", ["IS-001"], Level.SHALL, Verdict.PASS, "ok")]),
        _case("b", [CheckResult("header", ["REST-011"], Level.SHOULD, Verdict.WARN, "no ETag")]),
        _case("c", [], skipped_reason="not declared"),
    ]
    assert build_summary(demo_run(), cases)["outcome"] == "pass"
    cases.append(_case("d", [], error="GET http://x/ImagingStudy: ReadTimeout: timed out"))
    # an infrastructure error is no FAIL (nothing was judged) but never PASS either
    summary = build_summary(demo_run(), cases)
    assert summary["outcome"] == "incomplete"
    assert summary["incomplete"] == {"cause": "ReadTimeout: timed out", "cases_with_cause": 1, "errors": 1,
                                     "not_run_unreachable": 0}
    cases.append(_case("e", [CheckResult("status", ["IS-001"], Level.SHALL, Verdict.FAIL, "500")]))
    assert build_summary(demo_run(), cases)["outcome"] == "fail"  # a SHALL failure is FAIL whatever else


def test_unknown_requirement_ids_are_flagged() -> None:
    cases = [_case("a", [CheckResult("rule", ["XX-999"], Level.SHOULD, Verdict.WARN, "typo id")])]
    req = build_summary(demo_run(), cases)["requirements"]["XX-999"]
    assert req["known"] is False and req["level"] == "SHOULD" and req["title"] == ""


def test_check_without_requirement_inherits_the_case() -> None:
    cases = [_case("a", [CheckResult("status", [], Level.SHALL, Verdict.PASS, "ok")], requirement=["IS-020"])]
    s = build_summary(demo_run(), cases)
    assert s["checks"][0]["requirement"] == ["IS-020"] and "IS-020" in s["requirements"]


def test_deterministic_regardless_of_worker_order(tmp_path: Path) -> None:
    cases = demo_cases()
    write_summary(tmp_path / "a.json", demo_run(), cases)
    shuffled = cases[:]
    random.Random(7).shuffle(shuffled)
    write_summary(tmp_path / "b.json", demo_run(), shuffled)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_written_file_round_trips_and_is_redacted(tmp_path: Path) -> None:
    secret = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnLXN1bW1hcnk"
    case = _case(
        "leaky",
        [CheckResult("status", ["SMART-015"], Level.SHALL, Verdict.FAIL,
                     f"token endpoint echoed Authorization: Bearer {secret}",
                     f'{{"access_token": "{secret}"}}', 0)],
        requirement=["SMART-015"],
        exchanges=[Exchange("GET", f"https://h/fhir/Patient?access_token={secret}",
                            {"Authorization": f"Bearer {secret}"}, None, 200, {}, "{}", 1.0)],
    )
    run = demo_run()
    run.options = {"client_secret": secret, "nested": {"note": f"Bearer {secret}"}}
    path = tmp_path / "out" / "summary.json"
    write_summary(path, run, [case])
    text = path.read_text(encoding="utf-8")
    assert secret not in text
    data = json.loads(text)
    assert data["outcome"] == "fail" and data["requirements"]["SMART-015"]["verdict"] == "fail"


def test_the_summary_is_what_summary_json_reads_back() -> None:
    """junit and allure are written from the summary in memory: it must be what summary.json holds."""
    from imgconf.report.indented import indented_json

    summary = build_summary(demo_run(), demo_cases())
    assert json.loads(indented_json(summary)) == summary

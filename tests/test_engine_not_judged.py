"""One cause, one verdict: when a step's response is not the kind the case expected, the checks that
needed the expected response are recorded as not judged, not as extra failures under other ids.

Real HTTP against the reference server; the misbehaving server is the reference server behind a
FaultProxy with a fault defined here (a search answered 400 + OperationOutcome, a 200 whose body is
an OperationOutcome, a 404 turned into 410).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from case_support import run_named_case

from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir
from imgconf.plugin import _failure_text
from imgconf.report.junit import build_junit
from imgconf.report.summary import build_summary
from imgconf.results import CaseResult, RunInfo, Verdict
from imgconf.session import TargetSession
from imgconf.suite.loader import load_suite
from imgconf.suite.model import Suite

SUITE = """\
suite: not-judged probe
area: imagingstudy
requirements: [IS-053]
fixtures: [imagingstudy/ct-chest, imagingstudy/mr-brain]
cases:
  - name: modality search
    request: {path: ImagingStudy, params: {modality: CT}}
    expect:
      status: 200
      headers:
        Content-Type: {contains: json, requirement: [REST-001]}
      resource: Bundle
      fhirpath:
        - {expr: "type = 'searchset'", requirement: [REST-040]}
      search: {includes: [imagingstudy/ct-chest], excludes: [imagingstudy/mr-brain]}
  - name: modality search, no header check
    level: SHOULD
    request: {path: ImagingStudy, params: {modality: CT}}
    expect:
      status: 200
      resource: Bundle
      fhirpath:
        - {expr: "type = 'searchset'", requirement: [REST-040]}
  - name: modality search, oracle only
    request: {path: ImagingStudy, params: {modality: CT}}
    expect:
      status: 200
      search: {includes: [imagingstudy/ct-chest], excludes: [imagingstudy/mr-brain]}
  - name: search then read the first match
    requirements: [IS-053]
    steps:
      - name: search
        request: {path: ImagingStudy, params: {modality: CT}}
        expect: {status: 200}
        save: &first {first: {fhirpath: "entry.resource.id.first()"}}
      - &read_first {name: read, request: {path: "ImagingStudy/${first}"}, expect: {status: 200, resource: ImagingStudy}}
  - name: checked search then read the first match
    requirements: [IS-053]
    steps:
      - name: search
        request: {path: ImagingStudy, params: {modality: CT}}
        expect: {status: 200, headers: {Content-Type: {contains: json, requirement: [REST-001]}}, resource: Bundle}
        save: *first
      - *read_first
  - name: read a study
    requirements: [REST-010]
    request: {path: "ImagingStudy/${fixture.imagingstudy/ct-chest.id}"}
    expect: {status: 200, resource: ImagingStudy}
  - name: history of a study
    requirements: [REST-104]
    request: {path: "ImagingStudy/${fixture.imagingstudy/ct-chest.id}/_history"}
    expect: {status: 200, resource: Bundle}
  - name: post search
    request: {method: POST, path: ImagingStudy/_search, form: {modality: CT}}
    expect: {status: 200, resource: Bundle}
  - name: unknown id
    requirements: [REST-012]
    request: {path: ImagingStudy/imgconf-no-such-study}
    expect:
      status: 404
      resource: OperationOutcome
      fhirpath:
        - {expr: "issue.exists()", requirement: [REST-030], level: SHOULD}
"""

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported"}]}


def _searches(call: ProxyCall) -> bool:
    return call.is_search and call.resource_type == "ImagingStudy"


def _reject_search(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if not _searches(call):
        return response
    return ProxyResponse(400, {"content-type": "application/fhir+json"}, json.dumps(OUTCOME).encode())


def _outcome_body(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if _searches(call):
        response.set_json(OUTCOME)
    return response


def _gone(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if response.status == 404:
        response.status = 410
    return response


def _html_as(content_type: str, status: int = 200) -> Fault:
    def page(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if _searches(call) or response.status == 404:
            return ProxyResponse(status if _searches(call) else 404, {"content-type": content_type},
                                 b"<html><body><h1>Service temporarily unavailable</h1></body></html>")
        return response
    return Fault(f"test-html-{content_type}-{status}", "an HTML page for the searches and the 404s", ("REST-001",),
                 on_response=page)


REJECTS_SEARCH = Fault("test-search-400", "every ImagingStudy search answered 400 + OperationOutcome", ("REST-040",),
                       on_response=_reject_search)
OUTCOME_FOR_BUNDLE = Fault("test-search-outcome-200", "a search answered 200 with an OperationOutcome body", ("REST-040",),
                           on_response=_outcome_body)
GONE_FOR_NOT_FOUND = Fault("test-410", "404 answered as 410", ("REST-012",), on_response=_gone)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    path = Path(tmp_path_factory.mktemp("suite")) / "probe.yaml"
    path.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    return load_suite(path, fixture_library=library(fixtures_dir()))



def _run(proxied: tuple[FaultProxy, TargetSession], suite: Suite, name: str, faults: list[Fault]) -> CaseResult:
    return run_named_case(proxied, suite, name, faults)


def _by_verdict(result: CaseResult, verdict: Verdict) -> list[str]:
    return [c.check for c in result.checks if c.verdict is verdict]


def test_a_legal_response_is_judged_as_before(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search", [])
    assert result.verdict is Verdict.PASS
    assert not _by_verdict(result, Verdict.NOT_JUDGED)
    assert {"status", "header", "resource", "fhirpath", "search"} <= {c.check for c in result.checks}


def test_400_for_a_search_is_one_failure_and_the_rest_not_judged(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search", [REJECTS_SEARCH])
    assert result.verdict is Verdict.FAIL
    assert _by_verdict(result, Verdict.FAIL) == ["status"]
    assert _by_verdict(result, Verdict.PASS) == ["header"]  # headers mean something on a 400 too
    not_judged = [c for c in result.checks if c.verdict is Verdict.NOT_JUDGED]
    assert {c.check for c in not_judged} == {"resource", "fhirpath", "search"}
    assert all(c.reason == "not judged: status check failed: expected 200, got 400" for c in not_judged)
    # the fhirpath check keeps the requirement it would have judged
    assert next(c for c in not_judged if c.check == "fhirpath").requirement == ["REST-040"]


def test_not_judged_is_shown_as_such_in_summary_junit_and_failure_text(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search", [REJECTS_SEARCH])
    info = RunInfo(target_url="http://x", embedded=True, server_software="", server_version="", fhir_version="4.0.1",
                   harness_version="", edition="", started_at="2026-01-01T00:00:00Z")
    summary = build_summary(info, [result])
    assert summary["totals"]["checks"]["fail"] == 1
    assert summary["totals"]["checks"]["not-judged"] == 3
    assert summary["totals"]["checks"]["pass"] == 1
    suite_xml = build_junit(summary).find("testsuite")
    case_xml = suite_xml.find("testcase")
    assert len(case_xml.findall("failure")) == 1 and "status 400" in case_xml.find("failure").get("message")
    shown = [p.get("value") for p in case_xml.iter("property") if p.get("name") == "not-judged"]
    assert len(shown) == 3 and all("not judged: status check failed" in v for v in shown)
    text = _failure_text(result, [c for c in result.checks if c.verdict is Verdict.FAIL])
    assert "not judged (3): status check failed: expected 200, got 400" in text
    assert "REST-040" not in text.split("not judged")[0]  # the only accusation is the status


def test_a_body_of_the_wrong_type_is_one_failure(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search", [OUTCOME_FOR_BUNDLE])
    assert result.verdict is Verdict.FAIL
    assert _by_verdict(result, Verdict.FAIL) == ["resource"]
    # a search answered 200 without a Bundle deviates from R4's searchset requirement, not from the modality search's
    assert next(c for c in result.checks if c.check == "resource").requirement == ["REST-040"]
    assert set(_by_verdict(result, Verdict.NOT_JUDGED)) == {"fhirpath", "search"}
    assert all(c.reason.startswith("not judged: the body is not the expected resource")
               for c in result.checks if c.verdict is Verdict.NOT_JUDGED)


def test_an_error_for_an_error_still_has_its_body_judged(proxied, suite) -> None:
    result = _run(proxied, suite, "unknown id", [GONE_FOR_NOT_FOUND])
    assert _by_verdict(result, Verdict.FAIL) == ["status"]  # 410 where 404 was expected
    assert set(_by_verdict(result, Verdict.PASS)) == {"resource", "fhirpath"}  # still an OperationOutcome
    assert not _by_verdict(result, Verdict.NOT_JUDGED)


def test_the_unknown_id_case_passes_on_the_reference_server(proxied, suite) -> None:
    result = _run(proxied, suite, "unknown id", [])
    assert result.verdict is Verdict.PASS


# A success answer whose body is not JSON deviates from REST-001 (the request asked for FHIR JSON), whatever the
# case is about: the failure cites REST-001 at the catalogue's level, never the case's requirement (IS-053 here).

def test_an_html_page_for_a_search_fails_on_rest_001_not_on_the_case_requirement(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search, no header check", [_html_as("application/fhir+json")])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement, c.verdict) for c in failed] == [("resource", ["REST-001"], Verdict.FAIL)]
    assert "not JSON" in failed[0].reason
    assert _by_verdict(result, Verdict.NOT_JUDGED) == ["fhirpath"]  # one cause, one verdict
    assert result.verdict is Verdict.FAIL  # REST-001 is SHALL, though the case is SHOULD


def test_the_real_html_error_page_fault_is_judged_as_a_rest_001_deviation(proxied, suite) -> None:
    from imgconf.faults import BY_NAME

    result = _run(proxied, suite, "modality search, no header check", [BY_NAME["html-error-page"]])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement) for c in failed] == [("resource", ["REST-001"])]


def test_an_html_page_after_a_failed_content_type_check_is_not_a_second_verdict(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search", [_html_as("text/html")])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement) for c in failed] == [("header", ["REST-001"])]
    resource = next(c for c in result.checks if c.check == "resource")
    assert resource.verdict is Verdict.NOT_JUDGED and "header already failed" in resource.reason
    assert set(_by_verdict(result, Verdict.NOT_JUDGED)) == {"resource", "fhirpath", "search"}


def test_an_html_page_with_a_json_content_type_fails_the_body_alone(proxied, suite) -> None:
    result = _run(proxied, suite, "modality search", [_html_as("application/fhir+json")])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement) for c in failed] == [("resource", ["REST-001"])]
    assert _by_verdict(result, Verdict.PASS) == ["status", "header"]


def test_an_html_error_body_stays_the_case_s_requirement(proxied, suite) -> None:
    # What an error answer carries is what the case judges (REST-012 here: SHOULD carry an OperationOutcome).
    result = _run(proxied, suite, "unknown id", [_html_as("text/html")])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement) for c in failed] == [("resource", ["REST-012"])]


def test_a_bundle_still_passes_the_resource_check_under_a_plain_json_content_type(proxied, suite) -> None:
    def plain_json(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if _searches(call):
            response.headers["content-type"] = "application/json"
        return response

    fault = Fault("test-plain-json", "searches labelled application/json", ("REST-001",), on_response=plain_json)
    result = _run(proxied, suite, "modality search, no header check", [fault])
    assert result.verdict is Verdict.PASS


def test_an_html_page_where_a_value_is_saved_fails_the_save_on_rest_001(proxied, suite) -> None:
    result = _run(proxied, suite, "search then read the first match", [_html_as("text/html")])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement) for c in failed] == [("save", ["REST-001"])]
    assert "not JSON" in failed[0].reason


def test_a_saved_value_from_a_legal_answer_still_reaches_the_next_step(proxied, suite) -> None:
    result = _run(proxied, suite, "search then read the first match", [])
    assert result.verdict is Verdict.PASS and [c.check for c in result.checks].count("resource") == 1



def test_a_search_step_meeting_an_html_page_is_one_rest_001_failure(proxied, suite) -> None:
    html = _run(proxied, suite, "modality search, oracle only", [_html_as("text/html")])
    assert [(c.check, c.requirement, c.verdict) for c in html.checks if c.verdict is not Verdict.PASS] == [
        ("resource", ["REST-001"], Verdict.FAIL), ("search", ["IS-053"], Verdict.NOT_JUDGED)]
    assert _run(proxied, suite, "modality search, oracle only", []).verdict is Verdict.PASS


@pytest.mark.parametrize(("content", "requirement", "verdict"), [
    (b"<html><body>busy</body></html>", "REST-001", Verdict.FAIL),  # not JSON at all: REST-001 is SHALL
    (json.dumps(OUTCOME).encode(), "REST-040", Verdict.WARN),  # JSON, no searchset Bundle: as before, the case's level
])
def test_the_search_oracle_alone_cites_rest_001_for_a_page_that_is_not_json(proxied, content, requirement, verdict) -> None:
    # imgconf fuzz hands every answer to the oracle directly, without a suite step's resource check before it.
    import httpx

    from imgconf.checks.base import CheckContext
    from imgconf.checks.search import check_search
    from imgconf.checks.search_target import SearchExpectation
    from imgconf.client import HttpResult
    from imgconf.results import Exchange, Level
    from imgconf.suite.model import Request

    _, session = proxied
    url = f"{session.base_url}/ImagingStudy?modality=CT"
    exchange = Exchange("GET", url, {"Accept": "application/fhir+json"}, None, 200, {}, content.decode(), 1.0)
    answer = HttpResult(200, httpx.Headers({"content-type": "text/html"}), content, url, exchange)
    ctx = CheckContext(response=answer, request=Request("GET", "ImagingStudy"), exchange=0, requirements=("IS-053",),
                       level=Level.SHOULD, variables={}, session=session)
    (result,) = check_search(SearchExpectation(), ctx)
    assert result.requirement == [requirement] and result.verdict is verdict


def _outcome_for_everything(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.method in ("GET", "POST") and response.status == 200:
        response.set_json(OUTCOME)
    return response


OUTCOME_FOR_ALL = Fault("test-outcome-200", "every 200 carries an OperationOutcome", ("REST-040",), on_response=_outcome_for_everything)


@pytest.mark.parametrize(("name", "requirement"), [
    ("post search", "REST-040"),  # a search, however sent
    ("read a study", "REST-010"),  # a read is no search: the case's requirement
    ("history of a study", "REST-104"),  # a history Bundle is no searchset
])
def test_a_missing_bundle_is_rest_040_only_for_a_search(proxied, suite, name, requirement) -> None:
    result = _run(proxied, suite, name, [OUTCOME_FOR_ALL])
    failed = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert [(c.check, c.requirement) for c in failed] == [("resource", [requirement])]
    assert _run(proxied, suite, name, []).verdict is Verdict.PASS


def test_one_html_page_is_one_verdict_however_many_checks_and_saves_need_its_body(proxied, suite) -> None:
    result = _run(proxied, suite, "checked search then read the first match", [_html_as("text/html")])
    assert [(c.check, c.verdict) for c in result.checks] == [
        ("status", Verdict.PASS), ("header", Verdict.FAIL), ("resource", Verdict.NOT_JUDGED), ("save", Verdict.NOT_JUDGED)]
    assert all(c.reason.count("not judged") == 1 for c in result.checks if c.verdict is Verdict.NOT_JUDGED)

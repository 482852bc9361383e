"""The plugin as a user runs it: real pytest processes, real HTTP, the real reference server.

Misbehaving servers are the reference server behind the fault-injecting proxy (imgconf.faults).
Where a test judges suite verdicts only, the suites run in process through the engine and the
summary is built as summary.json is (tests/suite_run.py): a child pytest process per fault cost
more than the whole rest of the file. What stays a child process is what the process itself does:
the whole bundled run under xdist with every report, exit codes, console output, interruption,
unreachable targets and malformed suites.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from full_run import FullRun
from suite_roots import BUNDLED, roots
from suite_run import exit_would_fail, run_suites_summary

from imgconf.faults import BY_NAME, FaultProxy
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions

SUITES = suites_dir()
CRUD = str(SUITES / "imagingstudy" / "rest-crud.yaml")
SEARCH = str(SUITES / "imagingstudy" / "search-basic.yaml")

pytestmark = pytest.mark.slow


def summary(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / "summary.json").read_text())


def case_verdicts(data: dict[str, Any]) -> dict[str, str]:
    return {c["case"]: c["verdict"] for c in data["cases"]}  # by name (node ids end in the case id)


def failed_checks(data: dict[str, Any], case: str) -> list[dict[str, Any]]:
    return [c for c in data["checks"] if c["case"] == case and c["verdict"] in ("fail", "warn")]


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


def count_all(base_url: str) -> dict[str, int]:
    counts = {}
    with httpx.Client() as client:
        for rtype in ("Patient", "ImagingStudy", "Endpoint", "Practitioner"):
            bundle = client.get(f"{base_url}/{rtype}", params={"_summary": "count"}).json()
            counts[rtype] = bundle.get("total", len(bundle.get("entry", [])))
    return counts


@pytest.mark.timeout(900)
def test_full_run_under_two_xdist_workers_is_green_with_every_report(bundled_full_run: FullRun) -> None:
    """Every bundled suite, -n 2 (tests/conftest.py: one run shared with test_browser_report)."""
    outcomes = bundled_full_run.result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0 and outcomes["passed"] >= 49
    data = bundled_full_run.summary()
    assert data["outcome"] == "pass"
    assert len(data["cases"]) >= 49
    assert data["run"]["embedded"] is True and data["run"]["server_software"].startswith("imgconf reference server")
    assert data["run"]["options"]["teardown_remaining"] == 0
    html = (bundled_full_run.path / "reports" / "report.html").read_text()
    assert "IS-053" in html and data["run"]["harness_version"] in html
    junit = ET.parse(bundled_full_run.path / "reports" / "junit.xml").getroot()
    assert int(junit.find("testsuite").get("tests")) == len(data["cases"])
    allure_files = list((bundled_full_run.path / "reports" / "allure").glob("*-result.json"))
    assert len(allure_files) == len(data["cases"])
    labels = json.loads(allure_files[0].read_text())["labels"]
    assert any(l["name"] == "requirement" for l in labels)


def test_same_verdicts_against_a_separately_started_server(server: EmbeddedServer) -> None:
    embedded = case_verdicts(run_suites_summary(SessionOptions(), SEARCH))  # no target: the session starts its own
    remote = run_suites_summary(SessionOptions(target=server.base_url), SEARCH)
    assert case_verdicts(remote) == embedded
    assert remote["run"]["target_url"] == server.base_url and remote["run"]["embedded"] is False
    assert sum(count_all(server.base_url).values()) == 0, "teardown left data on the target"


@pytest.mark.parametrize(
    ("fault", "suite", "case", "check"),
    [
        ("create-returns-200", CRUD, "create returns 201 with Location and ETag", "status"),
        ("bundle-type-collection", SEARCH, "patient by bare id", "fhirpath"),
        ("series-uid-urn-oid", CRUD, "created resource is readable with the same content", "structure"),
        ("create-without-location", CRUD, "create returns 201 with Location and ETag", "header"),
        ("ignores-modality", SEARCH, "modality by code", "search"),
        ("drops-first-match", SEARCH, "status available", "search"),
        ("date-eq-overlap", SEARCH, "a day does not contain a year-precision target", "search"),
        ("modality-study-level", SEARCH, "modality searches series, not the study-level list", "search"),
    ],
)
def test_a_misbehaving_server_fails_the_right_check(server: EmbeddedServer, fault: str, suite: str, case: str, check: str) -> None:
    with FaultProxy(server.base_url, [BY_NAME[fault]]) as proxy:
        data = run_suites_summary(SessionOptions(target=proxy.base_url), suite)
    assert case_verdicts(data)[case] == "fail"
    kinds = {c["check"] for c in failed_checks(data, case)}
    assert check in kinds, f"{fault}: failed checks were {kinds}"
    assert exit_would_fail(data) and data["outcome"] == "fail"
    failing = [c for c in data["checks"] if c["case"] == case and c["verdict"] == "fail"]
    evidence = data["cases"][[c["case"] for c in data["cases"]].index(case)]
    assert failing and evidence["verdict"] == "fail"


def test_404_after_delete_is_a_warning_not_a_failure(server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [BY_NAME["deleted-read-404"]]) as proxy:
        data = run_suites_summary(SessionOptions(target=proxy.base_url), CRUD)
    assert case_verdicts(data)["read after delete gives 410 Gone"] == "warn"
    assert "status" in {c["check"] for c in failed_checks(data, "read after delete gives 410 Gone")}
    assert not exit_would_fail(data)


def test_should_failure_warns_and_strict_should_fails(pytester: pytest.Pytester, server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [BY_NAME["no-last-modified"]]) as proxy:
        relaxed = pytester.runpytest_subprocess(*BUNDLED, CRUD, "--imgconf-target", proxy.base_url, "-p", "no:cacheprovider")
        assert relaxed.ret == 0
        relaxed.stdout.fnmatch_lines(["*ConformanceWarning*REST-011 SHOULD*Last-Modified*"])
        assert case_verdicts(summary(pytester))["read carries ETag and Last-Modified"] == "warn"
        strict = pytester.runpytest_subprocess(*BUNDLED, CRUD, "--imgconf-target", proxy.base_url, "--imgconf-strict-should", "-p", "no:cacheprovider")
        assert strict.ret == 1


def test_unreachable_target_is_an_error_not_a_failure(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*BUNDLED, CRUD, "--imgconf-target", "http://127.0.0.1:9/fhir", "--imgconf-request-timeout", "2", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    data = summary(pytester)
    # five connection failures in a row, then the rest is not run (issue 12): INCOMPLETE, never FAIL
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 5
    assert outcomes.get("skipped", 0) == len(data["cases"]) - 5
    assert set(case_verdicts(data).values()) == {"error", "skip"}
    assert all(c["skipped_reason"].startswith("not run: target unreachable") for c in data["cases"] if c["verdict"] == "skip")
    assert data["outcome"] == "incomplete" and data["incomplete"]["cause"].startswith("ConnectError")
    assert "Traceback" not in result.stdout.str()


def test_malformed_suite_names_file_and_line(pytester: pytest.Pytester) -> None:
    suite = pytester.path / "broken.yaml"
    suite.write_text(textwrap.dedent("""\
        suite: Broken
        area: imagingstudy
        requirements: [IS-053]
        cases:
          - name: one
            request: {path: ImagingStudy}
            expect:
              fhirpath: ["entry.where("]
    """))
    result = pytester.runpytest_subprocess(*roots(suite), "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines([f"*malformed suite: {suite}:8: FHIRPath syntax error*"])
    assert "Traceback" not in result.stdout.str()


INTERRUPT = """
import os, signal
import pytest
COUNT = {{"n": 0}}

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    COUNT["n"] += 1
    if COUNT["n"] == {after}:
        {action}
"""


@pytest.mark.parametrize("action", ["raise KeyboardInterrupt", "os.kill(os.getpid(), signal.SIGTERM)"])
def test_interrupted_run_leaves_nothing_behind(pytester: pytest.Pytester, server: EmbeddedServer, action: str) -> None:
    pytester.makepyfile(interrupt_plugin=INTERRUPT.format(after=5, action=action))
    result = pytester.runpytest_subprocess(*BUNDLED, SEARCH, "--imgconf-target", server.base_url, "-p", "interrupt_plugin", "-p", "no:cacheprovider")
    assert result.ret == 2  # interrupted
    assert "Interrupted" in result.stdout.str() or "KeyboardInterrupt" in result.stdout.str()
    assert sum(count_all(server.base_url).values()) == 0


def test_undeclared_parameter_runs_shall_cases_and_skips_optional_ones(server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [BY_NAME["metadata-hides-modality"]]) as proxy:
        data = run_suites_summary(SessionOptions(target=proxy.base_url), SEARCH)
    verdicts = case_verdicts(data)
    assert verdicts["modality by code"] == "pass"  # SHALL: tested although undeclared
    assert verdicts["modality codes are case-sensitive"] == "skip"  # SHOULD: skipped with a reason
    case = next(c for c in data["cases"] if c["case"] == "modality codes are case-sensitive")
    assert "not declared in the CapabilityStatement" in case["skipped_reason"]
    notes = [c for c in data["checks"] if c["case"] == "modality by code" and c["check"] == "capability"]
    assert notes and notes[0]["level"] == "INFO" and "tested anyway" in notes[0]["reason"]
    params = data["run"]["options"]["search_parameters"]["ImagingStudy"]
    assert "modality" in params["tested_not_declared"] and "modality" not in params["declared"]

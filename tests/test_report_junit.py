"""Issue 12 §4: junit.xml and allure files CI can act on, counting what the report counts."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hostile_support import IMGCONF
from imgconf.paths import suites_dir
from imgconf.report import build_summary
from report_demo import demo_cases, demo_run
from imgconf.report.allure_files import environment_properties, exchange_text
from imgconf.report.junit import build_junit
from imgconf.results import Exchange

SEARCH_BASIC = suites_dir() / "imagingstudy" / "search-basic.yaml"


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {tc.get("name"): tc for tc in root.iter("testcase")}


def _props(tc: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("name"), p.get("value")) for p in tc.find("properties").iter("property")]


def test_one_testcase_per_case_with_requirement_level_verdict() -> None:
    summary = build_summary(demo_run(), demo_cases())
    root = build_junit(summary)
    cases = _cases(root)
    assert len(cases) == len(summary["cases"]) == int(root.get("tests"))
    for case in summary["cases"]:
        tc = cases[case["case"]]
        assert tc.get("classname") == case["suite_id"] and not tc.get("classname").endswith("yaml")
        props = _props(tc)
        assert [v for k, v in props if k == "requirement"] == case["requirement"]
        assert ("level", case["level"]) in props and ("verdict", case["verdict"]) in props
    # the same counts as summary.json's cases
    t = summary["totals"]["cases"]
    assert int(root.get("failures")) == t["fail"] and int(root.get("errors")) == t["error"]
    assert int(root.get("skipped")) == t["skip"] + t["not-judged"]


def test_should_warning_is_visible_but_not_a_failure() -> None:
    tc = _cases(build_junit(build_summary(demo_run(), demo_cases())))["read returns ETag"]
    assert tc.find("failure") is None
    assert ("warning", "[REST-011 SHOULD] no ETag header") in _props(tc)
    assert "SHOULD warning [REST-011 SHOULD]" in tc.find("system-out").text


def test_error_is_one_line_plus_evidence_not_a_traceback() -> None:
    root = build_junit(build_summary(demo_run(), demo_cases()))
    error = _cases(root)["token request with replayed jti"].find("error")
    assert error.get("type") == "infrastructure" and "\n" not in error.get("message")
    assert error.text.startswith("POST https://auth.example.org/token -> ")
    assert "Traceback" not in ET.tostring(root, encoding="unicode")
    failure = _cases(root)["Study UID token search"].find("failure")
    assert failure.get("type") == "SHALL" and "IS-051" in failure.get("message")


def test_environment_properties_name_target_server_edition_harness() -> None:
    env = environment_properties(build_summary(demo_run(), demo_cases()))
    for key in ("imgconf.outcome=FAIL", "target=https://pacs.example.org/fhir", "server.software=ExamplePACS FHIR Gateway",
                "server.version=5.2.1", "edition=EU imaging", "harness.version="):
        assert key in env, env


def test_allure_attachment_pretty_prints_json_and_summarises_binary() -> None:
    ex = Exchange("GET", "https://h/fhir/ImagingStudy/1", {"Accept": "application/fhir+json"}, None, 200,
                  {"Content-Type": "application/fhir+json"}, '{"resourceType":"ImagingStudy","id":"1"}', 3.0)
    assert '{\n  "resourceType": "ImagingStudy",\n  "id": "1"\n}' in exchange_text(ex)
    dicom = Exchange("GET", "https://h/wado", {}, None, 200, {"Content-Type": "application/dicom"}, "\x00\x00DICM\ufffd", 3.0)
    text = exchange_text(dicom)
    assert "[binary body: application/dicom" in text and "\x00" not in text


@pytest.mark.slow
def test_imgconf_run_writes_junit_and_allure_files_from_the_summary(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    proc = subprocess.run([*IMGCONF, "run", "--suites", str(SEARCH_BASIC), "--reports-dir", str(reports)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    summary = json.loads((reports / "summary.json").read_text())
    root = ET.parse(reports / "junit.xml").getroot()
    assert int(root.get("tests")) == len(summary["cases"]) > 20, out[-2000:]
    assert {tc.get("classname") for tc in root.iter("testcase")} == {"imagingstudy-search-basic"}
    suite_props = dict(_props(root.find("testsuite")))
    assert suite_props["imgconf_outcome"] == summary["outcome"]
    # one set of counts: console, junit and summary agree on cases
    passed = summary["totals"]["cases"]["pass"]
    assert re.search(rf"\b{passed} pass\b", out)
    assert int(root.get("failures")) == summary["totals"]["cases"]["fail"]
    allure = reports / "allure-results"
    assert "target=" in (allure / "environment.properties").read_text()
    names = [c["name"] for c in json.loads((allure / "categories.json").read_text())]
    assert names[:3] == ["SHALL failure", "Infrastructure error (not a conformance verdict)", "SHOULD warning"]
    result = json.loads(next(allure.glob("*-result.json")).read_text())
    assert any(l["type"] == "requirement" for l in result.get("links", []))


@pytest.mark.slow
def test_should_warning_from_a_real_server_is_visible_in_junit_and_allure(tmp_path: Path) -> None:
    """The reference server behind the no-etag fault: REST-011 (SHOULD) warns; CI must see it."""
    from imgconf.faults import BY_NAME, FaultProxy
    from imgconf.reference.server import EmbeddedServer

    reports = tmp_path / "r"
    with EmbeddedServer() as server, FaultProxy(server.base_url, [BY_NAME["no-etag"]]) as proxy:
        proc = subprocess.run([*IMGCONF, "run", "--target", proxy.base_url, "--suites",
                               str(suites_dir() / "imagingstudy" / "rest-crud.yaml"), "--reports-dir", str(reports)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    summary = json.loads((reports / "summary.json").read_text())
    warned = [c for c in summary["checks"] if c["verdict"] == "warn" and "REST-011" in c["requirement"]]
    assert warned, (proc.stdout + proc.stderr)[-2000:]
    root = ET.parse(reports / "junit.xml").getroot()
    tc = _cases(root)[warned[0]["case"]]
    assert any(k == "warning" and "REST-011" in v for k, v in _props(tc))
    assert "SHOULD warning [REST-011" in tc.find("system-out").text
    results = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
    mine = next(r for r in results if r["name"] == warned[0]["case"])
    assert {"name": "tag", "value": "SHOULD warning"} in mine["labels"]
    assert "REST-011" in mine.get("description", "")

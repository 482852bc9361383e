"""The failing FHIRPath location marked in report.html: the resolver, the line spans, the marks and links."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx

from imgconf.checks.base import CheckContext
from imgconf.checks.rules import check_rules
from imgconf.client import HttpResult
from imgconf.report import write_html
from report_demo import demo_run
from imgconf.report.locate import pretty_lines, resolve
from imgconf.results import CaseResult, Exchange, Level, Verdict
from imgconf.suite.model import Request

STUDY: dict[str, Any] = {
    "resourceType": "ImagingStudy",
    "id": "ct1",
    "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.113619.2.55.3.604688119.969.1268071029.320"}],
    "status": "available",
    "subject": {"reference": "Patient/p1"},
    "series": [{
        "uid": "1.2.840.113619.2.55.3.604688119.969.1268071029.321",
        "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
        "instance": [{
            "uid": "1.2.840.113619.2.55.3.604688119.969.1268071029.322",
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
        }],
    }],
}


def test_resolves_nested_objects_and_arrays() -> None:
    assert resolve(STUDY, "ImagingStudy.series[0].instance[0].sopClass.code") == (
        "series", 0, "instance", 0, "sopClass", "code")
    assert resolve(STUDY, "series[0].modality") == ("series", 0, "modality")  # no leading type: from the root
    assert resolve(STUDY, "ImagingStudy") == ()


def test_resolves_a_bundle_entry_path() -> None:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": STUDY}, {"resource": STUDY}]}
    assert resolve(bundle, "Bundle.entry[1].resource.series[0].uid") == ("entry", 1, "resource", "series", 0, "uid")
    assert resolve(bundle, "ImagingStudy.series[0].uid") is None  # the type names the root, not an entry


def test_a_primitive_spans_one_line_and_a_container_its_lines() -> None:
    text, spans = pretty_lines(STUDY)
    assert text == json.dumps(STUDY, indent=2, ensure_ascii=False)  # the report's text is unchanged
    lines = text.split("\n")
    first, last = spans[("series", 0, "uid")]
    assert first == last and lines[first].strip() == '"uid": "1.2.840.113619.2.55.3.604688119.969.1268071029.321",'
    first, last = spans[("series", 0, "instance", 0, "sopClass")]
    assert lines[first].strip() == '"sopClass": {' and lines[last].strip() == "}" and last - first == 3
    assert pretty_lines(7) == ("7", {(): (0, 0)})


def test_unresolvable_locations_are_none() -> None:
    for location in ("ImagingStudy.series[3].uid", "ImagingStudy.nothing", "ImagingStudy.status.value",
                     "ImagingStudy.identifier.where(system='x')", "", "Patient.id"):
        assert resolve(STUDY, location) is None, location
    assert resolve([1, 2], "x") is None and resolve("text", "a") is None


def _case(body: dict[str, Any]) -> CaseResult:
    """A case whose rules check ran on ``body`` (the real check, so the locations are the validators')."""
    raw = json.dumps(body)
    exchange = Exchange("GET", "http://t/fhir/ImagingStudy/ct1", {"Authorization": "Bearer PLANTED-TOKEN"}, None,
                        200, {"Content-Type": "application/fhir+json"}, raw, 3.0)
    http = HttpResult(200, httpx.Headers(exchange.response_headers), raw.encode(), exchange.url, exchange)
    ctx = CheckContext(response=http, request=Request("GET", "ImagingStudy/ct1"), exchange=0,
                       requirements=("IS-001",), level=Level.SHALL, variables={})
    return CaseResult(suite_id="imagingstudy-read", suite="ImagingStudy read", case="read a study",
                      nodeid="suites/x.yaml::read", area="read", requirement=["IS-001"], level=Level.SHALL,
                      checks=check_rules(ctx), exchanges=[exchange])


def test_failing_rules_check_marks_its_lines_and_the_row_links_there(tmp_path: Path) -> None:
    bad = copy.deepcopy(STUDY)
    bad["series"][0]["instance"][0]["sopClass"]["code"] = "1.2.840.10008.5.1.4.1.1.2"  # bare OID: IS-031
    case = _case(bad)
    failed = [c for c in case.checks if c.verdict is Verdict.FAIL]
    assert failed and "ImagingStudy.series[0].instance[0].sopClass.code" in failed[0].locations
    write_html(tmp_path / "report.html", demo_run(), [case])
    html = (tmp_path / "report.html").read_text()
    marks = re.findall(r'<mark id="(ev-\d+-\d+-at\d+)" title="([^"]*)">(.*?)</mark>', html, re.S)
    assert marks, "no mark in the evidence"
    anchor, title, marked = next(m for m in marks if '"code": "1.2.840.10008.5.1.4.1.1.2"' in m[2])
    assert marked.strip() == '"code": "1.2.840.10008.5.1.4.1.1.2"'  # exactly the one line of that element
    assert "rule check, FAIL" in title and "IS-031" in title
    assert f'href="#{anchor}"' in html and "at ImagingStudy.series[0].instance[0].sopClass.code" in html
    assert '<details class="ex" open>' in html  # the marked evidence is shown open
    assert "PLANTED-TOKEN" not in html  # evidence still redacted


def test_marks_in_a_bundle_entry_span_the_element(tmp_path: Path) -> None:
    bad = copy.deepcopy(STUDY)
    bad["series"][0]["uid"] = "urn:oid:1.2.3"  # a UID with the urn:oid: prefix where a bare UID belongs
    case = _case({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": STUDY}, {"resource": bad}]})
    locations = [loc for c in case.checks if c.verdict is Verdict.FAIL for loc in c.locations]
    assert "Bundle.entry[1].resource.series[0].uid" in locations
    write_html(tmp_path / "report.html", demo_run(), [case])
    html = (tmp_path / "report.html").read_text()
    marked = re.findall(r'<mark id="ev-\d+-\d+-at\d+" title="[^"]*">(.*?)</mark>', html, re.S)
    assert any(m.strip() == '"uid": "urn:oid:1.2.3",' for m in marked)
    assert "at Bundle.entry[1].resource.series[0].uid" in html


def test_passing_run_has_no_marks(tmp_path: Path) -> None:
    case = _case(STUDY)
    assert all(c.verdict is Verdict.PASS for c in case.checks)
    write_html(tmp_path / "report.html", demo_run(), [case])
    html = (tmp_path / "report.html").read_text()
    assert "<mark" not in html and 'class="evl loc"' not in html

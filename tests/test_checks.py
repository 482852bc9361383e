"""Every check kind passes on a good response and fails on a crafted bad one."""

from __future__ import annotations

import json
from typing import Any

import httpx

from imgconf.checks.base import CheckContext
from imgconf.checks.body import check_resource_type
from imgconf.checks.fhirpath import check_fhirpath
from imgconf.checks.headers import check_headers
from imgconf.checks.rules import check_rules
from imgconf.checks.status import check_status
from imgconf.checks.structure import check_structure
from imgconf.client import HttpResult
from imgconf.results import Exchange, Level, Verdict
from imgconf.suite.model import FhirPathExpectation, HeaderExpectation, Request

GOOD_STUDY: dict[str, Any] = {
    "resourceType": "ImagingStudy",
    "id": "ct1",
    "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.113619.2.55.3.604688119.969.1268071029.320"}],
    "status": "available",
    "subject": {"reference": "Patient/p1"},
    "series": [
        {
            "uid": "1.2.840.113619.2.55.3.604688119.969.1268071029.321",
            "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
            "instance": [
                {
                    "uid": "1.2.840.113619.2.55.3.604688119.969.1268071029.322",
                    "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
                }
            ],
        }
    ],
}


def response(status: int = 200, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None) -> HttpResult:
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    exchange = Exchange("GET", "http://t/fhir/x", {}, None, status, headers or {}, content.decode(errors="replace"), 1.0)
    return HttpResult(status, httpx.Headers(headers or {}), content, "http://t/fhir/x", exchange)


def ctx(result: HttpResult, level: Level = Level.SHALL) -> CheckContext:
    return CheckContext(response=result, request=Request("GET", "x"), exchange=0, requirements=("REST-010",), level=level, variables={})


def verdicts(results: list[Any]) -> list[Verdict]:
    return [r.verdict for r in results]


def test_status_check() -> None:
    assert verdicts(check_status((200,), ctx(response(200, {})))) == [Verdict.PASS]
    failed = check_status((201,), ctx(response(200, {})))
    assert verdicts(failed) == [Verdict.FAIL]
    assert "status 200, expected 201" in failed[0].reason and failed[0].requirement == ["REST-010"]


def test_status_check_at_should_level_warns() -> None:
    assert verdicts(check_status((410,), ctx(response(404, {}), Level.SHOULD))) == [Verdict.WARN]


def test_header_checks() -> None:
    good = response(201, {}, {"Location": "http://t/fhir/ImagingStudy/1/_history/1", "ETag": 'W/"1"'})
    specs = (
        HeaderExpectation("Location", matches=r"/ImagingStudy/[^/]+/_history/"),
        HeaderExpectation("ETag", equals='W/"1"'),
        HeaderExpectation("Set-Cookie", present=False),
    )
    assert verdicts(check_headers(specs, ctx(good))) == [Verdict.PASS] * 3
    bad = response(201, {}, {"Location": "http://t/fhir/ImagingStudy/1", "Set-Cookie": "a=b"})
    results = check_headers(specs, ctx(bad))
    assert verdicts(results) == [Verdict.FAIL] * 3
    assert "does not match" in results[0].reason
    assert "ETag header is missing" in results[1].reason
    assert "must not be" in results[2].reason


def test_header_level_override() -> None:
    specs = (HeaderExpectation("ETag", present=True, level=Level.SHOULD, requirement=("REST-021",)),)
    (result,) = check_headers(specs, ctx(response(200, {})))
    assert result.verdict is Verdict.WARN and result.requirement == ["REST-021"]


def test_resource_type_check() -> None:
    assert verdicts(check_resource_type("Bundle", ctx(response(200, {"resourceType": "Bundle"})))) == [Verdict.PASS]
    wrong = check_resource_type("Bundle", ctx(response(200, {"resourceType": "OperationOutcome"})))
    assert verdicts(wrong) == [Verdict.FAIL] and "'OperationOutcome'" in wrong[0].reason
    html = check_resource_type("Bundle", ctx(response(200, raw=b"<html>error</html>")))
    assert verdicts(html) == [Verdict.FAIL] and "not JSON" in html[0].reason


def test_fhirpath_check_quotes_expression_values_and_resource() -> None:
    spec = (FhirPathExpectation(expr="status = 'available'", message="status is available"),)
    assert verdicts(check_fhirpath(spec, ctx(response(200, GOOD_STUDY)))) == [Verdict.PASS]
    bad = dict(GOOD_STUDY, status="cancelled")
    (result,) = check_fhirpath(spec, ctx(response(200, bad)))
    assert result.verdict is Verdict.FAIL
    assert "status = 'available'" in result.reason and "[False]" in result.reason and "ImagingStudy/ct1" in result.reason


def test_fhirpath_empty_result_fails() -> None:
    spec = (FhirPathExpectation(expr="description.exists() and description.startsWith('CT')"),)
    (result,) = check_fhirpath(spec, ctx(response(200, GOOD_STUDY)))
    assert result.verdict is Verdict.FAIL


def test_fhirpath_equals() -> None:
    spec = (FhirPathExpectation(expr="series.modality.code", equals="CT", has_equals=True),)
    assert verdicts(check_fhirpath(spec, ctx(response(200, GOOD_STUDY)))) == [Verdict.PASS]
    spec = (FhirPathExpectation(expr="series.modality.code", equals="MR", has_equals=True),)
    assert verdicts(check_fhirpath(spec, ctx(response(200, GOOD_STUDY)))) == [Verdict.FAIL]


def test_fhirpath_on_non_json_fails_with_reason() -> None:
    spec = (FhirPathExpectation(expr="true"),)
    (result,) = check_fhirpath(spec, ctx(response(200, raw=b"{truncated")))
    assert result.verdict is Verdict.FAIL and "not JSON" in result.reason


def test_structure_check() -> None:
    assert verdicts(check_structure(ctx(response(200, GOOD_STUDY)))) == [Verdict.PASS]
    bad = json.loads(json.dumps(GOOD_STUDY))
    bad["series"][0]["uid"] = "urn:oid:1.2.3"
    bad["unknownElement"] = 1
    results = check_structure(ctx(response(200, bad)))
    assert Verdict.FAIL in verdicts(results)
    text = " ".join(r.reason for r in results)
    assert "series[0].uid" in text and "unknownElement" in text


def test_structure_check_validates_bundle_entries() -> None:
    bad = json.loads(json.dumps(GOOD_STUDY))
    del bad["status"]
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "http://t/fhir/ImagingStudy/ct1", "resource": bad}]}
    assert Verdict.FAIL in verdicts(check_structure(ctx(response(200, bundle))))


def test_rules_on_bundle_entries_name_the_entry() -> None:
    bad = json.loads(json.dumps(GOOD_STUDY))
    bad["series"][0]["uid"] = "urn:oid:1.2.3"
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": GOOD_STUDY}, {"resource": bad}]}
    results = check_rules(ctx(response(200, bundle)))
    reasons = " ".join(r.reason for r in results if r.verdict is Verdict.FAIL)
    assert "Bundle.entry[1].resource.series[0].uid" in reasons and "resource.ImagingStudy" not in reasons


def test_rules_check() -> None:
    assert verdicts(check_rules(ctx(response(200, GOOD_STUDY)))) == [Verdict.PASS]
    bad = json.loads(json.dumps(GOOD_STUDY))
    bad["identifier"][0]["value"] = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"  # no urn:oid:
    bad["series"][0]["instance"][0]["sopClass"]["code"] = "1.2.840.10008.5.1.4.1.1.2"  # bare OID
    results = check_rules(ctx(response(200, bad)))
    failed = {req for r in results if r.verdict is Verdict.FAIL for req in r.requirement}
    assert {"IS-020", "IS-031"} <= failed

"""Every check kind passes on a good response and fails on a crafted bad one."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from imgconf.checks.base import CheckContext
from imgconf.checks.body import check_resource_type
from imgconf.checks.fhirpath import FhirPathExpectation, check_fhirpath
from imgconf.checks.headers import check_headers
from imgconf.checks.rules import check_rules
from imgconf.checks.status import check_status
from imgconf.checks.structure import check_structure
from imgconf.client import HttpResult
from imgconf.results import Exchange, Level, Verdict
from imgconf.suite.model import HeaderExpectation, Request

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


def test_structure_check_of_a_body_too_deep_for_the_models_is_not_a_structure_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client refuses bodies deeper than 200 levels; should the models still hit the recursion limit
    (a lower limit in some process), the body is unusable ("cannot validate"), not an R4 finding."""
    import imgconf.validators.structure as structure
    from imgconf.validators.nesting import too_deep

    def recursing(resource: object) -> list[Any]:
        raise too_deep(resource)
    monkeypatch.setattr(structure, "structural_findings", recursing)
    (result,) = check_structure(ctx(response(200, GOOD_STUDY)))
    assert result.verdict is Verdict.FAIL and result.reason.startswith("cannot validate: nesting ")
    assert "not an R4 finding" in result.reason


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


# -- search shape (imgconf.checks.search_results): page size, total, _sort order, self link --------

def _study(sid: str, started: str | None, patient: str = "p1") -> dict[str, Any]:
    study: dict[str, Any] = {"resourceType": "ImagingStudy", "id": sid, "status": "available",
                             "subject": {"reference": f"Patient/{patient}"}}
    if started:
        study["started"] = started
    return study


def _page(*studies: dict[str, Any], self_url: str = "http://t/fhir/ImagingStudy", extra: list[Any] | None = None) -> dict[str, Any]:
    entries = [{"fullUrl": f"http://t/fhir/ImagingStudy/{s['id']}", "resource": s, "search": {"mode": "match"}} for s in studies]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(studies),
            "link": [{"relation": "self", "url": self_url}], "entry": entries + (extra or [])}


def _target(query: str):
    from imgconf.checks.search import parse_search_request

    return parse_search_request("http://t/fhir", f"http://t/fhir/ImagingStudy?{query}", [])


def test_page_size_check_fails_when_count_is_exceeded() -> None:
    from imgconf.checks.search_results import check_page_sizes

    target = _target("_count=1")
    ok = check_page_sizes(ctx(response(200, {})), target, [_page(_study("a", None)), _page(_study("b", None))])
    assert verdicts(ok) == [Verdict.PASS]
    bad = check_page_sizes(ctx(response(200, {})), target, [_page(_study("a", None), _study("b", None))])
    assert verdicts(bad) == [Verdict.FAIL] and "_count=1 not honoured" in bad[0].reason and bad[0].requirement == ["REST-085"]
    assert check_page_sizes(ctx(response(200, {})), _target("status=available"), [_page()]) == []


def test_total_check_fails_when_total_counts_more_than_the_matches() -> None:
    from imgconf.checks.search_results import check_total

    bundle = _page(_study("a", None))
    assert verdicts(check_total(ctx(response(200, {})), bundle, 1, True)) == [Verdict.PASS]
    bundle["total"] = 2
    bad = check_total(ctx(response(200, {})), bundle, 1, True)
    assert verdicts(bad) == [Verdict.FAIL] and "total=2" in bad[0].reason
    assert verdicts(check_total(ctx(response(200, {})), bundle, 1, False)) == [Verdict.PASS]  # paging stopped: not judged


def test_order_check_follows_sort_across_pages_and_leaves_missing_values_unjudged() -> None:
    from imgconf.checks.search_results import check_order

    a, b, c = _study("a", "2019"), _study("b", "2024-03-14T09:30:00+01:00"), _study("c", None)
    assert verdicts(check_order(ctx(response(200, {})), _target("_sort=started"), [a, b, c])) == [Verdict.PASS]
    assert verdicts(check_order(ctx(response(200, {})), _target("_sort=-started"), [b, a, c])) == [Verdict.PASS]
    bad = check_order(ctx(response(200, {})), _target("_sort=started"), [b, a, c])
    assert verdicts(bad) == [Verdict.FAIL] and "not in _sort=started order" in bad[0].reason
    # R4 does not say where a study without `started` goes: first, last or in between are all legal ...
    for legal in ([c, a, b], [a, c, b], [a, b, c]):
        ok = check_order(ctx(response(200, {})), _target("_sort=started"), legal)
        assert verdicts(ok) == [Verdict.PASS] and "ImagingStudy/c" in ok[0].reason and "not judged" in ok[0].reason
    # ... but it never hides a wrong order of the studies around it
    hidden = check_order(ctx(response(200, {})), _target("_sort=started"), [b, c, a])
    assert verdicts(hidden) == [Verdict.FAIL] and "ImagingStudy/a should come before ImagingStudy/b" in hidden[0].reason
    no_sort = check_order(ctx(response(200, {})), _target("status=available"), [a])
    assert verdicts(no_sort) == [Verdict.FAIL]


def test_self_link_check_reports_an_echoed_unknown_parameter_and_false_claims() -> None:
    from imgconf.checks.search_results import check_self_link

    target = _target("patient=p1&imgconf-bogus=1")
    study = _study("a", None)
    honest = _page(study, self_url="http://t/fhir/ImagingStudy?patient=p1")
    assert verdicts(check_self_link(ctx(response(200, {})), target, honest, [study], None, "http://t/fhir")) == [Verdict.PASS, Verdict.PASS]
    lying = _page(study, self_url="http://t/fhir/ImagingStudy?patient=p1&imgconf-bogus=1")
    results = check_self_link(ctx(response(200, {})), target, lying, [study], None, "http://t/fhir")
    assert verdicts(results)[0] is Verdict.FAIL and "imgconf-bogus" in results[0].reason
    outcome = {"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "not-supported", "diagnostics": "ignored imgconf-bogus: unknown"}]}, "search": {"mode": "outcome"}}
    reported = _page(study, self_url="http://t/fhir/ImagingStudy?patient=p1&imgconf-bogus=1", extra=[outcome])
    assert verdicts(check_self_link(ctx(response(200, {})), target, reported, [study], None, "http://t/fhir"))[0] is Verdict.PASS
    # The self link claims a criterion the matches do not meet (a filter that was not applied).
    claims = _page(study, self_url="http://t/fhir/ImagingStudy?patient=p2")
    wrong = check_self_link(ctx(response(200, {})), _target("patient=p2"), claims, [study], None, "http://t/fhir")
    assert Verdict.FAIL in verdicts(wrong) and any("self link claims" in r.reason for r in wrong)
    no_link = {"resourceType": "Bundle", "type": "searchset", "link": []}
    assert verdicts(check_self_link(ctx(response(200, {})), target, no_link, [], None, "http://t/fhir")) == [Verdict.FAIL]


def test_image_url_check_builds_urls_and_fails_on_data_that_needs_repair() -> None:
    from imgconf.checks.image_urls import check_image_urls

    study = json.loads(json.dumps(GOOD_STUDY))
    study["endpoint"] = [{"reference": "Endpoint/wado"}]
    endpoint = {"resourceType": "Endpoint", "id": "wado", "status": "active", "address": "https://pacs.example.org/wado-rs",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "dicom-wado-rs"}}

    def bundle(st: dict[str, Any], ep: dict[str, Any] | None) -> dict[str, Any]:
        entries = [{"fullUrl": "http://t/fhir/ImagingStudy/ct1", "resource": st, "search": {"mode": "match"}}]
        if ep is not None:
            entries.append({"fullUrl": "http://t/fhir/Endpoint/wado", "resource": ep, "search": {"mode": "include"}})
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}

    good = check_image_urls(ctx(response(200, bundle(study, endpoint))))
    assert {r.requirement[0] for r in good} == {"IS-044", "IS-045", "IS-048"} and set(verdicts(good)) == {Verdict.PASS}
    assert any("/studies/1.2.840.113619.2.55.3.604688119.969.1268071029.320/series/" in r.reason for r in good)

    slash = check_image_urls(ctx(response(200, bundle(study, {**endpoint, "address": "https://pacs.example.org/wado-rs/"}))))
    assert Verdict.FAIL in verdicts(slash) and any("works only after repair" in r.reason for r in slash)

    prefixed = json.loads(json.dumps(study))
    prefixed["series"][0]["uid"] = "urn:oid:" + prefixed["series"][0]["uid"]
    assert Verdict.FAIL in verdicts(check_image_urls(ctx(response(200, bundle(prefixed, endpoint)))))

    unresolved = check_image_urls(ctx(response(200, bundle(study, None))))
    assert [r.verdict for r in unresolved if r.requirement == ["IS-048"]] == [Verdict.FAIL]

    no_uid = {**study, "identifier": []}
    assert Verdict.FAIL in verdicts(check_image_urls(ctx(response(200, bundle(no_uid, endpoint)))))
    assert verdicts(check_image_urls(ctx(response(200, {"resourceType": "Bundle", "type": "searchset"})))) == [Verdict.FAIL]


def test_a_success_body_that_is_not_json_cites_rest_001_at_its_own_level() -> None:
    html = response(200, raw=b"<html>error</html>")
    html.exchange.request_headers["Accept"] = "application/fhir+json"
    (result,) = check_resource_type("Bundle", ctx(html, Level.SHOULD))
    assert result.requirement == ["REST-001"] and result.verdict is Verdict.FAIL and "not JSON" in result.reason


@pytest.mark.parametrize(("status", "raw", "accept"), [
    (404, b"<html>not found</html>", "application/fhir+json"),  # an error's body is the case's to judge
    (200, b"", "application/fhir+json"),  # no body: whether the interaction returns one is the case's
    (200, b"<html>error</html>", "application/fhir+xml"),  # XML was asked for
    (200, b"[" * 300 + b"]" * 300, "application/fhir+json"),  # JSON nested beyond the harness's bound is JSON
], ids=["error-status", "empty-body", "asked-for-xml", "too-deep"])
def test_other_unreadable_bodies_keep_the_case_requirement(status: int, raw: bytes, accept: str) -> None:
    result = response(status, raw=raw)
    result.exchange.request_headers["Accept"] = accept
    (checked,) = check_resource_type("Bundle", ctx(result))
    assert checked.requirement == ["REST-010"] and checked.verdict is Verdict.FAIL


@pytest.mark.parametrize(("query", "form", "accept", "asked"), [
    ("", [], "application/fhir+json", True),
    ("", [], "application/json", True),
    ("", [], "", False),
    ("_format=xml", [], "application/fhir+json", False),  # _format overrides Accept (REST-002)
    ("_format=application/fhir%2Bjson", [], "application/fhir+xml", True),
    ("_format=json", [], "", True),
    ("", [("_format", "xml")], "application/fhir+json", False),  # a POST _search form's _format
])
def test_asked_for_json_reads_format_before_accept(query: str, form: list[tuple[str, str]], accept: str, asked: bool) -> None:
    from imgconf.checks.body import asked_for_json

    exchange = Exchange("GET", f"http://t/fhir/ImagingStudy?{query}", {"accept": accept} if accept else {}, None, 200, {}, "", 1.0)
    assert asked_for_json(exchange, form) is asked


@pytest.mark.parametrize(("path", "searched"), [
    ("ImagingStudy?modality=CT", "ImagingStudy"),
    ("ImagingStudy/_search", "ImagingStudy"),
    ("Patient/p1/ImagingStudy", "ImagingStudy"),
    ("ImagingStudy/s1/_history", None),  # an instance history, not a compartment search of a type "_history"
    ("ImagingStudy/_history", None),
    ("Patient/$match", None),
    ("metadata", None),
    ("ImagingStudy/s1", None),  # a read
])
def test_the_oracle_recognises_searches_and_nothing_else(path: str, searched: str | None) -> None:
    from imgconf.checks.search_target import parse_search_request

    target = parse_search_request("http://t/fhir", f"http://t/fhir/{path}", [])
    assert (target.resource_type if target else None) == searched

"""The building blocks of the named faults (imgconf.faults.rewrite): each edits only what it says."""

from __future__ import annotations

import json
from collections.abc import Mapping

from imgconf.faults import ProxyCall, ProxyResponse
from imgconf.faults.rewrite import (
    bundles,
    drop_params,
    drop_request_header,
    drop_response_header,
    edit_json,
    edit_resources,
    form_params,
    match_by_own_rule,
    modified_by,
    named,
    outcome_response,
    path_is,
    reads,
    rename_param,
    rewrite_values,
    set_status,
    with_any_modifier,
)

BASE = "http://proxy.test/fhir"


def call(path: str, query: list[tuple[str, str]] | None = None, *, method: str = "GET",
         headers: dict[str, str] | None = None, body: bytes = b"") -> ProxyCall:
    return ProxyCall(method, path, list(query or []), dict(headers or {}), body, BASE)


def json_response(body: object, status: int = 200, ctype: str = "application/fhir+json; charset=utf-8") -> ProxyResponse:
    return ProxyResponse(status, {"content-type": ctype}, json.dumps(body).encode())


def searchset(*resources: Mapping[str, object], include: Mapping[str, object] | None = None) -> dict[str, object]:
    entries: list[dict[str, object]] = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    if include is not None:
        entries.append({"resource": include, "search": {"mode": "include"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}


def test_parameter_tests_tell_exact_names_modifiers_and_any_modifier_apart() -> None:
    assert named("family:exact")("family:exact") and not named("family:exact")("family")
    assert with_any_modifier("status")("status:not") and not with_any_modifier("status")("_status")
    assert modified_by("missing")("series:missing") and not modified_by("missing")("missing")


def test_drop_params_touches_searches_only() -> None:
    search = call("ImagingStudy", [("status", "available"), ("status:not", "cancelled"), ("modality", "CT")])
    drop_params(with_any_modifier("status"))(search)
    assert search.query == [("modality", "CT")]
    read = call("ImagingStudy/1", [("status", "x")])  # a read with a query is not a search
    drop_params(with_any_modifier("status"))(read)
    assert read.query == [("status", "x")]


def test_searches_are_type_compartment_and_post_searches_not_history_or_operations() -> None:
    for path, method in (("ImagingStudy", "GET"), ("Patient/1/ImagingStudy", "GET"), ("ImagingStudy/_search", "POST")):
        assert call(path, method=method).is_search, path
    for path, method in (("ImagingStudy/1", "GET"), ("ImagingStudy/1/_history", "GET"), ("ImagingStudy/_history", "GET"),
                         ("_history", "GET"), ("Patient/1/$everything", "GET"), ("$export", "GET"), ("ImagingStudy", "POST")):
        assert not call(path, method=method).is_search, path
    assert call("Patient/1/ImagingStudy").searched_type == "ImagingStudy" and call("Patient").searched_type == "Patient"
    assert call("ImagingStudy/1").searched_type == "ImagingStudy"
    history = call("ImagingStudy/1/_history", [("_count", "2")])
    drop_params(named("_count"))(history)  # a search fault leaves the history interaction alone
    assert history.query == [("_count", "2")]


def test_rename_and_rewrite_values_change_only_the_named_parameter() -> None:
    search = call("Patient", [("family", "Doe"), ("given", "Jo")])
    rename_param("family", "family:contains")(search)
    rewrite_values(named("given"), str.upper)(search)
    assert search.query == [("family:contains", "Doe"), ("given", "JO")]


def test_drop_request_header_any_case_and_only_values_that_pass() -> None:
    sent = call("ImagingStudy", headers={"Prefer": "handling=strict", "Accept": "application/fhir+json"})
    drop_request_header("accept", values=lambda v: "xml" in v)(sent)
    drop_request_header("prefer", values=lambda v: "handling" in v)(sent)
    assert sent.headers == {"Accept": "application/fhir+json"}


def test_form_params_reads_a_form_post_and_nothing_else() -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert form_params(call("ImagingStudy/_search", method="POST", headers=form, body=b"status=&_format=xml")) == [
        ("status", ""), ("_format", "xml")]
    assert form_params(call("ImagingStudy/_search", method="POST", body=b"status=x")) is None  # no form content type
    assert form_params(call("ImagingStudy", [("status", "x")])) is None


def test_status_and_header_edits_only_on_the_calls_and_statuses_given() -> None:
    created = ProxyResponse(201, {"etag": 'W/"1"', "location": "x"}, b"")
    set_status(200, calls=lambda c: c.is_create, was=201)(call("ImagingStudy", method="POST"), created)
    assert created.status == 200
    gone = ProxyResponse(410, {}, b"")
    set_status(404, was=201)(call("ImagingStudy/1"), gone)
    assert gone.status == 410
    read = ProxyResponse(200, {"last-modified": "x"}, b"")
    drop_response_header("last-modified", calls=reads())(call("ImagingStudy/_history"), read)
    assert "last-modified" in read.headers
    drop_response_header("Last-Modified", calls=reads("ImagingStudy"))(call("ImagingStudy/1"), read)
    assert "last-modified" not in read.headers


def test_edit_json_edits_the_chosen_bodies_and_ignores_a_non_json_body() -> None:
    metadata = json_response({"resourceType": "CapabilityStatement", "rest": []})
    edit_json(lambda body: body.pop("rest"), calls=path_is("metadata"))(call("metadata/"), metadata)
    assert metadata.json() == {"resourceType": "CapabilityStatement"}
    page = json_response({"resourceType": "Bundle", "type": "history"})
    edit_json(lambda body: body.update(type="collection"), body=bundles("searchset"))(call("ImagingStudy"), page)
    assert page.json()["type"] == "history"
    html = ProxyResponse(200, {"content-type": "text/html"}, b"<html/>")
    edit_json(lambda body: body.clear())(call("metadata"), html)
    assert html.body == b"<html/>"


def test_edit_resources_reaches_bundle_entries_but_not_a_document_served_as_itself() -> None:
    study = {"resourceType": "ImagingStudy", "id": "1", "status": "available"}
    found = json_response(searchset(study, include={"resourceType": "Patient", "id": "p", "status": "x"}))
    edit_resources("ImagingStudy", lambda r: r.pop("status"))(call("ImagingStudy"), found)
    entries = found.json()["entry"]
    assert "status" not in entries[0]["resource"] and entries[1]["resource"]["status"] == "x"
    raw = json.dumps(study).encode()
    served = ProxyResponse(200, {"content-type": "application/json"}, raw)  # a Binary's own JSON bytes
    edit_resources("ImagingStudy", lambda r: r.pop("status"))(call("Binary/1"), served)
    assert served.body == raw


def test_match_by_own_rule_withholds_the_parameter_and_keeps_what_the_rule_accepts() -> None:
    hooks = match_by_own_rule("family", lambda r, v: str(r.get("name", "")).lower() == v.lower(), recount_total=True)
    search = call("Patient", [("family", "DOE,roe"), ("gender", "female")])
    hooks["on_request"](search)
    assert search.query == [("gender", "female")]  # the upstream is asked without it
    upstream = json_response(searchset({"resourceType": "Patient", "name": "doe"}, {"resourceType": "Patient", "name": "Poe"},
                                       include={"resourceType": "Organization"}))
    body = hooks["on_response"](search, upstream).json()
    assert [e["resource"].get("name") for e in body["entry"]] == ["doe", None]  # the include stays
    assert body["total"] == 1  # the match kept; R4 Bundle.total counts no include (it was 2: the include counted)
    stale = json_response({**searchset({"resourceType": "Patient", "name": "Poe"}), "total": 6})
    search_again, rejects_all = call("Patient", [("family", "doe")]), match_by_own_rule("family", lambda r, v: False)
    rejects_all["on_request"](search_again)
    # without recount_total, one page still gets the total of what was kept (not the upstream's 6 without family)
    assert rejects_all["on_response"](search_again, stale).json()["total"] == 0
    paged = json_response({**searchset({"resourceType": "Patient", "name": "Poe"}), "total": 6,
                           "link": [{"relation": "next", "url": f"{BASE}/Patient?_offset=1"}]})
    answered = rejects_all["on_response"](search_again, paged).json()
    assert "total" not in answered  # over pages: unknown, left out
    # the next page is asked for with the withheld parameter again, so the proxy withholds and applies it there too
    assert answered["link"][0]["url"] == f"{BASE}/Patient?_offset=1&family=doe"
    untouched = json_response(searchset({"resourceType": "Patient", "name": "Poe"}))
    other = call("Patient", [("gender", "female")])  # a search without the parameter is left alone
    hooks["on_request"](other)
    assert hooks["on_response"](other, untouched).json()["total"] == 1


def test_outcome_response_is_a_fhir_operation_outcome() -> None:
    answer = outcome_response(503, "transient", "overloaded", severity="fatal", headers={"retry-after": "1"})
    assert answer.status == 503 and answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert answer.json()["issue"] == [{"severity": "fatal", "code": "transient", "diagnostics": "overloaded"}]


def test_search_parameter_faults_also_edit_a_post_search_form() -> None:
    from imgconf.faults.rewrite import drop_params, rewrite_values

    form = {"content-type": "application/x-www-form-urlencoded"}
    post = call("ImagingStudy/_search", [("_count", "4")], method="POST", headers=form, body=b"_sort=-started&modality=CT%2CMR")
    drop_params(named("_sort"))(post)
    assert post.query == [("_count", "4")] and post.body == b"modality=CT%2CMR"
    rewrite_values(named("modality"), lambda v: v.split(",")[0])(post)
    assert post.body == b"modality=CT"
    untouched = call("ImagingStudy/_search", method="POST", headers=form, body=b"status=available")
    drop_params(named("_sort"))(untouched)
    assert untouched.body == b"status=available"  # nothing to edit: the bytes as sent
    withheld = call("Patient/_search", method="POST", headers=form, body=b"family=doe&gender=female")
    hooks = match_by_own_rule("family", lambda r, v: True)
    hooks["on_request"](withheld)
    assert withheld.body == b"gender=female" and withheld.notes["withheld:family"] == ["doe"]


def test_the_case_ignoring_token_rule_is_wrong_only_about_case() -> None:
    from imgconf.faults.matching import _token_ignoring_case

    keep = _token_ignoring_case("identifier")
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.3", "value": "PID-a1"}]}
    assert keep(patient, "pid-A1") and keep(patient, "URN:OID:1.2.3|PID-a1")  # the fault: case ignored
    assert keep(patient, "urn:oid:1.2.3|")  # system| matches any code of the system, as R4 says (it kept none)
    assert not keep(patient, "urn:oid:9|") and not keep(patient, "PID-a2") and not keep(patient, "|PID-a1")


def test_a_match_the_rule_drops_stays_as_the_include_a_kept_match_references() -> None:
    hooks = match_by_own_rule("family", lambda r, v: r.get("name") == v)
    search = call("Patient", [("family", "doe"), ("_include", "Patient:link")])
    hooks["on_request"](search)
    other = {"resourceType": "Patient", "id": "p2", "name": "poe"}
    kept = {"resourceType": "Patient", "id": "p1", "name": "doe", "link": [{"other": {"reference": "Patient/p2"}}]}
    body = hooks["on_response"](search, json_response(searchset(kept, other, {"resourceType": "Patient", "id": "p3"}))).json()
    assert [(e["resource"]["id"], e["search"]["mode"]) for e in body["entry"]] == [("p1", "match"), ("p2", "include")]
    plain = call("Patient", [("family", "doe")])
    hooks["on_request"](plain)  # no _include asked for: the dropped match is simply gone
    assert [e["resource"]["id"] for e in hooks["on_response"](plain, json_response(searchset(kept, other))).json()["entry"]] == ["p1"]


def test_a_link_fault_drops_that_link_and_leaves_no_empty_array() -> None:
    from imgconf.faults import BY_NAME

    def linked(*relations: str) -> ProxyResponse:
        bundle = searchset({"resourceType": "ImagingStudy", "id": "1"})
        bundle["link"] = [{"relation": r, "url": f"{BASE}/ImagingStudy?page={r}"} for r in relations]
        return json_response(bundle)

    hook = BY_NAME["no-self-link"].on_response
    assert hook is not None
    alone = json.loads(hook(call("ImagingStudy"), linked("self")).body)
    assert "link" not in alone  # "link": [] would be a JSON deviation (REST-102) the fault does not mean
    paged = BY_NAME["truncates-paging"].on_response
    assert paged is not None
    assert [lnk["relation"] for lnk in json.loads(paged(call("ImagingStudy"), linked("self", "next")).body)["link"]] == ["self"]
    history = json.loads(hook(call("ImagingStudy/1/_history"), linked("self")).body)
    assert [lnk["relation"] for lnk in history["link"]] == ["self"]  # a history is no search: left alone

"""Named faults: each is a server bug seen in real FHIR servers, tied to requirement ids.

A conformance harness is only as good as the bugs it catches; ``imgconf mutate`` runs the suites
once per fault and reports which checks caught it (issue 5). The same faults are the misbehaving
servers of the project's own tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imgconf.faults.documents import DOCUMENT_FAULTS
from imgconf.faults.matching import MATCHING_FAULTS
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.representation import REPRESENTATION_FAULTS
from imgconf.faults.rest import REST_FAULTS
from imgconf.faults.smart import SMART_FAULTS

ResourceFn = Callable[[dict[str, Any]], None]


# -- building blocks ---------------------------------------------------------------------------

def _drop_param(name: str) -> Callable[[ProxyCall], None]:
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            call.query = [(k, v) for k, v in call.query if k.split(":")[0] != name]
    return hook


def _each_resource(fn: ResourceFn, resource_type: str | None = None) -> Callable[[ProxyCall, ProxyResponse], ProxyResponse]:
    """Apply ``fn`` to the response resource, or to every entry resource of a Bundle."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        body = response.json()
        if not isinstance(body, dict):
            return response
        targets = [e.get("resource") for e in body.get("entry") or []] if body.get("resourceType") == "Bundle" else [body]
        for resource in targets:
            if isinstance(resource, dict) and (resource_type is None or resource.get("resourceType") == resource_type):
                fn(resource)
        response.set_json(body)
        return response
    return hook


def _on_bundle(fn: Callable[[dict[str, Any]], None]) -> Callable[[ProxyCall, ProxyResponse], ProxyResponse]:
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        body = response.json()
        if call.is_search and isinstance(body, dict) and body.get("resourceType") == "Bundle":
            fn(body)
            response.set_json(body)
        return response
    return hook


def _status(when: Callable[[ProxyCall, ProxyResponse], bool], new: int) -> Callable[[ProxyCall, ProxyResponse], ProxyResponse]:
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if when(call, response):
            response.status = new
        return response
    return hook


def _drop_header(name: str, when: Callable[[ProxyCall], bool] = lambda c: True) -> Callable[[ProxyCall, ProxyResponse], ProxyResponse]:
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if when(call):
            response.headers.pop(name.lower(), None)
        return response
    return hook


def _is_read(call: ProxyCall) -> bool:
    parts = [p for p in call.path.split("/") if p]
    return call.method == "GET" and len(parts) == 2 and not parts[1].startswith("_")


# -- resource mutations ------------------------------------------------------------------------

def _prefix_series_uid(study: dict[str, Any]) -> None:
    for series in study.get("series") or []:
        if isinstance(series.get("uid"), str) and not series["uid"].startswith("urn:oid:"):
            series["uid"] = "urn:oid:" + series["uid"]


def _strip_study_uid_prefix(study: dict[str, Any]) -> None:
    for ident in study.get("identifier") or []:
        if ident.get("system") == "urn:dicom:uid" and str(ident.get("value", "")).startswith("urn:oid:"):
            ident["value"] = ident["value"].removeprefix("urn:oid:")


def _bare_sop_class(study: dict[str, Any]) -> None:
    for series in study.get("series") or []:
        for instance in series.get("instance") or []:
            coding = instance.get("sopClass") or {}
            if str(coding.get("code", "")).startswith("urn:oid:"):
                coding["code"] = coding["code"].removeprefix("urn:oid:")


def _transfer_syntax_as_sop_class(study: dict[str, Any]) -> None:
    """Explicit VR Little Endian (a transfer syntax) where the SOP Class UID belongs."""
    for series in study.get("series") or []:
        for instance in series.get("instance") or []:
            if isinstance(instance.get("sopClass"), dict):
                instance["sopClass"]["code"] = "urn:oid:1.2.840.10008.1.2.1"


def _lowercase_modality(study: dict[str, Any]) -> None:
    for series in study.get("series") or []:
        modality = series.get("modality") or {}
        if isinstance(modality.get("code"), str):
            modality["code"] = modality["code"].lower()


def _legacy_modality_system(study: dict[str, Any]) -> None:
    for series in study.get("series") or []:
        if isinstance(series.get("modality"), dict):
            series["modality"]["system"] = "http://nema.org/dicom/dicm"


def _drop_status(resource: dict[str, Any]) -> None:
    resource.pop("status", None)


# -- search mutations --------------------------------------------------------------------------

def _upper_token_values(call: ProxyCall) -> None:
    if call.is_search:
        call.query = [(k, v.upper() if k in ("modality", "status") else v) for k, v in call.query]


def _eq_as_overlap(call: ProxyCall) -> None:
    """The common bug: eq (containment) implemented as overlap (ge + le)."""
    if not call.is_search:
        return
    rewritten: list[tuple[str, str]] = []
    for k, v in call.query:
        if k == "started" and (v[:2].isdigit() or v.startswith("eq")):
            value = v.removeprefix("eq")
            rewritten += [(k, "ge" + value), (k, "le" + value)]
        else:
            rewritten.append((k, v))
    call.query = rewritten


def _study_level_only(param: str, keys: Callable[[dict[str, Any]], set[str]], value_key: Callable[[str], str]) -> dict[str, Any]:
    """A search parameter evaluated on study-level elements only, ignoring series (IS-053, endpoint).

    The parameter is withheld from the upstream search and applied to the returned Bundle instead,
    matching ``value_key(search value)`` against ``keys(study)``.
    """
    header = f"x-imgconf-fault-{param}"

    def on_request(call: ProxyCall) -> None:
        if not call.is_search or call.resource_type != "ImagingStudy":
            return
        wanted = [v for k, v in call.query if k == param]
        if wanted:
            call.query = [(k, v) for k, v in call.query if k != param]
            call.headers[header] = ",".join(wanted)

    def on_response(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        wanted = call.headers.get(header)
        body = response.json()
        if not wanted or not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            return response
        values = {value_key(v) for v in wanted.split(",")}
        body["entry"] = [e for e in body.get("entry") or [] if keys(e.get("resource") or {}) & values]
        body["total"] = len(body["entry"])
        response.set_json(body)
        return response

    return {"on_request": on_request, "on_response": on_response}


def _drop_first_match(bundle: dict[str, Any]) -> None:
    entries = bundle.get("entry") or []
    for i, entry in enumerate(entries):
        if (entry.get("search") or {}).get("mode", "match") == "match":
            del entries[i]
            return


def _next_loops(bundle: dict[str, Any]) -> None:
    links = bundle.setdefault("link", [])
    self_url = next((l["url"] for l in links if l.get("relation") == "self"), None)
    if self_url:
        links[:] = [l for l in links if l.get("relation") != "next"] + [{"relation": "next", "url": self_url}]


def _truncate_paging(bundle: dict[str, Any]) -> None:
    bundle["link"] = [l for l in bundle.get("link") or [] if l.get("relation") != "next"]


def _relative_full_urls(bundle: dict[str, Any]) -> None:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        entry["fullUrl"] = f"{resource.get('resourceType')}/{resource.get('id')}"


def _html_page(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.is_search:
        return ProxyResponse(200, {"content-type": "text/html"}, b"<html><body><h1>Service temporarily unavailable</h1></body></html>")
    return response


def _empty_404_body(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if response.status == 404:
        response.body = b""
        response.headers.pop("content-type", None)
    return response


def _wrong_content_type(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if response.headers.get("content-type", "").startswith("application/fhir+json"):
        response.headers["content-type"] = "text/plain"
    return response


def _accept_everything(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """Swallow validation errors: the server answers 200/201 to a bad create or update."""
    if call.method in ("POST", "PUT") and response.status in (400, 422) and not call.path.endswith("_search"):
        response.status = 201 if call.method == "POST" else 200
        response.set_json({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]})
    return response


def _invalid_date_accepted(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.is_search and response.status == 400:
        return ProxyResponse(200, {"content-type": "application/fhir+json"},
                             b'{"resourceType":"Bundle","type":"searchset","total":0,"link":[]}')
    return response


def _hide_search_param(name: str) -> Callable[[ProxyCall, ProxyResponse], ProxyResponse]:
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        body = response.json()
        if call.path.strip("/") == "metadata" and isinstance(body, dict):
            for rest in body.get("rest") or []:
                for resource in rest.get("resource") or []:
                    resource["searchParam"] = [p for p in resource.get("searchParam") or [] if p.get("name") != name]
            response.set_json(body)
        return response
    return hook


# -- ImagingStudy search and REST faults (issue 3 suites) ---------------------------------------

def _rewrite_values(name: str, fn: Callable[[str], str]) -> Callable[[ProxyCall], None]:
    """Rewrite the values of one search parameter (GET) before the server sees them."""
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            call.query = [(k, fn(v) if k == name else v) for k, v in call.query]
    return hook


def _add_urn_oid_to_bare_uid(value: str) -> str:
    """A server that "helpfully" normalises urn:dicom:uid|1.2.3 to urn:dicom:uid|urn:oid:1.2.3 (IS-051)."""
    system, sep, uid = value.partition("|")
    if sep and system == "urn:dicom:uid" and uid[:1].isdigit():
        return f"{system}|urn:oid:{uid}"
    return value


def _strip_urn_oid(value: str) -> str:
    return ",".join(v.removeprefix("urn:oid:") for v in value.split(","))


def _strip_uid_prefix_in_search(call: ProxyCall) -> None:
    """series=urn:oid:1.2.3 treated as series=1.2.3 (IS-052)."""
    if call.is_search:
        call.query = [(k, _strip_urn_oid(v) if k in ("series", "instance") else v) for k, v in call.query]


def _rename_param(old: str, new: str) -> Callable[[ProxyCall], None]:
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            call.query = [(new if k == old else k, v) for k, v in call.query]
    return hook


def _drop_modified(modifier: str) -> Callable[[ProxyCall], None]:
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            call.query = [(k, v) for k, v in call.query if not k.endswith(":" + modifier)]
    return hook


def _drop_request_header(name: str, when: Callable[[str], bool] = lambda v: True) -> Callable[[ProxyCall], None]:
    def hook(call: ProxyCall) -> None:
        for key in [k for k in call.headers if k.lower() == name.lower()]:
            if when(call.headers[key]):
                del call.headers[key]
    return hook


def _not_json_accept(value: str) -> bool:
    return "json" not in value and "*/*" not in value


def _sa_eb_as_gt_lt(value: str) -> str:
    """sa/eb implemented as gt/lt: overlapping targets wrongly match (REST-072)."""
    swapped = {"sa": "gt", "eb": "lt"}
    return swapped[value[:2]] + value[2:] if value[:2] in swapped else value


def _echo_ignored_params(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """Lenient but dishonest: every sent parameter is echoed in the self link, no OperationOutcome."""
    body = response.json()
    if not call.is_search or call.method != "GET" or not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return response
    from urllib.parse import urlencode  # noqa: PLC0415 - only this fault builds URLs
    self_url = f"{call.base}/{call.path}" + (f"?{urlencode(call.query)}" if call.query else "")
    body["link"] = [{"relation": "self", "url": self_url}] + [
        l for l in body.get("link") or [] if l.get("relation") != "self"]
    body["entry"] = [e for e in body.get("entry") or [] if (e.get("search") or {}).get("mode") != "outcome"]
    response.set_json(body)
    return response


def _includes_as_matches(bundle: dict[str, Any]) -> None:
    for entry in bundle.get("entry") or []:
        if (entry.get("search") or {}).get("mode") == "include":
            entry["search"]["mode"] = "match"


def _total_counts_entries(bundle: dict[str, Any]) -> None:
    if "total" in bundle and bundle.get("entry"):
        bundle["total"] = len(bundle["entry"])


def _started_without_zone(study: dict[str, Any]) -> None:
    """The server drops the time zone from dateTimes with a time (local time stored naively)."""
    value = study.get("started")
    if isinstance(value, str) and "T" in value:
        study["started"] = value[:19]


def _trailing_slash_address(endpoint: dict[str, Any]) -> None:
    if isinstance(endpoint.get("address"), str) and not endpoint["address"].endswith("/"):
        endpoint["address"] += "/"


FAULTS: tuple[Fault, ...] = (
    Fault("create-returns-200", "create answers 200 instead of 201", ("REST-020",),
          on_response=_status(lambda c, r: c.is_create and r.status == 201, 200),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics", "mhd-iti68")),
    Fault("create-without-location", "create answers without a Location header", ("REST-020",),
          on_response=_drop_header("location", lambda c: c.is_create),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("no-etag", "no ETag on create or read", ("REST-011", "REST-021"), on_response=_drop_header("etag"),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("no-last-modified", "no Last-Modified on read", ("REST-011",), on_response=_drop_header("last-modified", _is_read),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("deleted-read-404", "a deleted resource reads as 404 instead of 410", ("REST-013",),
          on_response=_status(lambda c, r: r.status == 410, 404),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("not-found-without-outcome", "404 without an OperationOutcome body", ("REST-012", "REST-030"), on_response=_empty_404_body,
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics", "imagingstudy-unknown-params", "pdqm-iti78")),
    Fault("wrong-content-type", "FHIR JSON served as text/plain", ("REST-001",), on_response=_wrong_content_type,
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics", "mhd-iti68", "workflow-imaging-report")),
    Fault("accepts-invalid-resources", "invalid creates and updates are accepted", ("REST-023", "REST-024", "IS-001", "IS-002"),
          on_response=_accept_everything,
          suites=("imagingstudy-codings", "imagingstudy-crud", "imagingstudy-rest-semantics",
                  "imagingstudy-search-basic", "imagingstudy-search-tokens", "token")),
    Fault("bundle-type-collection", "search Bundle.type is collection", ("REST-040",),
          on_response=_on_bundle(lambda b: b.update(type="collection")),
          suites=("documents-eu-imaging-report", "imagingstudy-identifiers", "imagingstudy-rest-semantics",
                  "imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67", "pdqm-iti78",
                  "workflow-imaging-report")),
    Fault("no-self-link", "search Bundle without a self link", ("REST-042",),
          on_response=_on_bundle(lambda b: b.update(link=[l for l in b.get("link") or [] if l.get("relation") != "self"])),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-unknown-params")),
    Fault("relative-full-urls", "entry.fullUrl is relative", ("REST-044",), on_response=_on_bundle(_relative_full_urls),
          suites=("imagingstudy-search-basic",)),
    Fault("drops-first-match", "one matching resource is missing from the results", ("REST-046",),
          on_response=_on_bundle(_drop_first_match),
          suites=("documents-eu-imaging-report", "enforcement", "imagingstudy-codings", "imagingstudy-identifiers",
                  "imagingstudy-rest-semantics", "imagingstudy-search-basic", "imagingstudy-search-dates",
                  "imagingstudy-search-modifiers", "imagingstudy-search-references", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67",
                  "pdqm-iti78", "workflow-imaging-report")),
    Fault("next-link-loops", "the next link points back to the same page", ("REST-043",), on_response=_on_bundle(_next_loops),
          suites=("documents-eu-imaging-report", "imagingstudy-identifiers", "imagingstudy-rest-semantics",
                  "imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67", "pdqm-iti78",
                  "workflow-imaging-report")),
    Fault("truncates-paging", "no next link although more pages exist", ("REST-043",), on_response=_on_bundle(_truncate_paging),
          suites=("imagingstudy-search-results", "pdqm-iti78")),
    Fault("html-error-page", "searches answer an HTML error page with status 200", ("REST-040", "REST-001"), on_response=_html_page,
          suites=("documents-eu-imaging-report", "enforcement", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-identifiers", "imagingstudy-rest-semantics", "imagingstudy-search-basic",
                  "imagingstudy-search-dates", "imagingstudy-search-modifiers", "imagingstudy-search-references",
                  "imagingstudy-search-results", "imagingstudy-search-tokens", "imagingstudy-unknown-params",
                  "manifests-imaging", "mhd-iti67", "pdqm-iti78", "rest-capability-declarations", "scopes",
                  "workflow-imaging-report")),
    Fault("ignores-modality", "the modality parameter is ignored", ("IS-053",), on_request=_drop_param("modality"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params", "mhd-iti67")),
    Fault("ignores-status", "the status parameter is ignored", ("IS-002", "REST-050"), on_request=_drop_param("status"),
          suites=("imagingstudy-codings", "imagingstudy-crud", "imagingstudy-identifiers",
                  "imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-references",
                  "imagingstudy-search-results", "imagingstudy-search-tokens", "imagingstudy-unknown-params",
                  "mhd-iti67", "workflow-imaging-report")),
    Fault("ignores-patient", "the patient parameter is ignored", ("IS-055", "REST-060"), on_request=_drop_param("patient"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-unknown-params",
                  "mhd-iti67", "workflow-imaging-report")),
    Fault("ignores-started", "the started parameter is ignored", ("REST-072",), on_request=_drop_param("started"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers")),
    Fault("tokens-case-insensitive", "token values are matched case-insensitively", ("REST-055",), on_request=_upper_token_values,
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-references",
                  "imagingstudy-search-results", "imagingstudy-search-tokens", "imagingstudy-unknown-params",
                  "manifests-imaging", "mhd-iti67", "workflow-imaging-report")),
    Fault("date-eq-overlap", "date eq matches overlapping instead of contained ranges", ("REST-072",), on_request=_eq_as_overlap,
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates")),
    Fault("modality-study-level", "modality searches ImagingStudy.modality, not series.modality", ("IS-053",),
          **_study_level_only("modality", lambda r: {m.get("code") for m in r.get("modality") or []},
                             lambda v: v.split("|")[-1]),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params")),
    Fault("invalid-date-accepted", "an invalid date parameter gives an empty 200 instead of 400", ("REST-033",),
          on_response=_invalid_date_accepted,
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-unknown-params",
                  "mhd-iti67")),
    Fault("series-uid-urn-oid", "series.uid carries a urn:oid: prefix", ("IS-022", "IS-024"),
          on_response=_each_resource(_prefix_series_uid, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-identifiers", "imagingstudy-rest-semantics", "mhd-iti68", "workflow-imaging-report")),
    Fault("study-uid-without-prefix", "the Study Instance UID identifier lacks urn:oid:", ("IS-020",),
          on_response=_each_resource(_strip_study_uid_prefix, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-identifiers", "imagingstudy-search-results", "mhd-iti68", "workflow-imaging-report")),
    Fault("sop-class-bare-oid", "sopClass code is a bare OID", ("IS-030", "IS-031"),
          on_response=_each_resource(_bare_sop_class, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-search-tokens", "mhd-iti68",
                  "workflow-imaging-report")),
    Fault("sop-class-transfer-syntax", "sopClass holds a transfer syntax UID instead of a SOP Class UID", ("DICOM-010",),
          on_response=_each_resource(_transfer_syntax_as_sop_class, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-search-tokens", "mhd-iti68",
                  "workflow-imaging-report")),
    Fault("modality-lowercase", "series.modality codes are lower case", ("IS-033",),
          on_response=_each_resource(_lowercase_modality, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-search-basic",
                  "imagingstudy-search-modifiers", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "mhd-iti68", "workflow-imaging-report")),
    Fault("legacy-modality-system", "series.modality uses the retired nema.org system", ("IS-033", "IS-034"),
          on_response=_each_resource(_legacy_modality_system, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-search-basic",
                  "imagingstudy-search-tokens", "mhd-iti68", "workflow-imaging-report")),
    Fault("metadata-hides-modality", "the CapabilityStatement does not declare modality (search still works)", ("IS-050", "REST-092"),
          on_response=_hide_search_param("modality"),
          suites=("imagingstudy-crud", "imagingstudy-search-references", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "rest-capability-declarations")),
    Fault("drops-status", "ImagingStudy.status missing from responses", ("IS-001",),
          on_response=_each_resource(_drop_status, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-rest-semantics", "imagingstudy-search-basic", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "mhd-iti68", "workflow-imaging-report")),
    Fault("study-uid-prefix-tolerant", "identifier=urn:dicom:uid|<bare UID> matches the urn:oid: form", ("IS-051",),
          on_request=_rewrite_values("identifier", _add_urn_oid_to_bare_uid),
          suites=("imagingstudy-identifiers", "imagingstudy-search-results")),
    Fault("series-uid-prefix-tolerant", "series= and instance= strip a urn:oid: prefix before matching", ("IS-052",),
          on_request=_strip_uid_prefix_in_search,
          suites=("imagingstudy-identifiers",)),
    Fault("echoes-ignored-params", "unknown parameters are ignored but echoed in the self link, with no OperationOutcome",
          ("REST-042", "REST-034"), on_response=_echo_ignored_params,
          suites=("imagingstudy-search-modifiers", "imagingstudy-unknown-params", "mhd-iti67")),
    Fault("ignores-strict-handling", "Prefer: handling=strict is ignored (unknown parameters never rejected)", ("REST-034",),
          on_request=_drop_request_header("prefer", lambda v: "handling" in v),
          suites=("imagingstudy-search-modifiers", "imagingstudy-unknown-params", "mhd-iti67")),
    Fault("ignores-sort", "_sort is ignored", ("REST-086",), on_request=_drop_param("_sort"),
          suites=("imagingstudy-search-results", "imagingstudy-unknown-params")),
    Fault("ignores-count", "_count is ignored (all matches on one page)", ("REST-085",), on_request=_drop_param("_count"),
          suites=("imagingstudy-search-results", "pdqm-iti78")),
    Fault("includes-as-matches", "_include results are marked search.mode = match", ("REST-045", "REST-083"),
          on_response=_on_bundle(_includes_as_matches),
          suites=("imagingstudy-codings", "imagingstudy-search-results")),
    Fault("total-counts-includes", "Bundle.total counts every entry, includes too", ("REST-041",),
          on_response=_on_bundle(_total_counts_entries),
          suites=("imagingstudy-search-results",)),
    Fault("ignores-if-match", "If-Match is ignored: stale updates overwrite", ("REST-025",),
          on_request=_drop_request_header("if-match"),
          suites=("imagingstudy-rest-semantics",)),
    Fault("ignores-if-none-exist", "If-None-Exist is ignored: conditional creates duplicate", ("REST-026",),
          on_request=_drop_request_header("if-none-exist"),
          suites=("imagingstudy-rest-semantics",)),
    Fault("date-sa-eb-as-gt-lt", "sa/eb behave like gt/lt (overlapping targets match)", ("REST-072",),
          on_request=_rewrite_values("started", _sa_eb_as_gt_lt),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates")),
    Fault("ignores-missing", ":missing parameters are ignored", ("REST-080",), on_request=_drop_modified("missing"),
          suites=("imagingstudy-search-modifiers",)),
    Fault("lastupdated-case-insensitive", "_lastupdated is read as _lastUpdated", ("REST-090",),
          on_request=_rename_param("_lastupdated", "_lastUpdated"),
          suites=("imagingstudy-search-dates", "imagingstudy-unknown-params")),
    Fault("patient-matches-any-subject", "patient= is searched like subject= (Device and Group subjects match)", ("IS-055",),
          on_request=_rename_param("patient", "subject"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-references")),
    Fault("endpoint-study-level-only", "endpoint searches ImagingStudy.endpoint, not series.endpoint", ("REST-060", "IS-048"),
          **_study_level_only("endpoint", lambda r: {str(e.get("reference", "")).split("/")[-1] for e in r.get("endpoint") or []},
                             lambda v: v.rstrip("/").split("/")[-1]),
          suites=("imagingstudy-codings", "imagingstudy-search-basic", "imagingstudy-search-references",
                  "imagingstudy-search-results")),
    Fault("ignores-summary", "_summary is ignored", ("REST-087",), on_request=_drop_param("_summary"),
          suites=("imagingstudy-search-results",)),
    # Legal: R4 search.html "Servers are not obliged to return just the requested elements" (full resources, no tag).
    Fault("ignores-elements", "_elements is ignored (full resources, not tagged SUBSETTED)", ("REST-088",),
          on_request=_drop_param("_elements"), benign=True, suites=("imagingstudy-search-results",)),
    Fault("ignores-unsupported-accept", "an Accept the server cannot serve is answered with JSON instead of 406", ("REST-003",),
          on_request=_drop_request_header("accept", _not_json_accept),
          suites=("imagingstudy-rest-semantics", "mhd-iti68")),
    Fault("endpoint-trailing-slash", "Endpoint.address gains a trailing slash", ("IS-041",),
          on_response=_each_resource(_trailing_slash_address, "Endpoint"),
          suites=("imagingstudy-codings",)),
    Fault("started-without-timezone", "ImagingStudy.started loses its time zone", ("IS-014",),
          on_response=_each_resource(_started_without_zone, "ImagingStudy"),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-search-dates", "mhd-iti68", "workflow-imaging-report")),
)

FAULTS = FAULTS + SMART_FAULTS  # catalogue §D, in imgconf/faults/smart.py
FAULTS = FAULTS + DOCUMENT_FAULTS  # catalogue §C/§E/§F, in imgconf/faults/documents.py
FAULTS = FAULTS + REST_FAULTS  # REST interactions and result parameters, in imgconf/faults/rest.py
FAULTS = FAULTS + MATCHING_FAULTS  # string and token matching rules, in imgconf/faults/matching.py
FAULTS = FAULTS + REPRESENTATION_FAULTS  # JSON representation and Bundle invariants, in imgconf/faults/representation.py
BY_NAME = {fault.name: fault for fault in FAULTS}

"""ImagingStudy faults: the REST, search and representation bugs of imaging FHIR servers (issue 3
suites), each seen in real servers and tied to requirement ids.

A conformance harness is only as good as the bugs it catches; ``imgconf mutate`` runs the suites
once per fault and reports which checks caught it (issue 5). The same faults are the misbehaving
servers of the project's own tests. Every fault of every module: ``imgconf.faults.registry``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse, ResponseHook
from imgconf.faults.rewrite import (
    JsonEdit,
    JsonObject,
    bundles,
    creates,
    drop_params,
    drop_request_header,
    drop_response_header,
    edit_json,
    edit_json_with_call,
    edit_resources,
    ignore_params,
    match_by_own_rule,
    modified_by,
    named,
    path_is,
    reads,
    rename_param,
    rewrite_values,
    searches,
    set_status,
)


def _search_bundles(edit: JsonEdit) -> ResponseHook:
    """``edit`` the Bundle answered to a search."""
    return edit_json(edit, calls=searches, body=bundles())


# -- resource mutations ------------------------------------------------------------------------

def _series(study: JsonObject) -> list[JsonObject]:
    return [s for s in study.get("series") or [] if isinstance(s, dict)]


def _sop_classes(study: JsonObject) -> list[JsonObject]:
    """The sopClass Coding of every instance of every series."""
    return [i["sopClass"] for s in _series(study) for i in s.get("instance") or [] if isinstance(i.get("sopClass"), dict)]


def _modalities(study: JsonObject) -> list[JsonObject]:
    """The modality Coding of every series."""
    return [s["modality"] for s in _series(study) if isinstance(s.get("modality"), dict)]


def _prefix_series_uid(study: JsonObject) -> None:
    for series in _series(study):
        if isinstance(series.get("uid"), str) and not series["uid"].startswith("urn:oid:"):
            series["uid"] = "urn:oid:" + series["uid"]


def _strip_study_uid_prefix(study: JsonObject) -> None:
    for ident in study.get("identifier") or []:
        if ident.get("system") == "urn:dicom:uid" and str(ident.get("value", "")).startswith("urn:oid:"):
            ident["value"] = ident["value"].removeprefix("urn:oid:")


def _bare_sop_class(study: JsonObject) -> None:
    for coding in _sop_classes(study):
        if str(coding.get("code", "")).startswith("urn:oid:"):
            coding["code"] = coding["code"].removeprefix("urn:oid:")


def _transfer_syntax_as_sop_class(study: JsonObject) -> None:
    """Explicit VR Little Endian (a transfer syntax) where the SOP Class UID belongs."""
    for coding in _sop_classes(study):
        coding["code"] = "urn:oid:1.2.840.10008.1.2.1"


def _lowercase_modality(study: JsonObject) -> None:
    for coding in _modalities(study):
        if isinstance(coding.get("code"), str):
            coding["code"] = coding["code"].lower()


def _legacy_modality_system(study: JsonObject) -> None:
    for coding in _modalities(study):
        coding["system"] = "http://nema.org/dicom/dicm"


def _drop_status(resource: JsonObject) -> None:
    resource.pop("status", None)


# -- search mutations --------------------------------------------------------------------------

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


def _has_modality_code(study: JsonObject, value: str) -> bool:
    """modality=[system|]code matched against ImagingStudy.modality (the study level) only (IS-053)."""
    return value.split("|")[-1] in {m.get("code") for m in study.get("modality") or []}


def _has_study_endpoint(study: JsonObject, value: str) -> bool:
    """endpoint=[ref] matched against ImagingStudy.endpoint only, not series.endpoint (IS-048)."""
    wanted = value.rstrip("/").split("/")[-1]
    return wanted in {str(e.get("reference", "")).split("/")[-1] for e in study.get("endpoint") or []}


def _drop_first_match(bundle: JsonObject) -> None:
    entries = bundle.get("entry") or []
    for i, entry in enumerate(entries):
        if (entry.get("search") or {}).get("mode", "match") == "match":
            del entries[i]
            return


def _next_loops(bundle: JsonObject) -> None:
    links = bundle.setdefault("link", [])
    self_url = next((link["url"] for link in links if link.get("relation") == "self"), None)
    if self_url:
        links[:] = [link for link in links if link.get("relation") != "next"] + [{"relation": "next", "url": self_url}]


def _without_links(relation: str) -> JsonEdit:
    def edit(bundle: JsonObject) -> None:
        kept = [link for link in bundle.get("link") or [] if link.get("relation") != relation]
        if kept:
            bundle["link"] = kept
        else:  # no "link": [] — an empty array is a JSON deviation of its own (REST-102), not this fault's
            bundle.pop("link", None)
    return edit


def _relative_full_urls(bundle: JsonObject) -> None:
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


def _without_search_param(name: str) -> JsonEdit:
    """A CapabilityStatement that does not declare search parameter ``name``."""
    def edit(capability: JsonObject) -> None:
        for rest in capability.get("rest") or []:
            for resource in rest.get("resource") or []:
                resource["searchParam"] = [p for p in resource.get("searchParam") or [] if p.get("name") != name]
    return edit


def _add_urn_oid_to_bare_uid(value: str) -> str:
    """A server that "helpfully" normalises urn:dicom:uid|1.2.3 to urn:dicom:uid|urn:oid:1.2.3 (IS-051)."""
    system, sep, uid = value.partition("|")
    if sep and system == "urn:dicom:uid" and uid[:1].isdigit():
        return f"{system}|urn:oid:{uid}"
    return value


def _strip_urn_oid(value: str) -> str:
    """series=urn:oid:1.2.3 treated as series=1.2.3 (IS-052)."""
    return ",".join(v.removeprefix("urn:oid:") for v in value.split(","))


def _not_json_accept(value: str) -> bool:
    return "json" not in value and "*/*" not in value


def _sa_eb_as_gt_lt(value: str) -> str:
    """sa/eb implemented as gt/lt: overlapping targets wrongly match (REST-072)."""
    swapped = {"sa": "gt", "eb": "lt"}
    return swapped[value[:2]] + value[2:] if value[:2] in swapped else value


def _get_searches(call: ProxyCall) -> bool:
    return call.is_search and call.method == "GET"


def _echo_sent_params(call: ProxyCall, bundle: JsonObject) -> None:
    """Lenient but dishonest: every sent parameter is echoed in the self link, no OperationOutcome."""
    self_url = f"{call.base}/{call.path}" + (f"?{urlencode(call.query)}" if call.query else "")
    bundle["link"] = [{"relation": "self", "url": self_url}] + [
        link for link in bundle.get("link") or [] if link.get("relation") != "self"]
    bundle["entry"] = [e for e in bundle.get("entry") or [] if (e.get("search") or {}).get("mode") != "outcome"]


def _includes_as_matches(bundle: JsonObject) -> None:
    for entry in bundle.get("entry") or []:
        if (entry.get("search") or {}).get("mode") == "include":
            entry["search"]["mode"] = "match"


def _total_counts_entries(bundle: JsonObject) -> None:
    if "total" in bundle and bundle.get("entry"):
        bundle["total"] = len(bundle["entry"])


def _started_without_zone(study: JsonObject) -> None:
    """The server drops the time zone from dateTimes with a time (local time stored naively)."""
    value = study.get("started")
    if isinstance(value, str) and "T" in value:
        study["started"] = value[:19]


def _trailing_slash_address(endpoint: JsonObject) -> None:
    if isinstance(endpoint.get("address"), str) and not endpoint["address"].endswith("/"):
        endpoint["address"] += "/"


IMAGINGSTUDY_FAULTS: tuple[Fault, ...] = (
    Fault("create-returns-200", "create answers 200 instead of 201", ("REST-020",),
          on_response=set_status(200, calls=creates, was=201),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("create-without-location", "create answers without a Location header", ("REST-020",),
          on_response=drop_response_header("location", calls=creates),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("no-etag", "no ETag on create or read", ("REST-011", "REST-021"), on_response=drop_response_header("etag"),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("no-last-modified", "no Last-Modified on read", ("REST-011",), on_response=drop_response_header("last-modified", calls=reads()),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("deleted-read-404", "a deleted resource reads as 404 instead of 410", ("REST-013",),
          on_response=set_status(404, was=410),
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
          on_response=_search_bundles(lambda b: b.update(type="collection")),
          search=True, suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-identifiers",
                  "imagingstudy-rest-semantics", "imagingstudy-search-basic", "imagingstudy-search-dates",
                  "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67", "pdqm-iti78",
                  "workflow-imaging-report")),
    Fault("no-self-link", "search Bundle without a self link", ("REST-042",),
          on_response=_search_bundles(_without_links("self")),
          search=True, suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-unknown-params")),
    Fault("relative-full-urls", "entry.fullUrl is relative", ("REST-044",), on_response=_search_bundles(_relative_full_urls),
          search=True, suites=("imagingstudy-search-basic",)),
    Fault("drops-first-match", "one matching resource is missing from the results", ("REST-046",),
          on_response=_search_bundles(_drop_first_match),
          search=True, suites=("dicomweb-crosscheck", "documents-eu-imaging-report", "enforcement", "imagingstudy-codings",
                  "imagingstudy-identifiers", "imagingstudy-rest-semantics", "imagingstudy-search-basic",
                  "imagingstudy-search-dates", "imagingstudy-search-modifiers", "imagingstudy-search-references",
                  "imagingstudy-search-results", "imagingstudy-search-tokens", "imagingstudy-unknown-params",
                  "manifests-imaging", "mhd-iti67", "pdqm-iti78", "workflow-imaging-report")),
    Fault("next-link-loops", "the next link points back to the same page", ("REST-043",), on_response=_search_bundles(_next_loops),
          search=True, suites=("documents-eu-imaging-report", "imagingstudy-identifiers", "imagingstudy-rest-semantics",
                  "imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67", "pdqm-iti78",
                  "workflow-imaging-report")),
    Fault("truncates-paging", "no next link although more pages exist", ("REST-043",), on_response=_search_bundles(_without_links("next")),
          search=True, suites=("imagingstudy-search-results", "pdqm-iti78")),
    Fault("html-error-page", "searches answer an HTML error page with status 200", ("REST-040", "REST-001"), on_response=_html_page,
          search=True, not_fuzzable="GET metadata gets the HTML page too: no CapabilityStatement to plan a search from",
          suites=("dicomweb-crosscheck", "dicomweb-crosscheck-readonly", "documents-eu-imaging-report",
                  "enforcement", "imagingstudy-codings", "imagingstudy-crud", "imagingstudy-identifiers",
                  "imagingstudy-rest-semantics", "imagingstudy-search-basic", "imagingstudy-search-dates",
                  "imagingstudy-search-modifiers", "imagingstudy-search-references", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67",
                  "pdqm-iti78", "rest-capability-declarations", "scopes", "workflow-imaging-report")),
    Fault("ignores-modality", "the modality parameter is ignored", ("IS-053",), on_request=ignore_params("modality"),
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params", "mhd-iti67")),
    Fault("ignores-status", "the status parameter is ignored", ("IS-002", "REST-050"), on_request=ignore_params("status"),
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("imagingstudy-codings", "imagingstudy-crud", "imagingstudy-identifiers",
                  "imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-references",
                  "imagingstudy-search-results", "imagingstudy-search-tokens", "imagingstudy-unknown-params",
                  "mhd-iti67", "workflow-imaging-report")),
    Fault("ignores-patient", "the patient parameter is ignored", ("IS-055", "REST-060"), on_request=ignore_params("patient"),
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-unknown-params",
                  "mhd-iti67", "workflow-imaging-report")),
    Fault("ignores-started", "the started parameter is ignored", ("REST-072",), on_request=ignore_params("started"),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers")),
    Fault("tokens-case-insensitive", "token values are matched case-insensitively", ("REST-055",),
          on_request=rewrite_values(named("modality", "status"), str.upper),
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-references",
                  "imagingstudy-search-results", "imagingstudy-search-tokens", "imagingstudy-unknown-params",
                  "manifests-imaging", "mhd-iti67", "workflow-imaging-report")),
    Fault("date-eq-overlap", "date eq matches overlapping instead of contained ranges", ("REST-072",), on_request=_eq_as_overlap,
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates")),
    Fault("modality-study-level", "modality searches ImagingStudy.modality, not series.modality", ("IS-053",),
          **match_by_own_rule("modality", _has_modality_code, resource_type="ImagingStudy", recount_total=True),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params")),
    Fault("invalid-date-accepted", "an invalid date parameter gives an empty 200 instead of 400", ("REST-033",),
          on_response=_invalid_date_accepted, search=True,
          not_fuzzable="the generator sends only valid dates (and judges no refusal): never the 400 this fault hides",
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-unknown-params",
                  "mhd-iti67")),
    Fault("series-uid-urn-oid", "series.uid carries a urn:oid: prefix", ("IS-022", "IS-024"),
          on_response=edit_resources("ImagingStudy", _prefix_series_uid),
          suites=("dicomweb-crosscheck", "documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-identifiers", "imagingstudy-rest-semantics", "mhd-iti68", "workflow-imaging-report")),
    Fault("study-uid-without-prefix", "the Study Instance UID identifier lacks urn:oid:", ("IS-020",),
          on_response=edit_resources("ImagingStudy", _strip_study_uid_prefix),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-identifiers", "imagingstudy-search-results", "mhd-iti68", "workflow-imaging-report")),
    Fault("sop-class-bare-oid", "sopClass code is a bare OID", ("IS-030", "IS-031"),
          on_response=edit_resources("ImagingStudy", _bare_sop_class),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-search-tokens", "mhd-iti68",
                  "workflow-imaging-report")),
    Fault("sop-class-transfer-syntax", "sopClass holds a transfer syntax UID instead of a SOP Class UID", ("DICOM-010",),
          on_response=edit_resources("ImagingStudy", _transfer_syntax_as_sop_class),
          suites=("dicomweb-crosscheck", "documents-eu-imaging-report", "imagingstudy-codings",
                  "imagingstudy-search-tokens", "mhd-iti68", "workflow-imaging-report")),
    Fault("modality-lowercase", "series.modality codes are lower case", ("IS-033",),
          on_response=edit_resources("ImagingStudy", _lowercase_modality),
          suites=("dicomweb-crosscheck", "documents-eu-imaging-report", "imagingstudy-codings",
                  "imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params", "mhd-iti68",
                  "workflow-imaging-report")),
    Fault("legacy-modality-system", "series.modality uses the retired nema.org system", ("IS-033", "IS-034"),
          on_response=edit_resources("ImagingStudy", _legacy_modality_system),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-search-basic",
                  "imagingstudy-search-tokens", "mhd-iti68", "workflow-imaging-report")),
    Fault("metadata-hides-modality", "the CapabilityStatement does not declare modality (search still works)", ("IS-050", "REST-092"),
          on_response=edit_json(_without_search_param("modality"), calls=path_is("metadata")),
          suites=("imagingstudy-crud", "imagingstudy-search-references", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "rest-capability-declarations")),
    Fault("drops-status", "ImagingStudy.status missing from responses", ("IS-001",),
          on_response=edit_resources("ImagingStudy", _drop_status),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-rest-semantics", "imagingstudy-search-basic", "imagingstudy-search-modifiers",
                  "imagingstudy-search-references", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "mhd-iti68", "workflow-imaging-report")),
    Fault("study-uid-prefix-tolerant", "identifier=urn:dicom:uid|<bare UID> matches the urn:oid: form", ("IS-051",),
          on_request=rewrite_values(named("identifier"), _add_urn_oid_to_bare_uid),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-identifiers", "imagingstudy-search-results")),
    Fault("series-uid-prefix-tolerant", "series= and instance= strip a urn:oid: prefix before matching", ("IS-052",),
          on_request=rewrite_values(named("series", "instance"), _strip_urn_oid),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-identifiers",)),
    Fault("echoes-ignored-params", "unknown parameters are ignored but echoed in the self link, with no OperationOutcome",
          ("REST-042", "REST-034"), on_response=edit_json_with_call(_echo_sent_params, calls=_get_searches, body=bundles()),
          search=True, suites=("imagingstudy-search-modifiers", "imagingstudy-unknown-params", "mhd-iti67")),
    Fault("ignores-strict-handling", "Prefer: handling=strict is ignored (unknown parameters never rejected)", ("REST-034",),
          on_request=drop_request_header("prefer", values=lambda v: "handling" in v), search=True,
          not_fuzzable="the fuzzer sends no Prefer header",
          suites=("imagingstudy-search-modifiers", "imagingstudy-unknown-params", "mhd-iti67")),
    Fault("ignores-sort", "_sort is ignored", ("REST-086",), on_request=ignore_params("_sort"),
          search=True, suites=("imagingstudy-search-results", "imagingstudy-unknown-params")),
    Fault("ignores-count", "_count is ignored (all matches on one page)", ("REST-085",), on_request=ignore_params("_count"),
          search=True, suites=("imagingstudy-search-results", "pdqm-iti78")),
    Fault("includes-as-matches", "_include results are marked search.mode = match", ("REST-045", "REST-083"),
          on_response=_search_bundles(_includes_as_matches),
          search=True, suites=("imagingstudy-codings", "imagingstudy-search-results")),
    Fault("total-counts-includes", "Bundle.total counts every entry, includes too", ("REST-041",),
          on_response=_search_bundles(_total_counts_entries),
          search=True, suites=("imagingstudy-search-results",)),
    Fault("ignores-if-match", "If-Match is ignored: stale updates overwrite", ("REST-025",),
          on_request=drop_request_header("if-match"),
          suites=("imagingstudy-rest-semantics",)),
    Fault("ignores-if-none-exist", "If-None-Exist is ignored: conditional creates duplicate", ("REST-026",),
          on_request=drop_request_header("if-none-exist"),
          suites=("imagingstudy-rest-semantics",)),
    Fault("date-sa-eb-as-gt-lt", "sa/eb behave like gt/lt (overlapping targets match)", ("REST-072",),
          on_request=rewrite_values(named("started"), _sa_eb_as_gt_lt),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-search-basic", "imagingstudy-search-dates")),
    Fault("ignores-missing", ":missing parameters are ignored", ("REST-080",), on_request=drop_params(modified_by("missing")),
          search=True, suites=("imagingstudy-search-modifiers",)),
    Fault("lastupdated-case-insensitive", "_lastupdated is read as _lastUpdated", ("REST-090",),
          on_request=rename_param("_lastupdated", "_lastUpdated"), search=True,
          not_fuzzable="the generator sends only known parameters, never the misspelt _lastupdated",
          suites=("imagingstudy-search-dates", "imagingstudy-unknown-params")),
    Fault("patient-matches-any-subject", "patient= is searched like subject= (Device and Group subjects match)", ("IS-055",),
          on_request=rename_param("patient", "subject"),
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-references")),
    Fault("endpoint-study-level-only", "endpoint searches ImagingStudy.endpoint, not series.endpoint", ("REST-060", "IS-048"),
          **match_by_own_rule("endpoint", _has_study_endpoint, resource_type="ImagingStudy", recount_total=True),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-codings", "imagingstudy-search-basic", "imagingstudy-search-references",
                  "imagingstudy-search-results")),
    Fault("ignores-summary", "_summary is ignored", ("REST-087",), on_request=ignore_params("_summary"),
          search=True, not_fuzzable="the generator never sends _summary", suites=("imagingstudy-search-results",)),
    # Legal: R4 search.html "Servers are not obliged to return just the requested elements" (full resources, no tag).
    Fault("ignores-elements", "_elements is ignored (full resources, not tagged SUBSETTED)", ("REST-088",),
          on_request=ignore_params("_elements"), benign=True, search=True, suites=("imagingstudy-search-results",)),
    Fault("ignores-unsupported-accept", "an Accept the server cannot serve is answered with JSON instead of 406", ("REST-003",),
          on_request=drop_request_header("accept", values=_not_json_accept),
          suites=("imagingstudy-rest-semantics", "mhd-iti67", "mhd-iti68", "pdqm-iti78")),
    Fault("endpoint-trailing-slash", "Endpoint.address gains a trailing slash", ("IS-041",),
          on_response=edit_resources("Endpoint", _trailing_slash_address),
          suites=("dicomweb-crosscheck", "imagingstudy-codings")),
    Fault("started-without-timezone", "ImagingStudy.started loses its time zone", ("IS-014",),
          on_response=edit_resources("ImagingStudy", _started_without_zone),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud",
                  "imagingstudy-search-dates", "mhd-iti68", "workflow-imaging-report")),
)


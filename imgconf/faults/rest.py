"""More named faults: RESTful interactions and search result parameters (catalogue §B REST-0xx, IS-05x).

Each is a bug real FHIR servers have shipped; ``imgconf mutate`` must catch every one.
"""

from __future__ import annotations

from urllib.parse import urlencode

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse, ResponseHook
from imgconf.faults.rewrite import (
    CallJsonEdit,
    JsonEdit,
    JsonObject,
    bundles,
    edit_json,
    edit_json_with_call,
    form_params,
    ignore_params,
    instance_history,
    modified_by,
    outcome_response,
    rename_params,
    rewrite_values,
    searches,
    set_status,
    with_any_modifier,
)
from imgconf.reference.fhirhttp import XML_FORMATS  # what the reference server answers in XML
from imgconf.searchparams import get_param, parse_query
from imgconf.searchparams.sort import lacks_sort_value


def _searchsets(edit: JsonEdit) -> ResponseHook:
    """``edit`` every searchset Bundle (a page of any search, POST _search pages included)."""
    return edit_json(edit, body=bundles("searchset"))


# -- interactions ------------------------------------------------------------------------------

def _vread_as_read(call: ProxyCall) -> None:
    parts = call.segments
    if call.method == "GET" and len(parts) == 4 and parts[2] == "_history":
        call.path = "/".join(parts[:2])


def _compartment_unfiltered(call: ProxyCall) -> None:
    """Patient/123/ImagingStudy served as a plain ImagingStudy search (the compartment is ignored)."""
    parts = call.segments
    if call.method == "GET" and len(parts) == 3 and parts[0] == "Patient" and parts[2][:1].isupper():
        call.path = parts[2]


def _post_search_empty_body(call: ProxyCall) -> None:
    if call.method == "POST" and call.path.rstrip("/").endswith("_search"):
        call.body = b""


# -- search parameters ------------------------------------------------------------------------

def _first_value(value: str) -> str:
    """modality=CT,MR searched as modality=CT: the comma (OR) is not understood (REST-057)."""
    return value.split(",")[0]


def _not_a_result_param(name: str) -> bool:
    return not name.startswith("_")


def _flip(value: str) -> str:
    return {"true": "false", "false": "true"}.get(value, value)


# -- modifiers (REST-056, REST-061, REST-082) --------------------------------------------------

OPTIONAL_MODIFIERS = {"not", "text", "of-type", "identifier", "above", "below", "in", "not-in"}


def _optional_modifier(resource_type: str, name: str) -> bool:
    """A modifier R4 lets a server leave unsupported: the MAY token/reference ones, and the string
    modifiers :exact/:contains on a token (not valid there at all). :missing is required (REST-080)."""
    base, _, modifier = name.partition(":")
    if not modifier or base.startswith("_"):
        return False
    if modifier in OPTIONAL_MODIFIERS:
        return True
    param = get_param(resource_type, base)
    return modifier in ("exact", "contains") and param is not None and param.type == "token"


def _refuse_optional_modifiers(call: ProxyCall) -> ProxyResponse | None:
    """A legal server that supports none of the optional modifiers: 400 + OperationOutcome (REST-082)."""
    if not call.is_search:
        return None
    sent = call.query + (form_params(call) or [])
    refused = [name for name, _ in sent if _optional_modifier(call.resource_type, name)]
    if not refused:
        return None
    return outcome_response(400, "not-supported", f"modifier not supported: {', '.join(refused)}")


# -- result parameters: _sort, _summary/_elements ------------------------------------------------

def _sort_missing_first(call: ProxyCall, bundle: JsonObject) -> None:
    """Matches without a value for the first _sort key moved to the front of each page: legal, R4 leaves their place
    open. (Only the first key: a match that has it but lacks a later one must still be ordered by the first.)"""
    sort = parse_query(call.resource_type, call.query).sort[:1]
    entries = bundle.get("entry") or []
    if not sort or not entries:
        return

    def unkeyed(entry: JsonObject) -> bool:
        resource = entry.get("resource")
        return (entry.get("search") or {}).get("mode") == "match" and isinstance(resource, dict) and lacks_sort_value(resource, sort)
    bundle["entry"] = [e for e in entries if unkeyed(e)] + [e for e in entries if not unkeyed(e)]


def _drop_subsetted_tag(bundle: JsonObject) -> None:
    """The server subsets (_elements, _summary) but does not mark the partial resources SUBSETTED."""
    for entry in bundle.get("entry") or []:
        meta = (entry.get("resource") or {}).get("meta") or {}
        if meta.get("tag"):
            meta["tag"] = [t for t in meta["tag"] if t.get("code") != "SUBSETTED"]


# -- searchset Bundles ------------------------------------------------------------------------

def _total_is_page_size(bundle: JsonObject) -> None:
    if "total" in bundle:
        bundle["total"] = sum(1 for e in bundle.get("entry") or [] if (e.get("search") or {}).get("mode", "match") == "match") + 1


def _no_bundle_type(bundle: JsonObject) -> None:
    bundle.pop("type", None)


def _no_search_mode(bundle: JsonObject) -> None:
    for entry in bundle.get("entry") or []:
        entry.pop("search", None)


# -- formats (REST-001/002/003, MHD-008, PDQ-009) --------------------------------------------

_XML_SUITES = ("imagingstudy-rest-semantics", "mhd-iti67", "pdqm-iti78")  # the suites that send XML requests
_ASKED_XML = "asked-xml"  # ProxyCall.notes: the request hook turned an XML request into a JSON one


def _asks_xml(call: ProxyCall) -> bool:
    """`_format` (query or POST _search form) names XML, or else the first Accept type is XML."""
    pairs = list(call.query) + (form_params(call) or [])
    fmt = next((v for k, v in pairs if k == "_format"), None)
    if fmt is not None:
        return fmt.split(";")[0].strip().lower() in XML_FORMATS
    first = call.headers.get("accept", "").split(",")[0].split(";")[0].strip().lower()
    return first in XML_FORMATS - {"xml"}


def _ask_json_instead(call: ProxyCall) -> None:
    """A server without XML that answers JSON anyway: the XML request goes upstream as a JSON one."""
    if not _asks_xml(call):
        return
    call.query = [(k, "json" if k == "_format" else v) for k, v in call.query]
    form = form_params(call)
    if form is not None:
        call.body = urlencode([(k, "json" if k == "_format" else v) for k, v in form]).encode()
    call.headers["accept"] = "application/fhir+json"
    call.notes[_ASKED_XML] = True


def _json_labelled_xml(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.notes.get(_ASKED_XML) and response.headers.get("content-type", "").startswith("application/fhir+json"):
        response.headers["content-type"] = "application/fhir+xml; charset=utf-8"
    return response


def _refuse_xml(call: ProxyCall) -> ProxyResponse | None:
    return outcome_response(406, "not-supported", "XML is not supported") if _asks_xml(call) else None


# -- instance history (REST-104) --------------------------------------------------------------

_HISTORY_SUITES = ("rest-history",)


def _history(edit: JsonEdit) -> ResponseHook:
    return edit_json(edit, calls=instance_history, body=bundles("history"))


def _oldest_first(bundle: JsonObject) -> None:
    bundle["entry"] = list(reversed(bundle.get("entry") or []))


def _drop_entry_part(part: str) -> JsonEdit:
    def edit(bundle: JsonObject) -> None:
        for entry in bundle.get("entry") or []:
            entry.pop(part, None)
    return edit


def _without_deletions(bundle: JsonObject) -> None:
    bundle["entry"] = [e for e in bundle.get("entry") or [] if (e.get("request") or {}).get("method") != "DELETE"]
    bundle["total"] = len(bundle["entry"])


def _history_not_supported(call: ProxyCall) -> ProxyResponse | None:
    """A server without the history interaction (R4 makes it optional): 405 + OperationOutcome."""
    return outcome_response(405, "not-supported", "history is not supported") if instance_history(call) else None


def _unstable_order() -> CallJsonEdit:
    """Every second read of the same history comes back oldest first (an unordered store query)."""
    reads: dict[str, int] = {}

    def edit(call: ProxyCall, bundle: JsonObject) -> None:
        reads[call.path] = reads.get(call.path, 0) + 1
        if reads[call.path] % 2 == 0:
            _oldest_first(bundle)
    return edit


REST_FAULTS: tuple[Fault, ...] = (
    Fault("update-create-returns-200", "update-as-create answers 200 instead of 201", ("REST-024",),
          on_response=set_status(200, calls=lambda call: call.method == "PUT", was=201),
          suites=("imagingstudy-crud", "imagingstudy-rest-semantics")),
    Fault("vread-returns-current", "vread answers the current version, whatever version was asked", ("REST-014",),
          on_request=_vread_as_read,
          suites=("imagingstudy-rest-semantics",)),
    Fault("compartment-unfiltered", "Patient/[id]/ImagingStudy returns every patient's studies", ("IS-056", "REST-100"),
          on_request=_compartment_unfiltered,
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("imagingstudy-search-basic", "imagingstudy-search-references")),
    Fault("post-search-ignores-body", "POST _search ignores the form body (returns everything)", ("REST-091",),
          on_request=_post_search_empty_body,
          search=True, suites=("imagingstudy-search-results", "imagingstudy-unknown-params", "mhd-iti67", "pdqm-iti78")),
    Fault("ignores-include", "_include is ignored", ("REST-083",), on_request=ignore_params("_include"),
          search=True, suites=("imagingstudy-codings", "imagingstudy-search-results")),
    Fault("ignores-revinclude", "_revinclude is ignored", ("REST-083", "REST-084"), on_request=ignore_params("_revinclude"),
          search=True, not_fuzzable="the generator never sends _revinclude", suites=("imagingstudy-search-results",)),
    Fault("identifier-bare-uid", "identifier search strips urn:oid: from the Study UID", ("IS-051",),
          on_request=rewrite_values(with_any_modifier("identifier"), lambda v: v.replace("|urn:oid:", "|")),
          search=True, search_types=("ImagingStudy", "DocumentReference"),
          suites=("dicomweb-crosscheck", "imagingstudy-identifiers", "imagingstudy-rest-semantics",
                  "imagingstudy-search-results", "mhd-iti67")),
    Fault("ignores-series", "the series parameter is ignored", ("IS-052",), on_request=ignore_params("series"),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-identifiers",)),
    Fault("comma-is-not-or", "a comma-separated value list searches only its first value", ("REST-057",),
          on_request=rewrite_values(_not_a_result_param, _first_value),
          search=True, suites=("imagingstudy-identifiers", "imagingstudy-search-basic", "imagingstudy-search-dates",
                  "imagingstudy-search-modifiers", "imagingstudy-search-references", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "mhd-iti67", "pdqm-iti78")),
    Fault("missing-inverted", ":missing=true and :missing=false are swapped", ("REST-080",),
          on_request=rewrite_values(modified_by("missing"), _flip),
          search=True, suites=("imagingstudy-search-modifiers",)),
    Fault("refuses-optional-modifiers", "optional modifiers (:not, :text, :of-type, :identifier, :exact on a token) are "
          "refused with 400 + OperationOutcome: legal (REST-082), the cases must accept it", ("REST-082",),
          on_request=_refuse_optional_modifiers, benign=True,
          search=True, suites=("imagingstudy-search-modifiers", "imagingstudy-identifiers")),
    Fault("not-modifier-ignored", ":not is dropped and its value searched as equals (200, the opposite result)", ("REST-056",),
          on_request=rename_params(lambda name: name.removesuffix(":not")), search=True, suites=("imagingstudy-search-modifiers",)),
    Fault("sort-missing-first", "_sort: matches without a value for the key come first on each page (legal: R4 leaves "
          "their place open)", ("REST-086",), benign=True,
          on_response=edit_json_with_call(_sort_missing_first, calls=searches, body=bundles()),
          search=True, suites=("imagingstudy-search-results",)),
    Fault("subset-without-subsetted-tag", "_elements/_summary subsets are not tagged SUBSETTED", ("REST-087", "REST-088"),
          on_response=_searchsets(_drop_subsetted_tag), search=True,
          not_fuzzable="only a _summary/_elements subset is tagged SUBSETTED; the generator sends neither",
          suites=("imagingstudy-search-results",)),
    Fault("total-is-page-size", "Bundle.total is wrong (page-based, not all matches)", ("REST-041",),
          on_response=_searchsets(_total_is_page_size),
          search=True, suites=("imagingstudy-identifiers", "imagingstudy-search-basic", "imagingstudy-search-results",
                  "pdqm-iti78")),
    Fault("no-bundle-type", "the search Bundle has no type", ("REST-040",), on_response=_searchsets(_no_bundle_type),
          search=True, suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-identifiers",
                  "imagingstudy-rest-semantics", "imagingstudy-search-basic", "imagingstudy-search-dates",
                  "imagingstudy-search-modifiers", "imagingstudy-search-references", "imagingstudy-search-results",
                  "imagingstudy-search-tokens", "imagingstudy-unknown-params", "manifests-imaging", "mhd-iti67",
                  "pdqm-iti78", "workflow-imaging-report")),
    Fault("no-search-mode", "entries carry no search.mode", ("REST-045",), on_response=_searchsets(_no_search_mode),
          search=True, suites=("imagingstudy-codings", "imagingstudy-identifiers", "imagingstudy-rest-semantics",
                  "imagingstudy-search-basic", "imagingstudy-search-results", "imagingstudy-search-tokens",
                  "imagingstudy-unknown-params", "pdqm-iti78", "workflow-imaging-report")),
    Fault("xml-answered-with-json", "an XML request is answered with a JSON body labelled application/fhir+xml",
          ("REST-001", "MHD-008", "PDQ-009"), on_request=_ask_json_instead, on_response=_json_labelled_xml, suites=_XML_SUITES),
    Fault("xml-ignored", "an XML request is answered with FHIR JSON (application/fhir+json)",
          ("REST-002", "REST-003", "MHD-008", "PDQ-009"),
          on_request=_ask_json_instead, suites=_XML_SUITES),
    # Legal in core R4 (REST-003: XML is optional, 406 is the refusal); MHD-008 and PDQ-009 make XML
    # mandatory for the Document Responder and the Patient Demographics Supplier.
    Fault("xml-refused", "every XML request is refused with 406 + OperationOutcome", ("MHD-008", "PDQ-009"),
          on_request=_refuse_xml, suites=_XML_SUITES),
    Fault("history-oldest-first", "instance history lists the oldest version first", ("REST-104",),
          on_response=_history(_oldest_first), suites=_HISTORY_SUITES),
    Fault("history-unstable-order", "instance history order changes between two identical reads", ("REST-104",),
          on_response=edit_json_with_call(_unstable_order(), calls=instance_history, body=bundles("history")), suites=_HISTORY_SUITES),
    Fault("history-missing-request", "history entries carry no entry.request (bdl-3)", ("REST-104",),
          on_response=_history(_drop_entry_part("request")), suites=_HISTORY_SUITES),
    Fault("history-missing-response", "history entries carry no entry.response (bdl-4)", ("REST-104",),
          on_response=_history(_drop_entry_part("response")), suites=_HISTORY_SUITES),
    Fault("history-omits-deletions", "instance history leaves out the deletion", ("REST-104",),
          on_response=_history(_without_deletions), suites=_HISTORY_SUITES),
    Fault("history-not-supported", "instance history answers 405 + OperationOutcome: legal, R4 makes history optional",
          ("REST-104",), on_request=_history_not_supported, benign=True, suites=_HISTORY_SUITES),
)

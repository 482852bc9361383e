"""R4 Bundle invariants for every Bundle.type (REST-103; R4 bundle.html constraint table).

bdl-1 total only in searchset/history; bdl-2 entry.search only in searchset; bdl-3 entry.request
exactly in batch/transaction/history; bdl-4 entry.response exactly in batch-response/
transaction-response/history; bdl-5 an entry has a resource, a request or a response; bdl-7
fullUrl unique (unless the versionIds differ; not checked in history); bdl-8 fullUrl not version
specific; bdl-9/10/11 a document has identifier (system + value), timestamp and a Composition
first; bdl-12 a message starts with a MessageHeader. request.method is an HTTPVerb.
"""

from __future__ import annotations

from typing import Any

from imgconf.validators._shape import items, obj, text
from imgconf.validators.findings import Finding, short

REST_103 = "REST-103"
B = "Bundle"
BUNDLE_TYPES = frozenset({"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                          "history", "searchset", "collection"})
HTTP_VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})
_WITH_REQUEST = frozenset({"batch", "transaction", "history"})
_WITH_RESPONSE = frozenset({"batch-response", "transaction-response", "history"})


def validate_bundle_invariants(bundle: object) -> list[Finding]:
    """REST-103 findings on one Bundle (its entries' resources are not looked into); any other JSON value has none."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != B:
        return []
    out: list[Finding] = []

    def add(loc: str, message: str, value: Any = None) -> None:
        out.append(Finding(REST_103, "SHALL", loc, message, short(value)))

    btype = bundle.get("type")
    if not isinstance(btype, str) or btype not in BUNDLE_TYPES:
        add(f"{B}.type", "Bundle.type is required and is one of document | message | transaction | "
            "transaction-response | batch | batch-response | history | searchset | collection", btype)
        btype = None
    if btype is not None and "total" in bundle and btype not in ("searchset", "history"):
        add(f"{B}.total", f"bdl-1: total is only used in a searchset or history Bundle, not in a {btype}; remove it")
    entries = list(items(bundle, "entry"))
    full_urls: dict[tuple[str, Any], int] = {}
    for i, entry in entries:
        loc = f"{B}.entry[{i}]"
        has_request, has_response = "request" in entry, "response" in entry
        if btype is not None:
            if "search" in entry and btype != "searchset":
                add(f"{loc}.search", f"bdl-2: entry.search is only used in a searchset, not in a {btype}; remove it")
            if has_request != (btype in _WITH_REQUEST):
                add(f"{loc}.request", f"bdl-3: entry.request is required in batch, transaction and history Bundles "
                    f"and not allowed in others; this {btype} entry " + ("has one" if has_request else "has none"))
            if has_response != (btype in _WITH_RESPONSE):
                add(f"{loc}.response", "bdl-4: entry.response is required in batch-response, transaction-response "
                    f"and history Bundles and not allowed in others; this {btype} entry "
                    + ("has one" if has_response else "has none"))
        if "resource" not in entry and not has_request and not has_response:
            add(loc, "bdl-5: an entry carries a resource unless it has a request or a response")
        method = obj(entry, "request") and entry["request"].get("method")
        if has_request and (not isinstance(method, str) or method not in HTTP_VERBS):  # any JSON value may come
            add(f"{loc}.request.method", "request.method is one of GET | HEAD | POST | PUT | DELETE | PATCH "
                "(upper case)", method)
        full_url = text(entry, "fullUrl")
        if full_url is None:
            continue
        if "/_history/" in full_url:
            add(f"{loc}.fullUrl", "bdl-8: fullUrl is not version specific (no /_history/); the version goes in "
                "resource.meta.versionId", full_url)
        version = text(obj(obj(entry, "resource"), "meta"), "versionId")
        first = full_urls.setdefault((full_url, version), i)
        if first != i and btype != "history":
            add(f"{loc}.fullUrl", f"bdl-7: fullUrl repeats entry[{first}] with the same meta.versionId; fullUrl "
                "is unique in a Bundle", full_url)
    if btype == "document":
        ident = obj(bundle, "identifier")
        if not (text(ident, "system") and text(ident, "value")):
            add(f"{B}.identifier", "bdl-9: a document Bundle has an identifier with a system and a value")
        if not text(bundle, "timestamp"):
            add(f"{B}.timestamp", "bdl-10: a document Bundle has a timestamp (the date of the document)")
        if _first_type(entries) != "Composition":
            add(f"{B}.entry[0].resource", "bdl-11: the first entry of a document is its Composition",
                _first_type(entries))
    elif btype == "message" and _first_type(entries) != "MessageHeader":
        add(f"{B}.entry[0].resource", "bdl-12: the first entry of a message is its MessageHeader", _first_type(entries))
    return out


def _first_type(entries: list[tuple[int, dict[str, Any]]]) -> str | None:
    if not entries or entries[0][0] != 0:
        return None
    return text(obj(entries[0][1], "resource"), "resourceType")

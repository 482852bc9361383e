"""REST-103: the R4 Bundle invariants on every Bundle.type, each failing and its legal form passing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imgconf.validators import validate_bundle
from imgconf.validators.bundle import validate_bundle_invariants

PATIENT = {"resourceType": "Patient", "id": "p1"}
COMPOSITION = {"resourceType": "Composition", "status": "final", "type": {"text": "report"}, "date": "2024-03-01",
               "author": [{"display": "Dr X"}], "title": "Report"}


def entry(n: int, **extra: Any) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950{n}", "resource": dict(PATIENT, id=f"p{n}"), **extra}


GOOD: dict[str, dict[str, Any]] = {
    "searchset": {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [entry(1, search={"mode": "match"})]},
    "history": {"resourceType": "Bundle", "type": "history", "total": 2, "entry": [
        entry(1, request={"method": "PUT", "url": "Patient/p1"}, response={"status": "200"}),
        entry(1, request={"method": "POST", "url": "Patient"}, response={"status": "201"})]},  # same fullUrl: legal in history
    "transaction": {"resourceType": "Bundle", "type": "transaction", "entry": [
        entry(1, request={"method": "POST", "url": "Patient"}), {"request": {"method": "DELETE", "url": "Patient/p9"}}]},
    "batch-response": {"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "204"}}]},
    "collection": {"resourceType": "Bundle", "type": "collection", "entry": [entry(1), entry(2)]},
    "document": {"resourceType": "Bundle", "type": "document", "timestamp": "2024-03-01T10:00:00Z",
                 "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"},
                 "entry": [{"fullUrl": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950a", "resource": COMPOSITION}, entry(1)]},
    "message": {"resourceType": "Bundle", "type": "message", "entry": [
        {"fullUrl": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950b",
         "resource": {"resourceType": "MessageHeader", "eventUri": "urn:x", "source": {"endpoint": "urn:y"}}}]},
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_legal_bundles_pass(kind: str) -> None:
    assert validate_bundle_invariants(GOOD[kind]) == []
    own = next((f for i, _, f in validate_bundle(GOOD[kind]) if i is None), [])
    assert own == []


def bad(kind: str, change: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(GOOD[kind])
    change(bundle)
    return bundle


BAD = [
    ("bdl-1", bad("collection", lambda b: b.__setitem__("total", 2)), "Bundle.total"),
    ("bdl-2", bad("collection", lambda b: b["entry"][0].__setitem__("search", {"mode": "match"})), "Bundle.entry[0].search"),
    ("bdl-3 missing", bad("transaction", lambda b: b["entry"][0].pop("request")), "Bundle.entry[0].request"),
    ("bdl-3 extra", bad("searchset", lambda b: b["entry"][0].__setitem__("request", {"method": "GET", "url": "Patient/p1"})),
     "Bundle.entry[0].request"),
    ("bdl-4 missing", bad("history", lambda b: b["entry"][0].pop("response")), "Bundle.entry[0].response"),
    ("bdl-4 extra", bad("collection", lambda b: b["entry"][0].__setitem__("response", {"status": "200"})),
     "Bundle.entry[0].response"),
    ("bdl-5", bad("collection", lambda b: b["entry"].append({"fullUrl": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950f"})),
     "Bundle.entry[2]"),
    ("bdl-7", bad("collection", lambda b: b["entry"][1].__setitem__("fullUrl", b["entry"][0]["fullUrl"])), "Bundle.entry[1].fullUrl"),
    ("bdl-8", bad("collection", lambda b: b["entry"][0].__setitem__("fullUrl", "https://x.org/fhir/Patient/p1/_history/2")),
     "Bundle.entry[0].fullUrl"),
    ("bdl-9", bad("document", lambda b: b.pop("identifier")), "Bundle.identifier"),
    ("bdl-10", bad("document", lambda b: b.pop("timestamp")), "Bundle.timestamp"),
    ("bdl-11", bad("document", lambda b: b["entry"].reverse()), "Bundle.entry[0].resource"),
    ("bdl-12", bad("message", lambda b: b["entry"].insert(0, entry(1))), "Bundle.entry[0].resource"),
    ("method", bad("transaction", lambda b: b["entry"][0]["request"].__setitem__("method", "post")), "Bundle.entry[0].request.method"),
    ("type", bad("collection", lambda b: b.__setitem__("type", "bag")), "Bundle.type"),
]


@pytest.mark.parametrize(("bundle", "location"), [pytest.param(b, loc, id=name) for name, b, loc in BAD])
def test_each_invariant_fails(bundle: dict[str, Any], location: str) -> None:
    found = {(f.requirement, f.level, f.location) for f in validate_bundle_invariants(bundle)}
    assert ("REST-103", "SHALL", location) in found, found


def test_bundle_of_any_type_is_validated_as_a_bundle() -> None:
    """validate_bundle reports the Bundle's own problems first, for a searchset as for a document."""
    bundle = bad("searchset", lambda b: b["entry"][0].__setitem__("request", {"method": "GET", "url": "Patient/p1"}))
    first_index, _, own = next(iter(validate_bundle(bundle)))
    assert first_index is None and [f.requirement for f in own] == ["REST-103"]


def test_bdl_messages_name_the_invariant() -> None:
    for name, bundle, _ in BAD:
        for f in validate_bundle_invariants(bundle):
            if name.startswith("bdl"):
                assert name.split()[0] in f.message

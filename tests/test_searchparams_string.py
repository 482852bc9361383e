"""String (REST-081), uri, number and quantity semantics; PDQm parameters (PDQ-002/004)."""

from __future__ import annotations

import pytest

from imgconf.searchparams import parse_query, resource_matches
from imgconf.searchparams.registry import MOTHERS_MAIDEN_NAME

PAT = {
    "resourceType": "Patient", "gender": "female", "birthDate": "1970-05-17", "active": True,
    "name": [{"family": "Müller", "given": ["Anna", "Lena"], "prefix": ["Dr."]}],
    "address": [{"line": ["Hauptstraße 1"], "city": "Zürich", "postalCode": "8001", "country": "CH", "state": "ZH"}],
    "telecom": [{"system": "phone", "value": "+41 44 000"}, {"system": "email", "value": "anna@example.org"}],
    "identifier": [{"system": "urn:oid:1.2.3", "value": "A1"}, {"system": "urn:oid:9.9", "value": "X"}],
    "extension": [{"url": MOTHERS_MAIDEN_NAME, "valueString": "Schmidt"}],
}


def ok(*pairs: tuple[str, str], res: dict = PAT) -> bool:
    query = parse_query(res["resourceType"], list(pairs))
    assert not query.unknown, query.unknown
    return resource_matches(res, query)


@pytest.mark.parametrize("pair,expected", [
    (("family", "muller"), True), (("family", "MÜL"), True), (("family", "Mueller"), False),
    (("family", "ller"), False), (("family:contains", "LLER"), True),
    (("family:exact", "Müller"), True), (("family:exact", "Muller"), False), (("family:exact", "müller"), False),
    (("family:exact", "Mül"), False),
    (("given", "len"), True), (("given", "ann,bob"), True), (("given", "bob"), False),
    (("name", "dr"), True), (("name", "anna"), True),
    (("address", "haupt"), True), (("address", "zurich"), True), (("address-city", "zur"), True),
    (("address-country", "ch"), True), (("address-postalcode", "800"), True), (("address-state", "zh"), True),
    (("address-city", "8001"), False),
    (("mothersMaidenName", "schm"), True), (("mothersMaidenName:exact", "Schmidt"), True),
    (("mothersMaidenName", "meier"), False),
])
def test_patient_strings(pair: tuple[str, str], expected: bool) -> None:
    assert ok(pair) is expected


def test_pdqm_tokens_and_combinations() -> None:  # PDQ-002/003/006
    assert ok(("family", "mül"), ("gender", "female"))
    assert ok(("birthdate", "1970-05-17"), ("family", "muller"))
    assert not ok(("birthdate", "1970-05-18"), ("family", "muller"))
    assert ok(("identifier", "urn:oid:1.2.3|"))
    assert ok(("identifier", "urn:oid:5.5|,urn:oid:1.2.3|"))
    assert not ok(("identifier", "urn:oid:5.5|"))
    # R4 token table: ContactPoint is searched on its value; it has no system.
    assert ok(("telecom", "+41 44 000")) and ok(("telecom", "|+41 44 000"))
    assert not ok(("telecom", "phone|+41 44 000"))
    assert ok(("email", "anna@example.org")) and not ok(("phone", "anna@example.org"))
    assert ok(("active", "true"))
    assert ok(("_id", "nope"), res=dict(PAT, id="nope"))


def test_patient_link() -> None:
    old = dict(PAT, active=False, link=[{"other": {"reference": "Patient/new"}, "type": "replaced-by"}])
    assert ok(("link", "Patient/new"), res=old)
    assert ok(("link", "new"), res=old)


def test_string_modifiers_on_tokens_are_unknown() -> None:
    assert parse_query("Patient", [("gender:exact", "female")]).unknown
    assert parse_query("Patient", [("family:text", "x")]).unknown


def test_uri() -> None:
    doc = {"resourceType": "DocumentReference", "status": "current",
           "content": [{"attachment": {"url": "http://example.org/fhir/Binary/1"}}],
           "meta": {"profile": ["http://hl7.eu/fhir/imaging/StructureDefinition/DocRef"]}}
    assert ok(("location", "http://example.org/fhir/Binary/1"), res=doc)
    assert not ok(("location", "http://example.org/fhir/Binary"), res=doc)
    assert ok(("location:below", "http://example.org/fhir/"), res=doc)
    assert ok(("location:above", "http://example.org/fhir/Binary/1/extra"), res=doc)
    assert ok(("_profile", "http://hl7.eu/fhir/imaging/StructureDefinition/DocRef"), res=doc)


def test_number_and_quantity_minimal() -> None:
    from imgconf.searchparams.match import _number, _quantity
    assert _number("100", 100.4) and not _number("100", 100.6) and _number("100.0", 100.04)
    assert _number("gt99", 100) and not _number("lt99", 100) and _number("ge100", 100) and _number("ne5", 6)
    assert _quantity("5.4|http://unitsofmeasure.org|mg", {"value": 5.4, "system": "http://unitsofmeasure.org", "code": "mg"})
    assert not _quantity("5.4||g", {"value": 5.4, "code": "mg"})
    assert _quantity("le6", {"value": 5.4})


def test_empty_value_ignored_and_invalid_number() -> None:
    q = parse_query("Patient", [("family", "")])
    assert not q.criteria and q.unknown and not q.invalid

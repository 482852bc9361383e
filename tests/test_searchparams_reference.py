"""Reference semantics (REST-060..063): forms, type modifier, :identifier, chains, targets."""

from __future__ import annotations

from imgconf.searchparams import parse_query, resource_matches

BASE = "http://example.org/fhir"
PATIENTS = {
    "Patient/p1": {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:mrn", "value": "M1"}]},
    "Practitioner/dr": {"resourceType": "Practitioner", "id": "dr", "name": [{"family": "House", "given": ["Gregory"]}]},
}


def resolver(ref: str) -> dict | None:
    return PATIENTS.get(ref.removeprefix(BASE + "/"))


def ok(resource: dict, *pairs: tuple[str, str], base: str | None = BASE) -> bool:
    query = parse_query(resource["resourceType"], list(pairs))
    assert not query.unknown, query.unknown
    return resource_matches(resource, query, resolver=resolver, base_url=base)


def st(ref: dict) -> dict:
    return {"resourceType": "ImagingStudy", "status": "available", "subject": ref}


def test_three_equivalent_forms() -> None:  # REST-060
    s = st({"reference": "Patient/p1"})
    for v in ("p1", "Patient/p1", f"{BASE}/Patient/p1"):
        assert ok(s, ("patient", v)), v
        assert ok(s, ("subject", v)), v
    assert not ok(s, ("patient", "http://elsewhere.org/fhir/Patient/p1"))
    assert not ok(s, ("patient", "Patient/p2"))
    assert ok(s, ("patient", "p1"), base=None)  # the base only matters for absolute values


def test_absolute_stored_reference_with_own_base() -> None:
    s = st({"reference": f"{BASE}/Patient/p1"})
    assert ok(s, ("patient", "p1")) and ok(s, ("patient", "Patient/p1"))


def test_foreign_absolute_reference_matches_only_itself() -> None:
    s = st({"reference": "http://elsewhere.org/fhir/Patient/p1"})
    assert not ok(s, ("patient", "p1"))
    assert ok(s, ("patient", "http://elsewhere.org/fhir/Patient/p1"))


def test_patient_is_restricted_to_patient_type() -> None:  # IS-055
    g = st({"reference": "Group/p1"})
    assert not ok(g, ("patient", "p1"))
    assert ok(g, ("subject", "p1")) and ok(g, ("subject", "Group/p1"))
    assert ok(g, ("subject:Group", "p1")) and not ok(g, ("subject:Patient", "p1"))
    assert ok(g, ("patient:missing", "true")) and ok(g, ("subject:missing", "false"))


def test_versioned_reference() -> None:
    s = st({"reference": "Patient/p1/_history/3"})
    assert ok(s, ("patient", "Patient/p1"))
    assert ok(s, ("patient", "Patient/p1/_history/3")) and not ok(s, ("patient", "Patient/p1/_history/2"))


def test_identifier_modifier() -> None:  # REST-063
    s = st({"identifier": {"system": "urn:mrn", "value": "M1"}})
    assert ok(s, ("subject:identifier", "urn:mrn|M1"))
    assert not ok(s, ("subject:identifier", "urn:mrn|M2"))
    assert not ok(s, ("subject", "M1"))


def test_chain_patient_identifier() -> None:  # REST-062
    s = st({"reference": "Patient/p1"})
    assert ok(s, ("patient.identifier", "urn:mrn|M1"))
    assert ok(s, ("patient.identifier", "M1"))
    assert not ok(s, ("patient.identifier", "urn:mrn|M2"))
    assert not ok(st({"reference": "Patient/unknown"}), ("patient.identifier", "urn:mrn|M1"))
    query = parse_query("ImagingStudy", [("patient.identifier", "urn:mrn|M1")])
    assert not resource_matches(s, query)  # no resolver, no chain


def test_chain_author_names_on_document() -> None:  # MHD-003 author.given/author.family
    doc = {"resourceType": "DocumentReference", "status": "current", "content": [],
           "author": [{"reference": "Organization/o1"}, {"reference": "Practitioner/dr"}]}
    assert ok(doc, ("author.family", "hous"))
    assert ok(doc, ("author.given", "greg"))
    assert ok(doc, ("author.family:exact", "House")) and not ok(doc, ("author.family:exact", "house"))
    assert not ok(doc, ("author.given", "james"))


def test_related_any_type_and_composite() -> None:
    doc = {"resourceType": "DocumentReference", "status": "current", "content": [],
           "context": {"related": [{"reference": "ImagingStudy/s1"},
                                   {"identifier": {"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}}]},
           "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/old"}}]}
    assert ok(doc, ("related", "ImagingStudy/s1")) and ok(doc, ("related", "s1"))
    assert ok(doc, ("related:identifier", "urn:dicom:uid|urn:oid:1.2.3"))
    assert ok(doc, ("relatesto", "DocumentReference/old")) and ok(doc, ("relation", "replaces"))
    assert ok(doc, ("relationship", "replaces$DocumentReference/old"))
    assert not ok(doc, ("relationship", "appends$DocumentReference/old"))


def test_bundle_composition_chain() -> None:
    bundle = {"resourceType": "Bundle", "type": "document", "entry": [{"resource": {
        "resourceType": "Composition", "id": "c1", "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "85430-7"}]}}}]}
    query = parse_query("Bundle", [("composition", "Composition/c1")])
    assert resource_matches(bundle, query)
    assert not resource_matches(bundle, parse_query("Bundle", [("composition", "Composition/c2")]))
    # The chain runs on the embedded Composition itself; no resolver is needed.
    assert resource_matches(bundle, parse_query("Bundle", [("composition.type", "http://loinc.org|85430-7")]))
    assert not resource_matches(bundle, parse_query("Bundle", [("composition.type", "18748-4")]))


def test_bad_type_modifier_and_chain_reported() -> None:
    assert parse_query("ImagingStudy", [("patient:Group", "1")]).unknown
    assert parse_query("ImagingStudy", [("patient.nosuch", "1")]).unknown
    assert parse_query("ImagingStudy", [("status.code", "1")]).unknown

"""Token semantics (REST-050..057, IS-051..054): system|code forms, case, modifiers."""

from __future__ import annotations

import pytest

from imgconf.searchparams import matches, parse_query, resource_matches

DCM = "http://dicom.nema.org/resources/ontology/DCM"
STUDY = {
    "resourceType": "ImagingStudy",
    "id": "s1",
    "status": "available",
    "modality": [{"system": DCM, "code": "MR"}],  # study-level differs from series on purpose (IS-053)
    "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3.4",
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}],
                             "text": "Accession"}}],
    "subject": {"reference": "Patient/p1"},
    "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "123", "display": "Chest pain"}]}],
    "reasonReference": [{"reference": "Condition/c1"}],
    "series": [{
        "uid": "1.2.3.4.5", "modality": {"system": DCM, "code": "CT"},
        "bodySite": {"system": "http://snomed.info/sct", "code": "51185008", "display": "Thorax"},
        "instance": [{"uid": "1.2.3.4.5.6", "sopClass": {"system": "urn:ietf:rfc:3986",
                                                          "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}],
    }],
}
DOC = {
    "resourceType": "DocumentReference", "status": "current",
    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"},
    "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:abc"}],
    "type": {"coding": [{"system": "http://loinc.org", "code": "85430-7"}]},
    "category": [{"coding": [{"code": "REPORTS"}]}],  # a coding with no system
    "content": [{"attachment": {"contentType": "application/pdf"}}],
}


def q(rtype: str, *pairs: tuple[str, str]) -> bool:
    query = parse_query(rtype, list(pairs))
    assert not query.unknown, query.unknown
    return resource_matches(STUDY if rtype == "ImagingStudy" else DOC, query)


@pytest.mark.parametrize("value,expected", [
    ("CT", True), (f"{DCM}|CT", True), (f"{DCM}|", True), ("|CT", False),
    ("ct", False),  # REST-055: case-sensitive
    ("MR", False),  # IS-053: study-level modality is not searched
    ("http://other|CT", False), ("CT,US", True), ("US,XA", False),
])
def test_modality_forms(value: str, expected: bool) -> None:
    assert q("ImagingStudy", ("modality", value)) is expected


@pytest.mark.parametrize("value,expected", [
    ("http://loinc.org|85430-7", True), ("85430-7", True), ("|85430-7", False),  # REST-052
    ("http://loinc.org|", True), ("http://snomed.info/sct|", False),
])
def test_type_forms(value: str, expected: bool) -> None:
    assert q("DocumentReference", ("type", value)) is expected


def test_no_system_form_matches_systemless_coding() -> None:
    assert q("DocumentReference", ("category", "|REPORTS"))
    assert q("DocumentReference", ("category", "REPORTS"))
    assert not q("DocumentReference", ("category", "urn:oid:1.3.6.1.4.1.19376.1.2.6.1|REPORTS"))


def test_study_uid_identifier_needs_urn_oid() -> None:  # IS-051
    assert q("ImagingStudy", ("identifier", "urn:dicom:uid|urn:oid:1.2.3.4"))
    assert not q("ImagingStudy", ("identifier", "urn:dicom:uid|1.2.3.4"))
    assert q("ImagingStudy", ("identifier", "urn:dicom:uid|"))


def test_series_and_instance_are_bare_uids() -> None:  # IS-052
    assert q("ImagingStudy", ("series", "1.2.3.4.5"))
    assert not q("ImagingStudy", ("series", "urn:oid:1.2.3.4.5"))
    assert not q("ImagingStudy", ("series", "urn:dicom:uid|1.2.3.4.5"))  # an id has no system
    assert q("ImagingStudy", ("instance", "1.2.3.4.5.6"))
    assert q("ImagingStudy", ("dicom-class", "urn:ietf:rfc:3986|urn:oid:1.2.840.10008.5.1.4.1.1.2"))
    assert not q("ImagingStudy", ("dicom-class", "urn:ietf:rfc:3986|1.2.840.10008.5.1.4.1.1.2"))


def test_status_with_implicit_system() -> None:
    assert q("ImagingStudy", ("status", "http://hl7.org/fhir/imagingstudy-status|available"))
    assert not q("ImagingStudy", ("status", "http://hl7.org/fhir/document-reference-status|available"))
    assert q("DocumentReference", ("status", "current"))


def test_reason_is_reason_code_only() -> None:  # IS-054
    assert q("ImagingStudy", ("reason", "http://snomed.info/sct|123"))
    assert not q("ImagingStudy", ("reason", "Condition/c1"))


def test_document_identifier_covers_master_identifier() -> None:  # REST-054
    assert q("DocumentReference", ("identifier", "urn:ietf:rfc:3986|urn:oid:1.2.3"))
    assert q("DocumentReference", ("identifier", "urn:ietf:rfc:3986|urn:uuid:abc"))


def test_and_of_repeats() -> None:  # REST-057: repeated = AND
    assert q("ImagingStudy", ("modality", "CT"), ("status", "available"))
    assert not q("ImagingStudy", ("modality", "CT"), ("modality", "US"))


def test_not_includes_absent_values() -> None:  # REST-056
    assert not q("ImagingStudy", ("modality:not", "CT"))
    assert q("ImagingStudy", ("modality:not", "US"))
    assert q("ImagingStudy", ("interpreter:missing", "true"))
    no_series = {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/1"}}
    assert resource_matches(no_series, parse_query("ImagingStudy", [("modality:not", "CT")]))


def test_missing_on_token() -> None:  # REST-080
    assert q("ImagingStudy", ("bodysite:missing", "false"))
    assert not q("ImagingStudy", ("bodysite:missing", "true"))


def test_text_modifier() -> None:
    assert q("ImagingStudy", ("bodysite:text", "thor"))
    assert q("ImagingStudy", ("reason:text", "CHEST"))
    assert not q("ImagingStudy", ("bodysite:text", "orax"))


def test_of_type_on_identifier() -> None:
    t = "http://terminology.hl7.org/CodeSystem/v2-0203|ACSN|urn:oid:1.2.3.4"
    assert q("ImagingStudy", ("identifier:of-type", t))
    assert not q("ImagingStudy", ("identifier:of-type", t.replace("ACSN", "MR")))


def test_boolean_and_code_primitives() -> None:
    pat = {"resourceType": "Patient", "id": "p1", "active": True, "gender": "female"}

    def ok(*pairs: tuple[str, str]) -> bool:
        return resource_matches(pat, parse_query("Patient", list(pairs)))

    assert ok(("active", "true"), ("gender", "female"))
    assert not ok(("active", "false"))
    # A code carries the implicit system of its required binding (R4 token table) …
    assert ok(("gender", "http://hl7.org/fhir/administrative-gender|female"))
    assert ok(("gender", "http://hl7.org/fhir/administrative-gender|"))
    assert not ok(("gender", "http://snomed.info/sct|female"))
    assert not ok(("gender", "|female"))  # … so it is not a code without a system
    # … while an id has no system at all.
    assert ok(("_id", "p1")) and ok(("_id", "|p1")) and not ok(("_id", "http://x|p1"))


def test_escaped_comma_and_pipe_are_literal() -> None:
    doc = {"resourceType": "DocumentReference", "status": "current",
           "type": {"coding": [{"system": "s", "code": "a,b|c"}]}, "content": []}
    assert resource_matches(doc, parse_query("DocumentReference", [("type", r"s|a\,b\|c")]))
    assert not resource_matches(doc, parse_query("DocumentReference", [("type", "s|a,b")]))


def test_unsupported_token_modifiers_are_reported() -> None:
    for mod in ("in", "below", "above", "not-in", "exact"):
        query = parse_query("ImagingStudy", [(f"modality:{mod}", "CT")])
        assert not query.criteria and query.unknown and not query.invalid


def test_matches_single_criterion() -> None:
    crit = parse_query("ImagingStudy", [("status", "available")]).criteria[0]
    assert matches(STUDY, crit)

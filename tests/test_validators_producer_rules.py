"""IS-057/058/059, Study UID checks on bare/malformed values, DICOM-011 once per series, the
cross-resource UID index (DICOM-012/013) and when MHD/EU DocumentReference rules apply."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from imgconf.checks.base import CheckContext
from imgconf.checks.rules import check_rules, document_profile
from imgconf.client import HttpResult
from imgconf.results import Exchange, Level, Verdict
from imgconf.suite.model import Request
from imgconf.validators import validate_resource
from imgconf.validators.crossref import UidIndex
from imgconf.validators.documentreference import validate_document_reference
from imgconf.validators.findings import Finding
from imgconf.validators.imagingstudy import validate_imaging_study
from imgconf.validators.samples import STUDY_UID, sample_imaging_study

IS = "ImagingStudy"
SCT = "http://snomed.info/sct"
ACSN = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]}


def hits(findings: list[Finding], requirement: str) -> set[tuple[str, str]]:
    return {(f.level, f.location) for f in findings if f.requirement == requirement}


def study(**changes: Any) -> dict[str, Any]:
    r = sample_imaging_study()  # 3 series: 7 + 7 + 6 instances, counts stated
    r.update(changes)
    return r


# -- IS-057 count identity -------------------------------------------------------------------------

def test_is057_total_differs_from_sum() -> None:
    assert hits(validate_imaging_study(study(numberOfInstances=21)), "IS-057") == {("SHOULD", f"{IS}.numberOfInstances")}


def test_is057_counts_as_strings_still_judged() -> None:
    r = study(numberOfInstances="21", numberOfSeries="3")
    assert hits(validate_imaging_study(r), "IS-057") == {("SHOULD", f"{IS}.numberOfInstances")}


@pytest.mark.parametrize("change", [
    {"numberOfInstances": 20},  # equal: fine
    {"numberOfInstances": 25, "numberOfSeries": 4},  # not every series listed: the sum proves nothing
])
def test_is057_silent_when_legal_or_not_decidable(change: dict[str, Any]) -> None:
    assert hits(validate_imaging_study(study(**change)), "IS-057") == set()


def test_is057_silent_when_a_series_states_no_count() -> None:
    r = study(numberOfInstances=99)
    del r["series"][1]["numberOfInstances"]
    assert hits(validate_imaging_study(r), "IS-057") == set()


# -- IS-058 accession issuer -----------------------------------------------------------------------

def test_is058_accession_without_system() -> None:
    r = study()
    r["identifier"].append({"type": ACSN, "value": "A-1"})
    assert hits(validate_imaging_study(r), "IS-058") == {("SHOULD", f"{IS}.identifier[1].system")}


def test_is058_silent_with_issuer() -> None:
    r = study()
    r["identifier"].append({"type": ACSN, "system": "http://hospital.example.org/acsn", "value": "A-1"})
    assert hits(validate_imaging_study(r), "IS-058") == set()


# -- IS-059 body site / laterality -----------------------------------------------------------------

@pytest.mark.parametrize(("site", "where"), [
    ({"code": "CHEST"}, "bodySite.system"),  # Body Part Examined, no system
    ({"system": SCT, "code": "CHEST"}, "bodySite.code"),  # Body Part Examined under SNOMED CT
    ({"system": SCT, "code": "T-D3000"}, "bodySite.code"),  # SNOMED RT
    ({"system": SCT, "code": "51185009"}, "bodySite.code"),  # Verhoeff check digit wrong
    ({"system": SCT, "code": "051185008"}, "bodySite.code"),  # leading zero
    ({"system": SCT, "code": "12345"}, "bodySite.code"),  # too short
])
def test_is059_body_site_defects(site: dict[str, Any], where: str) -> None:
    r = study()
    r["series"][0]["bodySite"] = site
    assert hits(validate_imaging_study(r), "IS-059") == {("SHOULD", f"{IS}.series[0].{where}")}


def test_is059_laterality_without_system_names_the_snomed_code() -> None:
    r = study()
    r["series"][0]["laterality"] = {"code": "L"}
    (f,) = [f for f in validate_imaging_study(r) if f.requirement == "IS-059"]
    assert f.location == f"{IS}.series[0].laterality.system" and "419161000" in f.message


@pytest.mark.parametrize("site", [
    {"system": SCT, "code": "51185008", "display": "Thoracic structure"},
    {"system": SCT, "code": "67734004"},
    {"system": "http://example.org/local-body-sites", "code": "CHEST"},  # another system: not judged by IS-059
])
def test_is059_legal_codings(site: dict[str, Any]) -> None:
    r = study()
    r["series"][0]["bodySite"] = site
    r["series"][0]["laterality"] = {"system": SCT, "code": "419161000"}
    assert hits(validate_imaging_study(r), "IS-059") == set()


# -- Study UID: bare or malformed still gets syntax and reuse checks ---------------------------------

def test_bare_study_uid_gets_is020_and_is015() -> None:
    r = study()
    r["identifier"][0]["value"] = r["series"][0]["uid"]  # bare, and reused as a series UID
    found = validate_imaging_study(r)
    assert ("SHALL", f"{IS}.identifier[0].value") in hits(found, "IS-020")
    assert ("SHALL", f"{IS}.series[0].uid") in hits(found, "IS-015")


def test_bare_malformed_study_uid_gets_is023() -> None:
    r = study()
    r["identifier"][0]["value"] = "1.2.840.01.5"
    found = validate_imaging_study(r)
    assert ("SHALL", f"{IS}.identifier[0].value") in hits(found, "IS-020")
    assert ("SHALL", f"{IS}.identifier[0].value") in hits(found, "IS-023")


def test_malformed_prefixed_study_uid_still_checked_for_reuse() -> None:
    r = study()
    bad_uid = "1.2.3..4"
    r["identifier"][0]["value"] = "urn:oid:" + bad_uid
    r["series"][0]["instance"][0]["uid"] = bad_uid
    found = validate_imaging_study(r)
    assert ("SHALL", f"{IS}.identifier[0].value") in hits(found, "IS-023")
    assert ("SHALL", f"{IS}.series[0].instance[0].uid") in hits(found, "IS-015")


def test_valid_study_uid_has_no_uid_finding() -> None:
    found = validate_imaging_study(study())
    assert not {f.requirement for f in found} & {"IS-015", "IS-020", "IS-023"}
    assert STUDY_UID


# -- DICOM-011 once per series -----------------------------------------------------------------------

def test_dicom011_once_per_series() -> None:
    r = study()
    r["series"][0]["modality"]["code"] = "MR"  # 7 CT Image Storage instances in an MR series
    found = [f for f in validate_imaging_study(r) if f.requirement == "DICOM-011"]
    assert len(found) == 1 and found[0].location.startswith(f"{IS}.series[0].instance[0]")
    assert "7 instances" in found[0].message


# -- DICOM-012 / DICOM-013 across resources -----------------------------------------------------------

def other_study(uid: str, patient: str, series_uid: str, instance_uid: str) -> dict[str, Any]:
    return {"resourceType": "ImagingStudy", "status": "available",
            "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:" + uid}],
            "subject": {"reference": patient},
            "series": [{"uid": series_uid, "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
                        "instance": [{"uid": instance_uid, "sopClass": {"system": "urn:ietf:rfc:3986",
                                                                        "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}]}]}


def test_series_under_two_studies_names_both_places() -> None:
    index = UidIndex()
    assert index.add(other_study("1.2.3.1", "Patient/a", "1.2.3.9", "1.2.3.9.1"), "a.ndjson:1") == []
    (f,) = index.add(other_study("1.2.3.2", "Patient/a", "1.2.3.9", "1.2.3.9.2"), "a.ndjson:2",
                     root="Bundle.entry[4].resource")
    assert (f.requirement, f.level, f.location) == ("DICOM-012", "SHALL", "Bundle.entry[4].resource.series[0].uid")
    assert "a.ndjson:1 ImagingStudy.series[0].uid" in f.message


def test_instance_in_two_series() -> None:
    index = UidIndex()
    index.add(other_study("1.2.3.1", "Patient/a", "1.2.3.8", "1.2.3.7.1"), "x.json")
    (f,) = index.add(other_study("1.2.3.2", "Patient/a", "1.2.3.9", "1.2.3.7.1"), "y.json")
    assert (f.requirement, f.location) == ("DICOM-012", "ImagingStudy.series[0].instance[0].uid")


def test_one_study_two_subjects_is_dicom013() -> None:
    index = UidIndex()
    index.add(other_study("1.2.3.1", "Patient/a", "1.2.3.8", "1.2.3.8.1"), "x.json")
    (f,) = index.add(other_study("1.2.3.1", "Patient/b", "1.2.3.9", "1.2.3.9.1"), "y.json")
    assert (f.requirement, f.level, f.location) == ("DICOM-013", "SHOULD", "ImagingStudy.subject")
    assert "x.json ImagingStudy.subject" in f.message


def test_subsets_of_one_study_and_repeats_are_legal() -> None:
    index = UidIndex()
    first = other_study("1.2.3.1", "Patient/a", "1.2.3.8", "1.2.3.8.1")
    assert index.add(first, "x.json") == []
    assert index.add(other_study("1.2.3.1", "https://s.org/fhir/Patient/a", "1.2.3.9", "1.2.3.9.1"), "y.json") == []
    assert index.add(copy.deepcopy(first), "z.json") == []  # the same subset again


# -- DocumentReference: R4 alone unless the profile is claimed or the context is MHD -----------------

R4_DOCREF = {"resourceType": "DocumentReference", "status": "current", "docStatus": "preliminary",
             "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/1"}}]}
MHD_MINIMAL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.DocumentReference"


def test_r4_documentreference_offline_is_judged_by_r4_alone() -> None:
    assert validate_resource(copy.deepcopy(R4_DOCREF)) == []


def test_profile_claim_brings_mhd_rules() -> None:
    doc = dict(copy.deepcopy(R4_DOCREF), meta={"profile": [MHD_MINIMAL]})
    assert {"MHD-030", "MHD-034", "MHD-009"} <= {f.requirement for f in validate_document_reference(doc)}


def test_asked_profile_brings_mhd_rules() -> None:
    assert "MHD-034" in {f.requirement for f in validate_document_reference(copy.deepcopy(R4_DOCREF), profile="mhd")}
    assert "EUIMG-052" in {f.requirement for f in validate_document_reference(
        copy.deepcopy(R4_DOCREF), profile="eu-imaging-report")}
    claimed = dict(copy.deepcopy(R4_DOCREF), meta={"profile": [
        "http://hl7.eu/fhir/imaging/StructureDefinition/DocumentReferenceImagingReport"]})
    assert "EUIMG-052" in {f.requirement for f in validate_document_reference(claimed)}


def ctx(path: str, body: Any, requirements: tuple[str, ...] = ("REST-040",), method: str = "GET") -> CheckContext:
    raw = httpx.Response(200, json=body).content
    exchange = Exchange(method, "https://t/fhir/" + path, {}, None, 200, {"content-type": "application/fhir+json"},
                        raw.decode(), 1.0)
    result = HttpResult(200, httpx.Headers({"content-type": "application/fhir+json"}), raw, "https://t/fhir/" + path, exchange)
    return CheckContext(response=result, request=Request(method, path), exchange=0, requirements=requirements,
                        level=Level.SHALL, variables={})


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"https://t/fhir/DocumentReference/{i}", "resource": r, "search": {"mode": "match"}}
                      for i, r in enumerate(resources)]}


@pytest.mark.parametrize(("path", "requirements", "method", "expected"), [
    ("DocumentReference", ("REST-040",), "GET", "mhd"),  # ITI-67 search
    ("DocumentReference/_search", ("REST-040",), "POST", "mhd"),
    ("DocumentReference/abc", ("MHD-030",), "GET", "mhd"),  # a read in an MHD case
    ("DocumentReference/abc", ("REST-010",), "GET", None),  # a plain R4 read
])
def test_live_context(path: str, requirements: tuple[str, ...], method: str, expected: str | None) -> None:
    assert document_profile(ctx(path, {}, requirements, method)) == expected


def test_live_rules_judge_iti67_answers_as_mhd_and_plain_reads_as_r4() -> None:
    mhd = check_rules(ctx("DocumentReference", searchset(copy.deepcopy(R4_DOCREF))))
    assert any(r.verdict is Verdict.FAIL and "MHD-034" in r.requirement for r in mhd)
    plain = check_rules(ctx("DocumentReference/x", copy.deepcopy(R4_DOCREF), ("REST-010",)))
    assert [r.verdict for r in plain] == [Verdict.PASS]


def test_live_rules_judge_a_searchset_as_a_bundle() -> None:
    bundle = searchset(dict(copy.deepcopy(R4_DOCREF), meta={"profile": [MHD_MINIMAL]}))
    bundle["entry"][0]["request"] = {"method": "GET", "url": "DocumentReference/0"}  # bdl-3
    results = check_rules(ctx("Patient", bundle, ("REST-040",)))
    assert any("REST-103" in r.requirement and r.verdict is Verdict.FAIL for r in results)

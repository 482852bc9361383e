"""REST-102: the R4 JSON form as received (no coercion, no empty values, null rules) and unknown
elements in the project's words (R5 names are IS-011)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imgconf.validators import validate_resource
from imgconf.validators.findings import Finding
from imgconf.validators.samples import sample_imaging_study
from imgconf.validators.structure import STRUCTURE, structural_findings

IS = "ImagingStudy"
PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "active": True, "name": [{"family": "Doe"}]}


def keyed(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.requirement, f.level, f.location) for f in findings}


def with_(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    out.update(changes)
    return out


@pytest.mark.parametrize(("resource", "location"), [
    (with_(sample_imaging_study(), numberOfSeries="3"), f"{IS}.numberOfSeries"),  # pydantic coerces "3" to 3
    (with_(sample_imaging_study(), numberOfInstances=20.0), f"{IS}.numberOfInstances"),  # integer, not decimal
    (with_(PATIENT, active="true"), "Patient.active"),
    (with_(PATIENT, active=1), "Patient.active"),
    (with_(PATIENT, birthDate=19800101), "Patient.birthDate"),
    (with_(PATIENT, name=[]), "Patient.name"),
    (with_(PATIENT, name=[{}]), "Patient.name[0]"),
    (with_(PATIENT, gender=""), "Patient.gender"),
    (with_(PATIENT, gender=None), "Patient.gender"),
    (with_(PATIENT, name=[{"given": ["A", None]}]), "Patient.name[0].given[1]"),  # null without an extension
    (with_(PATIENT, name={"family": "Doe"}), "Patient.name"),  # 0..* is always an array
])
def test_json_form_errors_are_rest_102(resource: dict[str, Any], location: str) -> None:
    found = keyed(structural_findings(resource))
    assert ("REST-102", "SHALL", location) in found, found


def test_string_count_message_says_what_and_how() -> None:
    (f,) = [f for f in structural_findings(with_(sample_imaging_study(), numberOfSeries="3"))]
    assert f.message.startswith("`numberOfSeries` is an R4 unsignedInt")
    assert "does not convert" in f.message and "Input should" not in f.message


@pytest.mark.parametrize("resource", [
    PATIENT,
    with_(PATIENT, name=[{"given": ["A", None], "_given": [None, {"extension": [
        {"url": "http://example.org/x", "valueString": "y"}]}]}]),  # null kept to align extensions: legal
    with_(PATIENT, multipleBirthInteger=2),
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": 1.5}},
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": 2}},
    sample_imaging_study(),
])
def test_legal_json_has_no_finding(resource: dict[str, Any]) -> None:
    assert structural_findings(resource) == []


def test_unknown_element_in_project_words() -> None:
    r = sample_imaging_study()
    r["foo"] = 1
    (f,) = structural_findings(r)
    assert (f.requirement, f.level, f.location) == (STRUCTURE, "SHALL", f"{IS}.foo")
    assert f.message.startswith("unknown element `foo` (not in R4 ImagingStudy; IS-011 lists the R5 names)")
    assert "Extra inputs" not in f.message


@pytest.mark.parametrize(("mutate", "location"), [
    (lambda r: r.__setitem__("reason", [{"concept": {"text": "x"}}]), f"{IS}.reason"),
    (lambda r: r.__setitem__("procedure", [{"concept": {"text": "x"}}]), f"{IS}.procedure"),
    (lambda r: r.__setitem__("partOf", [{"reference": "Procedure/1"}]), f"{IS}.partOf"),
    (lambda r: r["series"][0].__setitem__("bodySite", {"concept": {"text": "chest"}}), f"{IS}.series[0].bodySite.concept"),
])
def test_r5_names_are_is011_not_structure(mutate: Any, location: str) -> None:
    r = sample_imaging_study()
    mutate(r)
    found = keyed(structural_findings(r))
    assert ("IS-011", "SHALL NOT", location) in found
    assert not any(req == STRUCTURE and loc == location for req, _, loc in found)


def test_unknown_element_of_other_type_is_structure() -> None:
    (f,) = structural_findings(with_(PATIENT, favouriteColour="blue"))
    assert (f.requirement, f.location) == (STRUCTURE, "Patient.favouriteColour")
    assert "unknown element `favouriteColour` (not in R4 Patient)" in f.message


def test_pydantic_messages_are_rewritten() -> None:
    r = sample_imaging_study()
    r["numberOfSeries"] = -1
    del r["status"]
    for f in validate_resource(r):
        assert "Input should" not in f.message and "Value error" not in f.message and "required." not in f.message, f


def test_counts_as_strings_still_get_is013() -> None:
    r = sample_imaging_study()  # 3 series
    r["numberOfSeries"] = "2"
    found = keyed(validate_resource(r))
    assert ("REST-102", "SHALL", f"{IS}.numberOfSeries") in found
    assert ("IS-013", "SHOULD", f"{IS}.numberOfSeries") in found  # judged by the numeric value


def test_bundle_entry_locations_start_at_entry_resource() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
                         "resource": with_(sample_imaging_study(), numberOfSeries="3")}]}
    assert ("REST-102", "SHALL", "Bundle.entry[0].resource.numberOfSeries") in keyed(structural_findings(bundle))

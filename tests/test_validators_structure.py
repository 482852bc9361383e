"""R4B structural validation: pydantic errors become findings with catalogue ids and FHIRPath locations."""

from __future__ import annotations

from typing import Any

import pytest

from imgconf.validators.findings import Finding
from imgconf.validators.samples import sample_endpoint, sample_imaging_study
from imgconf.validators.structure import STRUCTURE, structural_findings

IS = "ImagingStudy"


def keyed(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.requirement, f.level, f.location) for f in findings}


def test_valid_resources_have_no_structural_findings() -> None:
    assert structural_findings(sample_imaging_study()) == []
    assert structural_findings(sample_endpoint()) == []
    assert structural_findings({"resourceType": "Patient", "id": "p1", "gender": "female"}) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("reason",), [{"concept": {"text": "x"}}], ("IS-011", "SHALL NOT", f"{IS}.reason")),
        (("series", 0, "bodySite"), {"concept": {"text": "x"}}, ("IS-011", "SHALL NOT", f"{IS}.series[0].bodySite.concept")),
        (("subject",), None, ("IS-003", "SHALL", f"{IS}.subject")),
        (("series", 0, "uid"), "urn:oid:1.2.3.4", ("IS-024", "SHALL", f"{IS}.series[0].uid")),
        (("series", 0, "modality"), None, ("IS-005", "SHALL", f"{IS}.series[0].modality")),
        (("series", 0, "instance", 1, "uid"), None, ("IS-006", "SHALL", f"{IS}.series[0].instance[1].uid")),
        (("series", 0, "instance", 1, "sopClass"), None, ("IS-007", "SHALL", f"{IS}.series[0].instance[1].sopClass")),
        (("series", 0, "performer", 0, "actor"), None, ("IS-008", "SHALL", f"{IS}.series[0].performer[0].actor")),
        (("started",), "2024-03-01T10:00:00", ("IS-014", "SHALL", f"{IS}.started")),
        # IS-010 is an INFO row: an R4 structural error cites the pseudo id at SHALL instead.
        (("series", 0, "bodySite"), [{"code": "x"}], (STRUCTURE, "SHALL", f"{IS}.series[0].bodySite")),
        (("numberOfSeries",), -1, (STRUCTURE, "SHALL", f"{IS}.numberOfSeries")),
        (("numberOfSeries",), "1", ("REST-102", "SHALL", f"{IS}.numberOfSeries")),
        (("series", 0, "foo"), 1, (STRUCTURE, "SHALL", f"{IS}.series[0].foo")),
    ],
)
def test_imagingstudy_errors_map_to_catalogue(path: tuple[Any, ...], value: Any, expected: tuple[str, str, str]) -> None:
    r = sample_imaging_study()
    node: Any = r
    for part in path[:-1]:
        node = node[part]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    found = keyed(structural_findings(r))
    assert expected in found, found


def test_primitive_extension_location_drops_underscore() -> None:
    r = sample_imaging_study()
    r["_status"] = {"extension": [{"url": 5}]}
    (f,) = structural_findings(r)
    assert f.location == f"{IS}.status.extension[0].url"
    assert f.requirement == "REST-102"  # a uri is a JSON string


def test_contained_endpoint_judged_as_endpoint() -> None:
    r = sample_imaging_study()
    r["contained"][0] = {"resourceType": "Endpoint", "id": "e", "status": "active", "address": "https://x", "foo": 1}
    found = keyed(structural_findings(r))
    assert ("IS-049", "SHALL", f"{IS}.contained[0].connectionType") in found
    assert ("IS-049", "SHALL", f"{IS}.contained[0].payloadType") in found
    assert (STRUCTURE, "SHALL", f"{IS}.contained[0].foo") in found  # not IS-011: not an ImagingStudy element


def test_bundle_entries_judged_by_their_type() -> None:
    study = sample_imaging_study()
    study["partOf"] = [{"reference": "Procedure/1"}]
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": study}]}
    assert ("IS-011", "SHALL NOT", "Bundle.entry[0].resource.partOf") in keyed(structural_findings(bundle))


def test_other_types_use_pseudo_id() -> None:
    found = structural_findings({"resourceType": "Patient", "gender": 5, "foo": 1})
    assert {(f.requirement, f.location) for f in found} == {("REST-102", "Patient.gender"), (STRUCTURE, "Patient.foo")}
    assert {f.location for f in found} == {"Patient.gender", "Patient.foo"}


@pytest.mark.parametrize(
    "resource",
    [{"resourceType": "Nope"}, {"resourceType": "ImagingSelection"}, {"resourceType": "Coding"},
     {"resourceType": "DomainResource"}, {"resourceType": 7}, {"status": "available"}],
)
def test_unknown_resource_type_is_one_finding(resource: dict[str, Any]) -> None:
    (f,) = structural_findings(resource)
    assert (f.requirement, f.level, f.location) == (STRUCTURE, "SHALL", "Resource.resourceType")


def test_unknown_contained_type_does_not_raise() -> None:
    r = sample_imaging_study()
    r["contained"].append({"resourceType": "Nope", "id": "x"})
    (f,) = structural_findings(r)
    assert f.requirement == STRUCTURE


def test_non_object() -> None:
    assert [f.requirement for f in structural_findings(["x"])] == [STRUCTURE]  # type: ignore[arg-type]


def test_large_inputs_are_not_echoed() -> None:
    r = sample_imaging_study()
    del r["subject"]
    (f,) = [f for f in structural_findings(r) if f.requirement == "IS-003"]
    assert f.value is None

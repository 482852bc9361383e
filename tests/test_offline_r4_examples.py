"""The official FHIR R4 examples (tests/data/r4-examples, CC0, see its README) get no SHALL
finding offline: a harness that accused the specification's own examples would be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgconf.offline import validate_paths
from imgconf.validators.findings import MANDATORY

EXAMPLES = Path(__file__).resolve().parent / "data" / "r4-examples"
FILES = ["imagingstudy-example.json", "imagingstudy-example-xr.json", "documentreference-example.json"]


@pytest.mark.parametrize("name", FILES)
def test_official_example_has_no_shall_finding(name: str) -> None:
    results = list(validate_paths([EXAMPLES / name]))
    assert len(results) == 1
    _, resource, findings = results[0]
    assert resource is not None and resource["id"].startswith("example")
    assert [f for f in findings if f.level in MANDATORY] == []


def test_xr_example_gets_only_the_expected_advice() -> None:
    """The XR example keeps a SNOMED RT body site (T-15460), an accession without issuer and CT Image
    Storage in a DX series: SHOULD-level advice (IS-059, IS-058, DICOM-011 once), nothing more."""
    ((_, _, findings),) = list(validate_paths([EXAMPLES / "imagingstudy-example-xr.json"]))
    assert sorted((f.requirement, f.level) for f in findings) == [
        ("DICOM-011", "SHOULD"), ("IS-029", "MAY"), ("IS-058", "SHOULD"), ("IS-059", "SHOULD")]


def test_r4_documentreference_is_not_judged_as_mhd_unless_asked() -> None:
    ((_, _, plain),) = list(validate_paths([EXAMPLES / "documentreference-example.json"]))
    assert plain == []
    ((_, _, asked),) = list(validate_paths([EXAMPLES / "documentreference-example.json"], profile="mhd"))
    assert {"MHD-031", "MHD-034"} <= {f.requirement for f in asked}  # docStatus, masterIdentifier.use

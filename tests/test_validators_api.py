"""validate_resource / validate_bundle / rule_findings, the terminology tables, and robustness."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

import imgconf.validators as v
from imgconf.paths import terminology_dir
from imgconf.validators import rule_findings, validate_bundle, validate_resource
from imgconf.validators.findings import Finding
from imgconf.validators.samples import sample_endpoint, sample_imaging_study
from imgconf.validators.structure import STRUCTURE
from imgconf.validators.terminology import cid29, cid33_nonacquisition


def test_finding_to_dict() -> None:
    f = Finding("IS-023", "SHALL", "ImagingStudy.series[0].uid", "bad", "1.2..3")
    assert f.to_dict() == {"requirement": "IS-023", "level": "SHALL", "location": "ImagingStudy.series[0].uid",
                           "message": "bad", "value": "1.2..3"}
    assert f.is_mandatory and not Finding("IS-012", "SHOULD", "x", "m").is_mandatory
    assert Finding("IS-011", "SHALL NOT", "x", "m").is_mandatory


def test_rule_finding_replaces_structure_duplicate() -> None:
    r = sample_imaging_study()
    r["reason"] = [{"concept": {"text": "x"}}]  # both the R4B model and the rule see it
    findings = validate_resource(r)
    assert [(f.requirement, f.location) for f in findings] == [("IS-011", "ImagingStudy.reason")]
    assert "R5 element" in findings[0].message  # the rule's message, not pydantic's


def test_structure_only_for_types_without_rules() -> None:
    assert validate_resource({"resourceType": "Patient", "gender": 1})[0].requirement == "REST-102"  # JSON type
    assert validate_resource({"resourceType": "Patient", "foo": "x"})[0].requirement == STRUCTURE
    assert rule_findings({"resourceType": "Patient"}) == []


def test_rule_findings_skip_structure() -> None:
    r = sample_imaging_study()
    r["series"][0]["bodySite"] = [{"code": "x"}]  # a cardinality error only the model sees
    assert rule_findings(r) == []
    assert [f.requirement for f in validate_resource(r)] == [STRUCTURE]  # IS-010 is INFO in the catalogue


def test_register_rules_extends_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(v.RULES, "DocumentReference", [])

    def rule(resource: dict[str, Any]) -> list[Finding]:
        return [Finding("MHD-033", "SHALL", "DocumentReference.status", "x")]

    v.register_rules("DocumentReference", rule)
    doc = {"resourceType": "DocumentReference", "status": "current",
           "content": [{"attachment": {"url": "http://x"}}]}
    assert [f.requirement for f in validate_resource(doc)] == ["MHD-033"]


def test_validate_bundle_prefixes_locations() -> None:
    bad = sample_imaging_study()
    bad["series"][0]["uid"] = "1.2..3"
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": "https://x/ImagingStudy/a", "resource": sample_imaging_study()},
        {"fullUrl": "https://x/ImagingStudy/b", "resource": bad},
        {"fullUrl": "https://x/Endpoint/e", "resource": sample_endpoint(address="https://p.org/rs/")},
        {"request": {"method": "DELETE", "url": "Patient/1"}},
    ]}
    out = list(validate_bundle(bundle))
    assert [i for i, _, _ in out] == [None, 0, 1, 2]
    # a searchset entry with a request breaks bdl-3 (REST-103): the Bundle's own finding comes first
    assert [(f.requirement, f.location) for f in out[0][2]] == [("REST-103", "Bundle.entry[3].request")]
    assert out[1][2] == []
    assert [(f.requirement, f.location) for f in out[2][2]] == [("IS-023", "Bundle.entry[1].resource.series[0].uid")]
    assert [(f.requirement, f.location) for f in out[3][2]] == [("IS-041", "Bundle.entry[2].resource.address")]
    assert out[2][1] is bad


def test_validate_bundle_reports_bundle_level_problems_first() -> None:
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": "many", "entry": [
        {"resource": sample_imaging_study()}]}
    out = list(validate_bundle(bundle))
    assert out[0][0] is None and out[0][2][0].location == "Bundle.total"
    assert out[1][0] == 0 and out[1][2] == []


def test_validate_bundle_rejects_non_bundle() -> None:
    ((index, _, findings),) = list(validate_bundle({"resourceType": "Patient"}))
    assert index is None and findings[0].requirement == STRUCTURE


def test_root_level_finding_relocated() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Nope"}}]}
    ((_, _, findings),) = list(validate_bundle(bundle))
    assert findings[0].location == "Bundle.entry[0].resource.resourceType"


# --- terminology tables ---

def test_tables_live_in_root_validators_dir() -> None:
    assert (terminology_dir() / "cid29.yaml").is_file()
    assert (terminology_dir() / "cid33-nonacquisition.yaml").is_file()
    assert not (terminology_dir() / "__init__.py").exists()  # never a Python package


def test_cid29_pinned_version_and_lists() -> None:
    table = cid29()
    assert table.version == "2024.2"
    assert len(table.codes) == 51
    in_2019a = {c for c, vs in table.versions_of.items() if "2019a" in vs}
    assert len(in_2019a) == 39
    assert "OPR" in in_2019a and "OPR" not in table.codes
    assert table.codes - in_2019a == {"BI", "CFM", "DG", "DMS", "EEG", "EMG", "EOG", "LS", "PA", "POS", "RESP",
                                      "RTIMAGE", "TG"}
    assert table.meanings["CT"] == "Computed Tomography"


def test_cid33_nonacquisition_table() -> None:
    codes = cid33_nonacquisition().codes
    assert {"KO", "SR", "PR", "SEG", "OT", "DOC", "PLAN", "REG", "RTSTRUCT", "RTPLAN", "RTDOSE"} <= codes
    assert not codes & cid29().codes


def test_tables_loaded_once() -> None:
    assert cid29() is cid29()
    assert cid33_nonacquisition() is cid33_nonacquisition()


# --- robustness: server responses can be any shape; rules must report, never raise ---

ODD_VALUES: list[Any] = [None, 0, -1, True, 1.5, "", "x", [], {}, [None], [1], {"a": 1}, [[]], [{}]]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


@pytest.mark.parametrize("base", [sample_imaging_study(2, 3), sample_endpoint()], ids=["ImagingStudy", "Endpoint"])
def test_no_exception_on_any_shape(base: dict[str, Any]) -> None:
    count = 0
    for path in list(_paths(base)):
        for odd in ODD_VALUES:
            r = copy.deepcopy(base)
            node: Any = r
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = odd
            findings = validate_resource(r)
            assert all(isinstance(f, Finding) for f in findings)
            count += 1
    assert count > 100

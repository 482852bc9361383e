"""Every ImagingStudy rule: a crafted bad resource fires it (id, level, location); a good one does not."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from imgconf.validators import validate_resource
from imgconf.validators.findings import Finding
from imgconf.validators.imagingstudy import validate_imaging_study
from imgconf.validators.samples import KOS, STUDY_UID, sample_endpoint, sample_imaging_study

Mutator = Callable[[dict[str, Any]], None]
IS = "ImagingStudy"
S0 = f"{IS}.series[0]"
I02 = f"{S0}.instance[2]"
UID_64 = "1.2.826.0.1.3680043.8.498.11111111111111111111111111111111111111"
UID_65 = "1.2.826.0.1.3680043.8.498.111111111111111111111111111111111111111"
UID_61 = "1.3.46.670589.58.10.10562925256214266678.11674839624289915183"
UUID_UID = "2.25.305673917864789044468808924468805112372"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def study() -> dict[str, Any]:
    return sample_imaging_study()  # CT, MR, CT series; 7 + 7 + 6 instances


def hits(findings: list[Finding], requirement: str) -> set[tuple[str, str]]:
    return {(f.level, f.location) for f in findings if f.requirement == requirement}


def setter(path: str, value: Any) -> Mutator:
    """``setter("series.0.uid", "x")`` sets (appends at index len, removes with DELETE) an element."""

    def mutate(r: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value is DELETE:
            del node[key]
        elif isinstance(node, list) and key == len(node):
            node.append(value)
        else:
            node[key] = value

    return mutate


DELETE = object()
SOP = "series.0.instance.2.sopClass"


def basedon(**fields: Any) -> Mutator:
    def mutate(r: dict[str, Any]) -> None:
        ref: dict[str, Any] = {"type": "ServiceRequest", "identifier": {
            "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]},
            "system": "http://hospital.example.org/accession", "value": "GH334103"}}
        for key, value in fields.items():
            target = ref["identifier"] if key.startswith("identifier_") else ref
            name = key.removeprefix("identifier_")
            if value is DELETE:
                target.pop(name, None)
            else:
                target[name] = value
        r["basedOn"] = [ref]

    return mutate


def both(*mutators: Mutator) -> Mutator:
    def mutate(r: dict[str, Any]) -> None:
        for m in mutators:
            m(r)

    return mutate


# (case id, mutation, requirement, level, location)
BAD: list[tuple[str, Mutator, str, str, str]] = [
    ("status-missing", setter("status", DELETE), "IS-001", "SHALL", f"{IS}.status"),
    ("status-unknown-code", setter("status", "done"), "IS-002", "SHALL", f"{IS}.status"),
    ("status-wrong-case", setter("status", "Available"), "IS-002", "SHALL", f"{IS}.status"),
    ("subject-missing", setter("subject", DELETE), "IS-003", "SHALL", f"{IS}.subject"),
    ("subject-practitioner", setter("subject", {"reference": "Practitioner/1"}), "IS-003", "SHALL", f"{IS}.subject"),
    ("subject-absolute-encounter", setter("subject", {"reference": "https://x.org/fhir/Encounter/9"}), "IS-003",
     "SHALL", f"{IS}.subject"),
    ("subject-type-element", setter("subject", {"type": "Location", "identifier": {"value": "x"}}), "IS-003",
     "SHALL", f"{IS}.subject"),
    ("series-uid-missing", setter("series.1.uid", DELETE), "IS-004", "SHALL", f"{IS}.series[1].uid"),
    ("series-modality-missing", setter("series.0.modality", DELETE), "IS-005", "SHALL", f"{S0}.modality"),
    ("series-modality-no-code", setter("series.0.modality.code", DELETE), "IS-005", "SHALL", f"{S0}.modality.code"),
    ("instance-uid-missing", setter("series.0.instance.2.uid", DELETE), "IS-006", "SHALL", f"{I02}.uid"),
    ("sopclass-missing", setter(SOP, DELETE), "IS-007", "SHALL", f"{I02}.sopClass"),
    ("sopclass-no-code", setter(f"{SOP}.code", DELETE), "IS-007", "SHALL", f"{I02}.sopClass.code"),
    ("performer-no-actor", setter("series.0.performer.0.actor", DELETE), "IS-008", "SHALL",
     f"{S0}.performer[0].actor"),
    ("performer-location", setter("series.0.performer.0.actor", {"reference": "Location/1"}), "IS-008", "SHALL",
     f"{S0}.performer[0].actor"),
    ("performer-function-other", setter("series.0.performer.0.function", {"coding": [{"system": "x", "code": "y"}]}),
     "IS-009", "SHOULD", f"{S0}.performer[0].function"),
    ("r5-reason", setter("reason", [{"concept": {"text": "x"}}]), "IS-011", "SHALL NOT", f"{IS}.reason"),
    ("r5-procedure", setter("procedure", [{"concept": {"text": "x"}}]), "IS-011", "SHALL NOT", f"{IS}.procedure"),
    ("r5-partof", setter("partOf", [{"reference": "Procedure/1"}]), "IS-011", "SHALL NOT", f"{IS}.partOf"),
    ("r5-bodysite-concept", setter("series.0.bodySite", {"concept": {"text": "chest"}}), "IS-011", "SHALL NOT",
     f"{S0}.bodySite.concept"),
    ("r5-bodysite-reference", setter("series.0.bodySite", {"reference": {"reference": "BodyStructure/1"}}), "IS-011",
     "SHALL NOT", f"{S0}.bodySite.reference"),
    ("r5-series-modality-cc", setter("series.0.modality", {"coding": [{"code": "CT"}]}), "IS-011", "SHALL NOT",
     f"{S0}.modality.coding"),
    ("r5-study-modality-cc", setter("modality", [{"coding": [{"code": "CT"}]}]), "IS-011", "SHALL NOT",
     f"{IS}.modality[0].coding"),
    ("r5-laterality-cc", setter("series.0.laterality", {"coding": [{"code": "7771000"}]}), "IS-011", "SHALL NOT",
     f"{S0}.laterality.coding"),
    ("study-modality-not-in-series", setter("modality.1", {"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                           "code": "XA"}), "IS-012", "SHOULD", f"{IS}.modality[1].code"),
    ("numberOfSeries-small", setter("numberOfSeries", 2), "IS-013", "SHOULD", f"{IS}.numberOfSeries"),
    ("numberOfInstances-small", setter("numberOfInstances", 19), "IS-013", "SHOULD", f"{IS}.numberOfInstances"),
    ("series-numberOfInstances-small", setter("series.0.numberOfInstances", 6), "IS-013", "SHOULD",
     f"{S0}.numberOfInstances"),
    ("started-no-zone", setter("started", "2024-03-01T10:00:00"), "IS-014", "SHALL", f"{IS}.started"),
    ("started-hh-mm-no-zone", setter("started", "2024-03-01T10:00"), "IS-014", "SHALL", f"{IS}.started"),
    ("started-bad-month", setter("started", "2024-13-01"), "IS-014", "SHALL", f"{IS}.started"),
    ("series-started-no-zone", setter("series.0.started", "2024-03-01T10:15:00.123"), "IS-014", "SHALL",
     f"{S0}.started"),
    ("series-uid-duplicate", setter("series.1.uid", "1.2.826.0.1.3680043.8.498.20001.1"), "IS-015", "SHALL",
     f"{IS}.series[1].uid"),
    ("instance-uid-is-study-uid", setter("series.0.instance.2.uid", STUDY_UID), "IS-015", "SHALL", f"{I02}.uid"),
    ("instance-uid-duplicate-across-series", setter("series.1.instance.0.uid", "1.2.826.0.1.3680043.8.498.30001.1.1"),
     "IS-015", "SHALL", f"{IS}.series[1].instance[0].uid"),
    ("series-uid-is-prefixed-study-uid", setter("series.0.uid", "urn:oid:" + STUDY_UID), "IS-015", "SHALL",
     f"{S0}.uid"),
    ("identifier-bare-uid", setter("identifier.0.value", UID_61), "IS-020", "SHALL", f"{IS}.identifier[0].value"),
    ("identifier-no-value", setter("identifier.0.value", DELETE), "IS-020", "SHALL", f"{IS}.identifier[0].value"),
    ("identifier-typed-wrong-system", setter("identifier.1", {
        "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110180"}]},
        "system": "urn:ietf:rfc:3986", "value": "urn:oid:" + STUDY_UID}), "IS-020", "SHALL",
     f"{IS}.identifier[1].system"),
    ("identifier-none", setter("identifier", DELETE), "IS-021", "SHOULD", f"{IS}.identifier"),
    ("identifier-two", setter("identifier.1", {"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}), "IS-021",
     "SHOULD", f"{IS}.identifier"),
    ("series-uid-urn-oid", setter("series.0.uid", "urn:oid:1.2.3.4"), "IS-022", "SHALL", f"{S0}.uid"),
    ("instance-uid-urn-uuid", setter("series.0.instance.2.uid", "urn:uuid:0f6b1f1e-9b0a-4f1a-8a3e-2b5a0c1d2e3f"),
     "IS-022", "SHALL", f"{I02}.uid"),
    ("series-uid-leading-zero", setter("series.0.uid", "1.2.840.01"), "IS-023", "SHALL", f"{S0}.uid"),
    ("series-uid-empty-component", setter("series.0.uid", "1.2..3"), "IS-023", "SHALL", f"{S0}.uid"),
    ("series-uid-trailing-dot", setter("series.0.uid", "1.2.3."), "IS-023", "SHALL", f"{S0}.uid"),
    ("series-uid-one-component", setter("series.0.uid", "1"), "IS-023", "SHALL", f"{S0}.uid"),
    ("series-uid-65", setter("series.0.uid", UID_65), "IS-023", "SHALL", f"{S0}.uid"),
    ("instance-uid-65", setter("series.0.instance.2.uid", UID_65), "IS-023", "SHALL", f"{I02}.uid"),
    ("identifier-uid-syntax", setter("identifier.0.value", "urn:oid:1.2..3"), "IS-023", "SHALL",
     f"{IS}.identifier[0].value"),
    ("sopclass-uid-syntax", setter(f"{SOP}.code", "urn:oid:1.2.840.01"), "IS-023", "SHALL", f"{I02}.sopClass.code"),
    ("series-uid-65-id", setter("series.0.uid", UID_65), "IS-024", "SHALL", f"{S0}.uid"),
    ("series-uid-urn-oid-id", setter("series.0.uid", "urn:oid:1.2.3.4"), "IS-024", "SHALL", f"{S0}.uid"),
    ("series-uid-number", setter("series.0.uid", 1.2), "IS-024", "SHALL", f"{S0}.uid"),
    ("series-uid-first-arc", setter("series.0.uid", "3.2.1"), "IS-025", "SHOULD", f"{S0}.uid"),
    ("identifier-first-arc", setter("identifier.0.value", "urn:oid:9.8.7"), "IS-025", "SHOULD",
     f"{IS}.identifier[0].value"),
    ("series-uid-suffix-of-study", setter("series.0.uid", STUDY_UID + ".1"), "IS-027", "INFO", f"{S0}.uid"),
    ("basedon-broken-find17", setter("basedOn", [{"reference": {"type": "ServiceRequest", "identifier": {
        "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]}, "value": "GH334103"}}}]), "IS-028", "SHALL",
     f"{IS}.basedOn[0].reference"),
    ("basedon-acsn-wrong-system", basedon(identifier_type={"coding": [{"system": "http://x", "code": "ACSN"}]}),
     "IS-028", "SHALL", f"{IS}.basedOn[0].identifier.type"),
    ("basedon-dcm-accession-type", basedon(identifier_type={"coding": [{
        "system": "http://dicom.nema.org/resources/ontology/DCM", "code": "121022"}]}), "IS-028", "SHALL",
     f"{IS}.basedOn[0].identifier.type"),
    ("basedon-no-type", basedon(type=DELETE), "IS-028", "SHALL", f"{IS}.basedOn[0].type"),
    ("basedon-wrong-type", basedon(type="Task"), "IS-028", "SHALL", f"{IS}.basedOn[0].type"),
    ("basedon-no-value", basedon(identifier_value=DELETE), "IS-028", "SHALL", f"{IS}.basedOn[0].identifier.value"),
    ("basedon-no-issuer", basedon(identifier_system=DELETE), "IS-028", "SHOULD",
     f"{IS}.basedOn[0].identifier.system"),
    ("accession-only-in-identifier", both(setter("basedOn", DELETE), setter("identifier.1", {
        "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]}, "system": "http://h.org/acc", "value": "A1"})),
     "IS-029", "MAY", f"{IS}.identifier[1]"),
    ("sopclass-system-dcmuid", setter(f"{SOP}.system", "http://dicom.nema.org/resources/ontology/DCMUID"), "IS-030",
     "SHALL", f"{I02}.sopClass.system"),
    ("sopclass-system-missing", setter(f"{SOP}.system", DELETE), "IS-030", "SHALL", f"{I02}.sopClass.system"),
    ("sopclass-code-urn-uuid", setter(f"{SOP}.code", "urn:uuid:0f6b1f1e-9b0a-4f1a-8a3e-2b5a0c1d2e3f"), "IS-030",
     "SHALL", f"{I02}.sopClass.code"),
    ("sopclass-bare-oid", setter(f"{SOP}.code", "1.2.840.10008.5.1.4.1.1.2"), "IS-031", "SHALL",
     f"{I02}.sopClass.code"),
    ("sopclass-private", setter(f"{SOP}.code", "urn:oid:1.2.826.0.1.3680043.8.498.999"), "IS-032", "SHOULD",
     f"{I02}.sopClass.code"),
    ("sopclass-not-storage", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.1.1"), "IS-032", "SHOULD",
     f"{I02}.sopClass.code"),
    ("modality-system-missing", setter("series.0.modality.system", DELETE), "IS-033", "SHALL",
     f"{S0}.modality.system"),
    ("modality-lowercase", setter("series.0.modality.code", "ct"), "IS-033", "SHALL", f"{S0}.modality.code"),
    ("modality-legacy-dicm", setter("series.0.modality.system", "http://nema.org/dicom/dicm"), "IS-034", "SHOULD",
     f"{S0}.modality.system"),
    ("modality-legacy-dicm-is033", setter("series.0.modality.system", "http://nema.org/dicom/dicm"), "IS-033",
     "SHALL", f"{S0}.modality.system"),
    ("modality-legacy-DCM", setter("series.0.modality.system", "DCM"), "IS-034", "SHOULD", f"{S0}.modality.system"),
    ("modality-legacy-oid", setter("series.0.modality.system", "urn:oid:1.2.840.10008.2.16.4"), "IS-034", "SHOULD",
     f"{S0}.modality.system"),
    ("modality-ko", both(setter("series.2.modality.code", "KO"), setter("series.2.instance", [{
        "uid": "1.2.3.4.5", "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:" + KOS}}]),
        setter("series.2.numberOfInstances", 1)), "IS-035", "INFO", f"{IS}.series[2].modality.code"),
    ("modality-unknown", setter("series.0.modality.code", "XX"), "DICOM-001", "SHOULD", f"{S0}.modality.code"),
    ("modality-opr-2019a-only", setter("series.0.modality.code", "OPR"), "DICOM-001", "SHOULD", f"{S0}.modality.code"),
    ("sopclass-transfer-syntax", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.1.2"), "DICOM-010", "SHALL",
     f"{I02}.sopClass.code"),
    ("sopclass-explicit-vr", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.1.2.1"), "DICOM-010", "SHALL",
     f"{I02}.sopClass.code"),
    ("sopclass-coding-scheme", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.2.16.4"), "DICOM-010", "SHALL",
     f"{I02}.sopClass.code"),
    ("sopclass-context-group", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.6.1.19"), "DICOM-010", "SHALL",
     f"{I02}.sopClass.code"),
    ("sopclass-bare-transfer-syntax", setter(f"{SOP}.code", "1.2.840.10008.1.2"), "DICOM-010", "SHALL",
     f"{I02}.sopClass.code"),
    ("sopclass-mr-in-ct-series", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.5.1.4.1.1.4"), "DICOM-011", "SHOULD",
     f"{I02}.sopClass.code"),
    ("sopclass-kos-in-ct-series", setter(f"{SOP}.code", "urn:oid:" + KOS), "DICOM-011", "SHOULD",
     f"{I02}.sopClass.code"),
]


@pytest.mark.parametrize(("mutate", "requirement", "level", "location"),
                         [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_rule_fires(mutate: Mutator, requirement: str, level: str, location: str) -> None:
    r = study()
    mutate(r)
    findings = validate_imaging_study(r)
    assert (level, location) in hits(findings, requirement), [f.to_dict() for f in findings]


def test_good_study_has_no_findings() -> None:
    """The good counterpart of every BAD case above: the unmutated study fires nothing."""
    assert validate_imaging_study(study()) == []
    assert validate_resource(study()) == []


# Good variants close to a bad case: the rule must stay silent (and nothing else fire).
GOOD: list[tuple[str, Mutator]] = [
    *[(f"status-{code}", setter("status", code)) for code in
      ("registered", "available", "cancelled", "entered-in-error", "unknown")],
    ("subject-device", setter("subject", {"reference": "Device/d1"})),
    ("subject-group", setter("subject", {"reference": "Group/g1"})),
    ("subject-absolute-patient", setter("subject", {"reference": "https://x.org/fhir/Patient/p1/_history/2"})),
    ("subject-urn-uuid", setter("subject", {"reference": "urn:uuid:0f6b1f1e-9b0a-4f1a-8a3e-2b5a0c1d2e3f"})),
    ("subject-logical-patient", setter("subject", {"type": "Patient", "identifier": {"value": "x"}})),
    ("subject-contained-patient", both(setter("contained.1", {"resourceType": "Patient", "id": "p"}),
                                       setter("subject", {"reference": "#p"}))),
    ("performer-organization", setter("series.0.performer.0.actor", {"reference": "Organization/o1"})),
    ("performer-no-function", setter("series.0.performer.0.function", DELETE)),
    ("r4-bodysite-coding", setter("series.0.bodySite", {"system": "http://snomed.info/sct", "code": "51185008"})),
    ("r4-reasoncode", setter("reasonCode", [{"text": "follow-up"}])),
    ("counts-larger-than-content", both(setter("numberOfSeries", 5), setter("numberOfInstances", 40),
                                       setter("series.0.numberOfInstances", 100))),
    ("counts-absent", both(setter("numberOfSeries", DELETE), setter("numberOfInstances", DELETE))),
    ("started-date-only", setter("started", "2024-03-01")),
    ("started-year-month", setter("started", "2024-03")),
    ("started-year", setter("started", "2024")),
    ("started-utc", setter("started", "2024-03-01T10:00:00.5Z")),
    ("identifier-61-char", setter("identifier.0.value", "urn:oid:" + UID_61)),
    ("series-uid-64", setter("series.0.uid", UID_64)),
    ("series-uid-uuid-derived", setter("series.0.uid", UUID_UID)),
    ("instance-uid-uuid-derived", setter("series.0.instance.2.uid", UUID_UID)),
    ("study-uid-uuid-derived", setter("identifier.0.value", "urn:oid:" + UUID_UID)),
    ("series-uid-unrelated-prefix", setter("series.0.uid", STUDY_UID + "1.1")),  # not STUDY_UID + "."
    ("accession-in-both-places", setter("identifier.1", {
        "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]}, "system": "http://h.org/acc", "value": "A1"})),
    ("basedon-plain-reference", setter("basedOn", [{"reference": "ServiceRequest/1"}])),
    ("modality-2024-only-code", both(setter("series.1.modality.code", "DMS"), setter("series.1.instance", []),
                                     setter("modality.1.code", "DMS"))),
    ("secondary-capture-in-ct-series", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.5.1.4.1.1.7")),
    ("enhanced-ct-in-ct-series", setter(f"{SOP}.code", "urn:oid:1.2.840.10008.5.1.4.1.1.2.1")),
]


@pytest.mark.parametrize("mutate", [pytest.param(c[1], id=c[0]) for c in GOOD])
def test_rule_silent_on_good_variant(mutate: Mutator) -> None:
    r = study()
    mutate(r)
    findings = validate_imaging_study(r)
    assert findings == [], [f.to_dict() for f in findings]


def test_ko_series_is_info_only() -> None:
    r = study()
    setter("series.2.modality.code", "KO")(r)
    for inst in r["series"][2]["instance"]:
        inst["sopClass"]["code"] = "urn:oid:" + KOS
    findings = validate_imaging_study(r)
    assert {(f.requirement, f.level) for f in findings} == {("IS-035", "INFO")}


@pytest.mark.parametrize("code", ["KO", "SR", "PR", "SEG", "OT", "DOC", "PLAN", "REG", "RTSTRUCT", "RTPLAN", "RTDOSE"])
def test_cid33_codes_are_info_not_warning(code: str) -> None:
    r = study()
    setter("series.0.modality.code", code)(r)
    findings = validate_imaging_study(r)
    assert ("INFO", f"{S0}.modality.code") in hits(findings, "IS-035")
    assert not hits(findings, "DICOM-001")


def test_opr_message_names_the_list_version() -> None:
    r = study()
    setter("series.0.modality.code", "OPR")(r)
    (finding,) = [f for f in validate_imaging_study(r) if f.requirement == "DICOM-001"]
    assert "2019a" in finding.message and "2024.2" in finding.message


def test_bare_oid_fires_is031_not_is030() -> None:
    r = study()
    setter(f"{SOP}.code", "1.2.840.10008.5.1.4.1.1.2")(r)
    findings = validate_imaging_study(r)
    assert hits(findings, "IS-031") == {("SHALL", f"{I02}.sopClass.code")}
    assert not hits(findings, "IS-030")


def test_urn_oid_series_uid_is_is022_and_is024_only() -> None:
    r = study()
    setter("series.0.uid", "urn:oid:1.2.3.4")(r)
    assert {f.requirement for f in validate_imaging_study(r)} == {"IS-022", "IS-024"}


def test_lowercase_modality_does_not_cascade() -> None:
    r = study()
    setter("series.1.modality.code", "mr")(r)
    assert {f.requirement for f in validate_imaging_study(r)} == {"IS-033"}


def test_legacy_system_with_valid_code_is_system_only() -> None:
    r = study()
    setter("series.0.modality.system", "DCM")(r)
    assert {(f.requirement, f.level) for f in validate_imaging_study(r)} == {("IS-033", "SHALL"), ("IS-034", "SHOULD")}


def test_derived_uid_is_info_only() -> None:
    r = study()
    for k, series in enumerate(r["series"]):
        series["uid"] = f"{STUDY_UID}.{k + 1}"
    findings = validate_imaging_study(r)
    assert {(f.requirement, f.level) for f in findings} == {("IS-027", "INFO")}
    assert len(findings) == 3


def test_contained_endpoint_rules_are_rerooted() -> None:
    r = study()
    r["contained"][0]["address"] = "https://pacs.example.org/wado-rs/"
    assert hits(validate_imaging_study(r), "IS-041") == {("SHALL", f"{IS}.contained[0].address")}


def test_given_endpoint_checked_at_reference() -> None:
    r = study()
    r["contained"] = []
    r["endpoint"] = [{"reference": "Endpoint/wado"}]
    bad = sample_endpoint(address="https://pacs.example.org/wado-rs/studies")
    findings = validate_imaging_study(r, endpoints={"Endpoint/wado": bad})
    assert hits(findings, "IS-041") == {("SHALL", f"{IS}.endpoint[0].resolve().address")}
    assert validate_imaging_study(r, endpoints={"Endpoint/wado": sample_endpoint()}) == []
    assert validate_imaging_study(r) == []  # unresolvable references are not checked


def test_iid_endpoint_on_series_is_should() -> None:
    r = study()
    r["contained"].append(sample_endpoint("iid", "https://viewer.example.org/iid", "ihe-iid"))
    r["series"][0]["endpoint"] = [{"reference": "#iid"}]
    assert hits(validate_imaging_study(r), "IS-043") == {("SHOULD", f"{S0}.endpoint[0]")}
    r["series"][0]["endpoint"] = []
    r["endpoint"].append({"reference": "#iid"})
    assert validate_imaging_study(r) == []


def test_contained_endpoint_missing_elements() -> None:
    r = study()
    r["contained"][0] = {"resourceType": "Endpoint", "id": "wado"}
    got = hits(validate_imaging_study(r), "IS-049")
    assert got == {("SHALL", f"{IS}.contained[0].{e}") for e in ("status", "connectionType", "payloadType", "address")}

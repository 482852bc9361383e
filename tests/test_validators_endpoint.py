"""Endpoint rules (IS-040..043, IS-049), URL construction (IS-044..047, FIND-17) and IS-048."""

from __future__ import annotations

from typing import Any

import pytest

from imgconf.validators import validate_resource
from imgconf.validators.endpoint import (
    CONNECTION_TYPE_SYSTEM,
    iid_study_url,
    resolve_endpoint,
    validate_endpoint,
    wado_rs_instance_url,
    wado_rs_metadata_url,
    wado_uri_url,
)
from imgconf.validators.findings import Finding
from imgconf.validators.samples import sample_endpoint, sample_imaging_study

EP = "Endpoint"


def hits(findings: list[Finding], requirement: str) -> set[tuple[str, str]]:
    return {(f.level, f.location) for f in findings if f.requirement == requirement}


def endpoint(code: str, address: str) -> dict[str, Any]:
    return sample_endpoint(address=address, connection_type=code)


@pytest.mark.parametrize(
    ("code", "address"),
    [
        ("dicom-wado-rs", "https://pacs.example.org/wado-rs"),
        ("dicom-wado-rs", "http://10.0.0.1:8080/dcm4chee-arc/aets/DCM4CHEE/rs"),
        ("dicom-wado-uri", "https://pacs.example.org/wado"),
        ("ihe-iid", "https://viewer.example.org/iid"),
        ("dicom-qido-rs", "https://pacs.example.org/qido-rs"),
        ("hl7-fhir-rest", "https://fhir.example.org/r4/"),  # no imaging address rule for other types
    ],
)
def test_good_endpoints(code: str, address: str) -> None:
    assert validate_endpoint(endpoint(code, address)) == []
    assert validate_resource(endpoint(code, address)) == []


@pytest.mark.parametrize(
    ("code", "address", "requirement"),
    [
        ("dicom-wado-rs", "https://pacs.example.org/wado-rs/", "IS-041"),  # §I fixture: trailing slash
        ("dicom-wado-rs", "https://pacs.example.org/wado-rs/studies", "IS-041"),
        ("dicom-wado-rs", "https://pacs.example.org/wado-rs?x=1", "IS-041"),
        ("dicom-wado-rs", "pacs.example.org/wado-rs", "IS-041"),
        ("dicom-wado-uri", "https://pacs.example.org/wado?requestType=WADO", "IS-042"),  # §I fixture
        ("dicom-wado-uri", "https://pacs.example.org/wado?", "IS-042"),
        ("ihe-iid", "https://viewer.example.org/iid?requestType=STUDY", "IS-043"),
    ],
)
def test_bad_addresses(code: str, address: str, requirement: str) -> None:
    findings = validate_endpoint(endpoint(code, address))
    assert ("SHALL", f"{EP}.address") in hits(findings, requirement), findings


def test_iid_on_series_is_should() -> None:
    iid = endpoint("ihe-iid", "https://viewer.example.org/iid")
    assert hits(validate_endpoint(iid, on_series=True), "IS-043") == {("SHOULD", f"{EP}.connectionType")}
    assert validate_endpoint(iid, on_series=False) == []
    assert validate_endpoint(endpoint("dicom-wado-rs", "https://p.org/rs"), on_series=True) == []


def test_connection_type_system() -> None:
    ep = endpoint("dicom-wado-rs", "https://pacs.example.org/wado-rs")
    ep["connectionType"]["system"] = "http://hl7.org/fhir/endpoint-connection-type"
    assert hits(validate_endpoint(ep), "IS-040") == {("SHALL", f"{EP}.connectionType.system")}
    del ep["connectionType"]["system"]
    assert hits(validate_endpoint(ep), "IS-040") == {("SHALL", f"{EP}.connectionType.system")}


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"status": None}, "status"),
        ({"status": "enabled"}, "status"),
        ({"connectionType": None}, "connectionType"),
        ({"connectionType": [{"coding": [{"system": CONNECTION_TYPE_SYSTEM, "code": "dicom-wado-rs"}]}]},
         "connectionType"),  # R5 shape
        ({"connectionType": {"system": CONNECTION_TYPE_SYSTEM}}, "connectionType.code"),
        ({"payloadType": None}, "payloadType"),
        ({"payloadType": []}, "payloadType"),
        ({"address": None}, "address"),
        ({"address": ""}, "address"),
    ],
)
def test_is049_required_elements(change: dict[str, Any], location: str) -> None:
    ep = endpoint("dicom-wado-rs", "https://pacs.example.org/wado-rs")
    for key, value in change.items():
        if value is None:
            del ep[key]
        else:
            ep[key] = value
    assert ("SHALL", f"{EP}.{location}") in hits(validate_endpoint(ep), "IS-049")


@pytest.mark.parametrize("status", ["active", "suspended", "error", "off", "entered-in-error", "test"])
def test_is049_status_codes(status: str) -> None:
    ep = endpoint("dicom-wado-rs", "https://pacs.example.org/wado-rs")
    ep["status"] = status
    assert validate_endpoint(ep) == []


STUDY = "urn:oid:1.2.250.1.59.40211.12345678.678910"
SERIES = "1.2.250.1.59.40211.789001276.14556172.67789"
INSTANCE = "1.2.250.1.59.40211.2678810.87991027.899772.2"


def test_wado_rs_instance_url_strips_urn_oid() -> None:
    # The catalogue's IS-044 example, built from an identifier value that carries urn:oid:.
    assert wado_rs_instance_url("https://pacs.hospital.org/wado-rs", STUDY, SERIES, INSTANCE) == (
        "https://pacs.hospital.org/wado-rs/studies/1.2.250.1.59.40211.12345678.678910"
        "/series/1.2.250.1.59.40211.789001276.14556172.67789"
        "/instances/1.2.250.1.59.40211.2678810.87991027.899772.2")
    # A tolerated trailing slash does not double up.
    assert "wado-rs/studies/" in wado_rs_instance_url("https://p.org/wado-rs/", STUDY, SERIES, INSTANCE)


def test_wado_rs_metadata_urls() -> None:
    base = "https://p.org/rs"
    assert wado_rs_metadata_url(base, STUDY, SERIES) == (
        f"{base}/studies/1.2.250.1.59.40211.12345678.678910/series/{SERIES}/metadata")
    assert wado_rs_metadata_url(base, STUDY) == f"{base}/studies/1.2.250.1.59.40211.12345678.678910/metadata"
    assert wado_rs_metadata_url(base, STUDY, SERIES, INSTANCE).endswith(f"/instances/{INSTANCE}/metadata")


def test_wado_uri_url() -> None:
    url = wado_uri_url("https://p.org/wado", STUDY, SERIES, INSTANCE)
    assert url == (f"https://p.org/wado?requestType=WADO&studyUID=1.2.250.1.59.40211.12345678.678910"
                   f"&seriesUID={SERIES}&objectUID={INSTANCE}")
    assert wado_uri_url("https://p.org/wado", STUDY, SERIES, INSTANCE, contentType="image/jpeg", rows=512).endswith(
        "&contentType=image%2Fjpeg&rows=512")


def test_iid_study_url_uses_bare_uid() -> None:
    assert iid_study_url("https://v.org/iid", STUDY) == (
        "https://v.org/iid?requestType=STUDY&studyUID=1.2.250.1.59.40211.12345678.678910")
    assert iid_study_url("https://v.org/iid", STUDY, diagnostic_quality=True).endswith("&diagnosticQuality=true")
    assert "urn" not in iid_study_url("https://v.org/iid", STUDY)


def test_is048_series_endpoint_overrides_study_endpoint() -> None:
    study = sample_imaging_study()
    study_ep = sample_endpoint("study-rs", "https://study.example.org/rs")
    series_ep = sample_endpoint("series-rs", "https://series.example.org/rs")
    uri_ep = sample_endpoint("study-uri", "https://study.example.org/wado", "dicom-wado-uri")
    study["contained"] = []
    study["endpoint"] = [{"reference": "Endpoint/study-rs"}, {"reference": "Endpoint/study-uri"}]
    study["series"][0]["endpoint"] = [{"reference": "Endpoint/series-rs"}]
    refs = {"Endpoint/study-rs": study_ep, "Endpoint/series-rs": series_ep, "Endpoint/study-uri": uri_ep}
    s0, s1 = study["series"][0], study["series"][1]
    assert resolve_endpoint(study, s0, "dicom-wado-rs", refs) is series_ep
    assert resolve_endpoint(study, s1, "dicom-wado-rs", refs) is study_ep
    # Only the same connectionType overrides: series 0 still gets the study's WADO-URI endpoint.
    assert resolve_endpoint(study, s0, "dicom-wado-uri", refs) is uri_ep
    assert resolve_endpoint(study, None, "dicom-wado-rs", refs) is study_ep
    assert resolve_endpoint(study, s0, "ihe-iid", refs) is None


def test_is048_contained_endpoints_resolve_without_mapping() -> None:
    study = sample_imaging_study()
    assert resolve_endpoint(study, study["series"][0], "dicom-wado-rs", {}) is study["contained"][0]

"""Reference-server rules added for the ImagingStudy REST suite: invalid FHIR the R4B models let
through (64-character id limit, subject target types) and 406 for an Accept it cannot serve."""

from __future__ import annotations

from typing import Any

import httpx

from imgconf.reference.validate import structure_issues

LONG_UID = "1.2.826.0.1.3680043.8.498.111111111111111111111111111111111111111"  # 65 characters
MAX_UID = "1.2.826.0.1.3680043.8.498.11111111111111111111111111111111111111"  # 64 characters


def study(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p1"}, **extra}


def test_uids_longer_than_an_id_are_rejected_and_64_is_fine() -> None:
    series = {"uid": MAX_UID, "modality": {"code": "CT"}, "instance": [{"uid": LONG_UID, "sopClass": {"code": "x"}}]}
    issues = structure_issues("ImagingStudy", study(series=[series]))
    assert [i["expression"] for i in issues] == [["ImagingStudy.series[0].instance[0].uid"]]
    assert structure_issues("ImagingStudy", study(series=[{"uid": MAX_UID, "modality": {"code": "CT"}}])) == []


def test_subject_target_types() -> None:
    for ok in ("Patient/1", "Device/2", "http://x/fhir/Group/3", "Patient/1/_history/2", "urn:uuid:abc"):
        assert structure_issues("ImagingStudy", study(subject={"reference": ok})) == [], ok
    for bad in ("Encounter/1", "http://x/fhir/Practitioner/9/_history/1"):
        issues = structure_issues("ImagingStudy", study(subject={"reference": bad}))
        assert issues and issues[0]["expression"] == ["ImagingStudy.subject"], bad
    assert structure_issues("ImagingStudy", study(subject={"type": "Encounter", "identifier": {"value": "1"}}))


def test_server_rejects_them_and_answers_406_for_an_unservable_accept(reference_server: Any) -> None:
    base = reference_server.base_url
    with httpx.Client() as client:
        bad = client.post(f"{base}/ImagingStudy", json=study(subject={"reference": "Encounter/1"}))
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
        assert client.get(f"{base}/metadata", headers={"Accept": "application/dicom"}).status_code == 406
        for accept in ("application/fhir+json; fhirVersion=4.0", "application/json", "*/*", "application/json+fhir"):
            assert client.get(f"{base}/metadata", headers={"Accept": accept}).status_code == 200, accept
        assert client.get(f"{base}/metadata", params={"_format": "json"}, headers={"Accept": "application/dicom"}).status_code == 200

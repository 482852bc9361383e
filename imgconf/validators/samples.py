"""A valid R4 ImagingStudy (and its WADO-RS Endpoint) to start tests and benchmarks from, and stand-in values to
render the project's fixture templates offline."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

from imgconf.validators.endpoint import CONNECTION_TYPE_SYSTEM
from imgconf.validators.terminology import DCM

STUDY_UID = "1.2.826.0.1.3680043.8.498.10001"
_SERIES_ROOT = "1.2.826.0.1.3680043.8.498.20001"  # a different root from the study: no IS-027
_INSTANCE_ROOT = "1.2.826.0.1.3680043.8.498.30001"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
KOS = "1.2.840.10008.5.1.4.1.1.88.59"
_SERIES_KINDS = (("CT", CT_IMAGE_STORAGE), ("MR", MR_IMAGE_STORAGE), ("KO", KOS))


def sample_endpoint(endpoint_id: str = "wado", address: str = "https://pacs.example.org/wado-rs",
                    connection_type: str = "dicom-wado-rs") -> dict[str, Any]:
    return {
        "resourceType": "Endpoint",
        "id": endpoint_id,
        "status": "active",
        "connectionType": {"system": CONNECTION_TYPE_SYSTEM, "code": connection_type},
        "payloadType": [{"text": "DICOM"}],
        "payloadMimeType": ["application/dicom"],
        "address": address,
    }


def sample_imaging_study(n_series: int = 3, n_instances: int = 20, *,
                         series_modalities: tuple[str, ...] = ("CT", "MR", "CT")) -> dict[str, Any]:
    """``n_instances`` spread over ``n_series`` series; series modalities cycle over
    ``series_modalities`` (CT/MR/KO get a matching SOP Class). Passes every rule."""
    sop_for = dict(_SERIES_KINDS)
    series = []
    for s in range(n_series):
        count = n_instances // n_series + (1 if s < n_instances % n_series else 0)
        modality = series_modalities[s % len(series_modalities)]
        sop_class = "urn:oid:" + sop_for.get(modality, CT_IMAGE_STORAGE)
        series.append({
            "uid": f"{_SERIES_ROOT}.{s + 1}",
            "number": s + 1,
            "modality": {"system": DCM, "code": modality},
            "numberOfInstances": count,
            "started": "2024-03-01T10:15:00+01:00",
            "performer": [{"function": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRF"}]},
                "actor": {"reference": "Practitioner/tech1"}}],
            "instance": [{
                "uid": f"{_INSTANCE_ROOT}.{s + 1}.{j + 1}",
                "number": j + 1,
                "sopClass": {"system": "urn:ietf:rfc:3986", "code": sop_class},
            } for j in range(count)],
        })
    modalities = sorted({str(s["modality"]["code"]) for s in series})  # type: ignore[index]
    return {
        "resourceType": "ImagingStudy",
        "id": "example",
        "contained": [sample_endpoint()],
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:" + STUDY_UID}],
        "status": "available",
        "modality": [{"system": DCM, "code": m} for m in modalities],
        "subject": {"reference": "Patient/p1"},
        "started": "2024-03-01T10:00:00+01:00",
        "basedOn": [{"type": "ServiceRequest", "identifier": {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
            "system": "http://hospital.example.org/accession", "value": "GH334103"}}],
        "endpoint": [{"reference": "#wado"}],
        "numberOfSeries": n_series,
        "numberOfInstances": n_instances,
        "series": series,
    }



def template_stand_ins(edition: dict[str, str]) -> Callable[[str], Any]:
    """A fixed, well-formed value for each placeholder of a fixture template (``imgconf.suite.template.render``),
    for validating the fixtures with no server: UIDs under a test root, UUIDs, the edition's codes, fixture ids and
    references derived from the fixture key."""
    def lookup(name: str) -> Any:
        digest = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
        if name.startswith("uid."):
            return f"1.2.826.0.1.3680043.8.498.{digest}"
        if name.startswith("run.uuid."):
            return f"urn:uuid:{uuid.UUID(int=digest)}"
        if name.startswith("edition."):
            return edition[name.removeprefix("edition.")]
        if name.startswith("fixture."):
            key, attribute = name.removeprefix("fixture.").rsplit(".", 1)
            rtype, rid = key.split("/")[0].capitalize(), re.sub(r"[^A-Za-z0-9.-]", "-", key.split("/")[-1])
            return {"id": rid, "ref": f"{rtype}/{rid}", "url": f"https://fhir.example.org/{rtype}/{rid}",
                    "size": 1024, "hash": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}[attribute]
        return {"run.tag": "t1", "pacs.dicomweb": "https://pacs.example.org/dicom-web"}.get(name, f"x{digest}")
    return lookup

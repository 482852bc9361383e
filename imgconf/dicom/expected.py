"""The FHIR R4 ImagingStudy a conformant server should hold for a set of DICOM instances of one study.

Built only from the datasets (any datasets, not just generated ones), so what a PACS was given and what FHIR
should say come from one source. Mapping (R4 ImagingStudy, DICOM PS3.3):
- identifier: Study Instance UID as ``urn:dicom:uid`` / ``urn:oid:<uid>``; Accession Number (0008,0050) typed
  v2-0203#ACSN, system ``urn:oid:<Universal Entity ID>`` of Issuer of Accession Number (0008,0051) when it is an
  ISO OID (also as the logical ServiceRequest in ``basedOn``, IS-028);
- started: StudyDate + StudyTime + TimezoneOffsetFromUTC (R4: a dateTime with a time SHALL carry a zone, so
  without the offset only the date is stated);
- modality: the series modalities that are acquisition modalities (CID 29, as R4 defines the element);
- series ordered by SeriesNumber, instances by InstanceNumber; modality in the DCM code system, SOP class as
  ``urn:ietf:rfc:3986`` / ``urn:oid:<uid>``;
- endpoint: an Endpoint ``dicom-wado-rs`` whose address is the DICOMweb root (contained unless a reference
  to a stored Endpoint is given).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydicom.dataset import Dataset

from imgconf.validators.terminology import cid29

DICOM_UID_SYSTEM = "urn:dicom:uid"
URN_OID = "urn:oid:"
RFC3986 = "urn:ietf:rfc:3986"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONNECTION_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
PAYLOAD_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-payload-type"
SUBJECT_PLACEHOLDER = "Patient/imgconf-dicom-patient"  # replaced by the real Patient when stored on a server
CONTAINED_ENDPOINT_ID = "pacs"


class StudyMismatch(ValueError):
    """The datasets are not one study (no instance, several Study Instance UIDs or patients)."""


def dicom_started(date: str, time: str, offset: str) -> str | None:
    """DICOM DA + TM + TimezoneOffsetFromUTC → an R4 dateTime: ``20240314``, ``093000.5``, ``+0100`` →
    ``2024-03-14T09:30:00.5+01:00``. TM may omit minutes/seconds (``09`` = 09:00:00)."""
    date = date.strip()
    if len(date) != 8 or not date.isdigit():
        return None
    day = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    time, offset = time.strip(), offset.strip()
    if not time or len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        return day  # a time without a zone is not an R4 dateTime: state only what is certain
    whole, _, fraction = time.partition(".")
    whole = whole.replace(":", "")  # ACR-NEMA style 09:30:00
    if not whole.isdigit() or len(whole) not in (2, 4, 6):
        return day
    hh, mm, ss = whole[:2], whole[2:4] or "00", whole[4:6] or "00"
    return f"{day}T{hh}:{mm}:{ss}{'.' + fraction if fraction else ''}{offset[:3]}:{offset[3:]}"


def wado_rs_endpoint(dicomweb_root: str, *, endpoint_id: str | None = None) -> dict[str, Any]:
    """An active ``dicom-wado-rs`` Endpoint whose address is the DICOMweb root (no trailing slash, IS-041)."""
    endpoint: dict[str, Any] = {"resourceType": "Endpoint"}
    if endpoint_id is not None:
        endpoint["id"] = endpoint_id
    endpoint.update({
        "status": "active",
        "connectionType": {"system": CONNECTION_TYPE, "code": "dicom-wado-rs"},
        "name": "imgconf PACS (Orthanc) WADO-RS",
        "payloadType": [{"coding": [{"system": PAYLOAD_TYPE, "code": "DICOM"}]}],
        "payloadMimeType": ["application/dicom"],
        "address": dicomweb_root.rstrip("/"),
    })
    return endpoint


def expected_imaging_study(datasets: Iterable[Dataset], *, dicomweb_root: str,
                           subject_reference: str = SUBJECT_PLACEHOLDER,
                           endpoint_reference: str | None = None) -> dict[str, Any]:
    """The ImagingStudy for all instances of one study. ``endpoint_reference`` (e.g. ``Endpoint/pacs``): point at
    a stored Endpoint; without it the study contains its Endpoint (``#pacs``) with ``dicomweb_root`` as address."""
    instances = list(datasets)
    if not instances:
        raise StudyMismatch("no DICOM instance given")
    first = instances[0]
    for attribute in ("StudyInstanceUID", "PatientID"):
        values = {str(ds.get(attribute, "")) for ds in instances}
        if len(values) != 1:
            raise StudyMismatch(f"the instances disagree on {attribute}: {sorted(values)}")

    study: dict[str, Any] = {"resourceType": "ImagingStudy"}
    if endpoint_reference is None:
        study["contained"] = [wado_rs_endpoint(dicomweb_root, endpoint_id=CONTAINED_ENDPOINT_ID)]
    study["identifier"] = [{"use": "official", "system": DICOM_UID_SYSTEM, "value": URN_OID + first.StudyInstanceUID}]
    accession = accession_identifier(first)
    if accession is not None:
        study["identifier"].append(accession)
    study["status"] = "available"
    # R4: the study lists the series modalities that are acquisition modalities (CID 29): CT, not KO
    acquisition = cid29().codes
    modalities = _distinct(str(ds.Modality) for ds in _ordered(instances) if str(ds.Modality) in acquisition)
    study["modality"] = [{"system": DCM, "code": code} for code in modalities]
    study["subject"] = _subject(first, subject_reference)
    started = dicom_started(str(first.get("StudyDate", "")), str(first.get("StudyTime", "")),
                            str(first.get("TimezoneOffsetFromUTC", "")))
    if started:
        study["started"] = started
    if accession is not None:
        study["basedOn"] = [{"type": "ServiceRequest", "identifier": accession}]
    study["endpoint"] = [{"reference": endpoint_reference or f"#{CONTAINED_ENDPOINT_ID}"}]
    series = _series(instances)
    study["numberOfSeries"] = len(series)
    study["numberOfInstances"] = len(instances)
    if first.get("StudyDescription"):
        study["description"] = str(first.StudyDescription)
    study["series"] = series
    return study


def accession_identifier(ds: Dataset) -> dict[str, Any] | None:
    """Accession Number with its issuer as ``system`` (an ISO issuer as ``urn:oid:``), None without a number."""
    number = str(ds.get("AccessionNumber", "") or "").strip()
    if not number:
        return None
    identifier: dict[str, Any] = {"type": {"coding": [{"system": V2_0203, "code": "ACSN"}]}}
    system = _issuer_system(ds.get("IssuerOfAccessionNumberSequence"))
    if system is not None:
        identifier["system"] = system
    identifier["value"] = number
    return identifier


def _issuer_system(sequence: Any) -> str | None:
    """An HL7 v2 HD as a FHIR system: the Universal Entity ID of type ISO as ``urn:oid:``, else a URI one as is."""
    for item in sequence or []:
        universal = str(item.get("UniversalEntityID", "") or "").strip()
        kind = str(item.get("UniversalEntityIDType", "") or "").strip()
        if universal and kind == "ISO":
            return URN_OID + universal
        if universal and kind in ("URI", "URL"):
            return universal
    return None


def _subject(ds: Dataset, reference: str) -> dict[str, Any]:
    """The reference, plus the patient identifier the PACS knows (Patient ID, system from its issuer)."""
    subject: dict[str, Any] = {"reference": reference}
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if patient_id:
        identifier: dict[str, Any] = {}
        system = _issuer_system(ds.get("IssuerOfPatientIDQualifiersSequence"))
        if system is not None:
            identifier["system"] = system
        identifier["value"] = patient_id
        subject["identifier"] = identifier
    return subject


def _ordered(instances: list[Dataset]) -> list[Dataset]:
    return sorted(instances, key=lambda ds: (_number(ds.get("SeriesNumber")), _number(ds.get("InstanceNumber"))))


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1 << 31  # unnumbered last


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _series(instances: list[Dataset]) -> list[dict[str, Any]]:
    by_uid: dict[str, list[Dataset]] = {}
    for ds in _ordered(instances):
        by_uid.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    out: list[dict[str, Any]] = []
    for uid, members in by_uid.items():
        head = members[0]
        series: dict[str, Any] = {"uid": uid}
        if head.get("SeriesNumber") is not None:
            series["number"] = int(head.SeriesNumber)
        series["modality"] = {"system": DCM, "code": str(head.Modality)}
        if head.get("SeriesDescription"):
            series["description"] = str(head.SeriesDescription)
        series["numberOfInstances"] = len(members)
        started = dicom_started(str(head.get("SeriesDate", "")), str(head.get("SeriesTime", "")),
                                str(head.get("TimezoneOffsetFromUTC", "")))
        if started:
            series["started"] = started
        series["instance"] = [_instance(ds) for ds in members]
        out.append(series)
    return out


def _instance(ds: Dataset) -> dict[str, Any]:
    instance: dict[str, Any] = {"uid": str(ds.SOPInstanceUID),
                                "sopClass": {"system": RFC3986, "code": URN_OID + str(ds.SOPClassUID)}}
    if ds.get("InstanceNumber") is not None:
        instance["number"] = int(ds.InstanceNumber)
    return instance

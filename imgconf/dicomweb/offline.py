"""``imgconf validate FILES --dicomweb URL``: the cross-check of files against a PACS, as findings.

- an ImagingStudy (a file, an NDJSON line, a Bundle entry) is compared with the PACS by
  :func:`imgconf.dicomweb.crosscheck.crosscheck_study`; its Endpoints are contained, or are Endpoint resources
  among the inputs (``Endpoint/<id>`` or a Bundle entry's fullUrl), collected before the comparison starts;
- a KOS manifest (a ``.dcm`` file given as a path, or a DocumentReference whose attachment carries the KOS
  inline as ``application/dicom`` data, MAN-001): every instance its evidence sequence references is looked
  up in the PACS. An instance the PACS holds in another study breaks MAN-015 (SHALL), in another series of
  the study DICOM-012 (SHALL); one the PACS does not hold at all is INFO (no catalogue requirement says a
  manifest's instances exist in a given PACS: they may live in another archive).

Only disagreements become findings (as for every offline rule); the PACS sees GET requests only.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imgconf.dicomweb.client import DICOM_JSON, DicomWebClient, DicomWebUnreachable, json_value
from imgconf.dicomweb.crosscheck import SERIES_UID, SOP_INSTANCE, STUDY_UID, crosscheck_study
from imgconf.validators.findings import Finding

KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
DICOM_SUFFIXES = (".dcm", ".dicom")


def collect_endpoints(resources: Iterable[tuple[dict[str, Any], str | None]]) -> dict[str, dict[str, Any]]:
    """Endpoint resources by the references that can name them: ``Endpoint/<id>`` and the entry's fullUrl."""
    found: dict[str, dict[str, Any]] = {}
    for resource, full_url in resources:
        if resource.get("resourceType") == "Endpoint":
            if isinstance(resource.get("id"), str):
                found[f"Endpoint/{resource['id']}"] = resource
            if full_url:
                found[full_url] = resource
    return found


class OfflineCrossCheck:
    """Findings for one resource at a time, against one PACS (one client: its evidence is not kept)."""

    def __init__(self, client: DicomWebClient, endpoints: dict[str, dict[str, Any]], *, instances: int = 1) -> None:
        self.client = client
        self.endpoints = endpoints
        self.instances = instances
        self.studies = 0

    def __call__(self, resource: dict[str, Any], root: str) -> list[Finding]:
        """``root``: where the resource sits in its input (``Bundle.entry[3].resource``; "" for itself)."""
        rtype = resource.get("resourceType")
        if rtype == "ImagingStudy":
            return self.imaging_study(resource, root)
        if rtype == "DocumentReference":
            return self.document_reference(resource, root)
        return []

    def imaging_study(self, study: dict[str, Any], root: str) -> list[Finding]:
        self.studies += 1
        findings = []
        for cc in crosscheck_study(study, self.endpoints, self.client, instances=self.instances):
            if cc.ok:
                continue
            location = (root + cc.location.removeprefix("ImagingStudy")) if root else cc.location
            findings.append(Finding(cc.requirement[0] if cc.requirement else "IS-044", cc.level.value, location,
                                    f"PACS: {cc.message}"))
        return findings

    def document_reference(self, document: dict[str, Any], root: str) -> list[Finding]:
        findings: list[Finding] = []
        base = root or "DocumentReference"
        for index, content in enumerate(document.get("content") or []):
            attachment = content.get("attachment") if isinstance(content, dict) else None
            if not isinstance(attachment, dict) or attachment.get("contentType") != "application/dicom":
                continue
            data = attachment.get("data")
            if not isinstance(data, str):
                continue  # a KOS by URL is retrieved by the live suites (ITI-68), not here
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                continue  # not base64: the structure rules report it
            findings += self.kos(raw, f"{base}.content[{index}].attachment.data")
        return findings

    def kos(self, raw: bytes, location: str) -> list[Finding]:
        """Every instance the KOS references, looked up in the PACS."""
        import pydicom
        from pydicom.errors import InvalidDicomError

        from imgconf.dicom.generate import referenced_instances

        try:
            dataset = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        except (InvalidDicomError, ValueError, EOFError, OSError, KeyError, TypeError):
            return [Finding("MAN-001", "SHALL", location, "not a DICOM Part 10 file")]
        if str(dataset.get("SOPClassUID", "")) != KOS_SOP_CLASS:
            return []
        findings: list[Finding] = []
        by_series: dict[tuple[str, str], list[str]] = {}
        for study_uid, series_uid, instance_uid in referenced_instances(dataset):
            by_series.setdefault((study_uid, series_uid), []).append(instance_uid)
        for (study_uid, series_uid), instances in by_series.items():
            answer = self.client.get(f"studies/{study_uid}/series/{series_uid}/instances", accept=DICOM_JSON)
            listed = answer.dicom_json() if answer.status == 200 else []
            held = {str(json_value(i, SOP_INSTANCE)) for i in listed or []}
            for instance_uid in instances:
                if instance_uid not in held:
                    findings.append(self._elsewhere(study_uid, series_uid, instance_uid, location))
        return findings

    def _elsewhere(self, study_uid: str, series_uid: str, instance_uid: str, location: str) -> Finding:
        answer = self.client.search_instances(None, None, instance_uid)
        found = (answer.dicom_json() or []) if answer.status == 200 else []
        owners = {(str(json_value(i, STUDY_UID)), str(json_value(i, SERIES_UID))) for i in found}
        other_study = sorted(s for s, _ in owners if s != study_uid)
        if other_study:
            return Finding("MAN-015", "SHALL", location, f"the KOS references instance {instance_uid} in study "
                           f"{study_uid}, but the PACS holds it in study {other_study[0]}", instance_uid)
        other_series = sorted(se for _, se in owners if se != series_uid)
        if other_series:
            return Finding("DICOM-012", "SHALL", location, f"the KOS references instance {instance_uid} in series "
                           f"{series_uid}, but the PACS holds it in series {other_series[0]}", instance_uid)
        return Finding("MAN-015", "INFO", location, f"the PACS does not hold instance {instance_uid} (study "
                       f"{study_uid}, series {series_uid}) the KOS references; no catalogue requirement says a "
                       "manifest's instances are in this PACS", instance_uid)


def dicom_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """(DICOM files given by path, the other paths): the offline walker reads FHIR JSON/NDJSON only."""
    dicom: list[Path] = []
    other: list[Path] = []
    for path in paths:
        (dicom if Path(path).is_file() and Path(path).suffix.lower() in DICOM_SUFFIXES else other).append(Path(path))
    return dicom, other


class OpenPacs:
    """What ``imgconf validate --dicomweb`` holds while it runs: the client, the checker, the split inputs."""

    def __init__(self, root: str, paths: list[Path]) -> None:
        from imgconf.offline import ReadError, iter_resources

        self.dicom_paths, self.other_paths = dicom_files(paths)
        resources = [(item, None) for path in self.other_paths for _, item in iter_resources(path)
                     if not isinstance(item, ReadError) and item.get("resourceType") == "Endpoint"]
        self.client = DicomWebClient(root)
        self.check = OfflineCrossCheck(self.client, collect_endpoints(resources))

    def dicom_items(self) -> Iterable[tuple[str, dict[str, Any] | None, list[Finding]]]:
        for path in self.dicom_paths:
            if path.stat().st_size > MAX_DICOM_BYTES:
                yield str(path), None, [Finding("INPUT-READ", "SHALL", "", f"larger than {MAX_DICOM_BYTES} bytes")]
                continue
            yield str(path), {"resourceType": "DICOM", "id": path.name}, self.check.kos(path.read_bytes(), path.name)

    @staticmethod
    def unreachable(exc: BaseException) -> bool:
        return isinstance(exc, DicomWebUnreachable)

    def close(self) -> None:
        self.client.close()


MAX_DICOM_BYTES = 64 * 1024 * 1024


def open_pacs(root: str, paths: list[Path]) -> OpenPacs:
    return OpenPacs(root, paths)

"""Load DICOM Part-10 instances into Orthanc through its own REST API (``POST /instances``).

Orthanc's REST upload rather than STOW-RS: the loader prepares the PACS, it is not part of what is judged, and
``POST /instances`` answers per instance with Orthanc's ids (useful when a test needs Orthanc's view of a study).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from pydicom.dataset import Dataset

from imgconf.dicom.generate import GeneratedStudy, part10_bytes

STORED = frozenset({"Success", "AlreadyStored"})


class UploadFailed(RuntimeError):
    """Orthanc did not store an instance (HTTP error or a Status other than Success/AlreadyStored)."""


@dataclass(frozen=True)
class StoredInstance:
    sop_instance_uid: str
    orthanc_id: str  # Orthanc's own id of the instance (/instances/{id})
    orthanc_study: str  # ... of its study (/studies/{id})
    status: str  # "Success" | "AlreadyStored"


def upload_dataset(client: httpx.Client, dataset: Dataset) -> StoredInstance:
    """POST one instance; ``client`` has Orthanc's REST root as base_url (``OrthancServer.client()``)."""
    uid = str(dataset.SOPInstanceUID)
    try:
        response = client.post("/instances", content=part10_bytes(dataset),
                               headers={"Content-Type": "application/dicom"})
    except httpx.HTTPError as exc:
        raise UploadFailed(f"POST /instances for {uid}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise UploadFailed(f"POST /instances for {uid}: HTTP {response.status_code} {response.text[:200]}")
    answer = response.json()
    status = str(answer.get("Status", "")) if isinstance(answer, dict) else ""
    if status not in STORED:
        raise UploadFailed(f"POST /instances for {uid}: Orthanc answered {str(answer)[:200]}")
    return StoredInstance(uid, str(answer["ID"]), str(answer.get("ParentStudy", "")), status)


def upload_studies(client: httpx.Client, studies: Iterable[GeneratedStudy]) -> list[StoredInstance]:
    """Every instance of every study, in order; stops at the first instance Orthanc does not store."""
    return [upload_dataset(client, ds) for study in studies for ds in study.datasets]

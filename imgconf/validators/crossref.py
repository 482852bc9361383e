"""UIDs across resources (DICOM-012 SHALL, DICOM-013 SHOULD).

A Series Instance UID belongs to one study and a SOP Instance UID to one series, everywhere: in a
Bundle, an NDJSON file, a folder, a server's search results. ImagingStudy resources that share a
Study Instance UID (subsets of one study) name the same subject. ``UidIndex`` remembers where each
UID was first seen; ``add`` returns the conflicts of one more resource, naming both places.
Within one resource the same checks are IS-015 (imgconf.validators.imagingstudy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imgconf.validators._shape import items, obj, text
from imgconf.validators.findings import Finding
from imgconf.validators.identifiers import DICOM_UID_SYSTEM
from imgconf.validators.uid import strip_urn_oid


@dataclass(frozen=True)
class Place:
    """Where a UID was seen: the source (file, file:line, file#entry[i], a search page) and the
    FHIRPath-style location inside it."""

    source: str
    location: str

    def __str__(self) -> str:
        return f"{self.source} {self.location}" if self.source else self.location


@dataclass
class UidIndex:
    """Feed ImagingStudy resources in order; each ``add`` reports conflicts with earlier ones."""

    series_study: dict[str, tuple[str, Place, int]] = field(default_factory=dict)
    instance_series: dict[str, tuple[str, Place, int]] = field(default_factory=dict)
    study_subject: dict[str, tuple[str, Place, int]] = field(default_factory=dict)
    _count: int = 0

    def add(self, resource: Any, source: str = "", root: str = "ImagingStudy") -> list[Finding]:
        """``root``: the location prefix of the resource, e.g. ``Bundle.entry[3].resource``."""
        if not isinstance(resource, dict) or resource.get("resourceType") != "ImagingStudy":
            return []
        self._count += 1
        me = self._count
        out: list[Finding] = []
        study_uid = _study_uid(resource)
        subject = _subject_key(resource)
        if study_uid and subject:
            here = Place(source, f"{root}.subject")
            first = self.study_subject.setdefault(study_uid, (subject, here, me))
            if first[2] != me and first[0] != subject:
                out.append(Finding("DICOM-013", "SHOULD", here.location,
                                   f"Study UID {study_uid} names subject {subject}, but {first[1]} names "
                                   f"{first[0]} for the same study: a patient-identity conflict (two patients "
                                   "merged into one study?); one study has one subject", study_uid))
        for i, series in items(resource, "series"):
            series_uid = strip_urn_oid(series.get("uid"))  # a wrong urn:oid: prefix is IS-022, not a new UID
            if not isinstance(series_uid, str) or not series_uid:
                continue
            loc = f"{root}.series[{i}].uid"
            if study_uid:
                here = Place(source, loc)
                first = self.series_study.setdefault(series_uid, (study_uid, here, me))
                if first[2] != me and first[0] != study_uid:
                    out.append(Finding("DICOM-012", "SHALL", loc,
                                       f"series UID {series_uid} is under Study UID {study_uid} here and under "
                                       f"Study UID {first[0]} at {first[1]}; a Series Instance UID belongs to "
                                       "exactly one study (give the series of each study its own UID)", series_uid))
            for j, instance in items(series, "instance"):
                sop_uid = strip_urn_oid(instance.get("uid"))
                if not isinstance(sop_uid, str) or not sop_uid:
                    continue
                iloc = f"{root}.series[{i}].instance[{j}].uid"
                here = Place(source, iloc)
                first = self.instance_series.setdefault(sop_uid, (series_uid, here, me))
                if first[2] != me and first[0] != series_uid:
                    out.append(Finding("DICOM-012", "SHALL", iloc,
                                       f"instance UID {sop_uid} is in series {series_uid} here and in series "
                                       f"{first[0]} at {first[1]}; a SOP Instance UID belongs to exactly one "
                                       "series", sop_uid))
        return out


def _study_uid(resource: dict[str, Any]) -> str | None:
    for _, ident in items(resource, "identifier"):
        if ident.get("system") == DICOM_UID_SYSTEM:
            value = strip_urn_oid(ident.get("value"))
            if isinstance(value, str) and value:
                return value
    return None


def _subject_key(resource: dict[str, Any]) -> str | None:
    """The subject as written: a literal reference, else a logical identifier (system|value)."""
    subject = obj(resource, "subject")
    ref = text(subject, "reference")
    if ref:
        ref = ref.split("/_history/", 1)[0]
        if "://" in ref:  # https://server/fhir/Patient/1 and Patient/1 are the same subject
            ref = "/".join(ref.rstrip("/").split("/")[-2:])
        return ref
    ident = obj(subject, "identifier")
    if ident and text(ident, "value"):
        return f"{text(ident, 'system') or ''}|{text(ident, 'value')}"
    return None

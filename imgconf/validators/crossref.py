"""UIDs across resources (DICOM-012 SHALL, DICOM-013 SHOULD).

A Series Instance UID belongs to one study and a SOP Instance UID to one series, everywhere: in a
Bundle, an NDJSON file, a folder, a server's search results. ImagingStudy resources that share a
Study Instance UID (subsets of one study) name the same subject. ``UidIndex`` remembers where each
UID was first seen; ``add`` returns the conflicts of one more resource, naming both places.
Within one resource the same checks are IS-015 (imgconf.validators.imagingstudy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

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


# What a claim says: a study UID names a subject, a series UID belongs to a study, an instance UID to a series.
SUBJECT, SERIES, INSTANCE = 0, 1, 2


class Claim(NamedTuple):  # a tuple, its location built on demand: ~60 per study in bulk runs
    """One UID's owner as one ImagingStudy states it: ``uid`` belongs to ``owner`` (a subject key, a
    study UID or a series UID by ``kind``) at ``location``. Two resources whose claims on the same
    (kind, uid) name different owners conflict (DICOM-013 for SUBJECT, else DICOM-012)."""

    kind: int
    uid: str
    owner: str
    root: str
    series: int = -1  # index of the series (SERIES, INSTANCE)
    instance: int = -1  # index of the instance (INSTANCE)

    @property
    def location(self) -> str:
        if self.kind == SUBJECT:
            return f"{self.root}.subject"
        if self.kind == SERIES:
            return f"{self.root}.series[{self.series}].uid"
        return f"{self.root}.series[{self.series}].instance[{self.instance}].uid"


def uid_claims(resource: Any, root: str = "ImagingStudy") -> list[Claim]:
    """The claims of one ImagingStudy, in document order (subject, then each series and its instances).
    The one definition both ``UidIndex`` and the disk-backed bulk index (imgconf.bulk.uidspool) use."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "ImagingStudy":
        return []
    out: list[Claim] = []
    study_uid = _study_uid(resource)
    subject = _subject_key(resource)
    if study_uid and subject:
        out.append(Claim(SUBJECT, study_uid, subject, root))
    for i, series in items(resource, "series"):
        series_uid = strip_urn_oid(series.get("uid"))  # a wrong urn:oid: prefix is IS-022, not a new UID
        if not isinstance(series_uid, str) or not series_uid:
            continue
        if study_uid:
            out.append(Claim(SERIES, series_uid, study_uid, root, i))
        for j, instance in items(series, "instance"):
            sop_uid = strip_urn_oid(instance.get("uid"))
            if isinstance(sop_uid, str) and sop_uid:
                out.append(Claim(INSTANCE, sop_uid, series_uid, root, i, j))
    return out


def conflict_finding(claim: Claim, first_owner: str, first: Place) -> Finding:
    """The finding for ``claim`` when ``first`` (another resource) gave the same UID ``first_owner``."""
    if claim.kind == SUBJECT:
        return Finding("DICOM-013", "SHOULD", claim.location,
                       f"Study UID {claim.uid} names subject {claim.owner}, but {first} names "
                       f"{first_owner} for the same study: a patient-identity conflict (two patients "
                       "merged into one study?); one study has one subject", claim.uid)
    if claim.kind == SERIES:
        return Finding("DICOM-012", "SHALL", claim.location,
                       f"series UID {claim.uid} is under Study UID {claim.owner} here and under "
                       f"Study UID {first_owner} at {first}; a Series Instance UID belongs to "
                       "exactly one study (give the series of each study its own UID)", claim.uid)
    return Finding("DICOM-012", "SHALL", claim.location,
                   f"instance UID {claim.uid} is in series {claim.owner} here and in series "
                   f"{first_owner} at {first}; a SOP Instance UID belongs to exactly one series", claim.uid)


@dataclass
class UidIndex:
    """Feed ImagingStudy resources in order; each ``add`` reports conflicts with earlier ones.
    In memory: for millions of studies use imgconf.bulk.uidspool (same claims, on disk)."""

    series_study: dict[str, tuple[str, Place, int]] = field(default_factory=dict)
    instance_series: dict[str, tuple[str, Place, int]] = field(default_factory=dict)
    study_subject: dict[str, tuple[str, Place, int]] = field(default_factory=dict)
    _count: int = 0

    def add(self, resource: Any, source: str = "", root: str = "ImagingStudy") -> list[Finding]:
        """``root``: the location prefix of the resource, e.g. ``Bundle.entry[3].resource``."""
        claims = uid_claims(resource, root)
        if not claims and not (isinstance(resource, dict) and resource.get("resourceType") == "ImagingStudy"):
            return []
        self._count += 1
        me = self._count
        tables = (self.study_subject, self.series_study, self.instance_series)
        out: list[Finding] = []
        for claim in claims:
            here = Place(source, claim.location)
            first = tables[claim.kind].setdefault(claim.uid, (claim.owner, here, me))
            if first[2] != me and first[0] != claim.owner:
                out.append(conflict_finding(claim, first[0], first[1]))
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

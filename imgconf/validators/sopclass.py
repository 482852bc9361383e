"""What a UID in ``instance.sopClass`` is, per the pydicom 3.0.2 copy of the PS3.6 registry.

Used by IS-032 (known SOP Class), DICOM-010 (not a SOP Class at all) and DICOM-011 (SOP Class vs
series modality). Everything is computed once at import: the registry is ~500 entries.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pydicom.uid import UID_dictionary

from imgconf.validators.findings import Finding, short
from imgconf.validators.uid import URN_OID, uid_problems

SOP_CLASS = "SOP Class"
# Context Group UIDs (PS3.6 Annex A "Context Group Name") are not in pydicom's table.
CONTEXT_GROUP_ROOT = "1.2.840.10008.6.1."


@dataclass(frozen=True)
class UidInfo:
    name: str
    kind: str  # registry "UID Type": "SOP Class", "Transfer Syntax", "Coding Scheme", ...
    retired: bool

    @property
    def is_sop_class(self) -> bool:
        return self.kind == SOP_CLASS

    @property
    def is_storage(self) -> bool:
        # PS3.4 Annex B storage classes; the registry has no column for it, the names do.
        return self.is_sop_class and "Storage" in self.name and not self.name.startswith("Storage Commitment")


def lookup(uid: str) -> UidInfo | None:
    """Registry entry for ``uid``; a Context Group UID gets a synthetic entry; else None."""
    info = _REGISTRY.get(uid)
    if info is None and uid.startswith(CONTEXT_GROUP_ROOT):
        return UidInfo("DICOM Context Group", "Context Group Name", False)
    return info


def expected_modalities(uid: str) -> frozenset[str] | None:
    """Series modalities consistent with a SOP Class, or None when the class does not imply one."""
    return _MODALITIES.get(uid)


# DICOM-011: deliberately only classes whose IOD fixes the series modality (or a short list).
# Secondary Capture, encapsulated documents, raw data, waveforms other than ECG etc. are left out.
_MODALITY_BY_NAME: tuple[tuple[str, frozenset[str]], ...] = (
    (r"(Enhanced |Legacy Converted Enhanced )?CT Image Storage", frozenset({"CT"})),
    (r"(Enhanced |Legacy Converted Enhanced )?MR (Color )?Image Storage|MR Spectroscopy Storage", frozenset({"MR"})),
    (r"Positron Emission Tomography Image Storage|(Enhanced |Legacy Converted Enhanced )PET Image Storage",
     frozenset({"PT"})),
    (r"Nuclear Medicine Image Storage", frozenset({"NM"})),
    (r"Ultrasound (Multi-frame )?Image Storage|Enhanced US Volume Storage", frozenset({"US", "IVUS"})),
    (r"Computed Radiography Image Storage", frozenset({"CR"})),
    (r"Digital X-Ray Image Storage - For (Presentation|Processing)", frozenset({"DX", "PX"})),
    (r"Digital Mammography X-Ray Image Storage.*|Breast (Tomosynthesis|Projection X-Ray) Image Storage.*",
     frozenset({"MG"})),
    (r"Digital Intra-Oral X-Ray Image Storage.*", frozenset({"IO"})),
    (r"X-Ray Angiographic Image Storage|Enhanced XA Image Storage", frozenset({"XA"})),
    (r"X-Ray Radiofluoroscopic Image Storage|Enhanced XRF Image Storage", frozenset({"RF"})),
    (r"(12-lead |General |Ambulatory |General 32-bit )ECG Waveform Storage", frozenset({"ECG"})),
    (r"Key Object Selection Document Storage", frozenset({"KO"})),
    (r"(Basic Text|Enhanced|Comprehensive|Comprehensive 3D|Extensible) SR Storage", frozenset({"SR"})),
    (r"(Mammography|Chest|Colon) CAD SR Storage", frozenset({"SR"})),
    (r"(Enhanced )?X-Ray Radiation Dose SR Storage", frozenset({"SR"})),
    (r".+Presentation State Storage", frozenset({"PR"})),
    (r"(Surface )?Segmentation Storage", frozenset({"SEG"})),
    (r"(Deformable )?Spatial Registration Storage", frozenset({"REG"})),
    (r"RT Structure Set Storage", frozenset({"RTSTRUCT"})),
    (r"RT Dose Storage", frozenset({"RTDOSE"})),
    (r"RT (Ion )?Plan Storage", frozenset({"RTPLAN"})),
    (r"RT Image Storage", frozenset({"RTIMAGE"})),
)


def _build() -> tuple[dict[str, UidInfo], dict[str, frozenset[str]]]:
    registry: dict[str, UidInfo] = {}
    modalities: dict[str, frozenset[str]] = {}
    patterns = [(re.compile(p), m) for p, m in _MODALITY_BY_NAME]
    for uid, row in UID_dictionary.items():
        name, kind, _info, retired = row[0], row[1], row[2], row[3]
        info = UidInfo(name, kind, retired == "Retired")
        registry[uid] = info
        if info.is_sop_class and not info.retired:
            for rx, mods in patterns:
                if rx.fullmatch(name):
                    modalities[uid] = mods
                    break
    return registry, modalities


_REGISTRY, _MODALITIES = _build()


# --- the sopClass rules (IS-007, IS-030..032, DICOM-010, DICOM-011) ---

RFC3986 = "urn:ietf:rfc:3986"
_Problem = tuple[str, str, str, str, str | None]  # requirement, level, element, message, value


def check_sop_class(loc: str, sop: dict[str, Any], series_modality: str | None, out: list[Finding]) -> None:
    system, code = sop.get("system"), sop.get("code")
    if not isinstance(code, str) or not code:
        out.append(Finding("IS-007", "SHALL", f"{loc}.code",
                           "sopClass.code is required: urn:oid:<SOP Class UID>", short(code)))
        return
    system_key = system if isinstance(system, str) or system is None else repr(system)
    for req, level, element, message, value in sop_class_problems(system_key, code, series_modality):
        out.append(Finding(req, level, f"{loc}.{element}", message, value))


@functools.lru_cache(maxsize=4096)  # a study repeats the same few SOP Classes many times
def sop_class_problems(system: str | None, code: str, series_modality: str | None) -> tuple[_Problem, ...]:
    found: list[_Problem] = []
    if system != RFC3986:
        found.append(("IS-030", "SHALL", "system", f"sopClass.system must be {RFC3986}", short(system)))
    uid: str | None = None
    if code.startswith(URN_OID):
        uid = code[len(URN_OID):]
    elif system == RFC3986 and not code.startswith("urn:"):
        found.append(("IS-031", "SHALL", "code", ("with system urn:ietf:rfc:3986 the code is a URI; a bare OID has "
                                                  "no scheme (use urn:oid:<UID>)"), code))
        uid = code if _looks_like_uid(code) else None
    else:
        found.append(("IS-030", "SHALL", "code", "sopClass.code must be urn:oid:<SOP Class UID>", code))
        uid = code if _looks_like_uid(code) else None
    if uid is None:
        return tuple(found)
    problems = uid_problems(uid)
    if problems:
        found.append(("IS-023", "SHALL", "code", "invalid UID: " + "; ".join(problems), code))
        return tuple(found)
    info = lookup(uid)
    if info is None:
        found.append(("IS-032", "SHOULD", "code",
                      "not a SOP Class in the PS3.6 registry (pydicom 3.0.2): private or unknown", code))
    elif not info.is_sop_class:
        found.append(("DICOM-010", "SHALL", "code", f"{uid} is a {info.kind} UID ({info.name}), not a SOP Class", code))
    elif not info.is_storage:
        found.append(("IS-032", "SHOULD", "code", f"{info.name} is not a Storage SOP Class (PS3.4 Annex B.5)", code))
    elif series_modality:
        expected = expected_modalities(uid)
        if expected is not None and series_modality not in expected:
            found.append(("DICOM-011", "SHOULD", "code", (f"{info.name} in a series with modality {series_modality} "
                                                          f"(expected {', '.join(sorted(expected))})"), code))
    return tuple(found)


def _looks_like_uid(value: str) -> bool:
    return value != "" and all(c.isdigit() or c == "." for c in value)

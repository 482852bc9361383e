"""Modality codings: IS-033/034 (system, case), DICOM-001/002 (CID 29, pinned), IS-035 (CID 33)."""

from __future__ import annotations

from typing import Any

from imgconf.validators.findings import Finding, short
from imgconf.validators.terminology import DCM, cid29, cid33_nonacquisition

# IS-034: systems seen in the wild instead of the DCM URI.
LEGACY_SYSTEMS = {
    "http://nema.org/dicom/dicm": "the system of the old FHIR CID 29 ValueSet",
    "DCM": "the DICOM coding scheme designator, not a URI",
    "urn:oid:1.2.840.10008.2.16.4": "the OID of the DICOM Controlled Terminology, not its FHIR URI",
}


def check_modality_coding(loc: str, coding: dict[str, Any], out: list[Finding]) -> str | None:
    """Check one modality Coding at ``loc``; return its code, uppercased so that a case error
    (reported here) does not cascade into IS-012 / DICOM-011 findings; None when absent."""
    system = coding.get("system")
    if system != DCM:
        out.append(Finding("IS-033", "SHALL", f"{loc}.system", f"modality.system must be {DCM}", short(system)))
        if isinstance(system, str) and system in LEGACY_SYSTEMS:
            out.append(Finding("IS-034", "SHOULD", f"{loc}.system",
                               f"legacy modality system ({LEGACY_SYSTEMS[system]})", system))
    code = coding.get("code")
    if not isinstance(code, str) or not code:
        return None
    if code != code.upper():
        out.append(Finding("IS-033", "SHALL", f"{loc}.code",
                           f"modality codes are case-sensitive uppercase ({code.upper()!r})", code))
        return code.upper()
    table = cid29()
    if code in table.codes:
        return code
    nonacq = cid33_nonacquisition()
    if code in nonacq.codes:
        out.append(Finding("IS-035", "INFO", f"{loc}.code",
                           f"non-acquisition modality {code} ({nonacq.meanings[code]}, CID 32/33): "
                           "legitimate under the extensible binding", code))
    elif code in table.meanings:
        lists = ", ".join(table.versions_of[code])
        out.append(Finding("DICOM-001", "SHOULD", f"{loc}.code",
                           f"{code} ({table.meanings[code]}) is in CID 29 list {lists} only, not in the "
                           f"pinned {table.version} list", code))
    else:
        out.append(Finding("DICOM-001", "SHOULD", f"{loc}.code",
                           f"{code} is not a CID 29 acquisition modality (list {table.version}) nor a CID 33 "
                           "non-acquisition code", code))
    return code

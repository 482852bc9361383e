"""IS-059: series.bodySite / series.laterality codings name a system; SNOMED CT codes are SCTIDs.

An SCTID is 6-18 digits, no leading zero, and its last digit is a Verhoeff check digit (SNOMED CT
Technical Implementation Guide, SCTID format). DICOM→FHIR converters often copy Body Part Examined
(0018,0015) as is ("CHEST", no or an odd system) or keep SNOMED RT ids ("T-D3000"); PS3.16
Annex L maps Body Part Examined terms to SNOMED CT concepts.
"""

from __future__ import annotations

import re
from typing import Any

from stdnum import verhoeff

from imgconf.validators.findings import Finding, short

SNOMED = "http://snomed.info/sct"
_SCTID = re.compile(r"[1-9][0-9]{5,17}")
_SNOMED_RT = re.compile(r"[A-Z]-[0-9A-Z]{4,5}")  # legacy SNOMED RT / DICOM SRT ids, e.g. T-D3000
_BODY_PART_TERM = re.compile(r"[A-Z][A-Z ]*")  # Body Part Examined defined terms are upper-case words
# DICOM Laterality (0020,0060) -> the SNOMED CT codes of the R4 laterality example binding
_DICOM_LATERALITY = {"L": "419161000 (Unilateral left)", "R": "419465000 (Unilateral right)",
                     "B": "51440002 (Right and left)"}


def check_body_site_coding(loc: str, coding: dict[str, Any], element: str, out: list[Finding]) -> None:
    """``element``: "bodySite" or "laterality" (for the message)."""
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(system, str) or not system:
        hint = ""
        if element == "laterality" and isinstance(code, str) and code in _DICOM_LATERALITY:
            hint = (f" '{code}' is the DICOM Laterality value; use SNOMED CT {_DICOM_LATERALITY[code]} with system "
                    + SNOMED)
        elif isinstance(code, str) and _BODY_PART_TERM.fullmatch(code):
            hint = (f" '{code}' looks like a DICOM Body Part Examined term; map it to SNOMED CT "
                    "(DICOM PS3.16 Annex L) and set system " + SNOMED)
        out.append(Finding("IS-059", "SHOULD", f"{loc}.system",
                           f"series.{element} has a code but no system; a code means nothing without its "
                           f"code system.{hint}", short(code)))
        return
    if system != SNOMED or not isinstance(code, str):
        return
    if _SCTID.fullmatch(code):
        if not verhoeff.is_valid(code):
            out.append(Finding("IS-059", "SHOULD", f"{loc}.code",
                               "not a SNOMED CT concept id: the Verhoeff check digit (last digit) is wrong; "
                               "check for a typo", code))
        return
    if _SNOMED_RT.fullmatch(code):
        why = ("a legacy SNOMED RT id, not a SNOMED CT concept id; use the SNOMED CT concept "
               "(DICOM PS3.16 Annex L lists the mapping for body parts)")
    elif _BODY_PART_TERM.fullmatch(code):
        why = ("a DICOM Body Part Examined term, not a SNOMED CT concept id; map it with DICOM PS3.16 Annex L")
    else:
        why = "not a SNOMED CT concept id (6-18 digits, no leading zero, Verhoeff check digit)"
    out.append(Finding("IS-059", "SHOULD", f"{loc}.code", f"system is {SNOMED} but the code is " + why, code))

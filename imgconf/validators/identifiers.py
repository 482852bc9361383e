"""Study / series / instance UIDs and the accession number (IS-020..029, IS-058)."""

from __future__ import annotations

from typing import Any

from imgconf.validators._shape import codings, items, obj, text
from imgconf.validators.findings import Finding, short
from imgconf.validators.terminology import DCM
from imgconf.validators.uid import URN_OID, first_arc_ok, is_fhir_id, is_valid_uid, uid_problems

DICOM_UID_SYSTEM = "urn:dicom:uid"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_STUDY_UID_TYPE = "110180"  # DCM "Study Instance UID"
_ACCESSION_TYPE = "121022"  # DCM "Accession Number"


def check_study_identifiers(resource: dict[str, Any], out: list[Finding]) -> str | None:
    """IS-020/021/023/025 on ``ImagingStudy.identifier``; return the bare Study Instance UID."""
    study_uid: str | None = None
    count = 0
    for k, ident in items(resource, "identifier"):
        loc = f"ImagingStudy.identifier[{k}]"
        system = ident.get("system")
        if system != DICOM_UID_SYSTEM:
            if any(c.get("system") == DCM and c.get("code") == _STUDY_UID_TYPE for c in codings(obj(ident, "type"))):
                out.append(Finding("IS-020", "SHALL", f"{loc}.system",
                                   f"a Study Instance UID identifier uses system {DICOM_UID_SYSTEM}", short(system)))
            continue
        count += 1
        value = ident.get("value")
        if not isinstance(value, str) or not value:
            out.append(Finding("IS-020", "SHALL", f"{loc}.value", "the Study Instance UID value is missing",
                               short(value)))
            continue
        if value.startswith(URN_OID):
            uid = value[len(URN_OID):]
        else:
            out.append(Finding("IS-020", "SHALL", f"{loc}.value",
                               "a urn:dicom:uid identifier value is 'urn:oid:' + UID; add the prefix", value))
            uid = value  # a bare UID still gets the syntax and reuse checks (IS-023, IS-015)
        problems = uid_problems(uid)
        if problems:
            out.append(Finding("IS-023", "SHALL", f"{loc}.value", "invalid UID: " + "; ".join(problems), value))
        elif not first_arc_ok(uid):
            out.append(Finding("IS-025", "SHOULD", f"{loc}.value", "the first arc of an OID is 0, 1 or 2", value))
        study_uid = study_uid or uid
    if count != 1:
        out.append(Finding("IS-021", "SHOULD", "ImagingStudy.identifier",
                           f"expected exactly one identifier with system {DICOM_UID_SYSTEM}, found {count}"))
    return study_uid


def check_bare_uid(loc: str, value: Any, out: list[Finding]) -> str | None:
    """IS-022..025 on a ``series.uid`` / ``instance.uid``; return the UID used for comparisons."""
    if not isinstance(value, str):
        out.append(Finding("IS-024", "SHALL", loc, "a uid is a FHIR id string", short(value)))
        return None
    if is_valid_uid(value):  # the common case: a valid UID is also a valid FHIR id
        if not first_arc_ok(value):
            out.append(Finding("IS-025", "SHOULD", loc, "the first arc of an OID is 0, 1 or 2", value))
        return value
    uid: str | None = value
    if value.startswith(URN_OID):
        out.append(Finding("IS-022", "SHALL", loc, "series and instance uids hold the bare UID, without urn:oid:",
                           value))
        uid = value[len(URN_OID):]
    elif ":" in value:
        out.append(Finding("IS-022", "SHALL", loc, "series and instance uids hold a bare DICOM UID, not a URI", value))
        uid = None
    if not is_fhir_id(value):
        out.append(Finding("IS-024", "SHALL", loc,
                           "not a FHIR id (ASCII letters, digits, '-' and '.', 1..64 characters)", value))
    if uid is None:
        return value
    problems = uid_problems(uid)
    if problems:
        out.append(Finding("IS-023", "SHALL", loc, "invalid UID: " + "; ".join(problems), value))
    elif not first_arc_ok(uid):
        out.append(Finding("IS-025", "SHOULD", loc, "the first arc of an OID is 0, 1 or 2", value))
    return uid


def check_suffix_derived(loc: str, uid: str, parent_uid: str | None, out: list[Finding]) -> None:
    """IS-027: a UID minted by appending '.n' to a UID someone else assigned (heuristic)."""
    if parent_uid and uid.startswith(parent_uid + ".") and not uid_problems(uid):
        out.append(Finding("IS-027", "INFO", loc,
                           "UID looks derived from the Study Instance UID by a suffix (PS3.5 §9 advises against "
                           "extending UIDs another implementation assigned)", uid))


def _accession_like(ident: dict[str, Any]) -> bool:
    return any(c.get("code") == "ACSN" or (c.get("system") == DCM and c.get("code") == _ACCESSION_TYPE)
               for c in codings(obj(ident, "type")))


def _acsn_coded(ident: dict[str, Any]) -> bool:
    return any(c.get("system") == V2_0203 and c.get("code") == "ACSN" for c in codings(obj(ident, "type")))


def check_accession(resource: dict[str, Any], out: list[Finding]) -> None:
    """IS-028 (accession as a logical ServiceRequest reference in basedOn), IS-029 (in identifier)."""
    in_based_on = False
    for k, ref in items(resource, "basedOn"):
        loc = f"ImagingStudy.basedOn[{k}]"
        if isinstance(ref.get("reference"), dict):
            out.append(Finding("IS-028", "SHALL", f"{loc}.reference",
                               "Reference.reference is a string; an accession number goes in basedOn.identifier "
                               "with basedOn.type = ServiceRequest (the broken form of FIND-17)"))
        ident = obj(ref, "identifier")
        if ident is None or not _accession_like(ident):
            continue
        in_based_on = True
        if not _acsn_coded(ident):
            out.append(Finding("IS-028", "SHALL", f"{loc}.identifier.type",
                               f"an accession identifier has type.coding {V2_0203}#ACSN"))
        if text(ref, "type") != "ServiceRequest":
            out.append(Finding("IS-028", "SHALL", f"{loc}.type",
                               "a basedOn carrying an accession number has type = ServiceRequest",
                               short(ref.get("type"))))
        if not text(ident, "value"):
            out.append(Finding("IS-028", "SHALL", f"{loc}.identifier.value", "the accession number value is missing"))
        if not text(ident, "system"):
            out.append(Finding("IS-028", "SHOULD", f"{loc}.identifier.system",
                               "identifier.system (the issuer of the accession number) is missing"))
    for k, ident in items(resource, "identifier"):
        if not _accession_like(ident):
            continue
        if not in_based_on:
            out.append(Finding("IS-029", "MAY", f"ImagingStudy.identifier[{k}]",
                               "accession number only in ImagingStudy.identifier, not in basedOn (IS-028); "
                               "clients should look in both", short(ident.get("value"))))
        if not text(ident, "system"):
            # Converters copy Accession Number (0008,0050) without Issuer of Accession Number (0008,0051).
            out.append(Finding("IS-058", "SHOULD", f"ImagingStudy.identifier[{k}].system",
                               "the accession number names no issuer (identifier.system); without it the value is "
                               "ambiguous across sites and identifier=system|value searches cannot find it. Set the "
                               "system to the issuer's namespace (e.g. from Issuer of Accession Number)",
                               short(ident.get("value"))))

"""DocumentReference rules: MHD Minimal 4.2.3 (MHD-030..036, MHD-009, MHD-024), EU imaging report
(EUIMG-050..054, EUAPI-007, FIND-01/02/07/08) and imaging manifests (MAN-001..012, FIND-04/06/19).

The MHD version is pinned to 4.2.3, the version the EU Imaging R4 IG depends on (MHD-031, FIND-18).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from imgconf.validators._shape import codings, items, obj, text
from imgconf.validators.findings import Finding, short

_R = "DocumentReference"
LOINC = "http://loinc.org"
RFC3986 = "urn:ietf:rfc:3986"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
DCMUID = "http://dicom.nema.org/resources/ontology/DCMUID"
FORMATCODE = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
FORMATCODE_OIDS = ("urn:oid:1.3.6.1.4.1.19376.1.2.3", "urn:oid:1.3.6.1.4.1.19376.1.2.7.1")  # CodeSystem, ValueSet (FIND-19)
KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
KOS_ALTERNATIVE_SYSTEMS = ("urn:oid:1.2.840.10008.2.6.1", "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/dicom-uid")
KOS_FRENCH_CODE = "urn:ihe:rad:" + KOS_SOP_CLASS  # ANS TRE_A09, deprecated 2017 (MAN-004, FIND-06)
MADO_FORMAT = "urn:ihe:rad:MADO:fhir-manifest:2026"
MADO_PROFILE_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DocumentReference.content.profile"
MODALITY_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DocumentReference.modality"
BODYSITE_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DocumentReference.bodySite"
CONTENT_PROFILE_EXT = ("http://hl7.eu/fhir/imaging/StructureDefinition/im-documentreference-content-profile",
                       "http://hl7.eu/fhir/imaging-r5/StructureDefinition/im-documentreference-content-profile")
PRIORITY_CS = "http://hl7.eu/fhir/health-data-api/CodeSystem/eehrxf-document-priority-category-cs"
PRIORITY_CS_R5 = "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/eehrxf-document-priority-category-cs"
REPORT_TYPE = "85430-7"
LEGACY_REPORT_TYPE = "68604-8"  # EU API draft 2026-01 (FIND-01)
MANIFEST_TYPE = "18748-4"
LEGACY_MANIFEST_TYPE = "19005-8"  # EU API draft manifest type, a report-section code (FIND-04)
REPORT_BUNDLE_PROFILES = ("BundleReportEuImaging", "BundleReportMinimalMetadataEuImaging")
MHD_STATUSES = ("current", "superseded")
KNOWN_FORMAT_SYSTEMS = (FORMATCODE, DCMUID, *FORMATCODE_OIDS, *KOS_ALTERNATIVE_SYSTEMS)
FHIR_MIME = ("application/fhir+json", "application/fhir+xml")
_HEX_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


def _codes(concept: Any, system: str | None = None) -> set[str]:
    return {str(c.get("code")) for c in codings(concept) if system is None or c.get("system") == system}


def _contents(doc: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return list(items(doc, "content"))


def _formats(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{_R}.content[{i}].format", fmt) for i, c in _contents(doc) if (fmt := obj(c, "format"))]


def _content_types(doc: dict[str, Any]) -> set[str]:
    return {str(ct).split(";")[0].strip().lower() for _, c in _contents(doc)
            if (ct := text(obj(c, "attachment"), "contentType"))}


def is_manifest(doc: dict[str, Any]) -> bool:
    """A KOS or MADO manifest: by type 18748-4, or by a KOS/MADO format code (whatever the type)."""
    if MANIFEST_TYPE in _codes(doc.get("type"), LOINC):
        return True
    codes = {str(f.get("code")) for _, f in _formats(doc)}
    return bool(codes & {KOS_SOP_CLASS, KOS_FRENCH_CODE, MADO_FORMAT})


def is_imaging_report(doc: dict[str, Any]) -> bool:
    return not is_manifest(doc) and bool(_codes(doc.get("type"), LOINC) & {REPORT_TYPE, LEGACY_REPORT_TYPE})


# -- MHD Minimal DocumentReference 4.2.3 ---------------------------------------------------------

def _mhd_identifiers(doc: dict[str, Any], out: list[Finding]) -> None:
    master = obj(doc, "masterIdentifier")
    if master is None or not text(master, "system") or not text(master, "value"):
        out.append(Finding("MHD-030", "SHALL", f"{_R}.masterIdentifier",
                           "masterIdentifier (the XDS uniqueId) with system and value is required"))
    else:
        if master.get("use") != "usual":
            out.append(Finding("MHD-031", "SHALL", f"{_R}.masterIdentifier.use",
                               "MHD 4.2.3 requires masterIdentifier.use = usual (optional in 4.2.2)",
                               short(master.get("use")), findings=("FIND-18",)))
        _xds_identifier(master, f"{_R}.masterIdentifier", out)
    for i, ident in items(doc, "identifier"):
        if ident.get("use") != "official":
            continue
        where = f"{_R}.identifier[{i}]"
        if ident.get("system") != RFC3986 or not str(ident.get("value", "")).startswith("urn:uuid:"):
            out.append(Finding("MHD-031", "SHALL", where,
                               "the entryUUID identifier (use = official) has system urn:ietf:rfc:3986 and a urn:uuid: value",
                               short(ident.get("value"))))


def _xds_identifier(ident: dict[str, Any], where: str, out: list[Finding]) -> None:
    system, value = text(ident, "system"), str(ident.get("value", ""))
    if system == RFC3986 and value.startswith(("urn:oid:", "urn:uuid:")):
        return
    out.append(Finding("MHD-032", "SHOULD", where,
                       "XDS identifiers use system urn:ietf:rfc:3986 with a urn:oid: or urn:uuid: value "
                       f"(found system {system!r})", short(value), findings=("FIND-14",)))


def _mhd_content(doc: dict[str, Any], out: list[Finding]) -> None:
    contents = _contents(doc)
    if len(contents) != 1:
        out.append(Finding("MHD-035", "SHALL", f"{_R}.content", f"MHD allows exactly one content (found {len(contents)})"))
    for i, content in contents:
        where = f"{_R}.content[{i}].attachment"
        attachment = obj(content, "attachment") or {}
        if not text(attachment, "contentType"):
            out.append(Finding("MHD-035", "SHALL", f"{where}.contentType", "attachment.contentType is required"))
        url = text(attachment, "url")
        if not url:
            out.append(Finding("MHD-035", "SHALL", f"{where}.url", "attachment.url is required"))
        elif not re.match(r"^https?://", url):
            out.append(Finding("MHD-009", "SHALL", f"{where}.url", "attachment.url must be a full URL that ITI-68 can retrieve",
                               short(url), findings=("FIND-22",)))
        if "data" in attachment:
            out.append(Finding("MHD-035", "SHALL", f"{where}.data", "attachment.data is not allowed (0..0); the bytes come through url"))
        if "hash" in attachment:
            _hash_form(attachment["hash"], f"{where}.hash", out)
        size = attachment.get("size")
        if "size" in attachment and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            out.append(Finding("MHD-024", "SHALL", f"{where}.size", "size is the byte count (an unsigned integer)", short(size)))
    for where, fmt in _formats(doc):
        if fmt.get("system") not in KNOWN_FORMAT_SYSTEMS:
            out.append(Finding("MHD-036", "SHOULD", where,
                               "content.format should come from the IHE FormatCode value set", short(fmt.get("system"))))


def _hash_form(value: Any, where: str, out: list[Finding]) -> None:
    """R4 Attachment.hash is base64 of the 20-byte SHA-1; XDS uses 40 hex digits (MHD-024)."""
    if isinstance(value, str) and _HEX_SHA1.match(value):
        out.append(Finding("MHD-024", "SHALL", where, "hash is the XDS hex form; FHIR carries base64(SHA-1)", short(value)))
        return
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 20:
        out.append(Finding("MHD-024", "SHALL", where, "hash is not base64 of a 20-byte SHA-1", short(value)))


def validate_mhd_minimal(doc: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    _mhd_identifiers(doc, out)
    status = doc.get("status")
    if status not in MHD_STATUSES:
        out.append(Finding("MHD-033", "SHALL", f"{_R}.status",
                           "MHD DocumentReference.status is current or superseded (entered-in-error does not map to XDS)",
                           short(status), findings=("FIND-21",) if status == "entered-in-error" else ()))
    if "docStatus" in doc:
        out.append(Finding("MHD-034", "SHALL", f"{_R}.docStatus", "docStatus is not allowed in MHD (0..0)", short(doc.get("docStatus"))))
    if "modifierExtension" in doc:
        out.append(Finding("MHD-034", "SHALL", f"{_R}.modifierExtension", "modifierExtension is not allowed in MHD (0..0)"))
    _mhd_content(doc, out)
    return out


# -- EU imaging report (DocumentReferenceImagingReport) ------------------------------------------

def _extensions(element: Any, url: str | tuple[str, ...]) -> list[dict[str, Any]]:
    urls = (url,) if isinstance(url, str) else url
    return [e for _, e in items(element, "extension") if e.get("url") in urls]


def validate_imaging_report_docref(doc: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    types = _codes(doc.get("type"), LOINC)
    if REPORT_TYPE not in types:
        # The EU API draft (and the seed documents) used 68604-8; withdrawn 2026-03-11 (FIND-01).
        out.append(Finding("EUAPI-003", "INFO", f"{_R}.type",
                           f"legacy EU API draft report type {LEGACY_REPORT_TYPE}; the current EU API and Imaging IG use {REPORT_TYPE}",
                           LEGACY_REPORT_TYPE, findings=("FIND-01",)))
        return out  # the Imaging IG constraints below belong to the current type
    for element in ("status", "subject", "date"):
        if not doc.get(element):
            out.append(Finding("EUIMG-050", "SHALL", f"{_R}.{element}", f"{element} is required (1..1) for an EU imaging report"))
    if not doc.get("custodian"):
        out.append(Finding("EUAPI-007", "SHALL", f"{_R}.custodian", "custodian is required (1..1) by EehrxfMhdDocumentReference"))
    categories = list(items(doc, "category"))
    priority = [c for _, cat in categories for c in codings(cat) if c.get("code") == "Medical-Imaging"]
    if not any(c.get("system") == PRIORITY_CS for c in priority):
        if any(c.get("system") == PRIORITY_CS_R5 for c in priority):
            out.append(Finding("EUIMG-051", "SHOULD", f"{_R}.category",
                               "Medical-Imaging uses the R5 CodeSystem URL; R4 uses " + PRIORITY_CS, PRIORITY_CS_R5,
                               findings=("FIND-07",)))
        else:
            out.append(Finding("EUIMG-051", "SHALL", f"{_R}.category",
                               f"category {PRIORITY_CS}#Medical-Imaging is required by the Imaging IG (1..1)",
                               findings=("FIND-02",)))
    if len(categories) > 1:
        out.append(Finding("EUIMG-051", "SHALL", f"{_R}.category", f"category is 1..1 (found {len(categories)})"))
    modality = _extensions(doc, MODALITY_EXT)
    if len(modality) != 1:
        out.append(Finding("EUIMG-053", "SHALL", f"{_R}.extension",
                           f"exactly one modality extension ({MODALITY_EXT}) is required (found {len(modality)})"))
    bodysite = _extensions(doc, BODYSITE_EXT)
    if len(bodysite) > 1 or any(len(_extensions(b, "concept")) != 1 for b in bodysite):
        out.append(Finding("EUIMG-053", "SHALL", f"{_R}.extension", "bodySite extension is 0..1 with one concept sub-extension"))
    for i, content in _contents(doc):
        ctype = str(text(obj(content, "attachment"), "contentType") or "").split(";")[0].strip().lower()
        if ctype not in FHIR_MIME:
            continue  # the content-profile extension names a FHIR Bundle profile
        _content_profile(content, f"{_R}.content[{i}]", out)
    return out


def _content_profile(content: dict[str, Any], where: str, out: list[Finding]) -> None:
    profiles = _extensions(content, CONTENT_PROFILE_EXT)
    if not profiles:
        out.append(Finding("EUIMG-054", "SHALL", f"{where}.extension",
                           "a FHIR report needs the im-documentreference-content-profile extension naming its Bundle profile"))
    for ext in profiles:
        value = str(ext.get("valueCanonical", ""))
        name = value.split("|")[0].rsplit("/", 1)[-1]
        if name not in REPORT_BUNDLE_PROFILES:
            out.append(Finding("EUIMG-054", "SHALL", f"{where}.extension",
                               "content profile must be BundleReportEuImaging or BundleReportMinimalMetadataEuImaging", short(value)))
        elif "/imaging-r5/" in value or "/imaging-r5/" in str(ext.get("url")):
            out.append(Finding("EUIMG-003", "SHOULD", f"{where}.extension", "an R4 document names an imaging-r5 canonical",
                               short(value), findings=("FIND-08",)))


# -- imaging manifests (KOS and MADO FHIR manifest) ----------------------------------------------

def validate_manifest(doc: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    types = _codes(doc.get("type"), LOINC)
    if MANIFEST_TYPE not in types:
        legacy = LEGACY_MANIFEST_TYPE in types
        out.append(Finding("MAN-006", "SHALL", f"{_R}.type",
                           f"manifest type is LOINC {MANIFEST_TYPE}"
                           + (f"; {LEGACY_MANIFEST_TYPE} is a report-section code from the EU API draft" if legacy else ""),
                           short(",".join(sorted(types)) or None), findings=("FIND-04",) if legacy else ()))
    for where, fmt in _formats(doc):
        code, system = str(fmt.get("code", "")), fmt.get("system")
        if code == KOS_FRENCH_CODE:
            out.append(Finding("MAN-004", "SHALL NOT", f"{where}.code",
                               "urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59 is a deprecated French national code; use DCMUID "
                               + KOS_SOP_CLASS, code, findings=("FIND-06",)))
        elif code == KOS_SOP_CLASS and system in KOS_ALTERNATIVE_SYSTEMS:
            out.append(Finding("MAN-003", "SHOULD", f"{where}.system", f"accepted KOS format system; the IHE value set uses {DCMUID}",
                               short(system), findings=("FIND-06",)))
        elif code == KOS_SOP_CLASS and system != DCMUID:
            out.append(Finding("MAN-002", "SHALL", f"{where}.system", f"the KOS format code system is {DCMUID}", short(system)))
        elif code == MADO_FORMAT and system != FORMATCODE:
            if system in FORMATCODE_OIDS:
                out.append(Finding("MAN-005", "INFO", f"{where}.system", f"the IHE FormatCode OID form; the FHIR system is {FORMATCODE}",
                                   short(system), findings=("FIND-19",)))
            else:
                out.append(Finding("MAN-005", "SHALL", f"{where}.system", f"the MADO format code system is {FORMATCODE}", short(system)))
    codes = {str(f.get("code")) for _, f in _formats(doc)}
    ctypes = _content_types(doc)
    if codes & {KOS_SOP_CLASS, KOS_FRENCH_CODE} and ctypes != {"application/dicom"}:
        out.append(Finding("MAN-001", "SHALL", f"{_R}.content.attachment.contentType",
                           "a DICOM KOS manifest is shared as application/dicom", short(",".join(sorted(ctypes)) or None)))
    if MADO_FORMAT in codes:
        if ctypes != {"application/fhir+json"}:
            out.append(Finding("MAN-005", "SHALL", f"{_R}.content.attachment.contentType",
                               "a MADO FHIR manifest is application/fhir+json", short(",".join(sorted(ctypes)) or None)))
        if not any(_extensions(c, MADO_PROFILE_EXT) for _, c in _contents(doc)):
            out.append(Finding("MAN-005", "SHALL", f"{_R}.content.extension", "the content.profile extension names the MadoFhirBundle"))
    if not codes & {KOS_SOP_CLASS, KOS_FRENCH_CODE, MADO_FORMAT}:
        out.append(Finding("MAN-002", "SHALL", f"{_R}.content.format",
                           f"a manifest's format is the KOS SOP Class ({KOS_SOP_CLASS}) or the MADO FHIR manifest code"))
    _mado_metadata(doc, out)
    return out


def _mado_metadata(doc: dict[str, Any], out: list[Finding]) -> None:
    master = obj(doc, "masterIdentifier")
    if master and not any(i.get("system") == master.get("system") and i.get("value") == master.get("value")
                          for _, i in items(doc, "identifier")):
        out.append(Finding("MAN-009", "SHALL", f"{_R}.identifier",
                           "mado-docref-1: the masterIdentifier (KOS SOP Instance UID) is repeated in identifier",
                           short(master.get("value"))))
    missing = [name for name, present in (
        ("type", doc.get("type")), ("category", doc.get("category")), ("subject", doc.get("subject")),
        ("content.attachment.language", all(text(obj(c, "attachment"), "language") for _, c in _contents(doc))),
        ("content.attachment.creation", all(text(obj(c, "attachment"), "creation") for _, c in _contents(doc))),
        ("context", obj(doc, "context")), ("context.facilityType", obj(obj(doc, "context"), "facilityType")),
        ("context.practiceSetting", obj(obj(doc, "context"), "practiceSetting")),
        ("context.period.start", text(obj(obj(doc, "context"), "period"), "start")),
    ) if not present]
    if missing:
        out.append(Finding("MAN-010", "SHALL", _R, "a MADO manifest requires " + ", ".join(missing)))
    related = [r for _, r in items(obj(doc, "context"), "related")]
    studies = [r for r in related if "110180" in _codes(obj(r, "identifier") and r["identifier"].get("type"), DCM)]
    if len(studies) != 1:
        out.append(Finding("MAN-011", "SHALL", f"{_R}.context.related",
                           f"exactly one Study Instance UID (DCM#110180) in context.related (found {len(studies)})"))
    for r in studies:
        if r["identifier"].get("system") != "urn:dicom:uid":
            out.append(Finding("MAN-011", "SHALL", f"{_R}.context.related.identifier.system",
                               "the Study Instance UID identifier has system urn:dicom:uid", short(r["identifier"].get("system"))))
    for r in related:
        ident_type = (obj(r, "identifier") or {}).get("type")
        if "ACSN" in _codes(ident_type) and "121022" not in _codes(ident_type, DCM):
            out.append(Finding("MAN-011", "SHALL", f"{_R}.context.related.identifier.type",
                               "the accession number identifier carries both v2-0203#ACSN and DCM#121022"))
    if len(_extensions(doc, MODALITY_EXT)) != 1:
        out.append(Finding("MAN-012", "SHALL", f"{_R}.extension", f"exactly one modality extension ({MODALITY_EXT})"))


# -- which rules apply: R4 alone, MHD, or the EU imaging report ----------------------------------

# meta.profile canonicals (by their tail) that put a DocumentReference under MHD / the EU report.
_MHD_CLAIMS = ("/ITI/MHD/StructureDefinition/", "IHE.MHD.", "EehrxfMhdDocumentReference", "/RAD/MADO/",
               "DocumentReferenceKeyImageEuImaging")
_EU_REPORT_CLAIMS = ("DocumentReferenceImagingReport",)


def claimed_profile(doc: dict[str, Any]) -> str | None:
    """"eu-imaging-report", "mhd" or None from ``meta.profile``."""
    claims = [str(p) for _, p in enumerate((obj(doc, "meta") or {}).get("profile") or []) if isinstance(p, str)]
    if any(tail in c for c in claims for tail in _EU_REPORT_CLAIMS):
        return "eu-imaging-report"
    if any(tail in c for c in claims for tail in _MHD_CLAIMS):
        return "mhd"
    return None


def validate_document_reference(doc: object, *, profile: str | None = None) -> list[Finding]:
    """MHD / EU rules when the DocumentReference claims the profile in ``meta.profile``, or when
    the context says so: ``profile`` = "mhd" (an ITI-67 answer, ``imgconf validate --profile
    mhd``) or "eu-imaging-report". Without either it is an R4 DocumentReference: the structure
    check judges it and these rules do not apply (R4 does not require masterIdentifier etc.).
    Under MHD, manifests and imaging reports are recognised by their type and format."""
    if not isinstance(doc, dict):
        return []
    context = claimed_profile(doc)
    if profile == "eu-imaging-report" or context == "eu-imaging-report":
        context = "eu-imaging-report"
    elif profile == "mhd":
        context = "mhd"
    if context is None:
        return []
    out = validate_mhd_minimal(doc)
    if is_manifest(doc):
        out += validate_manifest(doc)
    elif is_imaging_report(doc):
        out += validate_imaging_report_docref(doc)
    elif context == "eu-imaging-report":  # claimed or asked for, but not typed as an imaging report
        out.append(Finding("EUIMG-052", "SHALL", f"{_R}.type",
                           f"an EU imaging report DocumentReference has type {LOINC}#{REPORT_TYPE}",
                           short(",".join(sorted(_codes(doc.get("type")))) or None)))
    return out


validate_document_reference.takes_profile = True  # type: ignore[attr-defined]

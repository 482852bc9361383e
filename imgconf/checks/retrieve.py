"""ITI-68 Retrieve Document: do the bytes returned match the DocumentReference that pointed to them?

The DocumentReference (or its Attachment) was saved by an earlier step; this check recomputes the
size and the base64 SHA-1 of the body (MHD-024), compares the media type with
``attachment.contentType`` (MHD-020/021) and, for FHIR content, requires a native document Bundle
(MHD-025). A Binary answered as FHIR JSON (``Accept: application/fhir+json``) is unwrapped first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any

from imgconf.checks.base import CheckContext, short
from imgconf.checks.registry import Awaiting, CheckKind, ParseContext, register
from imgconf.results import CheckResult
from imgconf.suite.template import MissingVariable


@dataclass(frozen=True)
class AttachmentExpectation:
    """ITI-68: compare the retrieved bytes with the Attachment of a saved DocumentReference."""

    document: str  # saved variable holding the DocumentReference (or its Attachment)
    content_type: bool = True
    size: bool = True
    hash: bool = True
    fhir_document: bool = False  # FHIR content is a native Bundle of type document (MHD-025)
    kos: bool = False  # DICOM KOS: Part 10, one study, not itself, SOP Instance UID = masterIdentifier

FHIR_TYPES = ("application/fhir+json", "application/fhir+xml", "application/json+fhir")
_HEX_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _attachment(saved: Any, url: str) -> dict[str, Any] | None:
    """The Attachment of a saved DocumentReference whose url was retrieved (else its first one)."""
    if not isinstance(saved, dict):
        return None
    if saved.get("resourceType") != "DocumentReference":
        return saved if ("url" in saved or "contentType" in saved) else None
    attachments: list[dict[str, Any]] = [
        c["attachment"] for c in saved.get("content") or [] if isinstance(c, dict) and isinstance(c.get("attachment"), dict)]
    for attachment in attachments:
        if attachment.get("url") and url.split("?")[0].rstrip("/") == str(attachment["url"]).split("?")[0].rstrip("/"):
            return attachment
    return attachments[0] if attachments else None


def _document_bytes(ctx: CheckContext, expected_type: str) -> tuple[bytes | None, str, str]:
    """(bytes, media type, how they were obtained); a FHIR Binary wrapper is unwrapped."""
    served = _media(ctx.response.header("Content-Type"))
    if served in FHIR_TYPES and expected_type not in FHIR_TYPES:
        body = ctx.response.resource
        if not body or body.get("resourceType") != "Binary":
            return None, served, f"FHIR JSON was served for {expected_type} content but it is not a Binary"
        try:
            data = base64.b64decode(body.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            return None, served, "Binary.data is not valid base64"
        return data, _media(body.get("contentType")), "Binary resource (data decoded)"
    return ctx.response.content, served, "raw body"


def check_attachment(spec: AttachmentExpectation, ctx: CheckContext) -> list[CheckResult]:
    try:
        saved = ctx.value(spec.document)
    except (MissingVariable, KeyError):
        saved = None
    attachment = _attachment(saved, ctx.response.url)
    if attachment is None:
        return [ctx.result("attachment", False, f"no Attachment to compare: ${{{spec.document}}} is {short(saved, 80)}",
                           requirement=("MHD-020",))]
    if ctx.response.status != 200:
        return [ctx.result("attachment", False, f"GET {ctx.response.url} answered {ctx.response.status}, not the document",
                           requirement=("MHD-020",))]
    expected_type = _media(attachment.get("contentType"))
    data, media, how = _document_bytes(ctx, expected_type)
    if data is None:
        return [ctx.result("attachment", False, how, requirement=("MHD-020",))]
    results: list[CheckResult] = []
    if spec.content_type:
        ok = bool(expected_type) and media == expected_type
        results.append(ctx.result("attachment", ok, f"document served as {media or 'no media type'} ({how}); "
                                  f"attachment.contentType is {expected_type or 'absent'}",
                                  requirement=("MHD-020", "MHD-021"), detail="content type"))
    if spec.size:
        results.append(_size(attachment, data, ctx))
    if spec.hash:
        results.append(_hash(attachment, data, ctx))
    if spec.fhir_document:
        results.append(_fhir_document(data, expected_type, ctx))
    if spec.kos:
        results += _kos(data, saved, ctx)
    return results


KOS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"


def _kos(data: bytes, saved: Any, ctx: CheckContext) -> list[CheckResult]:
    """A DICOM Part 10 Key Object Selection (MAN-001) whose evidence is one study, not itself (MAN-015),
    and whose SOP Instance UID is the DocumentReference masterIdentifier (MAN-009)."""
    from pydicom import dcmread  # heavy import, only for KOS retrieval
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # pydicom only warns on a truncated file: that is a broken KOS
            ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
            return _kos_facts(ds, saved, ctx)
    except InvalidDicomError as exc:
        return [ctx.result("attachment", False, f"the body is not a DICOM Part 10 file ({exc})", requirement=("MAN-001",),
                           detail="KOS")]
    except Exception as exc:  # noqa: BLE001 - a corrupt file is the server's problem, reported as such
        return [ctx.result("attachment", False, f"the DICOM file cannot be read: {type(exc).__name__}: {exc}",
                           requirement=("MAN-001",), detail="KOS")]


def _kos_facts(ds: Any, saved: Any, ctx: CheckContext) -> list[CheckResult]:
    sop_class = str(ds.get("SOPClassUID", ""))
    out = [ctx.result("attachment", sop_class == KOS_SOP_CLASS, f"DICOM Part 10, SOP Class {sop_class or 'absent'}"
                      + ("" if sop_class == KOS_SOP_CLASS else f"; a KOS is {KOS_SOP_CLASS}"), requirement=("MAN-001", "MAN-002"),
                      detail="KOS")]
    study, own = str(ds.get("StudyInstanceUID", "")), str(ds.get("SOPInstanceUID", ""))
    evidence = list(ds.get("CurrentRequestedProcedureEvidenceSequence", []))
    studies = {str(item.get("StudyInstanceUID", "")) for item in evidence}
    listed = {str(ref.get("ReferencedSOPInstanceUID", "")) for item in evidence
              for series in item.get("ReferencedSeriesSequence", []) for ref in series.get("ReferencedSOPSequence", [])}
    problems = []
    if not evidence:
        problems.append("no CurrentRequestedProcedureEvidenceSequence")
    if studies - {study}:
        problems.append(f"evidence from study {sorted(studies - {study})} while the KOS is in study {study}")
    if own in listed:
        problems.append("the KOS lists itself among the shared instances")
    out.append(ctx.result("attachment", not problems, "; ".join(problems) or f"{len(listed)} instance(s) of study {study}",
                          requirement=("MAN-015",), detail="KOS evidence"))
    master = ((saved or {}).get("masterIdentifier") or {}).get("value") if isinstance(saved, dict) else None
    if master is not None:
        ok = str(master).removeprefix("urn:oid:") == own
        out.append(ctx.result("attachment", ok, f"masterIdentifier {master!r}; KOS SOP Instance UID {own!r}",
                              requirement=("MAN-009",), detail="KOS identity"))
    return out


def _size(attachment: dict[str, Any], data: bytes, ctx: CheckContext) -> CheckResult:
    size = attachment.get("size")
    if size is None:  # MHD-010: on-demand documents carry no size
        return ctx.result("attachment", True, f"attachment.size not populated; {len(data)} bytes received",
                          requirement=("MHD-024",), detail="size")
    ok = isinstance(size, int) and not isinstance(size, bool) and size == len(data)
    return ctx.result("attachment", ok, f"attachment.size is {size!r}; {len(data)} bytes received",
                      requirement=("MHD-024",), detail="size")


def _hash(attachment: dict[str, Any], data: bytes, ctx: CheckContext) -> CheckResult:
    declared = attachment.get("hash")
    actual = base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
    if declared is None:
        return ctx.result("attachment", True, f"attachment.hash not populated; SHA-1 of the bytes is {actual}",
                          requirement=("MHD-024",), detail="hash")
    if isinstance(declared, str) and _HEX_SHA1.match(declared):
        same = declared.lower() == hashlib.sha1(data).hexdigest()
        return ctx.result("attachment", False, f"attachment.hash {declared!r} is the XDS hex form "
                          f"({'same digest' if same else 'a different digest'}); FHIR carries base64 {actual!r}",
                          requirement=("MHD-024",), detail="hash")
    return ctx.result("attachment", declared == actual, f"attachment.hash is {declared!r}; base64(SHA-1(bytes)) is {actual!r}",
                      requirement=("MHD-024",), detail="hash")


def _fhir_document(data: bytes, expected_type: str, ctx: CheckContext) -> CheckResult:
    if expected_type not in FHIR_TYPES:
        return ctx.result("attachment", False, f"attachment.contentType is {expected_type or 'absent'}, not FHIR content",
                          requirement=("MHD-025",), detail="FHIR document")
    try:
        body = json.loads(data)
    except ValueError as exc:
        return ctx.result("attachment", False, f"FHIR content is not JSON ({exc})", requirement=("MHD-025",), detail="FHIR document")
    rtype = body.get("resourceType") if isinstance(body, dict) else None
    ok = rtype == "Bundle" and body.get("type") == "document"
    what = f"Bundle of type {body.get('type')!r}" if rtype == "Bundle" else f"{rtype or 'no resource'}"
    return ctx.result("attachment", ok, f"FHIR content is a {what}" + ("" if ok else "; expected a native Bundle of type document"),
                      requirement=("MHD-025",), detail="FHIR document")


def _parse_spec(raw: dict[str, Any], _ctx: ParseContext) -> AttachmentExpectation:
    return AttachmentExpectation(**raw)  # the schema admits exactly the fields; defaults live in the dataclass


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["document"],
    "description": "ITI-68: the response is the document a saved DocumentReference describes (MHD-020..025).",
    "properties": {
        "document": {"$ref": "#/$defs/varName", "description": "Saved variable holding the DocumentReference (or its Attachment)."},
        "content_type": {"type": "boolean", "description": "Served media type = attachment.contentType (default true)."},
        "size": {"type": "boolean", "description": "Byte count = attachment.size when populated (default true)."},
        "hash": {"type": "boolean", "description": "base64(SHA-1) of the bytes = attachment.hash when populated (default true)."},
        "fhir_document": {"type": "boolean", "description": "FHIR content is a native Bundle of type document, not a Binary (MHD-025)."},
        "kos": {"type": "boolean", "description": "DICOM KOS: a Part 10 KOS whose evidence is one study and not itself, its SOP "
                "Instance UID the masterIdentifier (MAN-001, MAN-015, MAN-009)."},
    },
}

ATTACHMENT = register(CheckKind[AttachmentExpectation](
    key="attachment",
    schema=_SCHEMA,
    parse=_parse_spec,
    run=check_attachment,
    order=60,
    awaiting=lambda spec: [Awaiting("attachment", f"the document of {spec.document}")],
    needs_json=False,  # the document's bytes, whatever their media type
))

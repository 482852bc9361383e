"""Faults of document servers (catalogue §C, §E, §F): PDQm, MHD ITI-67/68, manifests, EU report.

Each is a bug a conformance harness must catch; tests/test_suites_documents.py shows which case
of the document suites catches it, with which check kind.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.rewrite import (
    JsonObject,
    bundles,
    drop_params,
    edit_json,
    edit_resources,
    named,
    reads,
    rename_param,
)

LOINC = "http://loinc.org"
REPORT_TYPES = ("85430-7", "68604-8")
KOS_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
_binary_reads = reads("Binary")
_bundle_reads = reads("Bundle")
_documents = bundles("document")


def _attachments(doc: JsonObject) -> list[JsonObject]:
    return [c["attachment"] for c in doc.get("content") or [] if isinstance(c, dict) and isinstance(c.get("attachment"), dict)]


def _served_as_itself(response: ProxyResponse) -> bool:
    """A Binary read answered with the document's own bytes (not a FHIR Binary resource)."""
    return response.status == 200 and not response.headers.get("content-type", "").startswith("application/fhir")


# -- DocumentReference metadata ------------------------------------------------------------------

def _radiology_note_type(doc: JsonObject) -> None:
    """The server files imaging reports under LOINC 18782-3 (Radiology study observation)."""
    for coding in (doc.get("type") or {}).get("coding") or []:
        if coding.get("system") == LOINC and coding.get("code") in REPORT_TYPES:
            coding["code"] = "18782-3"


def _hex_hash(doc: JsonObject) -> None:
    """The XDS hex form of the SHA-1 copied into the FHIR Attachment (MHD-024)."""
    for attachment in _attachments(doc):
        if isinstance(attachment.get("hash"), str):
            with contextlib.suppress(ValueError):
                attachment["hash"] = base64.b64decode(attachment["hash"]).hex()


def _base64_length_size(doc: JsonObject) -> None:
    """size counts the base64 text instead of the bytes."""
    for attachment in _attachments(doc):
        if isinstance(attachment.get("size"), int):
            attachment["size"] = 4 * ((attachment["size"] + 2) // 3)


def _french_kos_code(doc: JsonObject) -> None:
    for content in doc.get("content") or []:
        fmt = content.get("format") if isinstance(content, dict) else None
        if isinstance(fmt, dict) and fmt.get("code") == KOS_CLASS:
            content["format"] = {"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": f"urn:ihe:rad:{KOS_CLASS}"}


def _legacy_manifest_type(doc: JsonObject) -> None:
    for coding in (doc.get("type") or {}).get("coding") or []:
        if coding.get("system") == LOINC and coding.get("code") == "18748-4":
            coding["code"] = "19005-8"


def _show_entered_in_error(call: ProxyCall) -> None:
    """An R4 server with no MHD restriction: a query without status also finds entered-in-error."""
    if call.is_search and call.resource_type == "DocumentReference" and not any(k.split(":")[0] == "status" for k, _ in call.query):
        call.query = call.query + [("status", "current,superseded,entered-in-error")]


# -- ITI-68 retrieval ------------------------------------------------------------------------------

def _octet_stream(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if _binary_reads(call) and _served_as_itself(response):
        response.headers["content-type"] = "application/octet-stream"
    return response


def _wrap_in_binary(document: JsonObject) -> None:
    """A FHIR document served wrapped in a Binary (MHD-025 forbids it)."""
    wrapped = {"resourceType": "Binary", "id": document.get("id"), "contentType": "application/fhir+json",
               "data": base64.b64encode(json.dumps(document).encode("utf-8")).decode("ascii")}
    document.clear()
    document.update(wrapped)


def _truncated_binary(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """The last bytes of the document are lost (a broken stream): size and hash no longer match."""
    if _binary_reads(call) and _served_as_itself(response):
        response.body = response.body[:-16]
        response.headers.pop("content-length", None)
    return response


# -- the EU report document ------------------------------------------------------------------------

def _composition_last(document: JsonObject) -> None:
    if document.get("entry"):
        document["entry"] = document["entry"][1:] + document["entry"][:1]


def _dangling_subject(document: JsonObject) -> None:
    """The Composition's subject points outside the document (references must resolve inside it)."""
    for entry in document.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Composition":
            resource["subject"] = {"reference": "Patient/" + hashlib.sha1(b"elsewhere").hexdigest()[:12]}


DOCUMENT_FAULTS: tuple[Fault, ...] = (
    Fault("report-type-18782-3", "imaging reports carry LOINC 18782-3 instead of the EU report type", ("EUAPI-002", "EUAPI-003", "FIND-01"),
          on_response=edit_resources("DocumentReference", _radiology_note_type),
          suites=("mhd-iti67", "workflow-imaging-report")),
    Fault("ignores-setting", "the setting parameter is ignored: every practice setting comes back", ("MHD-003", "MHD-014"),
          on_request=drop_params(named("setting")),
          search=True, search_types=("DocumentReference",),
          suites=("manifests-imaging", "mhd-iti67", "workflow-imaging-report")),
    Fault("ignores-patient-identifier-chain", "patient.identifier is ignored: every patient's documents come back", ("MHD-003",),
          on_request=drop_params(named("patient.identifier")),
          search=True, search_types=("DocumentReference", "ImagingStudy"),
          suites=("imagingstudy-search-references", "manifests-imaging", "mhd-iti67", "workflow-imaging-report")),
    # Legal: an ITI-67 consumer always sends status (MHD-002); MHD-033 constrains content, not this filtering.
    Fault("mhd-returns-entered-in-error", "a DocumentReference query without status also returns entered-in-error "
          "(plain R4)", ("MHD-002", "FIND-21"), on_request=_show_entered_in_error, benign=True,
          search=True, search_types=("DocumentReference",),
          suites=("mhd-iti67", "manifests-imaging", "workflow-imaging-report", "documents-eu-imaging-report")),
    Fault("attachment-hash-hex", "attachment.hash carries the XDS hex SHA-1", ("MHD-024",),
          on_response=edit_resources("DocumentReference", _hex_hash),
          suites=("manifests-imaging", "mhd-iti67", "mhd-iti68", "workflow-imaging-report")),
    Fault("attachment-size-base64", "attachment.size counts base64 characters", ("MHD-024",),
          on_response=edit_resources("DocumentReference", _base64_length_size),
          suites=("manifests-imaging", "mhd-iti68", "workflow-imaging-report")),
    Fault("binary-octet-stream", "documents are served as application/octet-stream, not attachment.contentType", ("MHD-020", "MHD-021"),
          on_response=_octet_stream,
          suites=("enforcement", "manifests-imaging", "mhd-iti68", "workflow-imaging-report")),
    Fault("binary-truncated", "the retrieved document misses its last bytes", ("MHD-020", "MHD-024"), on_response=_truncated_binary,
          suites=("manifests-imaging", "mhd-iti68", "workflow-imaging-report")),
    Fault("document-wrapped-in-binary", "a FHIR document is answered as a Binary wrapper", ("MHD-025",),
          on_response=edit_json(_wrap_in_binary, calls=_bundle_reads, body=_documents),
          suites=("documents-eu-imaging-report", "mhd-iti68", "workflow-imaging-report")),
    Fault("kos-french-format-code", "the KOS format is the deprecated urn:ihe:rad French code", ("MAN-004", "FIND-06"),
          on_response=edit_resources("DocumentReference", _french_kos_code),
          suites=("manifests-imaging", "mhd-iti67", "mhd-iti68", "workflow-imaging-report")),
    Fault("manifest-type-19005-8", "manifests are typed 19005-8 (EU API draft)", ("MAN-006", "FIND-04"),
          on_response=edit_resources("DocumentReference", _legacy_manifest_type),
          suites=("manifests-imaging", "mhd-iti67", "mhd-iti68", "workflow-imaging-report")),
    Fault("composition-not-first", "the document Bundle does not start with its Composition", ("EUIMG-042",),
          on_response=edit_json(_composition_last, calls=_bundle_reads, body=_documents),
          suites=("documents-eu-imaging-report", "mhd-iti68", "workflow-imaging-report")),
    Fault("document-dangling-reference", "the Composition subject does not resolve inside the document", ("EUIMG-040",),
          on_response=edit_json(_dangling_subject, calls=_bundle_reads, body=_documents),
          suites=("documents-eu-imaging-report", "mhd-iti68", "workflow-imaging-report")),
    Fault("ignores-mothers-maiden-name", "mothersMaidenName is ignored", ("PDQ-002",), on_request=drop_params(named("mothersMaidenName")),
          search=True, search_types=("Patient",),
          suites=("pdqm-iti78",)),
    Fault("ignores-exact", "family:exact is treated as family (case and accents folded)", ("PDQ-004",),
          on_request=rename_param("family:exact", "family"),
          search=True, search_types=("Patient",),
          suites=("pdqm-iti78",)),
)

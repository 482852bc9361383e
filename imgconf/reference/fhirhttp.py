"""HTTP helpers: FHIR JSON responses, OperationOutcome errors, content negotiation, headers."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.responses import Response

FHIR_JSON = "application/fhir+json"
CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"
JSON_FORMATS = {"json", "application/json", "application/fhir+json"}
LEGACY_JSON = "application/json+fhir"  # DSTU2/STU3 clients still send it
XML_FORMATS = {"xml", "text/xml", "application/xml", "application/fhir+xml"}
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


class FhirError(Exception):
    """An error answered with an OperationOutcome (REST-030)."""

    def __init__(self, status: int, code: str, diagnostics: str, *, expression: list[str] | None = None,
                 issues: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.issues = issues or [issue("error", code, diagnostics, expression)]
        self.headers = headers or {}


def issue(severity: str, code: str, diagnostics: str, expression: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        out["expression"] = expression
    return out


def outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "id": uuid.uuid4().hex, "issue": issues}


def fhir_response(body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, status_code=status, headers=headers or {},
                    media_type=CONTENT_TYPE if body is not None else None)


def error_response(err: FhirError) -> Response:
    return fhir_response(outcome(err.issues), err.status, err.headers)


def _media_types(accept: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]


def _format_of(media_type: str) -> str | None:
    """"json", "xml" or None for one `_format` value or Accept media type."""
    base = media_type.split(";")[0].strip().lower()
    if base in JSON_FORMATS or base == LEGACY_JSON:
        return "json"
    if base in XML_FORMATS:
        return "xml"
    return None


def _accept_preference(accept: str) -> list[str]:
    """Accept media types, highest q first (ties keep the header's order)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(p for p in accept.split(",") if p.strip()):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            name, _, val = f.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, i, fields[0].lower()))
    return [t for _, _, t in sorted(ranked)]


def negotiate(fmt: str | None, accept: str | None) -> str:
    """The response format, "json" or "xml"; 406 for a format this server cannot produce.

    `_format` wins over Accept (REST-002). An Accept header is read in q order: the first FHIR
    JSON or XML type (or a wildcard, which gets JSON) decides; one that lists neither is refused
    with 406 (REST-003). Media-type parameters such as fhirVersion=4.0 are tolerated (REST-004),
    and so is the pre-R4 type application/json+fhir.
    """
    if fmt:
        chosen = _format_of(fmt)
        if chosen is None:
            raise FhirError(406, "not-supported", f"_format={fmt} is not supported: this server serves JSON and XML")
        return chosen
    if not accept:
        return "json"
    types = _accept_preference(accept)
    for t in types:
        if (chosen := _format_of(t)) is not None:
            return chosen
        if t in ("*/*", "application/*"):
            return "json"
    if types or accept.strip():  # anything else this server cannot produce (REST-003)
        raise FhirError(406, "not-supported", f"Accept: {accept} cannot be served: this server serves JSON and XML")
    return "json"


def requested_format(fmt: str | None, accept: str | None) -> str:
    """Like `negotiate`, but never refuses: the format an answer (even an error) should use."""
    try:
        return negotiate(fmt, accept)
    except FhirError:
        return "json"


def wants_fhir_resource(fmt: str | None, accept: str | None) -> bool:
    """For Binary: the FHIR resource (JSON or XML) only when asked for explicitly, else the raw content."""
    if fmt:
        return _format_of(fmt) is not None
    return any(_format_of(t) is not None for t in _media_types(accept or ""))


def accepts_media_type(accept: str | None, media_type: str) -> bool:
    """Does an Accept header admit this media type (exactly, ``type/*`` or ``*/*``)? No header: yes."""
    types = _media_types(accept or "")
    if not types:
        return True
    major = media_type.split("/")[0].lower()
    return any(t in ("*/*", media_type.lower(), f"{major}/*") for t in types)


def check_content_type(content_type: str | None) -> None:
    if not content_type:
        return  # tolerated: the body is still parsed as JSON
    base = content_type.split(";")[0].strip().lower()
    if base not in ("application/fhir+json", "application/json"):
        raise FhirError(415, "not-supported",
                        f"Content-Type {content_type} is not supported; send application/fhir+json or application/fhir+xml")


def http_date(instant: str) -> str:
    return format_datetime(datetime.fromisoformat(instant), usegmt=True)  # 3.11+ reads a trailing Z


def version_headers(version_id: int, last_updated: str) -> dict[str, str]:
    return {"ETag": f'W/"{version_id}"', "Last-Modified": http_date(last_updated)}


def parse_etag(value: str) -> int:
    v = value.strip()
    v = v.removeprefix("W/")
    v = v.strip('"')
    if not v.isdigit():
        raise FhirError(400, "invalid", f"If-Match must be W/\"<versionId>\", not {value!r}")
    return int(v)


def prefer(header: str | None, key: str) -> str | None:
    """Value of `key` in a Prefer header (`return=minimal`, `handling=strict`)."""
    for part in (header or "").split(","):
        for token in part.split(";"):
            name, _, val = token.strip().partition("=")
            if name.strip().lower() == key:
                return val.strip().strip('"').lower()
    return None

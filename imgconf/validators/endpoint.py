"""R4 Endpoint rules for imaging (IS-040..043, IS-049), URL builders (IS-044..047) and IS-048."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from imgconf.validators._shape import items, text
from imgconf.validators.findings import Finding, short
from imgconf.validators.uid import strip_urn_oid

CONNECTION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
WADO_RS = "dicom-wado-rs"
WADO_URI = "dicom-wado-uri"
IID = "ihe-iid"
QIDO_RS = "dicom-qido-rs"
STOW_RS = "dicom-stow-rs"
IMAGING_CONNECTION_TYPES = frozenset({WADO_RS, WADO_URI, IID, QIDO_RS, STOW_RS})
ENDPOINT_STATUS = frozenset({"active", "suspended", "error", "off", "entered-in-error", "test"})

_ROOT = "Endpoint"


def connection_type_code(endpoint: Any) -> str | None:
    """The connectionType code; tolerates the R5 shape (list of CodeableConcept) for resolution."""
    ct = endpoint.get("connectionType") if isinstance(endpoint, dict) else None
    if isinstance(ct, dict):
        return text(ct, "code")
    if isinstance(ct, list):  # R5: CodeableConcept 1..*
        for concept in ct:
            for _, coding in items(concept, "coding"):
                if text(coding, "code"):
                    return text(coding, "code")
    return None


def validate_endpoint(resource: dict[str, Any], *, on_series: bool = False) -> list[Finding]:
    """Static checks of one Endpoint. ``on_series``: it is referenced from ``series.endpoint``."""
    out: list[Finding] = []
    status = resource.get("status")
    if status is None:
        out.append(Finding("IS-049", "SHALL", f"{_ROOT}.status", "Endpoint.status is required (1..1)"))
    elif not isinstance(status, str) or status not in ENDPOINT_STATUS:
        out.append(Finding("IS-049", "SHALL", f"{_ROOT}.status",
                           "status is not in the required EndpointStatus codes", short(status)))

    code = _check_connection_type(resource, out)

    if not list(items(resource, "payloadType")):
        out.append(Finding("IS-049", "SHALL", f"{_ROOT}.payloadType", "Endpoint.payloadType is required (1..*)"))

    address = resource.get("address")
    if address is None:
        out.append(Finding("IS-049", "SHALL", f"{_ROOT}.address", "Endpoint.address is required (1..1)"))
    elif not isinstance(address, str) or not address:
        out.append(Finding("IS-049", "SHALL", f"{_ROOT}.address", "address must be a non-empty url", short(address)))
    elif code == WADO_RS:
        out.extend(_wado_rs_address(address))  # a tuple of frozen Findings, cached per address
    elif code in (WADO_URI, IID):
        req = "IS-042" if code == WADO_URI else "IS-043"
        if "?" in address:
            out.append(Finding(req, "SHALL", f"{_ROOT}.address",
                               f"a {code} address is the bare service URL: no '?' or query parameters", address))
    if code == IID and on_series:
        out.append(Finding("IS-043", "SHOULD", f"{_ROOT}.connectionType",
                           "ihe-iid endpoints should only be used at study level, not on series.endpoint"))
    return out


def _check_connection_type(resource: dict[str, Any], out: list[Finding]) -> str | None:
    loc = f"{_ROOT}.connectionType"
    ct = resource.get("connectionType")
    if ct is None:
        out.append(Finding("IS-049", "SHALL", loc, "Endpoint.connectionType is required (1..1)"))
        return None
    if isinstance(ct, list):
        out.append(Finding("IS-049", "SHALL", loc,
                           "connectionType is a single Coding in R4 (a list of CodeableConcept is the R5 shape)"))
        return connection_type_code(resource)
    if not isinstance(ct, dict):
        out.append(Finding("IS-049", "SHALL", loc, "connectionType must be a Coding", short(ct)))
        return None
    code = text(ct, "code")
    if not code:
        out.append(Finding("IS-049", "SHALL", f"{loc}.code", "connectionType has no code"))
    system = ct.get("system")
    if system != CONNECTION_TYPE_SYSTEM:
        out.append(Finding("IS-040", "SHALL", f"{loc}.system",
                           f"connectionType.system must be {CONNECTION_TYPE_SYSTEM}", short(system)))
    return code


@functools.lru_cache(maxsize=1024)  # a bulk input names the same few WADO-RS base URLs again and again
def _wado_rs_address(address: str) -> tuple[Finding, ...]:
    loc = f"{_ROOT}.address"
    out: list[Finding] = []
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        out.append(Finding("IS-041", "SHALL", loc, "a dicom-wado-rs address is an absolute http(s) base URL", address))
    if address.endswith("/"):
        out.append(Finding("IS-041", "SHALL", loc, "a dicom-wado-rs address has no trailing slash", address))
    if parts.query or parts.fragment or "?" in address:
        out.append(Finding("IS-041", "SHALL", loc,
                           "a dicom-wado-rs address is scheme, authority and path only (no query or fragment)",
                           address))
    if "studies" in parts.path.split("/"):
        out.append(Finding("IS-041", "SHALL", loc,
                           "a dicom-wado-rs address is the service base, without the /studies sub-resource", address))
    return tuple(out)


# --- URL construction (clients strip urn:oid: from the study identifier: IS-044, FIND-17) ---


def _uid(value: str) -> str:
    return quote(str(strip_urn_oid(value)), safe=".")


def _base(address: str) -> str:
    return address.rstrip("/")


def wado_rs_instance_url(address: str, study_uid_value: str, series_uid: str, instance_uid: str) -> str:
    """IS-044: ``{address}/studies/{study}/series/{series}/instances/{instance}``."""
    return (f"{_base(address)}/studies/{_uid(study_uid_value)}/series/{_uid(series_uid)}"
            f"/instances/{_uid(instance_uid)}")


def wado_rs_metadata_url(address: str, study_uid_value: str, series_uid: str | None = None,
                         instance_uid: str | None = None) -> str:
    """IS-045: metadata of a study, a series or an instance (``Accept: application/dicom+json``)."""
    url = f"{_base(address)}/studies/{_uid(study_uid_value)}"
    if series_uid is not None:
        url += f"/series/{_uid(series_uid)}"
        if instance_uid is not None:
            url += f"/instances/{_uid(instance_uid)}"
    return url + "/metadata"


def wado_uri_url(address: str, study_uid_value: str, series_uid: str, instance_uid: str,
                 **rendering: str | int) -> str:
    """IS-046: ``{address}?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..`` (+ rows, contentType ...)."""
    url = (f"{address}?requestType=WADO&studyUID={_uid(study_uid_value)}"
           f"&seriesUID={_uid(series_uid)}&objectUID={_uid(instance_uid)}")
    return url + ("&" + urlencode(rendering) if rendering else "")


def iid_study_url(address: str, study_uid_value: str, *, diagnostic_quality: bool = False) -> str:
    """IS-047: ``{address}?requestType=STUDY&studyUID={bare UID}`` (optional diagnosticQuality)."""
    url = f"{address}?requestType=STUDY&studyUID={_uid(study_uid_value)}"
    return url + ("&diagnosticQuality=true" if diagnostic_quality else "")


# --- IS-048 ---


def _resolve(ref: dict[str, Any], study: dict[str, Any],
             endpoints_by_ref: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    key = text(ref, "reference")
    if key is None:
        return None
    if key in endpoints_by_ref:
        return endpoints_by_ref[key]
    if key.startswith("#"):
        for _, c in items(study, "contained"):
            if c.get("resourceType") == "Endpoint" and "#" + str(c.get("id")) == key:
                return c
    return None


def resolve_endpoint(study: dict[str, Any], series: dict[str, Any] | None, connection_type: str,
                     endpoints_by_ref: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    """IS-048: the Endpoint of ``connection_type`` that serves ``series`` (or the study when None).

    A series.endpoint of that type overrides the study-level one. ``endpoints_by_ref`` maps the
    reference strings used in the study (e.g. ``"Endpoint/wado"``) to Endpoint resources;
    contained endpoints (``"#id"``) are found without it.
    """
    scopes = ([series] if series is not None else []) + [study]
    for scope in scopes:
        for _, ref in items(scope, "endpoint"):
            endpoint = _resolve(ref, study, endpoints_by_ref)
            if endpoint is not None and connection_type_code(endpoint) == connection_type:
                return endpoint
    return None


__all__ = [
    "CONNECTION_TYPE_SYSTEM", "IMAGING_CONNECTION_TYPES", "connection_type_code",
    "iid_study_url", "resolve_endpoint", "validate_endpoint", "wado_rs_instance_url",
    "wado_rs_metadata_url", "wado_uri_url",
]

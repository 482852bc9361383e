"""A read-only DICOMweb client: QIDO-RS searches, WADO-RS metadata and the retrieve of one instance.

It wraps :class:`imgconf.client.TargetClient`, so every request has the whole-exchange deadline and the
body cap of :mod:`imgconf.bounded`, is recorded as a redacted :class:`~imgconf.results.Exchange`, and its
credentials (bearer or Basic, registered in :mod:`imgconf.secret_registry`) go to the PACS origin only
(:class:`~imgconf.credentials.OriginGuard`; a URL built from an Endpoint on another host gets none).

It sends GET and nothing else: :meth:`DicomWebClient.get` is its only way out, so pointing it at a
production PACS can change nothing there. Orthanc's DICOMweb plugin does not decode percent-encoded query
values, so UIDs (digits and dots) go into the query string as they are.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
from dataclasses import dataclass
from typing import Any

from imgconf.client import HttpResult, TargetClient, TargetUnreachable
from imgconf.credentials import origin
from imgconf.results import Exchange

DICOM_JSON = "application/dicom+json"
MULTIPART_DICOM = 'multipart/related; type="application/dicom"'
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # one instance or one series' metadata; more is not a cross-check's business

__all__ = ["DICOM_JSON", "DicomWebClient", "DicomWebRefused", "DicomWebUnreachable", "PacsAnswer", "dicom_parts", "json_value"]


class DicomWebUnreachable(Exception):
    """The PACS did not answer (refused, timed out, body too large): an error of the case, not a verdict."""

    def __init__(self, message: str, exchange: Exchange) -> None:
        super().__init__(message)
        self.exchange = exchange


class DicomWebRefused(DicomWebUnreachable):
    """The PACS answered 401/403 on its own origin: the run's credentials are wrong or missing (an error of the
    run's configuration, not a verdict on the FHIR server)."""


@dataclass(frozen=True)
class PacsAnswer:
    """One PACS response and its evidence."""

    status: int
    content_type: str
    content: bytes
    url: str
    exchange: Exchange

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    def dicom_json(self) -> list[dict[str, Any]] | None:
        """The body as a DICOM JSON array (PS3.18 F.2), None when it is not one."""
        import json

        try:
            value = json.loads(self.content or b"null")
        except ValueError:
            return None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            return None
        return value


def json_value(attributes: dict[str, Any], tag: str) -> Any:
    """The first value of ``tag`` (``00080060``) in a DICOM JSON object; a PN gives its Alphabetic form."""
    element = attributes.get(tag)
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    first = values[0]
    if isinstance(first, dict) and "Alphabetic" in first:
        return first["Alphabetic"]
    return first


def dicom_parts(content_type: str, body: bytes) -> list[bytes]:
    """The bodies of a multipart/related answer (PS3.18 8.6.1.2), parsed by the stdlib MIME parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", errors="replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return []
    parts: list[bytes] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload)
    return parts


def read_dataset(part: bytes) -> Any:
    """A DICOM Part 10 body as a pydicom Dataset (pixel data not read), None when it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True)
    except (InvalidDicomError, ValueError, EOFError, OSError, KeyError, TypeError):
        return None


class DicomWebClient:
    """GET requests to one PACS (its DICOMweb ``root``) and to URLs built from Endpoint addresses."""

    def __init__(self, root: str, *, authorization: str | None = None, timeout: float = 30.0,
                 verify: bool = True, max_bytes: int = DEFAULT_MAX_BYTES, transport: Any = None) -> None:
        headers = [("Authorization", authorization)] if authorization else []
        # TargetClient registers the header as a secret and its OriginGuard keeps it on the PACS origin
        self._client = TargetClient(root, timeout=timeout, verify=verify, transport=transport,
                                    max_response_bytes=max_bytes, read_only=True, extra_headers=headers)
        self.root = self._client.base_url
        self.exchanges: list[Exchange] = []  # every exchange, in order (the caller indexes evidence by it)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, url: str, *, accept: str, params: list[tuple[str, str]] | None = None) -> PacsAnswer:
        """GET ``url`` (absolute, or relative to the root). The only request this client ever sends."""
        target = url if url.startswith(("http://", "https://")) else f"{self.root}/{url.lstrip('/')}"
        if params:  # unencoded: UIDs and tag keywords need none, and Orthanc would not decode them
            target += ("&" if "?" in target else "?") + "&".join(f"{k}={v}" for k, v in params)
        try:
            result: HttpResult = self._client.send("GET", target, headers=[("Accept", accept)])
        except TargetUnreachable as exc:
            self.exchanges.append(exc.exchange)
            raise DicomWebUnreachable(str(exc), exc.exchange) from None
        self.exchanges.append(result.exchange)
        if result.status in (401, 403) and origin(target) == origin(self.root):
            raise DicomWebRefused(f"GET {result.exchange.url}: the PACS answered {result.status}: check the credentials "
                                  "for it (--dicomweb user:password@…, the preset's dicomweb table)", result.exchange)
        return PacsAnswer(status=result.status, content_type=result.headers.get("content-type", ""),
                          content=result.content, url=result.url, exchange=result.exchange)

    # -- QIDO-RS (PS3.18 10.6) --------------------------------------------------------------------------
    def search_studies(self, study_uid: str) -> PacsAnswer:
        return self.get("studies", accept=DICOM_JSON, params=[("StudyInstanceUID", study_uid)])

    def search_series(self, study_uid: str | None, series_uid: str) -> PacsAnswer:
        """Series of one study, or (study None) of any study: where a series UID really belongs."""
        path = f"studies/{study_uid}/series" if study_uid else "series"
        return self.get(path, accept=DICOM_JSON,
                        params=[("SeriesInstanceUID", series_uid), ("includefield", "00200011")])

    def search_instances(self, study_uid: str | None, series_uid: str | None, instance_uid: str) -> PacsAnswer:
        if study_uid and series_uid:
            path = f"studies/{study_uid}/series/{series_uid}/instances"
        elif study_uid:
            path = f"studies/{study_uid}/instances"
        else:
            path = "instances"
        return self.get(path, accept=DICOM_JSON, params=[("SOPInstanceUID", instance_uid)])

    # -- WADO-RS (PS3.18 10.4) --------------------------------------------------------------------------
    def series_metadata(self, url: str) -> PacsAnswer:
        return self.get(url, accept=DICOM_JSON)

    def retrieve_instance(self, url: str) -> PacsAnswer:
        return self.get(url, accept=MULTIPART_DICOM)

"""The HTTP session to a target: one keep-alive httpx client, evidence recorded and redacted.

Transport problems (connection refused, timeout, reset, redirect loop) raise TargetUnreachable so
they are reported as infrastructure errors, apart from the target's conformance failures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from imgconf import __version__
from imgconf.report.redact import redact_headers, redact_text
from imgconf.results import Exchange

FHIR_JSON = "application/fhir+json"
EVIDENCE_LIMIT = 64 * 1024


class TargetUnreachable(Exception):
    """The request did not produce an HTTP response (not a conformance failure)."""

    def __init__(self, message: str, exchange: Exchange) -> None:
        super().__init__(message)
        self.exchange = exchange


@dataclass
class HttpResult:
    status: int
    headers: httpx.Headers
    content: bytes
    url: str
    exchange: Exchange
    _json: Any = field(default=None, repr=False)
    _json_error: str | None = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def _parse(self) -> None:
        if self._parsed:
            return
        self._parsed = True
        if not self.content:
            self._json_error = "the response has no body"
            return
        try:
            self._json = json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            self._json_error = f"the response body is not JSON ({exc})"

    @property
    def json(self) -> Any:
        self._parse()
        return self._json

    @property
    def json_error(self) -> str | None:
        self._parse()
        return self._json_error

    @property
    def resource(self) -> dict[str, Any] | None:
        body = self.json
        return body if isinstance(body, dict) and isinstance(body.get("resourceType"), str) else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def _evidence(text: str | None) -> str | None:
    if text is None:
        return None
    text = redact_text(text)
    if len(text) > EVIDENCE_LIMIT:
        return text[:EVIDENCE_LIMIT] + f"\n… [{len(text) - EVIDENCE_LIMIT} more characters not kept]"
    return text


class TargetClient:
    """Requests against one FHIR base URL, reusing connections."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        verify: bool = True,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=verify,
            auth=auth,
            transport=transport,
            follow_redirects=True,
            max_redirects=5,
            headers={"Accept": FHIR_JSON, "User-Agent": f"imgconf/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        json_body: Any = None,
        form: Iterable[tuple[str, str]] | None = None,
        content: str | bytes | None = None,
    ) -> HttpResult:
        header_list = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        names = {k.lower() for k, _ in header_list}
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            if "content-type" not in names:
                header_list.append(("Content-Type", FHIR_JSON))
        elif form is not None:
            body = httpx.QueryParams(list(form)).__str__().encode("ascii")
            if "content-type" not in names:
                header_list.append(("Content-Type", "application/x-www-form-urlencoded"))
        elif content is not None:
            body = content.encode("utf-8") if isinstance(content, str) else content

        request = self._http.build_request(
            method, self.url_for(path), params=list(params) or None, headers=header_list, content=body
        )
        started = time.perf_counter()
        request_text = body.decode("utf-8", errors="replace") if body else None
        try:
            response = self._http.send(request)
            response.read()
        except httpx.HTTPError as exc:
            exchange = Exchange(
                method=method,
                url=str(request.url),
                request_headers=redact_headers(dict(request.headers)),
                request_body=_evidence(request_text),
                status=None,
                response_headers={},
                response_body=None,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
                error=f"{type(exc).__name__}: {exc}",
            )
            raise TargetUnreachable(f"{method} {request.url}: {type(exc).__name__}: {exc}", exchange) from None
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        exchange = Exchange(
            method=method,
            url=str(response.request.url),
            request_headers=redact_headers(dict(response.request.headers)),
            request_body=_evidence(request_text),
            status=response.status_code,
            response_headers=redact_headers(dict(response.headers)),
            response_body=_evidence(response.content.decode("utf-8", errors="replace")),
            elapsed_ms=elapsed,
        )
        return HttpResult(
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            url=str(response.request.url),
            exchange=exchange,
        )

    def read_json(self, path: str) -> dict[str, Any] | None:
        """Convenience for harness-internal reads (metadata, fixtures); None when not a resource."""
        return self.send("GET", path).resource

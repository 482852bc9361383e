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

from imgconf import __version__, secret_registry
from imgconf.bounded import bounded_transport, deadline
from imgconf.credentials import OriginGuard, split_userinfo
from imgconf.jsonsafe import JsonTooDeep, loads_bounded
from imgconf.report.redact import redact_headers, redact_text
from imgconf.results import Exchange

FHIR_JSON = "application/fhir+json"
EVIDENCE_LIMIT = 64 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 20 * 1024 * 1024  # a searchset page bigger than this is a server problem
WRITE_METHODS = ("PUT", "PATCH", "DELETE")


class TargetUnreachable(Exception):
    """The request did not produce an HTTP response (not a conformance failure)."""

    def __init__(self, message: str, exchange: Exchange) -> None:
        super().__init__(message)
        self.exchange = exchange


class ResponseTooLarge(httpx.HTTPError):
    """The body exceeded the client's cap; reading stopped there (memory stays bounded)."""


class RequestDeadline(httpx.HTTPError):
    """The whole exchange took longer than the request timeout (a server dripping bytes)."""


class ReadOnlyViolation(httpx.HTTPError):
    """A write was about to be sent in --read-only mode; it never left the harness."""


def is_write(method: str, path: str) -> bool:
    method = method.upper()
    return method in WRITE_METHODS or (method == "POST" and not path.split("?")[0].rstrip("/").endswith("_search"))


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
    _not_json: bool = field(default=False, repr=False)

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
            self._json = loads_bounded(self.content)
        except JsonTooDeep as exc:  # hostile nesting: judged as unusable JSON, never a RecursionError
            self._json_error = f"the response body is not usable JSON ({exc})"
        except (ValueError, UnicodeDecodeError) as exc:
            self._json_error = f"the response body is not JSON ({exc})"
            self._not_json = True

    @property
    def json(self) -> Any:
        self._parse()
        return self._json

    @property
    def json_error(self) -> str | None:
        self._parse()
        return self._json_error

    @property
    def not_json(self) -> bool:
        """A body that is there and is not JSON at all (not one merely nested beyond the harness's bound)."""
        self._parse()
        return self._not_json

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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        read_only: bool = False,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        base_url, basic = split_userinfo(base_url)  # URL credentials: Basic auth to the target only
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.read_only = read_only
        self.extra_headers = list(extra_headers)  # e.g. Authorization from --header; redacted in evidence
        if basic is not None and not any(k.lower() == "authorization" for k, _ in self.extra_headers):
            self.extra_headers.append(basic)
        for name, value in self.extra_headers:
            secret_registry.register_header(name, value)
        # Called by httpx for every request and every redirect hop: credentials go to the target's origin only.
        self.origin_guard = OriginGuard(self.base_url, self.extra_headers)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=verify,
            auth=auth,
            transport=transport or bounded_transport(verify),  # --request-timeout bounds the whole exchange, headers too
            follow_redirects=True,
            max_redirects=5,
            headers={"Accept": FHIR_JSON, "User-Agent": f"imgconf/{__version__}"},
            event_hooks={"request": [self.origin_guard]},
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
        header_list += [(k, v) for k, v in self.extra_headers if k.lower() not in names]
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
            if self.read_only and is_write(method, request.url.path):
                raise ReadOnlyViolation(f"read-only run: {method} was not sent")
            with deadline(self.timeout):
                response = self._http.send(request, stream=True)
                try:
                    content = self._read_capped(response, started)
                finally:
                    response.close()
        except httpx.HTTPError as exc:
            exchange = Exchange(
                method=method,
                url=secret_registry.scrub(str(request.url)),
                request_headers=redact_headers(dict(request.headers)),
                request_body=_evidence(request_text),
                status=getattr(exc, "status", None),
                response_headers=redact_headers(getattr(exc, "headers", {})),
                response_body=_evidence(getattr(exc, "head", None)),  # the start of a body cut short
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
                error=secret_registry.scrub(f"{type(exc).__name__}: {exc}"),
            )
            message = secret_registry.scrub(f"{method} {request.url}: {type(exc).__name__}: {exc}")
            raise TargetUnreachable(message, exchange) from None
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        exchange = Exchange(
            method=method,
            url=secret_registry.scrub(str(response.request.url)),
            request_headers=redact_headers(dict(response.request.headers)),
            request_body=_evidence(request_text),
            status=response.status_code,
            response_headers=redact_headers(dict(response.headers)),
            response_body=_evidence(content.decode("utf-8", errors="replace")),
            elapsed_ms=elapsed,
        )
        return HttpResult(
            status=response.status_code,
            headers=response.headers,
            content=content,
            url=str(response.request.url),
            exchange=exchange,
        )

    def _read_capped(self, response: httpx.Response, started: float) -> bytes:
        """Read the (decoded) body up to max_response_bytes and within the request timeout overall."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise ResponseTooLarge(
                        f"response body exceeds {self.max_response_bytes} bytes (status {response.status_code}, "
                        f"Content-Type {response.headers.get('content-type', 'none')}); reading stopped"
                    )
                chunks.append(chunk)
                if time.perf_counter() - started > self.timeout:
                    raise RequestDeadline(f"the response took longer than {self.timeout} s in total; reading stopped after {size} bytes")
        except httpx.HTTPError as exc:  # keep what arrived as evidence of the broken response
            exc.status = response.status_code  # type: ignore[attr-defined]
            exc.headers = dict(response.headers)  # type: ignore[attr-defined]
            head = b"".join(chunks)[: EVIDENCE_LIMIT - 100].decode("utf-8", errors="replace")
            if size > EVIDENCE_LIMIT - 100:
                head += f"\n… [{size - EVIDENCE_LIMIT + 100} more bytes read and not kept; reading stopped]"
            exc.head = head  # type: ignore[attr-defined]
            raise
        return b"".join(chunks)

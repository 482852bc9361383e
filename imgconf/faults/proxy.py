"""A fault-injecting HTTP proxy (ASGI) between the harness and any FHIR target.

It forwards every request to the upstream base URL, rewrites the upstream base to its own in
bodies and headers (so links and Locations stay consistent), and lets the active faults change the
request before it goes out or the response before it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imgconf.asgi import ThreadedASGIServer
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse

MOUNT = "/fhir"
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding", "content-encoding"}


def _swap_base(text: bytes, old: str, new: str) -> bytes:
    """``old`` -> ``new`` in a body, also where it is percent-encoded inside a URL's query (a self link echoing
    ``subject=[base]/Patient/1``, a POST _search form): the other side must see its own base there too."""
    for safe in (None, "", "/"):  # as is, then encoded as urlencode and as quote() leave it
        old_form, new_form = (old, new) if safe is None else (quote(old, safe=safe), quote(new, safe=safe))
        text = text.replace(old_form.encode(), new_form.encode())
    return text


@dataclass
class ProxyState:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status) as answered


def create_proxy_app(state: ProxyState) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(60.0), follow_redirects=False)

    async def handle(request: Request) -> Response:
        own_base = f"{request.url.scheme}://{request.url.netloc}{MOUNT}"
        path = request.url.path[len(MOUNT):].lstrip("/") if request.url.path.startswith(MOUNT) else request.url.path.lstrip("/")
        call = ProxyCall(
            method=request.method,
            path=path,
            query=list(request.query_params.multi_items()),
            headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS},
            body=await request.body(),
            base=own_base,
        )
        for fault in state.faults:
            if fault.on_request is not None:
                early = fault.on_request(call)
                if isinstance(early, ProxyResponse):
                    return _answer(state, call, early)
        # The harness sends the proxy's base inside requests too (patient=[base]/Patient/1, bodies):
        # the upstream must see its own base there, as it would without a proxy in between.
        upstream_base = state.upstream.rstrip("/")
        call.query = [(k, v.replace(own_base, upstream_base)) for k, v in call.query]
        if call.body:
            call.body = _swap_base(call.body, own_base, upstream_base)
        upstream_url = upstream_base + "/" + call.path
        try:
            upstream = await client.request(
                call.method, upstream_url, params=tuple(call.query) or None, headers=call.headers, content=call.body or None
            )
        except httpx.HTTPError as exc:
            return _answer(state, call, ProxyResponse(502, {"content-type": "text/plain"}, f"proxy: {exc}".encode()))
        body = _swap_base(upstream.content, upstream_base, own_base)
        headers = {
            k.lower(): _swap_base(v.encode("latin-1"), upstream_base, own_base).decode("latin-1")
            for k, v in upstream.headers.items()
            if k.lower() not in _HOP_HEADERS
        }
        response = ProxyResponse(upstream.status_code, headers, body)
        for fault in state.faults:
            if fault.on_response is not None:
                response = fault.on_response(call, response)
        return _answer(state, call, response)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", handle, methods=methods)])


def _answer(state: ProxyState, call: ProxyCall, response: ProxyResponse) -> Response:
    state.log.append((call.method, call.path, response.status))
    if response.raw is not None:
        return response.raw
    return Response(content=response.body, status_code=response.status, headers=response.headers)


class FaultProxy:
    """``with FaultProxy(upstream, [fault]) as proxy: ... proxy.base_url``; faults can change between runs."""

    def __init__(self, upstream: str, faults: list[Fault] | None = None) -> None:
        self.state = ProxyState(upstream=upstream, faults=list(faults or []))
        self._server = ThreadedASGIServer(create_proxy_app(self.state), ready_path=f"{MOUNT}/metadata")
        self.base_url = ""

    def set_faults(self, faults: list[Fault]) -> None:
        self.state.faults = list(faults)

    def start(self) -> FaultProxy:
        self._server.start()
        self.base_url = self._server.origin + MOUNT
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""The embedded reference FHIR R4 server as a Starlette app (JSON and XML, SQLite storage).

Choices where R4 leaves room (also stated in the CapabilityStatement documentation):
DELETE answers 204 and a second DELETE of the same id 204 again; DELETE of an id that never
existed answers 404. PUT to a new id creates it (201, update-as-create). Structural failures
answer 400 (REST-023 reserves 422 for profile/business rules). XML is served for every answer
(MHD-008, PDQ-009: `_format` over Accept); request bodies may be FHIR JSON or FHIR XML.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..searchparams.compartments import compartment_params
from . import search
from .auth import BearerGate, ReferenceAuth, describe_security, routes as smart_routes
from .capability import SUPPORTED_TYPES, capability_statement
from .fhirhttp import (
    FhirError,
    accepts_media_type,
    check_content_type,
    error_response,
    fhir_response,
    issue,
    negotiate,
    outcome,
    parse_etag,
    prefer,
    requested_format,
    version_headers,
    wants_fhir_resource,
)
from .store import PreconditionFailed, Store, Version
from .validate import structure_issues
from .xmlformat import XML_BODY_TYPES, XML_CONTENT_TYPE, resource_from_xml, resource_to_xml

_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class _Ctx:
    """What a handler needs from the request, gathered on the event loop."""

    def __init__(self, request: Request, body: bytes, base: str) -> None:
        self.method = request.method
        self.params = dict(request.path_params)
        self.query = parse_qsl(request.url.query, keep_blank_values=True)
        self.headers = request.headers
        self.body = body
        self.base = base

    @property
    def fmt(self) -> str | None:
        return next((v for k, v in self.query if k == "_format"), None)

    @property
    def answer_format(self) -> str:
        """json or xml: what the client asked for (`_format` in the query or a POST _search form)."""
        fmt = self.fmt
        ctype = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
        if fmt is None and self.method == "POST" and ctype == "application/x-www-form-urlencoded":
            form = parse_qsl(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)
            fmt = next((v for k, v in form if k == "_format"), None)
        return requested_format(fmt, self.headers.get("accept"))


class ReferenceServer:
    def __init__(self, db_path: Path, base_url_override: str | None = None) -> None:
        self.store = Store(db_path)
        self.base_override = base_url_override.rstrip("/") if base_url_override else None
        self.started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self._write_lock = threading.RLock()
        self.auth: ReferenceAuth | None = None  # SMART Backend Services when set (reference/auth.py)

    # ---- plumbing -----------------------------------------------------------------------------

    def base(self, request: Request) -> str:
        # root_path includes the mount point (/fhir) and any proxy prefix.
        root = request.scope.get("root_path", "")
        return self.base_override or f"{request.url.scheme}://{request.url.netloc}{root}".rstrip("/")

    async def dispatch(self, request: Request, handler: Any) -> Response:
        body = await request.body()
        ctx = _Ctx(request, body, self.base(request))
        try:  # handlers are synchronous (SQLite, fhirpathpy): keep them off the event loop
            response = await run_in_threadpool(handler, ctx)
        except FhirError as err:
            response = error_response(err)
        except Exception as exc:  # noqa: BLE001 - every 5xx still carries an OperationOutcome
            response = error_response(FhirError(500, "exception", f"internal error: {type(exc).__name__}: {exc}"))
        if ctx.answer_format == "xml":  # handlers speak JSON; one place turns the answer into FHIR XML
            response = await run_in_threadpool(_as_xml, response)
        return response

    def route(self, path: str, handler: Any, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request, handler)
        return Route(path, endpoint, methods=methods)

    def _type(self, ctx: _Ctx) -> str:
        rtype = ctx.params["type"]
        if rtype not in SUPPORTED_TYPES:
            raise FhirError(404, "not-supported", f"resource type {rtype!r} is not supported by this server")
        return rtype

    def _id(self, ctx: _Ctx) -> str:
        rid = ctx.params["id"]
        if not _ID_RE.match(rid):
            raise FhirError(404, "not-found", f"{rid!r} is not a valid resource id")
        return rid

    def _parse_body(self, ctx: _Ctx, rtype: str, *, server_owned: bool = False) -> dict[str, Any]:
        """Parse and validate; `server_owned` drops id/versionId/lastUpdated first (create)."""
        ctype = (ctx.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype in XML_BODY_TYPES:  # FHIR XML bodies, read through the R4B models
            try:
                body = resource_from_xml(ctx.body)
            except ValueError as exc:
                raise FhirError(400, "invalid", f"body is not valid FHIR XML: {exc}") from None
        else:
            check_content_type(ctx.headers.get("content-type"))
            try:
                body = json.loads(ctx.body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise FhirError(400, "invalid", f"body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise FhirError(400, "invalid", "body must be a JSON object (a FHIR resource)")
        if body.get("resourceType") != rtype:
            raise FhirError(400, "invalid", f"resourceType {body.get('resourceType')!r} does not match the URL type {rtype}")
        if server_owned:
            body = self._clean(body)
        problems = structure_issues(rtype, body)
        if problems:
            raise FhirError(400, "structure", "resource failed validation", issues=problems)
        return body

    def _written(self, ctx: _Ctx, v: Version, status: int, *, location: bool) -> Response:
        headers = version_headers(v.version_id, v.last_updated)
        if location:
            headers["Location"] = f"{ctx.base}/{v.type}/{v.id}/_history/{v.version_id}"
        ret = prefer(ctx.headers.get("prefer"), "return")
        if ret == "minimal":
            return Response(b"", status_code=status, headers=headers)
        if ret == "operationoutcome":
            return fhir_response(outcome([issue("information", "informational", f"{v.type}/{v.id} stored")]),
                                 status, headers)
        return fhir_response(v.resource, status, headers)

    @staticmethod
    def _clean(resource: dict[str, Any]) -> dict[str, Any]:
        """Drop server-owned fields (REST-022): id (on create), meta.versionId, meta.lastUpdated."""
        out = {k: v for k, v in resource.items() if k != "id"}
        meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
        if meta:
            out["meta"] = meta
        else:
            out.pop("meta", None)
        return out

    # ---- interactions -------------------------------------------------------------------------

    def metadata(self, ctx: _Ctx) -> Response:
        negotiate(ctx.fmt, ctx.headers.get("accept"))
        statement = capability_statement(ctx.base, self.started)
        if self.auth is not None:  # SMART declared in rest.security (catalogue §D)
            describe_security(statement, ctx.base)
        return fhir_response(statement)

    def create(self, ctx: _Ctx) -> Response:
        rtype = self._type(ctx)
        negotiate(ctx.fmt, ctx.headers.get("accept"))
        body = self._parse_body(ctx, rtype, server_owned=True)
        condition = ctx.headers.get("if-none-exist")
        with self._write_lock:  # the check and the create are one step
            if condition is not None:
                # The header carries a query string; tolerate a leading "Type?" or "?".
                cond = condition.split("?", 1)[-1]
                query, _ = search.parse(rtype, parse_qsl(cond, keep_blank_values=True), strict=True)
                if not query.criteria:
                    raise FhirError(400, "invalid", "If-None-Exist has no usable search criteria")
                found = search.find(self.store, query, ctx.base)
                if len(found) > 1:
                    raise FhirError(412, "duplicate", f"If-None-Exist matched {len(found)} resources")
                if len(found) == 1:
                    v = self.store.read(rtype, found[0]["id"])
                    assert v is not None
                    return self._written(ctx, v, 200, location=False)
            v = self.store.create(rtype, body)
        return self._written(ctx, v, 201, location=True)

    def read(self, ctx: _Ctx) -> Response:
        rtype, rid = self._type(ctx), self._id(ctx)
        v = self.store.read(rtype, rid)
        if v is None:
            raise FhirError(404, "not-found", f"{rtype}/{rid} is not known")
        if v.deleted:
            raise FhirError(410, "deleted", f"{rtype}/{rid} has been deleted", headers=version_headers(v.version_id, v.last_updated))
        return self._resource(ctx, v)

    def _resource(self, ctx: _Ctx, v: Version) -> Response:
        headers = version_headers(v.version_id, v.last_updated)
        assert v.resource is not None
        if v.type == "Binary" and not wants_fhir_resource(ctx.fmt, ctx.headers.get("accept")):
            media_type = v.resource.get("contentType") or "application/octet-stream"
            if not accepts_media_type(ctx.headers.get("accept"), media_type):  # ITI-68 MHD-022: 406
                raise FhirError(406, "not-supported", f"this document is only available as {media_type}")
            data = base64.b64decode(v.resource.get("data", "") or "")
            return Response(data, headers=headers, media_type=media_type)
        negotiate(ctx.fmt, ctx.headers.get("accept"))
        return fhir_response(v.resource, 200, headers)

    def vread(self, ctx: _Ctx) -> Response:
        rtype, rid = self._type(ctx), self._id(ctx)
        vid = ctx.params["vid"]
        v = self.store.vread(rtype, rid, int(vid)) if vid.isdigit() else None
        if v is None:
            raise FhirError(404, "not-found", f"{rtype}/{rid}/_history/{vid} is not known")
        if v.deleted:
            raise FhirError(410, "deleted", f"version {vid} of {rtype}/{rid} is a deletion")
        return self._resource(ctx, v)

    def history(self, ctx: _Ctx) -> Response:
        rtype, rid = self._type(ctx), self._id(ctx)
        negotiate(ctx.fmt, ctx.headers.get("accept"))
        versions = self.store.history(rtype, rid)
        if not versions:
            raise FhirError(404, "not-found", f"{rtype}/{rid} is not known")
        entries = []
        for v in versions:
            entry: dict[str, Any] = {
                "fullUrl": f"{ctx.base}/{rtype}/{rid}",
                "request": {"method": v.method or "PUT", "url": f"{rtype}/{rid}" if v.method != "POST" else rtype},
                "response": {"status": "410" if v.deleted else ("201" if v.version_id == 1 else "200"),
                             "etag": f'W/"{v.version_id}"', "lastModified": v.last_updated},
            }
            if v.resource is not None:
                entry["resource"] = v.resource
            entries.append(entry)
        bundle = {"resourceType": "Bundle", "type": "history", "total": len(entries),
                  "link": [{"relation": "self", "url": f"{ctx.base}/{rtype}/{rid}/_history"}], "entry": entries}
        return fhir_response(bundle)

    def update(self, ctx: _Ctx) -> Response:
        rtype, rid = self._type(ctx), ctx.params["id"]
        if not _ID_RE.match(rid):
            raise FhirError(400, "invalid", f"{rid!r} is not a valid FHIR id")
        negotiate(ctx.fmt, ctx.headers.get("accept"))
        body = self._parse_body(ctx, rtype)
        if body.get("id") != rid:
            raise FhirError(400, "invalid", f"body id {body.get('id')!r} does not match the URL id {rid!r}")
        if_match = ctx.headers.get("if-match")
        try:
            v, created = self.store.update(rtype, rid, self._clean(body), parse_etag(if_match) if if_match else None)
        except PreconditionFailed:
            raise FhirError(412, "conflict", f"If-Match {if_match} is not the current version of {rtype}/{rid}") from None
        return self._written(ctx, v, 201 if created else 200, location=created)

    def delete(self, ctx: _Ctx) -> Response:
        rtype, rid = self._type(ctx), self._id(ctx)
        cur = self.store.read(rtype, rid)
        if cur is None:
            raise FhirError(404, "not-found", f"{rtype}/{rid} is not known")
        v = self.store.delete(rtype, rid)
        headers = {"ETag": f'W/"{v.version_id}"'} if v else {}
        return Response(b"", status_code=204, headers=headers)

    def search(self, ctx: _Ctx) -> Response:
        rtype = self._type(ctx)
        pairs = list(ctx.query)
        if ctx.method == "POST":
            ctype = (ctx.headers.get("content-type") or "").split(";")[0].strip().lower()
            if ctx.body and ctype != "application/x-www-form-urlencoded":
                raise FhirError(415, "not-supported", "POST _search takes application/x-www-form-urlencoded")
            pairs += parse_qsl(ctx.body.decode("utf-8"), keep_blank_values=True)
        fmt = next((v for k, v in pairs if k == "_format"), None)
        negotiate(fmt, ctx.headers.get("accept"))
        strict = prefer(ctx.headers.get("prefer"), "handling") == "strict"
        query, offset = search.parse(rtype, pairs, strict=strict)
        patient = ctx.params.get("id")
        if patient is not None:
            if not compartment_params("Patient", rtype):
                raise FhirError(404, "not-supported", f"{rtype} is not in the Patient compartment")
            path = f"Patient/{patient}/{rtype}"
        else:
            path = rtype
        return fhir_response(search.bundle(self.store, query, offset, base=ctx.base, path=path, patient_id=patient))

    def compartment(self, ctx: _Ctx) -> Response:
        if ctx.params["type"] != "Patient":
            raise FhirError(404, "not-supported", "only the Patient compartment is supported")
        self._id(ctx)
        ctx.params["type"] = ctx.params.pop("ctype")
        return self.search(ctx)


def _as_xml(response: Response) -> Response:
    """A FHIR JSON answer re-served as FHIR XML (same status and headers); anything else unchanged."""
    if not (response.headers.get("content-type") or "").startswith("application/fhir+json") or not response.body:
        return response
    try:
        content = resource_to_xml(json.loads(bytes(response.body)))
    except ValueError as exc:  # a stored resource the R4 models reject: a reference-server bug, said so
        return error_response(FhirError(500, "exception", f"cannot serialise the answer as XML: {exc}"))
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
    return Response(content, status_code=response.status_code, headers=headers, media_type=XML_CONTENT_TYPE)


def create_app(db_path: Path, *, base_url_override: str | None = None, auth: ReferenceAuth | None = None) -> Starlette:
    srv = ReferenceServer(Path(db_path), base_url_override)
    srv.auth = auth
    routes = smart_routes(auth) if auth is not None else []  # before /{type}/{id}, which would swallow them
    routes += [
        srv.route("/metadata", srv.metadata, ["GET"]),
        srv.route("/{type}", srv.search, ["GET"]),
        srv.route("/{type}", srv.create, ["POST"]),
        srv.route("/{type}/_search", srv.search, ["POST"]),
        srv.route("/{type}/{id}", srv.read, ["GET"]),
        srv.route("/{type}/{id}", srv.update, ["PUT"]),
        srv.route("/{type}/{id}", srv.delete, ["DELETE"]),
        srv.route("/{type}/{id}/_history", srv.history, ["GET"]),
        srv.route("/{type}/{id}/_history/{vid}", srv.vread, ["GET"]),
        srv.route("/{type}/{id}/{ctype}", srv.compartment, ["GET"]),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: "not-found", 405: "not-supported"}.get(status, "processing")
        return error_response(FhirError(status, code, f"{request.method} {request.url.path}: {getattr(exc, 'detail', exc)}"))

    middleware = [Middleware(BearerGate, auth=auth)] if auth is not None else []
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, middleware=middleware)
    app.state.server = srv
    return app

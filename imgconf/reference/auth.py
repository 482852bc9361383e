"""SMART Backend Services for the reference server (catalogue §D): discovery, a real token endpoint
that verifies private_key_jwt assertions against registered JWKS, and bearer-token enforcement.

Off unless ``create_app(..., auth=ReferenceAuth(...))``. Errors follow RFC 6749 §5.2 at the token
endpoint and RFC 6750 §3 on the FHIR API (401 + ``WWW-Authenticate: Bearer``, 403
``insufficient_scope``) — never a 200 with data the token does not cover.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..validators.smart import Scope as SmartScope, covered, parse as parse_scope, split
from .capability import SUPPORTED_TYPES
from .fhirhttp import FhirError, error_response

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/auth/token"
WELL_KNOWN_PATH = "/.well-known/smart-configuration"
PUBLIC_PATHS = frozenset({"/metadata", WELL_KNOWN_PATH, TOKEN_PATH})
TOKEN_LIFETIME_S = 300  # SMART-015: expires_in SHOULD be ≤ 300
MAX_ASSERTION_LIFETIME_S = 300  # SMART-012
CLOCK_SKEW_S = 10
SIGNING_ALGS = ("RS384", "ES384")
_KTY = {"RS384": "RSA", "ES384": "EC"}
REALM = "imgconf"


@dataclass
class RegisteredClient:
    client_id: str
    jwks: dict[str, Any]  # the client's public keys
    allowed_scopes: str = "system/*.cruds"  # pre-authorised (SMART-016): grants never exceed this


@dataclass
class _Issued:
    client_id: str
    scopes: list[SmartScope]
    expires_at: float


@dataclass
class ReferenceAuth:
    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    extra_audiences: set[str] = field(default_factory=set)  # e.g. the token URL as seen through a proxy
    _tokens: dict[str, _Issued] = field(default_factory=dict, repr=False)
    _seen_jti: dict[tuple[str, str], float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, client: RegisteredClient) -> None:
        self.clients[client.client_id] = client

    def accept_audience(self, token_url: str) -> None:
        self.extra_audiences.add(token_url)

    # -- the token endpoint ------------------------------------------------------------------
    def exchange(self, form: dict[str, str], token_url: str) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one token request (SMART-010..016)."""
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type",
                                f"grant_type {form.get('grant_type')!r} is not supported; use client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return _oauth_error(401, "invalid_client",
                                f"client authentication requires client_assertion_type {ASSERTION_TYPE} and a client_assertion")
        if not form.get("scope"):
            return _oauth_error(400, "invalid_request", "the scope parameter is required")
        client, problem = self._authenticate(form["client_assertion"], token_url)
        if client is None:
            return _oauth_error(401, "invalid_client", problem)
        granted, problem = self._grant(client, form["scope"])
        if not granted:
            return _oauth_error(400, "invalid_scope", problem)
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
            self._tokens[token] = _Issued(client.client_id, granted, now + TOKEN_LIFETIME_S)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "scope": " ".join(s.text for s in granted),
        }

    def _authenticate(self, assertion: str, token_url: str) -> tuple[RegisteredClient | None, str]:
        """RFC 7523 §3 + SMART-013: header, known client, one key by kid+kty, signature, claims, jti."""
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return None, f"client_assertion is not a JWT: {exc}"
        alg = header.get("alg")
        if alg not in SIGNING_ALGS:
            return None, f"alg {alg!r} is not accepted (use {' or '.join(SIGNING_ALGS)})"
        kid = header.get("kid")
        if not kid:
            return None, "the JWT header has no kid"
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            return None, f"unknown client {iss!r}"
        matches = [k for k in client.jwks.get("keys", []) if k.get("kid") == kid and k.get("kty") == _KTY[alg]]
        if len(matches) != 1:
            return None, f"{len(matches)} registered keys match kid {kid!r} and kty {_KTY[alg]} (exactly one is required)"
        try:
            key = jwt.PyJWK(matches[0], algorithm=alg)
            claims = jwt.decode(
                assertion, key, algorithms=[alg], audience=sorted({token_url, *self.extra_audiences}), issuer=client.client_id,
                leeway=CLOCK_SKEW_S, options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            return None, f"client_assertion rejected: {exc}"
        if claims.get("sub") != client.client_id:
            return None, "sub must equal iss (the client_id)"
        now = time.time()
        if float(claims["exp"]) > now + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S:
            return None, "exp is more than 5 minutes in the future"
        with self._lock:
            self._seen_jti = {k: v for k, v in self._seen_jti.items() if v > now - CLOCK_SKEW_S}
            seen = (client.client_id, str(claims["jti"]))
            if seen in self._seen_jti:
                return None, "jti has been used before (replayed assertion)"
            self._seen_jti[seen] = float(claims["exp"])
        return client, ""

    def _grant(self, client: RegisteredClient, requested: str) -> tuple[list[SmartScope], str]:
        """The requested scopes the client is pre-authorised for (narrower than asked is allowed)."""
        allowed = [s for s in (parse_scope(t) for t in split(client.allowed_scopes)) if s is not None]
        granted: list[SmartScope] = []
        for text in split(requested):
            scope = parse_scope(text)
            if scope is None:
                return [], f"{text!r} is neither a SMART v1 nor v2 scope"
            if scope.context != "system":
                return [], f"{text!r}: backend services use system/ scopes"
            # Granular (?param=value) scopes are not enforced here, so they are not granted either.
            if scope.constraint is None and covered(scope, allowed):
                granted.append(scope)
        if not granted:
            return [], f"none of the requested scopes is authorised for client {client.client_id!r}"
        return granted, ""

    # -- the resource server -----------------------------------------------------------------
    def authorize(self, authorization: str | None, resource_type: str, permission: str) -> FhirError | None:
        """None when the bearer token covers the request, else the error to answer (SMART-030..032)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return FhirError(401, "login", "this server requires a SMART bearer token",
                             headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
        token = authorization[7:].strip()
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= time.time():
            why = "expired" if issued is not None else "unknown"
            return FhirError(401, "login", f"the access token is {why}", headers={
                "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", error_description="the access token is {why}"'})
        if not any(s.allows(resource_type, permission) for s in issued.scopes):
            needed = f"system/{resource_type}.{permission}"
            return FhirError(403, "forbidden", f"the token's scopes do not cover {needed}", headers={
                "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'})
        return None


def _oauth_error(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


# -- discovery ---------------------------------------------------------------------------------

SCOPE_PERMISSIONS = ("cruds", "rs", "r", "s", "c", "read", "write")


def scopes_supported() -> list[str]:
    listed = ["system/*.cruds", "system/*.rs", "system/*.*", "system/*.read", "system/*.write"]
    listed += [f"system/{t}.{p}" for t in SUPPORTED_TYPES for p in SCOPE_PERMISSIONS]
    return listed


def smart_configuration(base: str) -> dict[str, Any]:
    """SMART-001..006: every REQUIRED field, absolute URLs, v1 and v2 scope syntax."""
    return {
        "token_endpoint": base + TOKEN_PATH,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "scopes_supported": scopes_supported(),
        "response_types_supported": ["token"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
        "code_challenge_methods_supported": ["S256"],
    }


def describe_security(capability: dict[str, Any], base: str) -> None:
    """Declare SMART in CapabilityStatement.rest.security (with the token URL and the scopes)."""
    for rest in capability.get("rest") or []:
        rest["security"] = {
            "cors": False,
            "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                     "code": "SMART-on-FHIR"}]}],
            "extension": [{
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": "token", "valueUri": base + TOKEN_PATH}],
            }],
            "description": (
                "SMART Backend Services (client_credentials with private_key_jwt, RS384 or ES384). "
                "Document consumers request system/Patient.rs system/DocumentReference.rs system/Binary.r "
                "system/Bundle.r (v1: system/Patient.read system/DocumentReference.read system/Binary.read "
                "system/Bundle.read)."
            ),
        }


# -- HTTP ----------------------------------------------------------------------------------------

def routes(auth: ReferenceAuth) -> list[Route]:
    def base(request: Request) -> str:
        return request.app.state.server.base(request)

    async def well_known(request: Request) -> Response:
        # SMART-001: application/json whatever the Accept header says.
        return JSONResponse(smart_configuration(base(request)))

    async def token(request: Request) -> Response:
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            status, body = _oauth_error(400, "invalid_request", "the token request must be application/x-www-form-urlencoded")
        else:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
            status, body = auth.exchange(form, base(request) + TOKEN_PATH)
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if status == 401:
            headers["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="invalid_client"'
        return Response(json.dumps(body), status_code=status, headers=headers, media_type="application/json")

    return [Route(WELL_KNOWN_PATH, well_known, methods=["GET"]), Route(TOKEN_PATH, token, methods=["POST"])]


def required_permission(method: str, path: str) -> tuple[str, str] | None:
    """(resource type, SMART v2 letter) a request needs; None for the public endpoints."""
    if path in PUBLIC_PATHS or path.rstrip("/") in PUBLIC_PATHS:
        return None
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "*", "s"
    rtype = parts[0]
    if method == "POST":
        return (rtype, "s") if parts[-1] == "_search" else (rtype, "c")
    if method in ("PUT", "PATCH"):
        return rtype, "u"
    if method == "DELETE":
        return rtype, "d"
    if len(parts) == 1:
        return rtype, "s"
    if len(parts) == 3 and rtype == "Patient" and parts[2] != "_history":
        return parts[2], "s"  # compartment search: Patient/{id}/{type}
    return rtype, "r"  # read, vread, instance history


class BearerGate:
    """ASGI middleware in front of the FHIR routes: no valid token, no data."""

    def __init__(self, app: ASGIApp, auth: ReferenceAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, root = scope.get("path", ""), scope.get("root_path", "")
        route_path = path[len(root):] if root and path.startswith(root) else path
        needed = required_permission(scope["method"], route_path)
        if needed is not None:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            error = self.auth.authorize(headers.get("authorization"), *needed)
            if error is not None:
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""SMART faults (catalogue §D): a reference server in auth mode that misbehaves the way real
authorization servers and resource servers do.

The proxy cannot mint tokens, so the faults that "accept" a request without a proper token put
the broadest token the proxy has seen the server issue onto it — exactly what a server that does
not check (or ignores scopes) would do. State is kept per proxy (its base URL).
"""

from __future__ import annotations

import json
import threading

import jwt

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse, ResponseHook
from imgconf.faults.rewrite import (
    JsonEdit,
    JsonObject,
    RequestAnswer,
    RequestEdit,
    drop_response_header,
    edit_json,
    form_params,
    path_is,
)

TOKEN_PATH = "auth/token"
WELL_KNOWN = ".well-known/smart-configuration"
_PUBLIC = {"metadata", WELL_KNOWN, TOKEN_PATH}
_token_calls = path_is(TOKEN_PATH)
_discovery_calls = path_is(WELL_KNOWN)


class _Seen:
    """Tokens issued through one proxy (access token → granted scope) and assertion jtis."""

    def __init__(self) -> None:
        self.tokens: dict[str, dict[str, str]] = {}
        self.jtis: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def record(self, call: ProxyCall, response: ProxyResponse) -> None:
        body = response.json()
        if _token_calls(call) and response.status == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
            with self.lock:
                self.tokens.setdefault(call.base, {})[body["access_token"]] = str(body.get("scope", ""))

    def broadest(self, base: str) -> str | None:
        with self.lock:
            issued = self.tokens.get(base) or {}
        if not issued:
            return None
        return max(issued, key=lambda t: ("system/*.cruds" in issued[t].split(), len(issued[t].split())))

    def known(self, base: str, token: str) -> bool:
        with self.lock:
            return token in (self.tokens.get(base) or {})

    def first_use(self, base: str, jti: str) -> bool:
        with self.lock:
            seen = self.jtis.setdefault(base, set())
            if jti in seen:
                return False
            seen.add(jti)
            return True


def _recording(seen: _Seen) -> ResponseHook:
    """Remember the tokens the server issues (what the faults that "accept" a request then use)."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        seen.record(call, response)
        return response
    return hook


def _bearer(call: ProxyCall) -> tuple[str | None, str | None]:
    """(header name as sent, token) of the request's bearer token."""
    for name, value in call.headers.items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return name, value[7:].strip()
    return None, None


def _protected(call: ProxyCall) -> bool:
    return call.path.strip("/") not in _PUBLIC


def _fill_missing_token(seen: _Seen) -> RequestEdit:
    def hook(call: ProxyCall) -> None:
        name, _ = _bearer(call)
        if name is None and _protected(call) and (token := seen.broadest(call.base)):
            call.headers["authorization"] = f"Bearer {token}"
    return hook


def _swap_token(seen: _Seen, only_unknown: bool) -> RequestEdit:
    def hook(call: ProxyCall) -> None:
        name, token = _bearer(call)
        if name is None or not _protected(call) or (only_unknown and token and seen.known(call.base, token)):
            return
        if broad := seen.broadest(call.base):
            call.headers[name] = f"Bearer {broad}"
    return hook


def _fake_grant(seen: _Seen, call: ProxyCall) -> ProxyResponse | None:
    token = seen.broadest(call.base)
    if token is None:
        return None
    body = {"access_token": token, "token_type": "bearer", "expires_in": 300, "scope": "system/*.cruds"}
    return ProxyResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())


def _assertion_claims(call: ProxyCall) -> dict[str, object]:
    form = dict(form_params(call) or [])
    try:
        return jwt.decode(form.get("client_assertion", ""), options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def _accept_replay(seen: _Seen) -> RequestAnswer:
    """No jti bookkeeping: a second use of the same assertion gets a token again."""
    def hook(call: ProxyCall) -> ProxyResponse | None:
        if call.method != "POST" or not _token_calls(call):
            return None
        jti = str(_assertion_claims(call).get("jti", ""))
        if jti and not seen.first_use(call.base, jti):
            return _fake_grant(seen, call)
        return None
    return hook


def _accept_any_assertion(seen: _Seen) -> ResponseHook:
    """Client authentication failures turn into grants (no signature, aud, exp, kid or client checks)."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        seen.record(call, response)
        body = response.json()
        if _token_calls(call) and isinstance(body, dict) and body.get("error") == "invalid_client":
            return _fake_grant(seen, call) or response
        return response
    return hook


def _on_token_response(edit: JsonEdit) -> ResponseHook:
    return edit_json(edit, calls=_token_calls, status=200)


def _on_discovery(edit: JsonEdit) -> ResponseHook:
    return edit_json(edit, calls=_discovery_calls)


def _discovery_content_type(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if _discovery_calls(call):
        response.headers["content-type"] = "application/fhir+json"
    return response


def _token_errors_as_html(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if _token_calls(call) and response.status >= 400:
        response.headers["content-type"] = "text/html"
        response.body = b"<html><body><h1>Bad Request</h1></body></html>"
    return response


def _insufficient_scope_as_401(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if response.status == 403 and "insufficient_scope" in response.headers.get("www-authenticate", ""):
        response.status = 401
        response.headers["www-authenticate"] = 'Bearer realm="imgconf"'
    return response


def _add_non_smart_scopes(doc: JsonObject) -> None:
    scopes = list(doc.get("scopes_supported") or [])
    doc["scopes_supported"] = scopes + ["system/DocumentReference.search", "system/Patient.search", "system/DocumentReference.create"]


def _non_smart_scope_wording(capability: JsonObject) -> None:
    """The EU CapabilityStatement wording (FIND-05): scopes that "follow SMART v2 conventions" but do not."""
    for rest in capability.get("rest") or []:
        security = rest.setdefault("security", {})
        security["description"] = (str(security.get("description", "")) + " Document consumers request "
                                   "system/DocumentReference.search system/Patient.search system/Binary.read.").strip()


def _v1_only(doc: JsonObject) -> None:
    doc["capabilities"] = [c for c in doc.get("capabilities") or [] if c != "permission-v2"]


def smart_faults() -> tuple[Fault, ...]:
    """Fresh fault objects (each with its own token bookkeeping)."""
    no_check, any_token, bad_token = _Seen(), _Seen(), _Seen()
    replay, assertion = _Seen(), _Seen()
    return (
        Fault("accepts-request-without-token", "FHIR requests without a bearer token are answered with data",
              ("SMART-030", "SMART-031"), on_request=_fill_missing_token(no_check), on_response=_recording(no_check),
              suites=("enforcement", "scopes")),
        Fault("grants-insufficient-scope", "the resource server ignores the token's scopes",
              ("SMART-030", "SMART-032"), on_request=_swap_token(any_token, only_unknown=False), on_response=_recording(any_token),
              suites=("enforcement", "scopes")),
        Fault("accepts-invalid-token", "an unknown or forged bearer token is accepted",
              ("SMART-030", "SMART-031"), on_request=_swap_token(bad_token, only_unknown=True), on_response=_recording(bad_token),
              suites=("enforcement", "scopes")),
        Fault("token-endpoint-accepts-replay", "the token endpoint does not remember jti values",
              ("SMART-013",), on_request=_accept_replay(replay), on_response=_recording(replay),
              suites=("token",)),
        Fault("token-endpoint-accepts-any-assertion",
              "the token endpoint grants tokens whatever the assertion (signature, aud, exp, kid, client)",
              ("SMART-011", "SMART-012", "SMART-013"), on_response=_accept_any_assertion(assertion),
              suites=("token",)),
        Fault("token-errors-not-json", "token endpoint errors are an HTML page", ("SMART-014",), on_response=_token_errors_as_html,
              suites=("token",)),
        Fault("token-without-scope", "the token response has no scope", ("SMART-015",),
              on_response=_on_token_response(lambda b: b.pop("scope", None)),
              suites=("scopes", "token")),
        Fault("token-long-lived", "access tokens live an hour (expires_in 3600)", ("SMART-015",),
              on_response=_on_token_response(lambda b: b.update(expires_in=3600)),
              suites=("scopes", "token")),
        Fault("token-with-refresh-token", "a refresh token is issued to a backend client", ("SMART-015",),
              on_response=_on_token_response(lambda b: b.update(refresh_token="imgconf-fault-refresh")),
              suites=("scopes", "token")),
        Fault("token-type-mac", "token_type is not bearer", ("SMART-015",),
              on_response=_on_token_response(lambda b: b.update(token_type="mac")),
              suites=("scopes", "token")),
        Fault("widens-granted-scope", "the granted scope is wider than the request", ("SMART-016",),
              on_response=_on_token_response(lambda b: b.update(scope="system/*.cruds")),
              suites=("token",)),
        Fault("missing-www-authenticate", "401 without a WWW-Authenticate challenge", ("SMART-031",),
              on_response=drop_response_header("www-authenticate", status=401),
              suites=("enforcement",)),
        Fault("insufficient-scope-as-401", "insufficient scope answered 401 without insufficient_scope", ("SMART-032",),
              on_response=_insufficient_scope_as_401,
              suites=("enforcement",)),
        Fault("discovery-missing-pkce", "smart-configuration without code_challenge_methods_supported", ("SMART-002", "FIND-20"),
              on_response=_on_discovery(lambda d: d.pop("code_challenge_methods_supported", None)),
              suites=("discovery",)),
        Fault("discovery-pkce-plain", "code_challenge_methods_supported offers plain", ("SMART-002",),
              on_response=_on_discovery(lambda d: d.update(code_challenge_methods_supported=["S256", "plain"])),
              suites=("discovery",)),
        Fault("discovery-non-smart-scopes", "scopes_supported lists .search/.create scopes (FIND-05)", ("SMART-022", "FIND-05"),
              on_response=_on_discovery(_add_non_smart_scopes),
              suites=("scopes", "token")),
        Fault("capability-non-smart-scopes", "the CapabilityStatement names .search scopes (EU API wording, FIND-05)",
              ("SMART-022", "FIND-05"), on_response=edit_json(_non_smart_scope_wording, calls=path_is("metadata")),
              suites=("scopes", "token")),
        Fault("discovery-relative-token-endpoint", "token_endpoint is a relative URL", ("SMART-005",),
              on_response=_on_discovery(lambda d: d.update(token_endpoint=TOKEN_PATH)),
              suites=("discovery",)),
        Fault("discovery-no-client-credentials", "grant_types_supported lacks client_credentials", ("SMART-002",),
              on_response=_on_discovery(lambda d: d.update(grant_types_supported=["authorization_code"])),
              suites=("discovery",)),
        Fault("discovery-no-asymmetric-auth", "no client-confidential-asymmetric capability nor private_key_jwt",
              ("SMART-003", "EUAPI-010"),
              on_response=_on_discovery(lambda d: d.update(
                  capabilities=[c for c in d.get("capabilities") or [] if c != "client-confidential-asymmetric"],
                  token_endpoint_auth_methods_supported=["client_secret_basic"])),
              suites=("discovery", "token")),
        Fault("discovery-as-fhir-json", "smart-configuration served as application/fhir+json", ("SMART-001",),
              on_response=_discovery_content_type,
              suites=("discovery",)),
        Fault("discovery-v1-only", "advertises only permission-v1 (legal: the harness must request v1 scopes)", ("SMART-021", "SMART-024"),
              on_response=_on_discovery(_v1_only), benign=True,
              # every suite: with SMART on, each run's token request follows the scopes discovery advertises
              suites=None),
    )


SMART_FAULTS = smart_faults()

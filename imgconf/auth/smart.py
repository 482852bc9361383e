"""SMART Backend Services client: discovery, client_credentials + private_key_jwt, a token cache,
and the httpx.Auth that puts ``Authorization: Bearer`` on every request to the target.

Token-endpoint problems raise TokenError, an httpx.HTTPError, so the TargetClient reports them as
an unreachable-target error for the case at hand instead of crashing the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from imgconf import __version__, secret_registry
from imgconf.auth import assertion
from imgconf.auth.keys import SigningKey
from imgconf.auth.settings import AuthSettings
from imgconf.bounded import bounded_transport, deadline, read_capped
from imgconf.jsonsafe import loads_bounded

WELL_KNOWN = ".well-known/smart-configuration"
DEFAULT_EXPIRES_S = 300  # when a token response has no expires_in
RENEW_MARGIN_S = 30  # renew this long before expiry so a request never carries a dying token


class TokenError(httpx.HTTPError):
    """No usable access token (discovery or the token endpoint failed); never carries a secret."""


@dataclass(frozen=True)
class SmartConfiguration:
    document: dict[str, Any]
    url: str

    @property
    def token_endpoint(self) -> str | None:
        value = self.document.get("token_endpoint")
        return value if isinstance(value, str) and value else None

    @property
    def capabilities(self) -> list[str]:
        value = self.document.get("capabilities")
        return [c for c in value if isinstance(c, str)] if isinstance(value, list) else []

    @property
    def v1_only(self) -> bool:
        """SMART-024 fallback: the server advertises v1 scope syntax and not v2."""
        caps = self.capabilities
        return "permission-v1" in caps and "permission-v2" not in caps


@dataclass
class Token:
    access_token: str
    expires_at: float  # time.monotonic()
    granted: str  # the scope the server granted ("" when it did not say)
    requested: str

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at

    def __repr__(self) -> str:
        return f"Token(granted={self.granted!r}, expires_in={self.expires_at - time.monotonic():.0f}s)"


@dataclass
class SmartClient:
    """One SMART client for one target; tokens are cached per scope set until they expire."""

    settings: AuthSettings
    base_url: str
    verify: bool = True
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None
    max_response_bytes: int = 20 * 1024 * 1024  # --max-response-mb: discovery and token answers are capped too
    _http: httpx.Client | None = field(default=None, init=False, repr=False)
    _config: SmartConfiguration | None = field(default=None, init=False, repr=False)
    _config_error: str | None = field(default=None, init=False, repr=False)  # discovery failed: not asked again
    _tokens: dict[str, Token] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    token_requests: int = field(default=0, init=False)  # how many tokens were fetched (tests, report)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                timeout=httpx.Timeout(self.timeout), verify=self.verify, transport=self.transport or bounded_transport(self.verify),
                headers={"User-Agent": f"imgconf/{__version__}"},
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- discovery -------------------------------------------------------------------------
    def configuration(self) -> SmartConfiguration:
        with self._lock:
            if self._config_error is not None:
                # One failed discovery per run: teardown after a failure (or a SIGTERM) never waits on it again.
                raise TokenError(self._config_error)
            if self._config is None:
                url = f"{self.base_url}/{WELL_KNOWN}"
                try:
                    status, document = self._get_json("GET", url)
                except httpx.HTTPError as exc:
                    self._config_error = f"SMART discovery {url}: {type(exc).__name__}: {exc}"
                    raise TokenError(self._config_error) from None
                except KeyboardInterrupt:  # Ctrl-C/SIGTERM inside discovery: teardown must not wait on it again
                    self._config_error = f"SMART discovery {url} was interrupted"
                    raise
                if status != 200 or not isinstance(document, dict):
                    self._config_error = f"SMART discovery {url} answered {status} without a JSON object"
                    raise TokenError(self._config_error)
                self._config = SmartConfiguration(document, url)
            return self._config

    def _get_json(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        """(status, JSON or None), bounded: --request-timeout for the whole exchange, --max-response-mb for the body."""
        with deadline(self.timeout), self.http.stream(method, url, headers={"Accept": "application/json"}, **kwargs) as response:
            body = read_capped(response, self.max_response_bytes)
        try:
            return response.status_code, loads_bounded(body)
        except ValueError:
            return response.status_code, None

    def token_endpoint(self) -> str:
        if self.settings.token_url:
            return self.settings.token_url
        endpoint = self.configuration().token_endpoint
        if not endpoint:
            raise TokenError(f"SMART discovery {self.configuration().url} has no token_endpoint")
        # A relative endpoint breaks SMART-005 (reported by the suites) but should not stop the run.
        return urljoin(self.base_url + "/", endpoint)

    def scopes_for(self, scopes: tuple[str, ...] | list[str] | None = None) -> str:
        """The scope parameter to send: v2 scopes, or their v1 spelling when the server only has v1."""
        wanted = list(scopes or self.settings.scopes)
        try:
            v1_only = self.configuration().v1_only
        except TokenError:
            if not self.settings.token_url:  # without discovery there is no token endpoint either
                raise
            v1_only = False  # token URL configured: discovery is optional
        if v1_only:
            from imgconf.validators.smart import to_v1  # here: the validators package loads the R4 models

            wanted = [to_v1(s) for s in wanted]
        return " ".join(dict.fromkeys(wanted))

    # -- tokens ----------------------------------------------------------------------------
    def token_form(self, scope: str, client_assertion: str, grant_type: str = "client_credentials") -> list[tuple[str, str]]:
        """SMART-010: the form parameters of a token request."""
        return [
            ("scope", scope),
            ("grant_type", grant_type),
            ("client_assertion_type", assertion.ASSERTION_TYPE),
            ("client_assertion", client_assertion),
        ]

    def new_assertion(self, key: SigningKey | None = None) -> str:
        signing = key or self.settings.key()
        if signing is None:
            raise TokenError(f"no signing key configured for client {self.settings.client_id!r}")
        return assertion.build(self.settings.client_id, self.token_endpoint(), signing)

    def token(self, scopes: tuple[str, ...] | list[str] | None = None) -> Token:
        scope = self.scopes_for(scopes)
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is not None and cached.fresh():
                return cached
            token = self._fetch(scope)
            self._tokens[scope] = token
            return token

    def invalidate(self, access_token: str) -> None:
        with self._lock:
            for scope, token in list(self._tokens.items()):
                if token.access_token == access_token:
                    del self._tokens[scope]

    def _fetch(self, scope: str) -> Token:
        url = self.token_endpoint()
        form = self.token_form(scope, self.new_assertion())
        try:
            status, body = self._get_json("POST", url, data=dict(form))
        except httpx.HTTPError as exc:
            raise TokenError(f"token request to {url}: {type(exc).__name__}: {exc}") from None
        self.token_requests += 1
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenError(
                f"token request to {url} for client {self.settings.client_id!r} answered {status}"
                + (f" ({error})" if error else "")
            )
        secret_registry.register(body["access_token"])  # redacted by value from here on, wherever it is echoed
        if isinstance(body.get("refresh_token"), str):
            secret_registry.register(body["refresh_token"])
        expires = body.get("expires_in")
        lifetime = float(expires) if isinstance(expires, (int, float)) and expires > 0 else DEFAULT_EXPIRES_S
        margin = min(RENEW_MARGIN_S, lifetime / 10)
        scope_value = body.get("scope")
        granted = scope_value if isinstance(scope_value, str) else ""
        return Token(body["access_token"], time.monotonic() + lifetime - margin, granted, scope)

    # -- request authentication ------------------------------------------------------------
    def serves(self, url: httpx.URL | str) -> bool:
        """SMART-034: the token goes only to the target itself, never to servers it links to."""
        text = str(url)
        return text == self.base_url or text.startswith((self.base_url + "/", self.base_url + "?"))

    def auth(self, scopes: tuple[str, ...] | list[str] | None = None) -> BearerAuth:
        return BearerAuth(self, tuple(scopes) if scopes else None)


class BearerAuth(httpx.Auth):
    """Adds the cached token; on 401 invalid_token, renews once and retries (the token may have expired early)."""

    def __init__(self, smart: SmartClient, scopes: tuple[str, ...] | None = None) -> None:
        self.smart = smart
        self.scopes = scopes

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.smart.serves(request.url):
            yield request
            return
        token = self.smart.token(self.scopes)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code == 401 and "invalid_token" in response.headers.get("www-authenticate", ""):
            self.smart.invalidate(token.access_token)
            token = self.smart.token(self.scopes)
            request.headers["Authorization"] = f"Bearer {token.access_token}"
            yield request


class StaticBearer(httpx.Auth):
    """A fixed bearer value (the invalid-token negative cases)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.value}"
        yield request

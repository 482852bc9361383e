"""The one httpx.Auth the TargetClient holds: the session's bearer token by default, switched per
request for the negative cases (no token, a token with other scopes, an invalid token)."""

from __future__ import annotations

import contextlib
import contextvars
import secrets
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from imgconf.auth.smart import SmartClient, StaticBearer
from imgconf.validators.smart import split

if TYPE_CHECKING:
    from imgconf.suite.model import AuthOverride

_NO_AUTH = httpx.Auth()  # the base class sends the request unchanged
_override: contextvars.ContextVar[httpx.Auth | None] = contextvars.ContextVar("imgconf_auth_override", default=None)


class RequestAuth(httpx.Auth):
    def __init__(self, smart: SmartClient | None) -> None:
        self.smart = smart
        self.default: httpx.Auth = smart.auth() if smart is not None else _NO_AUTH

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        chosen = _override.get() or self.default
        yield from chosen.auth_flow(request)

    def for_override(self, spec: AuthOverride | None, render: Callable[[str], Any] = str) -> httpx.Auth | None:
        if spec is None:
            return None
        if spec.mode == "none":
            return _NO_AUTH
        if spec.mode == "token":
            # An opaque value no server issued (SMART-031: invalid token → 401 invalid_token).
            return StaticBearer("imgconf-invalid-" + secrets.token_urlsafe(24))
        if self.smart is None:
            return None
        return self.smart.auth(split(" ".join(str(render(s)) for s in spec.scopes)))  # ${variables} allowed

    @contextlib.contextmanager
    def use(self, auth: httpx.Auth | None) -> Iterator[None]:
        """Requests sent inside the block use ``auth`` (None keeps the session default)."""
        reset = _override.set(auth)
        try:
            yield
        finally:
            _override.reset(reset)

    @contextlib.contextmanager
    def override(self, spec: AuthOverride | None, render: Callable[[str], Any] = str) -> Iterator[None]:
        with self.use(self.for_override(spec, render)):
            yield

    def without_token(self) -> contextlib.AbstractContextManager[None]:
        return self.use(_NO_AUTH)

"""Credentials stay with the target: its origin (scheme, host, port) gets them, nothing else does.

- ``split_userinfo``: ``http://alice:pw@host/fhir`` becomes ``http://host/fhir`` plus a Basic
  header; the password is registered as a secret, the URL shown and used as ``${base}`` has none.
- ``OriginGuard``: an httpx request hook. httpx calls it for every request it sends, each redirect
  hop included, after auth has run — so it is the one place where a credential header is removed
  before it could reach another origin (a ``next`` link, an ``attachment.url``, an absolute
  reference, a 30x ``Location``). httpx itself drops only ``Authorization`` on a cross-origin
  redirect; ``X-Api-Key`` and friends would survive it.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterable

import httpx

from imgconf import secret_registry

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    url = httpx.URL(str(url))
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme)


def without_userinfo(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its userinfo, and the Basic ``Authorization`` header made from it (or None)."""
    parsed = httpx.URL(url)
    if not parsed.userinfo:
        return url, None
    user, password = parsed.username, parsed.password
    secret_registry.register(password)
    secret_registry.register(parsed.userinfo.decode("ascii", errors="replace"))  # as written, percent-encoded
    value = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    secret_registry.register_header("Authorization", value)
    return without_userinfo(url), ("Authorization", value)


def shown(url: str | None) -> str | None:
    """A URL as it may be printed or written: without userinfo, without any registered secret."""
    if not url:
        return url
    with contextlib.suppress(httpx.InvalidURL, ValueError):  # not a URL: shown as it is, scrubbed
        url = without_userinfo(url)
    return secret_registry.scrub(url)


class OriginGuard:
    """Remove credential headers from any request that is not for the target's origin."""

    def __init__(self, base_url: str, static_headers: Iterable[tuple[str, str]] = ()) -> None:
        self.origin = origin(base_url)
        self.static = [(name.lower(), value) for name, value in static_headers]
        self.stripped = 0  # how many headers were kept from another origin (tests, evidence)

    def __call__(self, request: httpx.Request) -> None:
        if origin(request.url) == self.origin:
            return
        for name in list(request.headers.keys()):
            value = request.headers.get(name, "")
            lname = name.lower()
            if (lname, value) in self.static or lname == "authorization" or secret_registry.contains_secret(value):
                del request.headers[name]
                self.stripped += 1

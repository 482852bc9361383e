"""The PACS a run cross-checks against: its DICOMweb root and the credentials that go to it alone.

``PacsAccess`` is what ``TargetSession.dicomweb`` holds when a run has a PACS (``--dicomweb URL``, a preset's
``dicomweb`` table, or ``imgconf run --with-pacs orthanc``). The credential (bearer token or Basic user/password,
from the preset's files or environment variables) is registered as a secret when it is read, so every report
redacts it, and it is sent only to the PACS origin: ``PacsAuth`` adds it only to requests for that origin and the
client's :class:`~imgconf.credentials.OriginGuard` removes it from any other request (a redirect elsewhere, a
BulkDataURI or a ``Location`` on another host) — the FHIR target never sees it either.

Read-only by design: the cross-check sends GET requests only; nothing here writes to a PACS.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from imgconf import secret_registry
from imgconf.credentials import OriginGuard, origin, split_userinfo

NO_PACS_REASON = "no DICOMweb PACS given (--dicomweb URL or --with-pacs orthanc)"


def bearer_header(token: str) -> str:
    """``Bearer <token>``, the token and the header registered as secrets."""
    value = f"Bearer {token.strip()}"
    secret_registry.register_header("Authorization", value)
    return value


def basic_header(user: str, password: str) -> str:
    """``Basic <base64(user:password)>``, password and header registered as secrets."""
    secret_registry.register(password)
    value = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    secret_registry.register_header("Authorization", value)
    return value


class PacsAuth(httpx.Auth):
    """Adds the PACS ``Authorization`` header to requests for the PACS origin, never to any other."""

    def __init__(self, root: str, authorization: str) -> None:
        self.origin = origin(root)
        self.authorization = authorization

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin(request.url) == self.origin:
            request.headers["Authorization"] = self.authorization
        yield request


@dataclass(frozen=True)
class PacsAccess:
    """``root``: the DICOMweb root without trailing slash (what ``${pacs.dicomweb}`` is); ``authorization``:
    the ``Authorization`` header value for the PACS (None: no credentials); ``source``: where it came from."""

    root: str
    authorization: str | None = None
    source: str = "command line"

    @classmethod
    def from_url(cls, url: str, *, authorization: str | None = None, source: str = "command line") -> PacsAccess:
        """A root as the user wrote it: userinfo in the URL becomes Basic credentials (never shown), the
        trailing slash goes (an Endpoint.address has none, IS-041)."""
        bare, header = split_userinfo(url.strip())
        if header is not None and authorization is None:
            authorization = header[1]
        return cls(root=bare.rstrip("/"), authorization=authorization, source=source)

    @property
    def auth(self) -> httpx.Auth | None:
        return PacsAuth(self.root, self.authorization) if self.authorization else None

    @property
    def auth_description(self) -> str:
        """For reports: the kind of credential, never its value."""
        if not self.authorization:
            return "none"
        return f"{self.authorization.partition(' ')[0]} ({self.source})"

    def client(self, *, timeout: float = 30.0, verify: bool = True) -> httpx.Client:
        """An httpx client for the PACS: credentials on PACS-origin requests only, redirects not followed
        (a cross-check judges what the PACS answers, and a redirect elsewhere must not carry them)."""
        static = [("Authorization", self.authorization)] if self.authorization else []
        guard = OriginGuard(self.root, static)
        return httpx.Client(auth=self.auth, timeout=timeout, verify=verify, follow_redirects=False,
                            event_hooks={"request": [guard]})


def resolve(url: str | None, preset: PacsAccess | None) -> PacsAccess | None:
    """The run's PACS: the ``dicomweb`` option's URL (command line, else the preset's), with the preset's
    credentials only when that URL has the preset PACS's origin — a URL given for another PACS never gets them."""
    if not url:
        return preset
    access = PacsAccess.from_url(url)
    if preset is not None and access.authorization is None and origin(access.root) == origin(preset.root):
        return PacsAccess(root=access.root, authorization=preset.authorization, source=preset.source)
    return access

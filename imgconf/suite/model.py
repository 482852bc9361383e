"""The in-memory shape of a suite after loading and validation (see schema.json for the YAML)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgconf.results import Level


@dataclass(frozen=True)
class AuthOverride:
    """``request.auth``: none (no token), scopes (a separate token with these scopes), token (invalid)."""

    mode: str  # "none" | "scopes" | "token"
    scopes: tuple[str, ...] = ()
    token: str | None = None


@dataclass(frozen=True)
class TokenRequest:
    """``request.token``: a token-endpoint request the harness builds (imgconf.auth.token_request)."""

    scope: str | None = None
    grant_type: str = "client_credentials"
    assertion: str = "valid"  # or a defect name from imgconf.auth.assertion.DEFECTS
    alg: str | None = None
    assertion_type: str | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: tuple[tuple[str, Any], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = None
    has_json: bool = False
    form: tuple[tuple[str, Any], ...] = ()
    body: str | None = None
    tag: bool = True
    auth: AuthOverride | None = None
    token: TokenRequest | None = None

    @property
    def writes(self) -> bool:
        if self.token is not None:  # a token request changes no data
            return False
        if self.method in ("PUT", "PATCH", "DELETE"):
            return True
        # POST [type]/_search is a read; any other POST creates something.
        return self.method == "POST" and not self.path.rstrip("/").endswith("_search")


@dataclass(frozen=True)
class HeaderExpectation:
    name: str
    present: bool | None = None
    equals: str | None = None
    contains: str | None = None
    matches: str | None = None
    requirement: tuple[str, ...] = ()
    level: Level | None = None


@dataclass(frozen=True)
class Expect:
    """The engine's core (status, headers, resourceType, on_status) and the check kinds asked for."""

    status: tuple[int, ...] = ()
    headers: tuple[HeaderExpectation, ...] = ()
    resource: str | None = None
    # Kind key → its parsed spec (imgconf.checks.registry: structure, fhirpath, search, …).
    checks: Mapping[str, Any] = field(default_factory=dict)
    # Alternatives by the status the server chose: (status, expectations judged only then).
    on_status: tuple[tuple[int, Expect], ...] = ()

    def branch(self, status: int) -> Expect | None:
        return dict(self.on_status).get(status)

    def spec(self, key: str) -> Any:
        """The parsed spec of one check kind (e.g. ``expect.spec("search")``), None when not asked for."""
        return self.checks.get(key)


@dataclass(frozen=True)
class Save:
    name: str
    fhirpath: str | None = None
    header: str | None = None
    location_id: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    request: Request
    expect: Expect
    save: tuple[Save, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    requirements: tuple[str, ...]
    level: Level
    tags: tuple[str, ...]
    steps: tuple[Step, ...]
    line: int
    level_reason: str | None = None  # the clause that makes the case stricter than a requirement it cites
    id: str | None = None  # stable slug from the suite (``id:``); None in a third-party suite without ids

    @property
    def key(self) -> str:
        """What baselines, ``imgconf compare`` and node ids match the case by: its id, else its name."""
        return self.id or self.name

    @property
    def writes(self) -> bool:
        return any(step.request.writes for step in self.steps)

    def uses_variables(self) -> set[str]:
        from imgconf.suite.template import variables_in

        names: set[str] = set()
        for step in self.steps:
            names |= variables_in(step.request)
        return names

    def saves(self) -> set[str]:
        return {s.name for step in self.steps for s in step.save}


@dataclass(frozen=True)
class Suite:
    id: str
    title: str
    description: str
    area: str
    requirements: tuple[str, ...]
    level: Level
    fixtures: tuple[str, ...]
    variables: dict[str, Any]
    cases: tuple[Case, ...]
    path: Path
    writes: bool = field(default=True)
    requires: tuple[str, ...] = ()  # what the run must be given besides the target: "dicomweb" (a PACS)

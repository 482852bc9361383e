"""What every check gets (the response and the case's defaults) and how it reports a verdict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imgconf.fhirpath import environment_names
from imgconf.results import CheckResult, Level, Verdict

if TYPE_CHECKING:  # annotations only: a kind module stays cheap to import (the loader imports them all)
    from imgconf.client import HttpResult
    from imgconf.session import TargetSession
    from imgconf.suite.model import Request


class CheckFailure(AssertionError):
    """A target that does not meet a mandatory requirement (allure shows it as failed, not broken)."""


@dataclass
class CheckContext:
    response: HttpResult
    request: Request
    exchange: int  # index of the response's exchange in the case evidence
    requirements: tuple[str, ...]
    level: Level
    variables: Mapping[str, Any]  # fixed values, for callers without a session (e.g. unit tests)
    session: TargetSession | None = None
    lookup: Callable[[str], Any] | None = None  # the run's namespace: saved, suite, fixture, uid, …
    sent_form: list[tuple[str, str]] = field(default_factory=list)  # a POST _search body, as sent
    extra_exchanges: list[Any] = field(default_factory=list)  # pages fetched by the search oracle
    observations: dict[str, Any] = field(default_factory=dict)  # what a check saw, for callers that show it (fuzz)
    # References the search oracle read (reference -> resource or None). None: one cache per check. A caller
    # judging many searches over data that does not change meanwhile (imgconf fuzz) shares one.
    resolved: dict[str, Any] | None = None

    def value(self, name: str) -> Any:
        """A variable's value; raises MissingVariable/KeyError when it has none."""
        return self.lookup(name) if self.lookup is not None else self.variables[name]

    def fhirpath_env(self, expression: str) -> dict[str, Any]:
        """The %variables one FHIRPath expression reads (fhirpathpy needs them up front)."""
        names = environment_names(expression)
        if self.lookup is not None:
            return {name: self.lookup(name) for name in names}
        return {name: self.variables[name] for name in names if name in self.variables}

    def result(
        self,
        check: str,
        ok: bool,
        reason: str,
        *,
        detail: str = "",
        requirement: tuple[str, ...] = (),
        level: Level | None = None,
        exchange: int | None = None,
    ) -> CheckResult:
        lvl = level or self.level
        return CheckResult(
            check=check,
            requirement=list(requirement or self.requirements),
            level=lvl,
            verdict=Verdict.PASS if ok else Verdict.for_failure(lvl),
            reason=reason,
            detail=detail,
            exchange=self.exchange if exchange is None else exchange,
        )


def describe(resource: Any) -> str:
    """``ImagingStudy/abc`` for messages; a Bundle without id says its type and size."""
    if not isinstance(resource, dict):
        return "the response body"
    rtype = resource.get("resourceType", "?")
    if resource.get("id"):
        return f"{rtype}/{resource['id']}"
    if rtype == "Bundle":
        return f"Bundle ({resource.get('type', 'no type')}, {len(resource.get('entry') or [])} entries)"
    return str(rtype)


def short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

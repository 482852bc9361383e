"""What every check gets (the response and the case's defaults) and how it reports a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imgconf.client import HttpResult
from imgconf.results import CheckResult, Level, Verdict

if TYPE_CHECKING:
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
    variables: dict[str, Any]
    session: TargetSession | None = None
    sent_form: list[tuple[str, str]] = field(default_factory=list)  # a POST _search body, as sent
    extra_exchanges: list[Any] = field(default_factory=list)  # pages fetched by the search oracle

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

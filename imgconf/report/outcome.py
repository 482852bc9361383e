"""The run's outcome word, chosen so that it cannot mislead.

PASS is said only of a complete run of every case in which nothing failed. A run of a selection
(suites, ``-m``, ``-k``, ``--read-only``) that passed is PARTIAL; a run in which the harness could not
reach the target for some cases is INCOMPLETE, with the shared cause named; a SHALL failure is FAIL
whatever else happened; an interrupted run is INTERRUPTED (imgconf.interruption).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from imgconf.results import CaseResult, Verdict

PASS, FAIL, PARTIAL, INCOMPLETE, INTERRUPTED = "pass", "fail", "partial", "incomplete", "interrupted"

# After this many cases in a row that could not even connect, the rest are not tried (a dead target
# otherwise costs every case its full connect timeout).
UNREACHABLE_AFTER = 5
NOT_RUN_UNREACHABLE = "not run: target unreachable"


def selection_of(config: Any) -> dict[str, Any]:
    """What narrowed this run, from pytest's options; empty when every case was eligible."""
    out: dict[str, Any] = {}
    from imgconf import options

    if suites := list(options.get(config, "suite")):
        out["suites"] = suites
    if marker := config.getoption("markexpr", None):
        out["marker"] = marker
    if keyword := config.getoption("keyword", None):
        out["keyword"] = keyword
    if options.get(config, "read_only"):
        out["read_only"] = True
    return out


def describe_selection(selection: dict[str, Any]) -> str:
    parts = []
    if selection.get("suites"):
        parts.append("suites " + ", ".join(selection["suites"]))
    if selection.get("marker"):
        parts.append(f"-m {selection['marker']!r}")
    if selection.get("keyword"):
        parts.append(f"-k {selection['keyword']!r}")
    if selection.get("read_only"):
        parts.append("--read-only")
    if selection.get("fuzz_only"):
        parts.append("imgconf fuzz only, no suite")
    return "; ".join(parts)


def is_connect_failure(case: CaseResult) -> bool:
    """The case ended because the target could not be connected to (not a slow or odd answer)."""
    if not case.error or not case.exchanges:
        return False
    last = case.exchanges[-1]
    return last.status is None and last.error is not None and last.error.split(":", 1)[0] in (
        "ConnectError", "ConnectTimeout", "ProxyError",
    )


@dataclass
class UnreachableGuard:
    """Counts consecutive connection failures; once tripped, the remaining cases are not run."""

    limit: int = UNREACHABLE_AFTER
    streak: int = 0
    cause: str = ""

    @property
    def tripped(self) -> bool:
        return self.streak >= self.limit

    def observe(self, case: CaseResult) -> None:
        if is_connect_failure(case):
            self.streak += 1
            self.cause = case.exchanges[-1].error or ""
        elif case.verdict is not Verdict.SKIP:
            self.streak = 0

    def not_run_reason(self) -> str:
        return f"{NOT_RUN_UNREACHABLE} ({self.limit} cases in a row could not connect: {self.cause})"


_URL = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+\S+:?\s*|https?://\S+")


_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Timeout|Exception)\b:.*")


def cause_key(message: str) -> str:
    """An error message without the request line or fixture name, so one cause behind many URLs reads as one."""
    if found := _EXCEPTION.search(message):
        return found.group(0).strip()
    text = _URL.sub("", message).strip(" :")
    return text.removeprefix("setup: ").strip() or message


def incomplete_record(cases: list[CaseResult]) -> dict[str, Any] | None:
    """``{"cause", "cases_with_cause", "errors", "not_run_unreachable"}``, or None when nothing errored."""
    errors = [c for c in cases if c.verdict is Verdict.ERROR]
    not_run = [c for c in cases if (c.skipped_reason or "").startswith(NOT_RUN_UNREACHABLE)]
    if not errors and not not_run:
        return None
    causes = Counter(cause_key(c.error or "") for c in errors)
    cause, count = causes.most_common(1)[0] if causes else ("target unreachable", 0)
    return {
        "cause": cause,
        "cases_with_cause": count,
        "errors": len(errors),
        "not_run_unreachable": len(not_run),
    }


def decide(cases: list[CaseResult], *, selection: dict[str, Any], interrupted: bool, strict_should: bool = False) -> str:
    if interrupted:
        return INTERRUPTED
    failing = {Verdict.FAIL, Verdict.WARN} if strict_should else {Verdict.FAIL}  # as the exit status counts
    if any(ch.verdict in failing for c in cases for ch in c.checks):
        return FAIL
    if incomplete_record(cases) is not None:
        return INCOMPLETE
    return PARTIAL if selection else PASS

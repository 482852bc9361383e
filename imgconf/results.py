"""The result model every part of the harness speaks: checks, exchanges, cases and the run.

All records are plain dataclasses that round-trip through JSON, because results travel from
pytest-xdist workers to the controller and end up in ``summary.json`` and the HTML report.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Level(str, enum.Enum):
    """Conformance level of a requirement (RFC 2119 words as the catalogue uses them)."""

    SHALL = "SHALL"
    SHALL_NOT = "SHALL NOT"
    SHOULD = "SHOULD"
    SHOULD_NOT = "SHOULD NOT"
    MAY = "MAY"
    INFO = "INFO"

    @property
    def is_mandatory(self) -> bool:
        return self in (Level.SHALL, Level.SHALL_NOT)

    @property
    def is_recommended(self) -> bool:
        return self in (Level.SHOULD, Level.SHOULD_NOT)


class Verdict(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"  # a SHALL check the target does not meet
    WARN = "warn"  # a SHOULD check the target does not meet
    INFO = "info"  # a MAY/INFO observation, never a failure
    SKIP = "skip"  # not run: prerequisite missing, not declared, deselected dependency
    NOT_JUDGED = "not-judged"  # needed a response an earlier check of the same case already failed on
    ERROR = "error"  # infrastructure: connection refused, timeout — not the target's conformance

    @classmethod
    def for_failure(cls, level: Level) -> Verdict:
        if level.is_mandatory:
            return cls.FAIL
        if level.is_recommended:
            return cls.WARN
        return cls.INFO


VERDICT_SEVERITY = {
    Verdict.PASS: 0,
    Verdict.SKIP: 1,
    Verdict.NOT_JUDGED: 1,
    Verdict.INFO: 2,
    Verdict.WARN: 3,
    Verdict.FAIL: 4,
    Verdict.ERROR: 5,
}


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=VERDICT_SEVERITY.__getitem__, default=Verdict.PASS)


@dataclass
class Exchange:
    """One HTTP request and its response, already redacted, kept as evidence."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None
    response_headers: dict[str, str]
    response_body: str | None
    elapsed_ms: float
    error: str | None = None  # transport error instead of a response

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives (copies of the header dicts) without its generic recursive copy,
        # the costliest part of turning a result into a dict (done at least twice per case).
        return {"method": self.method, "url": self.url, "request_headers": dict(self.request_headers),
                "request_body": self.request_body, "status": self.status,
                "response_headers": dict(self.response_headers), "response_body": self.response_body,
                "elapsed_ms": self.elapsed_ms, "error": self.error}


@dataclass
class CheckResult:
    """The verdict of one expectation of one case."""

    check: str  # e.g. "status", "fhirpath", "search", "structure", "rule"
    requirement: list[str]
    level: Level
    verdict: Verdict
    reason: str
    detail: str = ""  # the expression, the expected value, a location
    exchange: int | None = None  # index into CaseResult.exchanges
    # FHIRPath-style paths into that exchange's response body the check found wanting (validator
    # findings know them); the HTML report marks them in the evidence. Empty when the check cannot say.
    locations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "requirement": list(self.requirement), "level": self.level.value,
                "verdict": self.verdict.value, "reason": self.reason, "detail": self.detail,
                "exchange": self.exchange, "locations": list(self.locations)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(**{**d, "level": Level(d["level"]), "verdict": Verdict(d["verdict"])})


@dataclass
class CaseResult:
    """All checks of one suite case, with the exchanges they judged."""

    suite_id: str
    suite: str
    case: str
    nodeid: str
    area: str
    requirement: list[str]
    level: Level
    checks: list[CheckResult] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    skipped_reason: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    level_reason: str | None = None  # the clause that makes the case stricter than a requirement it cites
    case_id: str | None = None  # the suite's stable case id (None: a suite without ids, a summary from before ids)

    @property
    def key(self) -> str:
        """What baselines and ``imgconf compare`` match the case by: its id, else its name."""
        return self.case_id or self.case

    @property
    def verdict(self) -> Verdict:
        if self.error:
            return Verdict.ERROR
        if self.skipped_reason is not None and not self.checks:
            return Verdict.SKIP
        return worst([c.verdict for c in self.checks])

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite_id": self.suite_id,
            "suite": self.suite,
            "case": self.case,
            "case_id": self.case_id,
            "nodeid": self.nodeid,
            "area": self.area,
            "requirement": self.requirement,
            "level": self.level.value,
            "verdict": self.verdict.value,
            "checks": [c.to_dict() for c in self.checks],
            "exchanges": [e.to_dict() for e in self.exchanges],
            "skipped_reason": self.skipped_reason,
            "error": self.error,
            "duration_s": round(self.duration_s, 4),
            "level_reason": self.level_reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseResult:
        return cls(
            suite_id=d["suite_id"],
            suite=d["suite"],
            case=d["case"],
            nodeid=d["nodeid"],
            area=d["area"],
            requirement=list(d["requirement"]),
            level=Level(d["level"]),
            checks=[CheckResult.from_dict(c) for c in d["checks"]],
            exchanges=[Exchange(**e) for e in d["exchanges"]],
            skipped_reason=d.get("skipped_reason"),
            error=d.get("error"),
            duration_s=d.get("duration_s", 0.0),
            level_reason=d.get("level_reason"),
            case_id=d.get("case_id"),
        )


@dataclass
class RunInfo:
    """What a conformance certificate names: who was tested, with what, when."""

    target_url: str
    embedded: bool
    server_software: str
    server_version: str
    fhir_version: str
    harness_version: str
    edition: str
    started_at: str  # ISO 8601 UTC
    finished_at: str = ""
    duration_s: float = 0.0
    tls_verify: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

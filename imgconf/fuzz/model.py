"""The shared vocabulary of `imgconf fuzz`: a generated query, a defect, a shrunk finding, a run.

Generator (strategies.py), runner (runner.py), reports, baseline and the mutation run all speak
these types; nothing here imports Hypothesis or httpx.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode


@dataclass(frozen=True)
class FuzzQuery:
    """One R4 search: ``[compartment/]type?params`` (decoded pairs, in the order sent)."""

    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    compartment: tuple[str, str] | None = None  # ("Patient", id): Patient/<id>/<type>
    method: Literal["GET", "POST"] = "GET"  # POST: [type]/_search with the params as a form body

    @property
    def path(self) -> str:
        if self.compartment:
            return f"{self.compartment[0]}/{self.compartment[1]}/{self.resource_type}"
        return f"{self.resource_type}/_search" if self.method == "POST" else self.resource_type

    @property
    def query_string(self) -> str:
        return urlencode(list(self.params))

    def display(self) -> str:
        """What a person pastes after the base URL to reproduce it."""
        where = "POST " if self.method == "POST" else ""
        return f"{where}{self.path}?{self.query_string}" if self.params else f"{where}{self.path}"

    def to_json(self) -> dict[str, Any]:
        return {"resource_type": self.resource_type, "params": [list(p) for p in self.params],
                "compartment": list(self.compartment) if self.compartment else None, "method": self.method,
                "display": self.display()}


@dataclass(frozen=True)
class Defect:
    """What one failing oracle check says about one query."""

    kind: str  # precision | recall | order | total | paging | status | self-link | include | shape
    requirement: tuple[str, ...]  # catalogue ids the failing check cites
    level: str  # SHALL | SHOULD (the cited requirement's level; MAY/INFO are never findings)
    message: str


@dataclass
class FuzzFinding:
    """A shrunk, deduplicated failure: one per cause (parameter x modifier/prefix x defect)."""

    cause: str  # e.g. "ImagingStudy started:ge precision"; the dedupe key
    shape: str  # the shrunk query's shape (names, modifiers, prefixes, value kinds): the baseline key
    query: FuzzQuery  # the shrunk query
    defect: Defect
    expected_ids: list[str] = field(default_factory=list)  # fixtures' ids the oracle expects (recall)
    actual_ids: list[str] = field(default_factory=list)  # ids the server returned (all pages)
    seed: int = 0  # `imgconf fuzz --seed <seed>` reproduces the run that found it
    occurrences: int = 1  # generated queries with this cause before shrinking
    evidence: list[dict[str, Any]] = field(default_factory=list)  # redacted exchanges of the shrunk query
    known: str | None = None  # the baseline's reason, when a baseline accepts this shape

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["query"] = self.query.to_json()
        return data


@dataclass
class FuzzRun:
    """Everything one `imgconf fuzz` run did and found (summary.json's ``fuzz`` section)."""

    target: str
    resource_types: list[str]
    seed: int
    budget: int | None
    seconds: float | None
    per_type: bool = False  # the budget was each resource type's (imgconf fuzz --per-type), not shared by them
    queries: int = 0  # queries sent and judged
    not_judged: int = 0  # refused (4xx) or otherwise not judgeable queries
    queries_per_type: dict[str, int] = field(default_factory=dict)  # generated queries (judged or not) per type
    duration_s: float = 0.0
    restricted_to_capability: bool = True  # generation kept to what the CapabilityStatement declares
    left_out: dict[str, list[str]] = field(default_factory=dict)  # type -> parameters not generated, and why
    # IHE actors the target was judged as (imgconf.fuzz.actors): their parameters are never leniently ignored
    actors: list[str] = field(default_factory=list)
    actors_named: bool = False  # named by the run (--actor), not read from the CapabilityStatement
    findings: list[FuzzFinding] = field(default_factory=list)
    # How `imgconf fuzz` chose the target, for the reproduce command in reports: "--with-target medplum",
    # "--target URL", "" for the embedded server; None (unknown): the reports say `--target <target>`.
    target_args: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings"] = [f.to_json() for f in self.findings]
        return data

"""Known failures (``--baseline FILE``): a run fails only on regressions and on stale entries.

A baseline is a YAML or JSON list of the failures a team has accepted for now, each with the
reason. The run then fails only when

- a check fails that no entry covers (a regression), or
- an entry covers nothing that failed although its case ran (stale: the server improved — remove
  the entry, so the baseline only ever shrinks).

Entries::

    - case_id: imagingstudy-crud::read-after-delete-gives-410-gone   # suite-id::case-id (the case's ``id:``)
      case: imagingstudy-crud::read after delete gives 410 Gone       # optional: the case's name, for the reader
      check: status            # optional: the check kind (status, header, fhirpath, search, error, …)
      requirement: REST-013    # optional: one id or a list; matches a check citing any of them
      reason: the server forgets deleted resources   # mandatory, never empty
      clause: 'R4 http.html#delete: "…410 Gone…"'    # optional: the spec text that makes it a deviation

``imgconf run --write-baseline FILE`` writes one from a run with empty reasons, which the loader
refuses until someone has written down why each failure is acceptable.

Matching: an entry with ``case_id`` covers the case with that suite id and case id, whatever the
case is called today — rewording a case's name changes nothing. An entry with only ``case``
(a baseline written before case ids, or a suite whose cases have no ``id:``) is matched the old
way, by ``suite-id::case name`` or by a pytest node id spelled with the case name; it keeps working
until the case is renamed. ``tools/migrate_baseline_ids.py FILE`` adds the ``case_id`` of every such
entry from the bundled suites.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imgconf.jsonsafe import loads_bounded
from imgconf.localinput import MAX_BASELINE_BYTES, LocalInputError, read_capped, safe_yaml
from imgconf.results import CaseResult, Verdict

_KNOWN_KEYS = {"case_id", "case", "check", "requirement", "reason", "clause", "observed"}
_CASE_ID = re.compile(r"^[^\s:]+::[a-z0-9][a-z0-9._-]{0,79}$")  # suite id :: case id (suite/schema.json caseId)
ERROR_CHECK = "error"  # the pseudo check kind of a case that ended in an infrastructure error


class BaselineError(ValueError):
    """The baseline file cannot be used (unreadable, malformed, or an entry without a reason)."""


@dataclass(frozen=True)
class Entry:
    case: str  # suite-id::case name (or a node id): the matching key of an entry without case_id, else a note
    reason: str
    check: str | None = None
    requirements: tuple[str, ...] = ()
    index: int = 0  # position in the file, for messages
    clause: str | None = None  # the spec text that makes the failure a deviation (an adjudication record)
    case_id: str | None = None  # suite-id::case-id: when given, the only thing the entry is matched by

    def label(self) -> str:
        parts = [self.case_id or self.case]
        if self.check:
            parts.append(f"check {self.check}")
        if self.requirements:
            parts.append("/".join(self.requirements))
        return " · ".join(parts)

    def matches_case(self, case: CaseResult) -> bool:
        if self.case_id is not None:
            return self.case_id == f"{case.suite_id}::{case.key}"
        # By name (entries written before case ids): suite-id::name, or a node id spelled with the name.
        named_nodeid = case.nodeid.rpartition("::")[0] + "::" + case.case
        if self.case in (f"{case.suite_id}::{case.case}", case.nodeid, named_nodeid):
            return True
        return case.nodeid.endswith("/" + self.case) or named_nodeid.endswith("/" + self.case)

    def matches(self, case: CaseResult, failure: Failure) -> bool:
        if not self.matches_case(case):
            return False
        if self.check and self.check != failure.check:
            return False
        return not self.requirements or bool(set(self.requirements) & set(failure.requirements))


@dataclass(frozen=True)
class Failure:
    """One failing check of one case (or the case's infrastructure error)."""

    case_key: str  # suite-id::case-id (suite-id::name for a case without an id)
    check: str
    requirements: tuple[str, ...]
    verdict: str
    reason: str
    case_name: str = ""  # the case's prose name, for the reader

    def label(self) -> str:
        named = self.case_name and not self.case_key.endswith("::" + self.case_name)
        return f"{self.case_key} ({self.case_name})" if named else self.case_key


@dataclass
class Comparison:
    regressions: list[Failure] = field(default_factory=list)
    stale: list[Entry] = field(default_factory=list)
    known: list[tuple[Failure, Entry]] = field(default_factory=list)
    not_run: list[Entry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.stale

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": "pass" if self.ok else "fail",
            "regressions": [vars(f) | {"requirements": list(f.requirements)} for f in self.regressions],
            "stale": [{"entry": e.label(), "reason": e.reason, "message": "stale: the case now passes — remove this entry"}
                      for e in self.stale],
            "known": [{"failure": f.case_key + " · " + f.check, "entry": e.label()} for f, e in self.known],
            "not_run": [e.label() for e in self.not_run],
        }

    def lines(self) -> list[str]:
        stale = f"{len(self.stale)} stale entr{'y' if len(self.stale) == 1 else 'ies'}"
        out = [f"baseline: {len(self.known)} known failure(s), {len(self.regressions)} regression(s), {stale}, {len(self.not_run)} not run"]
        for f in self.regressions:
            out.append(f"  REGRESSION {f.label()} · {f.check} [{', '.join(f.requirements)}]: {f.reason}")
        for e in self.stale:
            out.append(f"  STALE (entry {e.index + 1}) {e.label()}: nothing fails any more — remove it from the baseline")
        return out


# -- loading ---------------------------------------------------------------------------------

def read_baseline_text(path: Path, error: type[Exception], what: str = "baseline") -> str:
    """A baseline file's text, within the size cap; ``error`` (naming the file) when it cannot be read."""
    try:
        return read_capped(path, MAX_BASELINE_BYTES, "baseline")
    except LocalInputError as exc:
        raise error(str(exc)) from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from None


def load_baseline(path: Path) -> list[Entry]:
    text = read_baseline_text(path, BaselineError)
    try:
        data = loads_bounded(text) if path.suffix == ".json" else safe_yaml(path, text)
    except LocalInputError as exc:
        raise BaselineError(str(exc)) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise BaselineError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("known_failures")
    if data is None:
        return []
    if not isinstance(data, list):
        raise BaselineError(f"{path}: expected a list of entries (or a mapping with known_failures)")
    return [_entry(path, i, raw) for i, raw in enumerate(data)]


def _entry(path: Path, index: int, raw: Any) -> Entry:
    where = f"{path}: entry {index + 1}"
    if not isinstance(raw, dict):
        raise BaselineError(f"{where}: expected a mapping with case_id and reason")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise BaselineError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    case_id = raw.get("case_id")
    if case_id is not None and (not isinstance(case_id, str) or not _CASE_ID.match(case_id.strip())):
        raise BaselineError(f"{where}: 'case_id' {case_id!r} is not suite-id::case-id (the suite's id and the case's id: key)")
    case = raw.get("case", case_id)
    if not isinstance(case, str) or not case.strip():
        raise BaselineError(f"{where}: 'case_id' is missing (suite-id::case-id; or, before case ids, "
                            "'case': suite-id::case name)")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BaselineError(f"{where} ({case}): 'reason' is empty — write down why this failure is accepted")
    requirement = raw.get("requirement") or ()
    requirements = (requirement,) if isinstance(requirement, str) else tuple(str(r) for r in requirement)
    check = raw.get("check")
    clause = raw.get("clause")
    if clause is not None and (not isinstance(clause, str) or not clause.strip()):
        raise BaselineError(f"{where} ({case}): 'clause' is empty — quote the spec text, or leave the key out")
    return Entry(case=case.strip(), reason=reason.strip(), check=str(check) if check else None, requirements=requirements,
                 index=index, clause=clause.strip() if clause else None, case_id=case_id.strip() if case_id else None)


# -- comparing -------------------------------------------------------------------------------

def failures_of(case: CaseResult, *, strict_should: bool = False) -> list[Failure]:
    """What a baseline must account for in one case; warnings too (entries may cover them)."""
    key = f"{case.suite_id}::{case.key}"
    if case.verdict is Verdict.ERROR:
        return [Failure(key, ERROR_CHECK, tuple(case.requirement), "error", case.error or "infrastructure error", case.case)]
    return [
        Failure(key, c.check, tuple(c.requirement), c.verdict.value, c.reason, case.case)
        for c in case.checks
        if c.verdict is Verdict.FAIL or c.verdict is Verdict.WARN
    ]


def compare(entries: list[Entry], cases: Iterable[CaseResult], *, strict_should: bool = False) -> Comparison:
    result = Comparison()
    used: set[int] = set()
    ran: set[int] = set()
    for case in cases:
        ran_here = [e for e in entries if e.matches_case(case)]
        if case.verdict is not Verdict.SKIP:
            ran.update(e.index for e in ran_here)
        for failure in failures_of(case, strict_should=strict_should):
            entry = next((e for e in ran_here if e.matches(case, failure)), None)
            if entry is not None:
                used.add(entry.index)
                result.known.append((failure, entry))
            elif failure.verdict != "warn" or strict_should:
                result.regressions.append(failure)
    for entry in entries:
        if entry.index in used:
            continue
        (result.stale if entry.index in ran else result.not_run).append(entry)
    return result


# -- writing ---------------------------------------------------------------------------------

PLACEHOLDER_HEADER = (
    "# Known failures for `imgconf run --baseline`. Written by --write-baseline: every reason is\n"
    "# empty on purpose — the baseline is refused until each one says why the failure is accepted.\n"
)


def baseline_from(cases: Iterable[CaseResult], *, strict_should: bool = False) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for case in cases:
        for failure in failures_of(case, strict_should=strict_should):
            key = {"case_id": failure.case_key} if case.case_id else {}  # a case without an id: by name
            entry = grouped.setdefault((failure.case_key, failure.check), key | {
                "case": f"{case.suite_id}::{case.case}", "check": failure.check, "requirement": [], "reason": "",
                "observed": failure.reason,
            })
            entry["requirement"] = sorted(set(entry["requirement"]) | set(failure.requirements))
    return list(grouped.values())


def write_baseline(path: Path, cases: Iterable[CaseResult], *, strict_should: bool = False) -> int:
    entries = baseline_from(cases, strict_should=strict_should)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    else:
        body = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=110) if entries else "[]\n"
        path.write_text(PLACEHOLDER_HEADER + body, encoding="utf-8")
    return len(entries)

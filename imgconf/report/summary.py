"""summary.json: totals, per-requirement verdicts, a flat check list, findings and coverage gaps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgconf import catalogue
from imgconf.report import outcome as outcomes
from imgconf.report.indented import indented_json
from imgconf.report.redact import redact_text
from imgconf.results import CaseResult, CheckResult, Level, RunInfo, Verdict, worst

SUMMARY_VERSION = 1
VERDICTS: tuple[Verdict, ...] = (
    Verdict.PASS, Verdict.FAIL, Verdict.WARN, Verdict.INFO, Verdict.SKIP, Verdict.NOT_JUDGED, Verdict.ERROR,
)
LEVELS: tuple[Level, ...] = tuple(Level)


@dataclass
class Entry:
    """One judgement filed under a requirement: a check, or a case that produced no checks."""

    case: CaseResult
    check: CheckResult | None  # None: the case was skipped or errored before any check ran

    @property
    def verdict(self) -> Verdict:
        return self.check.verdict if self.check else self.case.verdict

    @property
    def level(self) -> Level:
        return self.check.level if self.check else self.case.level

    @property
    def reason(self) -> str:
        if self.check:
            return self.check.reason
        return self.case.error or self.case.skipped_reason or ""


@dataclass
class Group:
    """Everything reported against one requirement or finding id."""

    id: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return worst([e.verdict for e in self.entries])

    def counts(self) -> dict[str, int]:
        return count_verdicts(e.verdict for e in self.entries)

    def nodeids(self) -> list[str]:
        return sorted({e.case.nodeid for e in self.entries})


def count_verdicts(verdicts: Iterable[Verdict]) -> dict[str, int]:
    out = {v.value: 0 for v in VERDICTS}
    for v in verdicts:
        out[v.value] += 1
    return out


def sort_cases(cases: list[CaseResult]) -> list[CaseResult]:
    # Workers finish in any order; sort so two runs of the same suite give the same file.
    return sorted(cases, key=lambda c: (c.suite_id, c.nodeid, c.case))


def cited_ids(case: CaseResult, check: CheckResult) -> list[str]:
    """Ids a check reports against; a check that names none inherits its case's."""
    return list(dict.fromkeys(check.requirement or case.requirement))


def _sort_key(ref: str) -> tuple[int, int, str]:
    req = catalogue.get(ref)
    if req is not None:
        return (0, req.order, ref)
    finding = catalogue.get_finding(ref)
    if finding is not None:
        return (1, finding.order, ref)
    return (2, 0, ref)  # unknown ids last, alphabetically


def group_by_id(cases: list[CaseResult]) -> tuple[list[Group], list[Group]]:
    """(requirement groups, finding groups), each in catalogue order."""
    groups: dict[str, Group] = {}
    for case in sort_cases(cases):
        if not case.checks and case.verdict in (Verdict.SKIP, Verdict.ERROR):
            for ref in dict.fromkeys(case.requirement):
                groups.setdefault(ref, Group(ref)).entries.append(Entry(case, None))
        for check in case.checks:
            for ref in cited_ids(case, check):
                groups.setdefault(ref, Group(ref)).entries.append(Entry(case, check))
    ordered = [groups[k] for k in sorted(groups, key=_sort_key)]
    reqs = [g for g in ordered if not catalogue.is_finding(g.id)]
    # A finding is reported by a check that ran, not by a case that was skipped or could not connect.
    finds = [g for g in ordered if catalogue.is_finding(g.id) and any(e.check is not None for e in g.entries)]
    return reqs, finds


def coverage_gaps(cases: list[CaseResult]) -> tuple[list[str], int]:
    """Mandatory (SHALL / SHALL NOT) V- or S-testable requirements no check cited, and the scope size."""
    cited = {ref for case in cases for check in case.checks for ref in cited_ids(case, check)}
    scope = [
        r for r in catalogue.requirements().values()
        if r.level.is_mandatory and r.test_kinds & {"V", "S"}
    ]
    return [r.id for r in scope if r.id not in cited], len(scope)


def outcome(cases: list[CaseResult], selection: dict[str, Any] | None = None, interrupted: bool = False,
            strict_should: bool = False) -> str:
    """pass, fail, partial, incomplete or interrupted (imgconf.report.outcome says when)."""
    return outcomes.decide(cases, selection=selection or {}, interrupted=interrupted, strict_should=strict_should)


def totals(cases: list[CaseResult], req_groups: list[Group]) -> dict[str, Any]:
    checks = [ch for c in cases for ch in c.checks]
    by_level = {
        lvl.value: count_verdicts(ch.verdict for ch in checks if ch.level == lvl) for lvl in LEVELS
    }
    return {
        "cases": count_verdicts(c.verdict for c in cases),
        "checks": count_verdicts(ch.verdict for ch in checks),
        "checks_by_level": by_level,
        "requirements": count_verdicts(g.verdict for g in req_groups),
    }


def _requirement_entry(group: Group) -> dict[str, Any]:
    req = catalogue.get(group.id)
    level = req.level.value if req else worst_level(e.level for e in group.entries).value
    return {
        "level": level,
        "level_text": req.level_text if req else level,
        "title": req.title if req else "",
        "section": req.section if req else "",
        "known": req is not None,
        "verdict": group.verdict.value,
        "counts": group.counts(),
        "cases": group.nodeids(),
    }


def worst_level(levels: Iterable[Level]) -> Level:
    """The strictest level seen, used for ids the catalogue does not know."""
    rank = {lvl: i for i, lvl in enumerate((Level.SHALL, Level.SHALL_NOT, Level.SHOULD,
                                            Level.SHOULD_NOT, Level.MAY, Level.INFO))}
    return min(levels, key=rank.__getitem__, default=Level.INFO)


def _finding_entry(group: Group) -> dict[str, Any]:
    f = catalogue.get_finding(group.id)
    assert f is not None
    return {
        "id": f.id,
        "title": f.title,
        "action": f.action,
        "verdict": group.verdict.value,
        "counts": group.counts(),
        "reported_by": [
            {
                "nodeid": e.case.nodeid,
                "check": e.check.check if e.check else "",
                "verdict": e.verdict.value,
                "reason": redact_text(e.reason),
            }
            for e in group.entries
        ],
    }


def _check_entry(case: CaseResult, check: CheckResult) -> dict[str, Any]:
    return {
        "suite_id": case.suite_id,
        "suite": case.suite,
        "case": case.case,
        "case_id": case.case_id,
        "nodeid": case.nodeid,
        "check": check.check,
        "requirement": cited_ids(case, check),
        "level": check.level.value,
        "verdict": check.verdict.value,
        "reason": redact_text(check.reason),
        "detail": redact_text(check.detail),
    }


def _case_entry(case: CaseResult) -> dict[str, Any]:
    return {
        "suite_id": case.suite_id,
        "suite": case.suite,
        "case": case.case,
        "case_id": case.case_id,
        "nodeid": case.nodeid,
        "area": case.area,
        "requirement": list(case.requirement),
        "level": case.level.value,
        "level_reason": case.level_reason,
        "verdict": case.verdict.value,
        "checks": len(case.checks),
        "skipped_reason": redact_text(case.skipped_reason) or None,
        "error": redact_text(case.error) or None,
        "duration_s": round(case.duration_s, 4),
        # Request lines only; bodies and headers stay in the HTML report.
        "exchanges": [
            {
                "method": ex.method,
                "url": redact_text(ex.url),
                "status": ex.status,
                "elapsed_ms": round(ex.elapsed_ms, 1),
                "error": redact_text(ex.error) or None,
            }
            for ex in case.exchanges
        ],
    }


def build_summary(run: RunInfo, cases: list[CaseResult]) -> dict[str, Any]:
    ordered = sort_cases(cases)
    req_groups, find_groups = group_by_id(ordered)
    gaps, scope = coverage_gaps(ordered)
    tot = totals(ordered, req_groups)
    tot["coverage"] = {"in_scope": scope, "cited": scope - len(gaps), "not_cited": len(gaps)}
    selection = dict(run.options.get("selection") or {})
    incomplete = outcomes.incomplete_record(ordered)
    return {
        "summary_version": SUMMARY_VERSION,
        # An interrupted run is no verdict: never "pass", whatever the cases that ran said.
        "outcome": outcome(ordered, selection, bool(run.options.get("interrupted")), bool(run.options.get("strict_should"))),
        **({"interrupted": run.options["interrupted"]} if run.options.get("interrupted") else {}),
        # Empty when every case was eligible; otherwise the run is at best PARTIAL.
        "selection": selection,
        **({"incomplete": {**incomplete, "cause": redact_text(incomplete["cause"])}} if incomplete else {}),
        "run": _redacted_run(run),
        "catalogue": {
            "sha256": catalogue.source_sha256(),
            "requirements": len(catalogue.requirements()),
            "findings": len(catalogue.findings()),
        },
        "totals": tot,
        "requirements": {g.id: _requirement_entry(g) for g in req_groups},
        "checks": [_check_entry(c, ch) for c in ordered for ch in c.checks],
        "cases": [_case_entry(c) for c in ordered],
        "findings": [_finding_entry(g) for g in find_groups],
        "coverage": gaps,
    }


def _redacted_run(run: RunInfo) -> dict[str, Any]:
    d = run.to_dict()
    d["target_url"] = redact_text(run.target_url)
    d["options"] = redact_options(run.options)
    return d


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    """Run options may carry client secrets or key material under any name."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if any(s in key.lower() for s in ("secret", "token", "password", "private", "assertion")):
            out[key] = "[redacted]"
        elif isinstance(value, str):
            out[key] = redact_text(value)
        elif isinstance(value, dict):
            out[key] = redact_options(value)
        else:
            out[key] = value
    return out


def write_summary(path: Path, run: RunInfo, cases: list[CaseResult], data: dict[str, Any] | None = None) -> None:
    """summary.json; ``data`` is build_summary(run, cases) when the caller has it already."""
    data = data if data is not None else build_summary(run, cases)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(indented_json(data) + "\n", encoding="utf-8")

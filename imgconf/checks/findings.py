"""Turn validator findings (imgconf.validators.Finding) into check results, one per requirement."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from imgconf.checks.base import CheckContext
from imgconf.results import CheckResult, Level, Verdict


def resources_in(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """(location prefix, resource) for a resource, or for each entry of a Bundle and the Bundle."""
    if not isinstance(body, dict) or "resourceType" not in body:
        return []
    if body["resourceType"] != "Bundle":
        return [("", body)]
    # A document or collection is itself validated (EU imaging report rules); a searchset is not.
    found: list[tuple[str, dict[str, Any]]] = [("", body)] if body.get("type") in ("document", "collection") else []
    for i, entry in enumerate(body.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            found.append((f"Bundle.entry[{i}].resource.", resource))
    return found


def findings_to_results(check: str, findings: list[tuple[str, Any]], ctx: CheckContext, scope: str) -> list[CheckResult]:
    """Group (prefix, Finding) by requirement and level; a clean response gives one pass result."""
    if not findings:
        return [ctx.result(check, True, f"no findings on {scope}")]
    groups: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    located: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    for prefix, finding in findings:
        if prefix:  # "Bundle.entry[3].resource." + "ImagingStudy.series[0].uid" → one path, type replaced
            rtype = finding.location.split(".", 1)[0].split("[", 1)[0]
            finding = finding.rerooted(rtype, prefix.rstrip("."))
        value = f" (value {finding.value!r})" if getattr(finding, "value", None) else ""
        also = tuple(getattr(finding, "findings", ()) or ())  # §H FIND ids cited next to the rule
        groups[(finding.requirement, finding.level, also)].append(f"{finding.location}: {finding.message}{value}")
        if finding.location not in located[(finding.requirement, finding.level, also)]:
            located[(finding.requirement, finding.level, also)].append(finding.location)
    results = []
    for (requirement, level_text, also), lines in sorted(groups.items()):
        level = Level(level_text)
        result = ctx.result(
            check,
            False,
            f"{len(lines)} finding(s): " + "; ".join(lines[:5]) + (" …" if len(lines) > 5 else ""),
            requirement=(requirement, *also),
            level=level,
            detail=scope,
        )
        result.locations = located[(requirement, level_text, also)]
        if level is Level.INFO or level is Level.MAY:
            result.verdict = Verdict.INFO
        results.append(result)
    return results

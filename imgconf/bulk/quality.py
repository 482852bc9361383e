"""The data-quality report of a bulk run: a picklable, mergeable accumulator and its JSON/HTML form.

Workers (``-j`` processes, Dask partitions, survey pages) each fill a ``QualityReport``; the
driver merges them (``merge`` is associative and, apart from the order of equal-count keys,
commutative). Memory is bounded: counts are per rule/level/type/modality/producer (small key
sets; producers beyond ``MAX_KEYS`` are counted as "(other)") and the worst resources are a
top-N, never a list of every resource.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imgconf.validators.findings import MANDATORY, Finding, resource_name

WORST_N = 20
MAX_KEYS = 10_000  # distinct producers/modalities kept; the rest are "(other)"
OTHER = "(other)"
NO_SOURCE = "(no meta.source)"
NO_MODALITY = "(no modality)"
UNREADABLE = "(unreadable)"

_Worst = tuple[int, int, str, str]  # (mandatory findings, findings, label, "Type/id") — larger is worse


def _bounded_update(counter: dict[str, Counter[str]], key: str, values: dict[str, int]) -> None:
    if key not in counter and len(counter) >= MAX_KEYS:
        key = OTHER
    counter.setdefault(key, Counter()).update(values)


def producer_of(resource: dict[str, Any] | None) -> str:
    """``meta.source`` without its ``#request`` part (FHIR: ``uri#requestid``): the producing system."""
    if resource is None:
        return UNREADABLE
    meta = resource.get("meta")
    source = meta.get("source") if isinstance(meta, dict) else None
    if not isinstance(source, str) or not source:
        return NO_SOURCE
    return source.split("#", 1)[0] or source


def modalities_of(resource: dict[str, Any] | None) -> list[str]:
    """The DICOM modality codes an ImagingStudy names (study and series level), sorted."""
    if resource is None:
        return [UNREADABLE]
    codes: set[str] = set()

    def take(coding: Any) -> None:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str) and coding["code"]:
            codes.add(coding["code"])

    study_level = resource.get("modality")
    for coding in study_level if isinstance(study_level, list) else ():
        take(coding)
    series = resource.get("series")
    for s in series if isinstance(series, list) else ():
        if isinstance(s, dict):
            take(s.get("modality"))
    return sorted(codes) or [NO_MODALITY]


class QualityReport:
    """Counts per rule and level, per resource type, per modality, per producer; the worst resources.

    ``add`` once per resource (``resource`` None: unreadable input); ``add(..., counted=False)`` adds
    findings found later for a resource already counted (cross-resource UID conflicts found when the
    partial indexes are merged)."""

    def __init__(self, worst_n: int = WORST_N) -> None:
        self.worst_n = worst_n
        self.resources = 0
        self.with_findings = 0
        self.failing = 0
        self.unreadable = 0
        self.findings = 0
        self.by_rule: dict[str, Counter[str]] = {}  # requirement -> level -> findings
        self.by_type: dict[str, Counter[str]] = {}  # resourceType -> resources/findings/failing
        self.by_modality: dict[str, Counter[str]] = {}
        self.by_producer: dict[str, Counter[str]] = {}
        self.worst: list[_Worst] = []  # a min-heap of the worst_n worst
        self.elapsed: float | None = None  # wall seconds, set by the driver
        self.complete = True
        self.notes: list[str] = []

    def add(self, label: str, resource: dict[str, Any] | None, findings: Sequence[Finding], *,
            counted: bool = True, prior: Sequence[Finding] = ()) -> None:
        """``counted=False``: more findings for a resource added before, whose own findings were
        ``prior`` (it becomes "with findings"/"failing" only if it was not already)."""
        if not counted and not findings:
            return
        mandatory = sum(1 for f in findings if f.level in MANDATORY)
        prior_mandatory = sum(1 for f in prior if f.level in MANDATORY)
        newly_with = bool(findings) and not (prior if not counted else ())
        newly_failing = bool(mandatory) and not (prior_mandatory if not counted else 0)
        self.resources += counted
        self.unreadable += counted and resource is None
        self.with_findings += newly_with
        self.failing += newly_failing
        self.findings += len(findings)
        for f in findings:
            self.by_rule.setdefault(f.requirement, Counter())[f.level] += 1
        rtype = UNREADABLE if resource is None else str(resource.get("resourceType", "?"))
        values = {"resources": int(counted), "with_findings": int(newly_with), "failing": int(newly_failing),
                  "findings": len(findings), "mandatory": mandatory}
        _bounded_update(self.by_type, rtype, values)
        if rtype == "ImagingStudy":
            for modality in modalities_of(resource):
                _bounded_update(self.by_modality, modality, values)
        _bounded_update(self.by_producer, producer_of(resource), values)
        if findings:
            if not counted:  # the resource may already be among the worst with its own findings
                self.worst = [w for w in self.worst if w[2] != label]
                heapq.heapify(self.worst)
            self._offer((mandatory + prior_mandatory, len(findings) + len(prior), label, resource_name(resource)))

    def _offer(self, item: _Worst) -> None:
        if len(self.worst) < self.worst_n:
            heapq.heappush(self.worst, item)
        elif item > self.worst[0]:
            heapq.heapreplace(self.worst, item)

    def merge(self, other: QualityReport) -> None:
        self.resources += other.resources
        self.with_findings += other.with_findings
        self.failing += other.failing
        self.unreadable += other.unreadable
        self.findings += other.findings
        for mine, theirs in ((self.by_rule, other.by_rule), (self.by_type, other.by_type),
                             (self.by_modality, other.by_modality), (self.by_producer, other.by_producer)):
            for key, counts in theirs.items():
                _bounded_update(mine, key, counts)
        for item in other.worst:
            self._offer(item)
        self.complete = self.complete and other.complete
        self.notes.extend(n for n in other.notes if n not in self.notes)

    def by_level(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for counts in self.by_rule.values():
            out.update(counts)
        return out

    def worst_resources(self) -> list[dict[str, Any]]:
        return [{"source": label, "resource": name, "mandatory": mandatory, "findings": total}
                for mandatory, total, label, name in sorted(self.worst, reverse=True)]

    def to_json(self) -> dict[str, Any]:
        def table(counter: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
            ordered = sorted(counter.items(), key=lambda kv: (-kv[1]["findings"], kv[0]))
            return {key: dict(sorted(counts.items())) for key, counts in ordered}

        rules = sorted(self.by_rule.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        rate = self.resources / self.elapsed if self.elapsed else None
        return {
            "complete": self.complete,
            "notes": list(self.notes),
            "totals": {"resources": self.resources, "resources_with_findings": self.with_findings,
                       "failing_resources": self.failing, "unreadable": self.unreadable,
                       "findings": self.findings},
            "findings_by_level": dict(sorted(self.by_level().items())),
            "findings_by_rule": {rule: dict(sorted(levels.items())) for rule, levels in rules},
            "by_resource_type": table(self.by_type),
            "by_modality": table(self.by_modality),
            "by_producer": table(self.by_producer),
            "worst_resources": self.worst_resources(),
            "elapsed_seconds": round(self.elapsed, 3) if self.elapsed is not None else None,
            "resources_per_second": round(rate, 1) if rate is not None else None,
        }


def write_quality_report(report: QualityReport, out_dir: Path, *, title: str) -> list[Path]:
    """``quality.json`` and ``quality.html`` (plots as PNGs embedded as data: URIs) in ``out_dir``."""
    from imgconf.bulk.plots import write_html  # matplotlib is imported only here

    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.to_json()
    data["title"] = title
    json_path = out_dir / "quality.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path = out_dir / "quality.html"
    write_html(data, html_path)
    return [json_path, html_path]

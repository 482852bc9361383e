"""``imgconf compare OLD NEW``: what changed between two runs' summary.json.

Cases are matched by (suite id, case id), so a reworded case name is the same case; a case without an
id (a suite without ids, or a summary written before ids existed) is matched by (suite id, case name).
A regression is a case judged both times whose verdict got
worse (pass/info → warn → fail); a progression the reverse. A case judged once and not judged the other
time (skip, not-judged, error) is listed as such — an infrastructure hiccup is no regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Conformance verdicts, worst last; verdicts outside this map did not judge the case.
RANK = {"pass": 0, "info": 0, "warn": 1, "fail": 2}


class CompareError(ValueError):
    """A file that is not a readable imgconf summary.json."""


@dataclass
class Change:
    key: str
    old: str | None
    new: str | None
    requirement: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.key} [{', '.join(self.requirement)}]: {self.old or '—'} → {self.new or '—'}"


@dataclass
class Comparison:
    regressions: list[Change] = field(default_factory=list)
    progressions: list[Change] = field(default_factory=list)
    not_judged: list[Change] = field(default_factory=list)  # judged once, not the other time
    new_cases: list[Change] = field(default_factory=list)
    removed_cases: list[Change] = field(default_factory=list)
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.regressions

    def to_dict(self) -> dict[str, Any]:
        def rows(changes: list[Change]) -> list[dict[str, Any]]:
            return [{"case": c.key, "old": c.old, "new": c.new, "requirement": c.requirement} for c in changes]

        return {
            "outcome": "pass" if self.ok else "regression",
            "regressions": rows(self.regressions),
            "progressions": rows(self.progressions),
            "not_judged": rows(self.not_judged),
            "new_cases": rows(self.new_cases),
            "removed_cases": rows(self.removed_cases),
            "unchanged": self.unchanged,
        }

    def lines(self) -> list[str]:
        out = []
        for title, changes in (("REGRESSION", self.regressions), ("progression", self.progressions),
                               ("not judged in one run", self.not_judged), ("new case", self.new_cases),
                               ("removed case", self.removed_cases)):
            out += [f"{title}: {c.line()}" for c in changes]
        out.append(f"{len(self.regressions)} regression(s), {len(self.progressions)} progression(s), "
                   f"{len(self.not_judged)} judged in one run only, {len(self.new_cases)} new, "
                   f"{len(self.removed_cases)} removed, {self.unchanged} unchanged")
        return out


def load_summary(path: Path) -> dict[str, Any]:
    """A summary.json, or the folder holding one."""
    if path.is_dir():
        path = path / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: not a readable summary.json ({exc})") from None
    if not isinstance(data, dict) or "cases" not in data or "summary_version" not in data:
        raise CompareError(f"{path}: not an imgconf summary.json (no summary_version/cases)")
    return data


def _label(case: dict[str, Any]) -> str:
    return f"{case['suite_id']} :: {case['case']}"


def _pairs(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
    """(label, old case, new case) for every case of either run: by id first, then by name."""
    before: list[dict[str, Any]] = list(old["cases"])
    after: list[dict[str, Any]] = list(new["cases"])
    by_id = {(c["suite_id"], c["case_id"]): c for c in before if c.get("case_id")}
    pairs: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    matched_old: set[int] = set()
    unmatched_new: list[dict[str, Any]] = []
    for n in after:
        o = by_id.get((n["suite_id"], n.get("case_id")))
        if o is not None and id(o) not in matched_old:
            matched_old.add(id(o))
            label = _label(n) if o["case"] == n["case"] else f"{_label(n)} (was {o['case']!r})"
            pairs.append((label, o, n))
        else:
            unmatched_new.append(n)
    # Fallback by name: a summary from before case ids, or a suite whose cases have none.
    by_name = {(c["suite_id"], c["case"]): c for c in before if id(c) not in matched_old}
    for n in unmatched_new:
        o = by_name.get((n["suite_id"], n["case"]))
        if o is not None and o.get("case_id") and n.get("case_id"):
            o = None  # both carry ids and they differ: two different cases that happen to share a name
        if o is not None:
            del by_name[(n["suite_id"], n["case"])]
            matched_old.add(id(o))
        pairs.append((_label(n), o, n))
    pairs += [(_label(o), o, None) for o in before if id(o) not in matched_old]
    return sorted(pairs, key=lambda p: p[0])


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    result = Comparison()
    for key, o, n in _pairs(old, new):
        req = list((n or o or {}).get("requirement", []))
        if o is None:
            result.new_cases.append(Change(key, None, n["verdict"], req))  # type: ignore[index]
        elif n is None:
            result.removed_cases.append(Change(key, o["verdict"], None, req))
        elif o["verdict"] == n["verdict"]:
            result.unchanged += 1
        elif o["verdict"] in RANK and n["verdict"] in RANK:
            if RANK[n["verdict"]] > RANK[o["verdict"]]:
                result.regressions.append(Change(key, o["verdict"], n["verdict"], req))
            elif RANK[n["verdict"]] < RANK[o["verdict"]]:
                result.progressions.append(Change(key, o["verdict"], n["verdict"], req))
            else:
                result.unchanged += 1  # pass ↔ info: both met every check that judges
        else:
            result.not_judged.append(Change(key, o["verdict"], n["verdict"], req))
    return result

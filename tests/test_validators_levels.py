"""Every validator Finding carries the catalogue level of the requirement it cites.

A finding may be weaker than its row only for a reason the row (or a §H finding) gives, listed in
WEAKER with that reason; it is never stricter. Checked twice: statically over every
``Finding(...)``/rule tuple literal in imgconf/validators, and on every finding the validators
produce for the realistic producer data and the official R4 examples in tests/data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imgconf import catalogue
from imgconf.offline import INPUT_READ, validate_paths
from imgconf.validators.structure import STRUCTURE

VALIDATORS = Path(__file__).resolve().parents[1] / "imgconf" / "validators"
DATA = Path(__file__).resolve().parent / "data"
STRICTNESS = {"SHALL": 3, "SHALL NOT": 3, "SHOULD": 2, "SHOULD NOT": 2, "MAY": 1, "INFO": 0}
# Pseudo ids with no catalogue row: an R4 structural error / unreadable input is SHALL by definition.
PSEUDO = {STRUCTURE: "SHALL", INPUT_READ: "SHALL"}
# (requirement, level used) -> the documented reason it is weaker than the catalogue row.
WEAKER = {
    ("IS-027", "INFO"): "IS-027 row: 'Report as INFO when series.uid = studyUID + \".n\"' (heuristic)",
    ("IS-035", "INFO"): "IS-035 row: 'Report as INFO, not error'",
    ("IS-028", "SHOULD"): "a missing issuer (identifier.system) of a basedOn accession: advisory, as IS-058",
    ("IS-043", "SHOULD"): "IS-043 row: 'warn if it appears on series.endpoint' (the SHOULD half of the row)",
    ("EUIMG-051", "SHOULD"): "FIND-07: the R5 CodeSystem URL of Medical-Imaging is a known IG defect, warned",
    ("EUAPI-003", "INFO"): "EUAPI-003 row: report the earlier draft coding as 'legacy', not pass or fail",
    ("MAN-005", "INFO"): "FIND-19: the IHE FormatCode OID form of the system, reported as information",
}
_LITERAL = re.compile(r'\(\s*"([A-Z]+-\d+)",\s*"(SHALL NOT|SHALL|SHOULD NOT|SHOULD|MAY|INFO)"')


def _judge(requirement: str, level: str) -> str | None:
    """None when the level is right, else what is wrong."""
    if requirement in PSEUDO:
        return None if level == PSEUDO[requirement] else f"{requirement} is {PSEUDO[requirement]}"
    row = catalogue.get(requirement)
    if row is None:
        return f"{requirement} is not in the catalogue"
    expected = row.level.value
    if level == expected or (requirement, level) in WEAKER:
        return None
    if STRICTNESS[level] > STRICTNESS[expected]:
        return f"{requirement} {level} is stricter than the catalogue's {expected}"
    return f"{requirement} {level} differs from the catalogue's {expected} without a documented reason"


def test_every_finding_literal_has_the_catalogue_level() -> None:
    problems = []
    for path in sorted(VALIDATORS.glob("*.py")):
        for match in _LITERAL.finditer(path.read_text(encoding="utf-8")):
            problem = _judge(match.group(1), match.group(2))
            if problem:
                problems.append(f"{path.name}: {problem}")
    assert problems == []


def test_the_documented_exceptions_are_still_used() -> None:
    """A WEAKER entry nobody uses any more is removed, so the list stays an honest record."""
    source = "".join(p.read_text(encoding="utf-8") for p in VALIDATORS.glob("*.py"))
    for requirement, level in WEAKER:
        assert re.search(rf'"{requirement}",\s*"{level}"', source), (requirement, level)


def test_produced_findings_have_the_catalogue_level() -> None:
    seen = 0
    for path in (DATA / "producers", DATA / "r4-examples"):
        for label, _, findings in validate_paths([path], profile=None):
            for f in findings:
                seen += 1
                assert _judge(f.requirement, f.level) is None, (label, f)
    assert seen > 20  # the data does produce findings


@pytest.mark.parametrize(("requirement", "level", "ok"), [
    ("IS-010", "SHALL", False), ("IS-010", "INFO", True), ("IS-013", "SHALL", False), ("REST-102", "SHALL", True),
])
def test_judge_itself(requirement: str, level: str, ok: bool) -> None:
    assert (_judge(requirement, level) is None) is ok

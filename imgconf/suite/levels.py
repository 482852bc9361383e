"""Level discipline: no judgement of a case is stricter than the requirements it cites.

The rule the loader enforces (a failing verdict accuses a vendor, so it must hold at the catalogue
level of the requirement it names):

* Rank: SHALL = SHALL NOT > SHOULD = SHOULD NOT > MAY > INFO. A requirement's catalogue level is its
  normalised ``level`` (the leading keyword of ``level_text``: "SHALL (MHD/PDQm)" counts as SHALL).
* The case's own judgements (status, resource, structure, rules, search, attachment, … and every header
  or FHIRPath check without its own ``requirement:``) run at the case's effective level (its ``level:``,
  else the suite's, else SHALL) and cite the case's requirements (else the suite's). That level must not
  exceed the catalogue level of ANY of them: a requirement listed only as context at a lower level forces
  a lower level, a split, or dropping the context id.
* A header or FHIRPath check with its own ``requirement:`` runs at its own ``level:`` (else the case's)
  and must not exceed the catalogue level of any requirement it cites. Checks inside ``on_status``
  branches are held to the same rule.
* Spec findings (FIND-xx) carry no level and constrain nothing.
* A case may be stricter only with ``level_reason:``, a non-empty text naming the clause that makes it so
  (e.g. "PDQm ITI-78 Case 5 makes 406 SHALL"); the reason is carried into the results and the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from imgconf.checks.registry import kinds
from imgconf.results import Level
from imgconf.suite.model import Expect

RANK = {Level.SHALL: 3, Level.SHALL_NOT: 3, Level.SHOULD: 2, Level.SHOULD_NOT: 2, Level.MAY: 1, Level.INFO: 0}


@dataclass(frozen=True)
class LevelViolation:
    """One judgement stricter than a requirement it cites."""

    what: str  # "case" or "fhirpath check `expr`" / "header check Name"
    level: Level
    requirement: str
    catalogue_level: str  # level_text as the catalogue writes it
    at: tuple[str | int, ...] = ()  # where in the YAML document (for the line number); () = the case

    def message(self, case_name: str) -> str:
        subject = f"case {case_name!r}" if self.what == "case" else f"{self.what} of case {case_name!r}"
        return (
            f"{subject} is judged at {self.level.value} but cites {self.requirement}, which the catalogue "
            f"gives as {self.catalogue_level}: lower the level, cite the requirement actually judged, or add "
            f"level_reason: naming the clause that makes it {self.level.value}"
        )


def stricter_than(level: Level, requirement_ids: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(id, catalogue level text) of every cited requirement whose catalogue level is below ``level``."""
    from imgconf.catalogue import requirements

    catalogue = requirements()
    for rid in requirement_ids:
        req = catalogue.get(rid)  # FIND-xx and unknown ids: no level (unknown ids are rejected elsewhere)
        if req is not None and RANK[level] > RANK[req.level]:
            yield rid, req.level_text


Path_ = tuple[str | int, ...]


def _checks(expect: Expect, at: Path_) -> Iterator[tuple[str, Path_, object]]:
    for kind in kinds():  # judgements of a check kind with their own requirement:/level: (fhirpath)
        if kind.own_levels is not None and kind.key in expect.checks:
            for own in kind.own_levels(expect.checks[kind.key]):
                yield own.what, at + (kind.key, *own.at), own
    for spec in expect.headers:
        yield f"header check {spec.name}", at + ("headers", spec.name), spec
    for status, branch in expect.on_status:
        yield from _checks(branch, at + ("on_status", str(status)))


def case_violations(level: Level, requirement_ids: tuple[str, ...], expects: list[tuple[Path_, Expect]]) -> list[LevelViolation]:
    """Every judgement of one case that is too strict; ``expects`` holds (YAML path, Expect) of each step."""
    found = [LevelViolation("case", level, rid, text) for rid, text in stricter_than(level, requirement_ids)]
    for at, expect in expects:
        for what, where, spec in _checks(expect, at):
            own_level = getattr(spec, "level", None) or level
            cited = tuple(getattr(spec, "requirement", ()) or ())
            if not cited:
                if own_level is level:
                    continue  # the case's judgement, already checked above
                cited = requirement_ids
            found += [LevelViolation(what, own_level, rid, text, where) for rid, text in stricter_than(own_level, cited)]
    return found

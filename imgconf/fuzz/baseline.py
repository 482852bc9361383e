"""Known fuzz findings (``imgconf fuzz --baseline FILE``): a CI gate fails only on new ones.

The fuzz counterpart of :mod:`imgconf.baseline` (suite baselines), with the same UX: a YAML list of the
findings a team has adjudicated, each with the reason; ``--write-baseline FILE`` writes one from a run
with every ``reason`` (and ``clause``) left empty, which the loader refuses until someone has written
down why each finding is accepted. Entries::

    - resource: ImagingStudy                       # the searched type
      shape: "ImagingStudy?started=ge<date:day>"   # the shrunk query's shape (imgconf.fuzz.shape.query_shape)
      parameter: started:ge                        # optional: the cause's parameter (below)
      defect: precision                            # the defect kind (precision, recall, order, total, …)
      requirement: REST-041                        # one id or a list; matches a finding citing any of them
      reason: the server compares dates at day precision as overlap    # mandatory, never empty
      clause: 'R4 search.html#date: "…"'           # optional: the R4 text that makes it a deviation
      link: https://github.com/vendor/server/issues/1   # optional: where it is tracked
      observed: …                                  # informational (written by --write-baseline)
      query: …                                     # informational: the shrunk query it was written from

Matching is by resource + shape + defect kind + requirement — never by the reason, the query's concrete
values or the cause text, so rewording a reason or a different seed finding the same defect changes nothing.

``parameter`` (optional) also accepts a finding whose shape differs, when the run ends the same cause at a
query with an unrelated extra parameter (values differ per run: server-assigned ids) — strictly: the
finding's cause parameter (``cause_parameter``: ``name[:modifier][:prefixes]`` as in the cause key, e.g.
``gender``, ``started:ge``, ``modality:not``, ``_sort``) equals ``parameter``, resource and defect kind are
the entry's, and EVERY requirement the finding cites is among the entry's (not just one of them). A defect
of another parameter, modifier or prefix, or citing a requirement the entry does not list, stays new; a
cause without a parameter (``*``: no single criterion to blame) is never matched this way (refused).
The gate fails on a SHALL finding no entry covers (new; a SHOULD one too with ``strict_should``). An entry
that covers nothing although its resource type was fuzzed is "not reached": reported, never failing — a run
samples the query space (generation is reproducible from the seed, but one oracle or generator change moves
what a budget reaches), so a cause not met this run is no evidence that the server was fixed; remove an
entry after reproducing its query against the fixed server. An entry for a type this run did not fuzz is
"not run".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imgconf import catalogue
from imgconf.baseline import read_baseline_text
from imgconf.fuzz.model import FuzzFinding, FuzzRun
from imgconf.localinput import LocalInputError, check_aliases

_REQUIRED = ("resource", "shape", "defect", "requirement", "reason")
_KNOWN_KEYS = {*_REQUIRED, "clause", "link", "observed", "query", "cause", "parameter"}
_PARAMETER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:,-]*$")  # a cause parameter: name[:modifier][:prefixes]
_DEFECT_KIND = re.compile(r"^[a-z][a-z0-9-]*$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
TOP_KEY = "known_findings"  # a mapping with this key may hold the list (room for a header mapping)
NOT_REACHED = ("not reached this run: not failing (a run samples the queries; not meeting a known cause is no "
               "evidence of a fix — reproduce its query before removing the entry)")


class FuzzBaselineError(ValueError):
    """The fuzz baseline cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class FuzzEntry:
    resource: str
    shape: str
    defect: str
    requirements: tuple[str, ...]
    reason: str
    line: int  # 1-based line of the entry in its file, for messages
    index: int = 0  # position in the file
    clause: str | None = None
    link: str | None = None
    parameter: str | None = None  # the cause parameter: matches that cause in another shape (module doc)

    def label(self) -> str:
        about = f" ({self.parameter})" if self.parameter else ""
        return f"{self.resource} {self.shape}{about} {self.defect} [{', '.join(self.requirements)}]"

    def matches(self, finding: FuzzFinding) -> bool:
        if self.resource != finding.query.resource_type or self.defect != finding.defect.kind:
            return False
        if self.shape == finding.shape:
            return bool(set(self.requirements) & set(finding.defect.requirement))
        return (self.parameter is not None and cause_parameter(finding) == self.parameter
                and set(finding.defect.requirement) <= set(self.requirements))


def cause_parameter(finding: FuzzFinding) -> str | None:
    """The parameter part of the finding's cause key (``<type> <parameter> <kind>``); None for ``*``."""
    head, tail = f"{finding.query.resource_type} ", f" {finding.defect.kind}"
    cause = finding.cause
    if not (cause.startswith(head) and cause.endswith(tail)) or len(cause) <= len(head) + len(tail):
        return None
    parameter = cause[len(head):-len(tail)]
    return parameter if _PARAMETER.match(parameter) else None


def is_failing_level(level: str, *, strict_should: bool = False) -> bool:
    """A SHALL (SHALL NOT) finding fails; a SHOULD one only with strict_should — as the suites count."""
    return level.upper().startswith("SHALL") or (strict_should and level.upper().startswith("SHOULD"))


@dataclass
class BaselineOutcome:
    """What a baseline made of one run's findings."""

    known: list[tuple[FuzzFinding, FuzzEntry]] = field(default_factory=list)
    new: list[FuzzFinding] = field(default_factory=list)  # covered by no entry (SHOULD ones included)
    not_reached: list[FuzzEntry] = field(default_factory=list)  # its type was fuzzed, it covered nothing: no failure
    not_run: list[FuzzEntry] = field(default_factory=list)  # its resource type was not fuzzed this run
    strict_should: bool = False

    @property
    def failing_new(self) -> list[FuzzFinding]:
        """New findings that fail the gate (SHALL; SHOULD too when strict)."""
        return [f for f in self.new if is_failing_level(f.defect.level, strict_should=self.strict_should)]

    @property
    def ok(self) -> bool:
        """Only a new finding fails: a known cause this run did not reach is no evidence of a fix."""
        return not self.failing_new

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": "pass" if self.ok else "fail",
            "known": [{"cause": f.cause, "entry": e.label(), "line": e.line, "reason": e.reason} for f, e in self.known],
            "new": [{"cause": f.cause, "shape": f.shape, "level": f.defect.level,
                     "requirement": list(f.defect.requirement), "fails_gate": f in self.failing_new} for f in self.new],
            "not_reached": [{"entry": e.label(), "line": e.line, "reason": e.reason, "message": NOT_REACHED}
                            for e in self.not_reached],
            "not_run": [{"entry": e.label(), "line": e.line} for e in self.not_run],
        }

    def lines(self) -> list[str]:
        head = (f"fuzz baseline: {len(self.known)} known, {len(self.new)} new ({len(self.failing_new)} failing the gate), "
                f"{len(self.not_reached)} not reached (not failing), {len(self.not_run)} not run")
        out = [head]
        gate = self.failing_new
        for f in self.new:
            word = "NEW" if f in gate else "new (SHOULD, not failing)"
            out.append(f"  {word} {f.cause} [{', '.join(f.defect.requirement)} {f.defect.level}]: {f.query.display()}")
        for e in self.not_reached:
            out.append(f"  not reached (line {e.line}) {e.label()}: {NOT_REACHED}")
        return out


# -- loading ---------------------------------------------------------------------------------

def load_fuzz_baseline(path: Path) -> list[FuzzEntry]:
    """The entries of a fuzz baseline (YAML, or JSON which YAML reads), or FuzzBaselineError naming file:line."""
    text = read_baseline_text(path, FuzzBaselineError, "fuzz baseline")
    root = _compose(path, text)
    if root is None:
        return []
    items: yaml.Node = root
    if isinstance(root, yaml.MappingNode):
        listed = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == TOP_KEY), None)
        if listed is not None:
            items = listed
        else:
            raise FuzzBaselineError(f"{path}:{root.start_mark.line + 1}: expected a list of entries "
                                    f"(or a mapping with {TOP_KEY})")
    if isinstance(items, yaml.ScalarNode) and items.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(items, yaml.SequenceNode):
        raise FuzzBaselineError(f"{path}:{items.start_mark.line + 1}: expected a list of entries")
    return [_entry(path, i, node) for i, node in enumerate(items.value)]


def _compose(path: Path, text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_aliases(path, node)
        return node
    except LocalInputError as exc:
        raise FuzzBaselineError(str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        where = f"{path}:{line}" if line else str(path)
        raise FuzzBaselineError(f"{where}: not valid YAML: {exc.problem or exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise FuzzBaselineError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _entry(path: Path, index: int, node: yaml.Node) -> FuzzEntry:
    line = node.start_mark.line + 1
    where = f"{path}:{line}: entry {index + 1}"
    if not isinstance(node, yaml.MappingNode):
        raise FuzzBaselineError(f"{where}: expected a mapping with {', '.join(_REQUIRED)}")
    key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    try:
        raw = _construct(node)
    except yaml.YAMLError as exc:
        raise FuzzBaselineError(f"{where}: {exc}") from None
    unknown = sorted(set(map(str, raw)) - _KNOWN_KEYS)
    if unknown:
        raise FuzzBaselineError(f"{path}:{key_lines.get(unknown[0], line)}: entry {index + 1}: unknown key(s) "
                                f"{', '.join(unknown)} (known: {', '.join(sorted(_KNOWN_KEYS))})")

    def fail(key: str, message: str) -> FuzzBaselineError:
        return FuzzBaselineError(f"{path}:{key_lines.get(key, line)}: entry {index + 1}: {message}")

    def text(key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise fail(key, f"'{key}' must be text")
        return str(value).strip()

    for key in _REQUIRED:
        if key not in raw or raw[key] in (None, "", []):
            what = {"reason": "write down why this finding is accepted",
                    "shape": "the shrunk query's shape, as the report prints it",
                    "requirement": "the catalogue id(s) the finding cites",
                    "defect": "the defect kind (precision, recall, order, …)",
                    "resource": "the searched resource type"}[key]
            raise fail(key, f"'{key}' is missing or empty — {what}")
    resource, shape, defect, reason = text("resource"), text("shape"), text("defect"), text("reason")
    assert resource is not None and shape is not None and defect is not None and reason is not None
    if not _RESOURCE_TYPE.match(resource):
        raise fail("resource", f"'resource' {resource!r} is not a FHIR resource type")
    if not _DEFECT_KIND.match(defect):
        raise fail("defect", f"'defect' {defect!r} is not a defect kind (lower-case, e.g. precision, recall, order)")
    if not reason:
        raise fail("reason", "'reason' is empty — write down why this finding is accepted")
    if reason.upper().startswith("TODO"):
        raise fail("reason", f"'reason' is a placeholder ({reason!r}) — adjudicate the finding against R4 first")
    requirement = raw["requirement"]
    requirements = (requirement,) if isinstance(requirement, str) else requirement
    if not isinstance(requirements, list | tuple) or not all(isinstance(r, str) for r in requirements):
        raise fail("requirement", "'requirement' must be one id or a list of ids")
    requirements = tuple(r.strip() for r in requirements)
    if (unknown_ids := [r for r in requirements if not catalogue.is_known(r)]):
        raise fail("requirement", f"'requirement' {', '.join(unknown_ids)} is not in the requirement catalogue")
    clause = text("clause")
    if clause is not None and not clause:
        raise fail("clause", "'clause' is empty — quote the R4 text that makes it a deviation, or leave the key out")
    link = text("link")
    parameter = text("parameter")
    if parameter is not None and not _PARAMETER.match(parameter):
        raise fail("parameter", f"'parameter' {parameter!r} is not a cause parameter (name[:modifier][:prefix], "
                   "as in the finding's cause; '*' names no parameter and cannot be accepted this way)")
    return FuzzEntry(resource=resource, shape=shape, defect=defect, requirements=requirements, reason=reason,
                     line=line, index=index, clause=clause, link=link or None, parameter=parameter)


# -- comparing -------------------------------------------------------------------------------

def compare_findings(entries: list[FuzzEntry], run: FuzzRun, *, strict_should: bool = False) -> BaselineOutcome:
    """Classify the run's findings; each finding's ``known`` becomes the covering entry's reason."""
    outcome = BaselineOutcome(strict_should=strict_should)
    used: set[int] = set()
    for finding in run.findings:
        entry = next((e for e in entries if e.matches(finding)), None)
        if entry is None:
            finding.known = None
            outcome.new.append(finding)
        else:
            finding.known = entry.reason
            used.add(entry.index)
            outcome.known.append((finding, entry))
    fuzzed = set(run.resource_types)
    for entry in entries:
        if entry.index not in used:
            (outcome.not_reached if entry.resource in fuzzed else outcome.not_run).append(entry)
    return outcome


def apply_baseline(run: FuzzRun, baseline_path: Path, *, strict_should: bool = False) -> BaselineOutcome:
    """Load ``baseline_path`` and classify ``run``'s findings (known / new / not reached); FuzzBaselineError if unusable."""
    return compare_findings(load_fuzz_baseline(baseline_path), run, strict_should=strict_should)


# -- writing ---------------------------------------------------------------------------------

PLACEHOLDER_HEADER = (
    "# Known findings for `imgconf fuzz --baseline`. Written by --write-baseline: every reason and clause\n"
    "# is empty on purpose — the baseline is refused until each finding is adjudicated against the R4 text\n"
    "# (a real deviation: say why it is accepted and quote the clause; an oracle error: fix the oracle instead).\n"
)


def baseline_entries(run: FuzzRun) -> list[dict[str, Any]]:
    """One placeholder entry per (resource, shape, defect), requirements merged, in finding order."""
    from imgconf.fuzz.report import readable_query

    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in run.findings:
        entry = grouped.setdefault((f.query.resource_type, f.shape, f.defect.kind), {
            "resource": f.query.resource_type, "shape": f.shape, "defect": f.defect.kind, "requirement": [],
            "reason": "", "clause": "", "observed": f"[{f.defect.level}] {f.defect.message.splitlines()[0] if f.defect.message else ''}",
            "query": readable_query(f),
        })
        entry["requirement"] = sorted(set(entry["requirement"]) | set(f.defect.requirement))
        parameter = cause_parameter(f)  # matches the cause in another shape too (all findings of the entry's)
        entry["parameter"] = parameter if entry.get("parameter", parameter) == parameter else None
    for entry in grouped.values():
        if entry["parameter"] is None:
            del entry["parameter"]
    return list(grouped.values())


def write_fuzz_baseline(path: Path, run: FuzzRun) -> int:
    """``--write-baseline FILE``: every finding as an entry to adjudicate; returns how many were written."""
    from imgconf.report.redact import redact_text

    entries = baseline_entries(run)
    for e in entries:  # a query or server message may carry a credential; the file gets committed
        e["observed"], e["query"] = redact_text(e["observed"]), redact_text(e["query"])
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=110) if entries else "[]\n"
    path.write_text(PLACEHOLDER_HEADER + body, encoding="utf-8")
    return len(entries)

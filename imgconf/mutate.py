"""Mutation testing of the suites: inject each catalogued fault, see which checks catch it.

One FaultProxy sits in front of the upstream (a target URL, or the embedded reference server); the
suites run in-process once with no fault (this run must be green: no false positives) and once per
fault. A fault is caught when some check fails (or warns for SHOULD, or notes info for MAY rules)
that did not in the no-fault run. Score = caught / injected. The report says, per fault, which cases and requirement
ids caught it, and whether one of them is a requirement the fault is tied to. Faults marked
``benign`` are legal variations: not scored, and the run with one must stay green as well.

Selection (why: every fault against every suite took ~14 min of CI). A fault that declares
``Fault.suites`` runs only against those suites (of the ones selected for the run); an undeclared
fault, or one none of whose declared suites is selected, runs against all of them. The no-fault run
always covers every selected suite: it is the false-positive probe. ``full=True`` (``imgconf mutate
--full``, the periodic check) runs every fault against every suite and reports declarations that
rotted: a suite outside the declaration that catches the fault (too narrow), or declared suites that
no longer catch it.

PACS (issue 13): a fault with ``requires=("dicomweb",)``, or whose declared suites all need a DICOMweb PACS
(``requires: [dicomweb]``), e.g. the faults of imgconf/faults/dicomweb.py, is caught only when the run has
one. ``pacs="orthanc"`` (``imgconf mutate --with-pacs orthanc``) starts it as ``imgconf run --with-pacs``
does, when a selected fault (or, in a full run, a suite) needs it, and passes its root as the ``dicomweb``
run option to every run. Without a PACS (not asked for, or it could not start) those faults are reported
"not run: no PACS" with the reason: neither caught nor failed, and not scored.

Fuzzing (issue 14): with ``fuzz=FuzzMutation(...)`` (``imgconf mutate --fuzz``) every search fault
(``Fault.search``) is also judged by the generative search tester (``imgconf fuzz``), through the same proxy,
after every suite run and through one session whose fixtures are loaded once, with no fault:
one fuzz run with no fault (it must find nothing: a finding there is a false positive of the oracle), then one
per search fault. Each run gives every resource type it fuzzes its own budget, one type after the other from the
same seed: the no-fault run every fuzzed type, a fault's run the types it can change (``Fault.search_types``, the
likeliest first; every type when it names none) — three types sharing one budget missed faults of one type's
parameter. The fault is caught by fuzzing when its run has a finding whose cause the no-fault run did not
have. A fault counts as caught when the suites or fuzzing catch it; the report says which (suites / fuzz / both
/ neither) and how many only fuzzing caught. ``fuzz_only=True`` (``--fuzz-only``) injects only the search faults
and runs no suite: what fuzzing alone catches. A search fault declared ``Fault.not_fuzzable`` (the generator never
sends what it breaks) gets no fuzz run: it is reported "suites only (not fuzzable: <reason>)" (under ``fuzz_only``:
not run, with that reason); with no fuzzable fault selected no fuzz session starts at all.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgconf import options
from imgconf.faults import MUTATION_FAULTS, Fault, FaultProxy, registry
from imgconf.fuzz.model import FuzzFinding
from imgconf.results import CaseResult, Verdict

if TYPE_CHECKING:
    from imgconf.auth.settings import AuthSettings
    from imgconf.session import TargetSession

Signal = tuple[str, str, str, tuple[str, ...]]  # (suite-id::case, check kind, verdict, requirement ids)


class MutationError(RuntimeError):
    """A run could not complete (collection errors, interruption): no score can be given."""


@dataclass
class RunOutcome:
    cases: list[CaseResult]
    exit_code: int
    duration_s: float
    args: list[str] = field(default_factory=list)  # the pytest arguments of this run

    @property
    def suite_ids(self) -> list[str]:
        return sorted({case.suite_id for case in self.cases})

    def signals(self) -> set[Signal]:
        found: set[Signal] = set()
        for case in self.cases:
            key = f"{case.suite_id}::{case.case}"
            if case.verdict is Verdict.ERROR:
                found.add((key, "error", "error", tuple(case.requirement)))
            for check in case.checks:
                # info = a MAY-level rule not met: the report still flags it, so it counts as caught
                if check.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.INFO):
                    found.add((key, check.check, check.verdict.value, tuple(check.requirement)))
        return found


@dataclass(frozen=True)
class FuzzMutation:
    """``imgconf mutate --fuzz``: how much fuzzing each search fault (and the no-fault run) gets."""

    budget: int = 300  # queries per resource type: the fault's Fault.search_types (the no-fault run: every type)
    seed: int = 0


@dataclass
class FuzzOutcome:
    """One fuzz run through the fault proxy: its findings and what it did."""

    findings: list[FuzzFinding] = field(default_factory=list)
    queries: int = 0
    not_judged: int = 0
    duration_s: float = 0.0
    error: str | None = None  # the run raised: no verdict from fuzzing for this fault
    queries_per_type: dict[str, int] = field(default_factory=dict)  # the types it reached (in order) and their queries

    def new_since(self, quiet: FuzzOutcome) -> list[FuzzFinding]:
        """The findings whose cause the no-fault run did not have."""
        known = {f.cause for f in quiet.findings}
        return [f for f in self.findings if f.cause not in known]

    def to_dict(self, findings: list[FuzzFinding] | None = None) -> dict[str, Any]:
        shown = self.findings if findings is None else findings
        return {
            "queries": self.queries, "not_judged": self.not_judged, "duration_s": round(self.duration_s, 2),
            "error": self.error, "queries_per_type": self.queries_per_type,
            "findings": [{"cause": f.cause, "query": f.query.display(), "requirements": list(f.defect.requirement),
                          "level": f.defect.level, "message": f.defect.message, "seed": f.seed} for f in shown],
        }


@dataclass
class FaultResult:
    fault: Fault
    caught_by: list[Signal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # cases that only errored (infrastructure)
    duration_s: float = 0.0
    incomplete: str | None = None  # why the run with this fault gave no verdict
    suites_run: list[str] = field(default_factory=list)  # the suite ids whose cases ran with this fault
    selection: str = "all"  # why those suites: "declared", or "all" and the reason
    not_run: str | None = None  # why the fault was not injected at all ("no PACS: ..."): not scored
    fuzz: FuzzOutcome | None = None  # the fuzz run with this fault (search faults under --fuzz), else None
    fuzz_caught_by: list[FuzzFinding] = field(default_factory=list)  # its findings the no-fault fuzz run lacked

    @property
    def catching_suites(self) -> list[str]:
        return sorted({case.split("::", 1)[0] for case, _, verdict, _ in self.caught_by if verdict != "error"})

    def declaration_problems(self) -> list[str]:
        """Where the fault's declared suites disagree with what a run against every suite saw."""
        declared = self.fault.suites
        if declared is None or self.incomplete or self.not_run:
            return []
        problems = [f"declaration too narrow: fault {self.fault.name} also caught by suite {suite}"
                    for suite in self.catching_suites if suite not in declared]
        if not self.fault.benign and not set(self.catching_suites) & set(declared):
            problems.append(f"declared suites no longer catch fault {self.fault.name}: {', '.join(declared)}")
        return problems

    @property
    def caught_by_suites(self) -> bool:
        # INFO counts: a MAY-level rule not met is flagged in the report too (see RunOutcome.signals)
        return any(verdict in ("fail", "warn", "info") for _, _, verdict, _ in self.caught_by)

    @property
    def caught_by_fuzz(self) -> bool:
        return bool(self.fuzz_caught_by)

    @property
    def caught(self) -> bool:
        return self.caught_by_suites or self.caught_by_fuzz

    @property
    def attribution(self) -> str:
        """What caught the fault: "both", "suites", "fuzz" or "neither"."""
        return {(True, True): "both", (True, False): "suites", (False, True): "fuzz"}.get(
            (self.caught_by_suites, self.caught_by_fuzz), "neither")

    @property
    def attribution_label(self) -> str:
        """The table's "caught by": the attribution, and why fuzzing had no say where it had none."""
        if self.fault.not_fuzzable:
            who = "suites only" if self.attribution == "suites" else self.attribution
            return f"{who} (not fuzzable: {self.fault.not_fuzzable})"
        return self.attribution + ("" if self.fuzz is not None else " (not fuzzed)")

    @property
    def on_target(self) -> bool:
        """A catching check cites one of the requirements the fault is tied to."""
        wanted = set(self.fault.requirements)
        return any(wanted & set(reqs) for _, _, verdict, reqs in self.caught_by if verdict != "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault.name,
            "description": self.fault.description,
            "requirements": list(self.fault.requirements),
            "benign": self.fault.benign,
            "declared_suites": None if self.fault.suites is None else list(self.fault.suites),
            "suites_run": self.suites_run,
            "selection": self.selection,
            "catching_suites": self.catching_suites,
            "caught": self.caught,
            "caught_by_suites": self.caught_by_suites,
            "caught_by_fuzz": None if self.fuzz is None else self.caught_by_fuzz,  # None: not fuzzed
            "attribution": self.attribution,
            "fuzz": None if self.fuzz is None else self.fuzz.to_dict(self.fuzz_caught_by),
            "not_fuzzable": self.fault.not_fuzzable,  # why fuzzing cannot see it (then "fuzz" is None), else None
            "incomplete": self.incomplete,
            "not_run": self.not_run,
            "caught_by_own_requirement": self.on_target,
            "requirements_that_caught": sorted({r for _, _, v, reqs in self.caught_by if v != "error" for r in reqs}),
            "caught_by": [
                {"case": case, "check": check, "verdict": verdict, "requirements": list(reqs)}
                for case, check, verdict, reqs in sorted(self.caught_by)
            ],
            "duration_s": round(self.duration_s, 2),
        }


@dataclass
class MutationReport:
    target: str
    baseline: RunOutcome
    results: list[FaultResult]
    duration_s: float
    full: bool = False  # every fault ran against every suite (the periodic check)
    fuzz: FuzzMutation | None = None  # --fuzz: the search faults were fuzzed too
    fuzz_baseline: FuzzOutcome | None = None  # the fuzz run with no fault
    fuzz_only: bool = False  # --fuzz-only: no suite ran, only the search faults were injected

    @property
    def declaration_problems(self) -> list[str]:
        """Only a full run can see a suite outside a declaration catching its fault."""
        return [p for r in self.results for p in r.declaration_problems()] if self.full else []

    @property
    def false_positives(self) -> list[Signal]:
        """Failures, warnings and errors with no fault injected (info notes are observations, not verdicts)."""
        return sorted(s for s in self.baseline.signals() if s[2] != "info")

    @property
    def scored(self) -> list[FaultResult]:
        return [r for r in self.results if not r.fault.benign and not r.not_run]

    @property
    def not_run(self) -> list[FaultResult]:
        """Faults that were not injected (their suites need a PACS the run did not have): not scored."""
        return [r for r in self.results if r.not_run]

    @property
    def benign_failures(self) -> list[FaultResult]:
        """Legal variations the harness failed on: false positives too."""
        return [r for r in self.results if r.fault.benign and (r.caught or r.incomplete)]

    @property
    def caught(self) -> int:
        return sum(r.caught for r in self.scored)

    @property
    def fuzz_false_positives(self) -> list[FuzzFinding]:
        """Fuzz findings with no fault injected: the oracle (or the upstream) is wrong."""
        return list(self.fuzz_baseline.findings) if self.fuzz_baseline else []

    @property
    def not_fuzzable(self) -> list[FaultResult]:
        """Scored search faults declared not fuzzable: no fuzz run was spent on them (``Fault.not_fuzzable``)."""
        return [r for r in self.scored if r.fault.search and r.fault.not_fuzzable]

    def attribution_counts(self) -> dict[str, int]:
        """Scored faults by what caught them; "fuzz" is the figure only fuzzing reached."""
        counts = dict.fromkeys(("both", "suites", "fuzz", "neither"), 0)
        for r in self.scored:
            counts[r.attribution] += 1
        return counts

    @property
    def score(self) -> float:
        return self.caught / len(self.scored) if self.scored else 0.0

    @property
    def ok(self) -> bool:
        return (not self.false_positives and not self.benign_failures and self.caught == len(self.scored)
                and not self.declaration_problems and not self.fuzz_false_positives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "mode": "fuzz-only" if self.fuzz_only else "full" if self.full else "selected",
            "declaration_problems": self.declaration_problems,
            "injected": len(self.scored),
            "caught": self.caught,
            "score": round(self.score, 4),
            "no_fault_run": {
                "cases": len(self.baseline.cases),
                "suites": self.baseline.suite_ids,
                "green": not self.false_positives,
                "false_positives": [
                    {"case": c, "check": k, "verdict": v, "requirements": list(r)} for c, k, v, r in self.false_positives
                ],
                "duration_s": round(self.baseline.duration_s, 2),
            },
            "not_caught": [r.fault.name for r in self.scored if not r.caught],
            "not_run": [{"fault": r.fault.name, "reason": r.not_run} for r in self.not_run],
            "benign_variations": {
                "run": [r.fault.name for r in self.results if r.fault.benign],
                "failed_on": [r.fault.name for r in self.benign_failures],
            },
            "fuzz": self._fuzz_dict(),
            "faults": [r.to_dict() for r in self.results],
            "duration_s": round(self.duration_s, 2),
        }

    def _fuzz_dict(self) -> dict[str, Any] | None:
        if self.fuzz is None:
            return None
        fuzzed = [r for r in self.scored if r.fuzz is not None]
        quiet = self.fuzz_baseline  # None: no fuzzable fault was selected, so no fuzz session ran
        return {
            "budget": self.fuzz.budget, "budget_per_type": True, "seed": self.fuzz.seed, "suites_run": not self.fuzz_only,
            "no_fault_run": None if quiet is None else {**quiet.to_dict(), "green": not self.fuzz_false_positives},
            "search_faults": len(fuzzed),  # the fuzzed ones; the not fuzzable ones are listed under not_fuzzable
            "not_fuzzable": {"count": len(self.not_fuzzable),
                             "attribution": {a: sum(r.attribution == a for r in self.not_fuzzable)
                                             for a in ("suites", "neither")},
                             "faults": {r.fault.name: r.fault.not_fuzzable for r in self.not_fuzzable}},
            "caught_by_fuzz": sum(r.caught_by_fuzz for r in fuzzed),
            "caught_only_by_fuzz": sum(r.attribution == "fuzz" for r in self.scored),
            "attribution": self.attribution_counts(),
            "not_caught_by_fuzz": [r.fault.name for r in fuzzed if not r.caught_by_fuzz],
            "errors": {r.fault.name: r.fuzz.error for r in fuzzed if r.fuzz and r.fuzz.error},
        }


class _Collector:
    """A pytest plugin object that keeps the CaseResults of one in-process run."""

    def __init__(self) -> None:
        self.cases: list[CaseResult] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        case = getattr(report, "imgconf_case", None)
        if case is not None:
            self.cases.append(CaseResult.from_dict(case))


def run_suites(target: str, suites: list[Path], extra_args: Iterable[str] = (), rootdir: Path | None = None) -> RunOutcome:
    """The suites against one target, in this process (no reports, no terminal output)."""
    import pytest

    collector = _Collector()
    first = suites[0].resolve()
    args = [str(p) for p in suites] + options.pytest_argv({"target": target, "no_reports": True, "suites": suites}) + [
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        "-p", "no:randomly",
        "--rootdir", str(rootdir or (first if first.is_dir() else first.parent)),
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        *extra_args,
    ]
    started = time.perf_counter()
    code = pytest.main(args, plugins=[collector])
    return RunOutcome(collector.cases, int(code), time.perf_counter() - started, args)


def index_suites(paths: list[Path]) -> dict[str, Path]:
    """Suite id -> suite file, for the files pytest would collect under ``paths``."""
    return {suite: path for suite, (path, _) in index_suite_requirements(paths).items()}


def index_suite_requirements(paths: list[Path]) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Suite id -> (suite file, what its run must be given besides the target: ``requires``, e.g. "dicomweb").

    From ``imgconf list``'s rows (imgconf.suite.index): a suite whose bytes and loader are unchanged since it
    was last loaded and validated is not loaded again (about a second for the bundled suites); any other suite
    is loaded by the real loader, and one that does not load stops the mutation run before it starts."""
    from imgconf.suite.index import list_suites

    listing = list_suites(paths)
    if listing.errors:
        raise MutationError("a suite does not load: " + "; ".join(listing.errors))
    return {str(row["id"]): (Path(row["file"]), tuple(row["requires"])) for row in listing.rows}


def needs_pacs(fault: Fault, pacs_suites: set[str]) -> bool:
    """Without a DICOMweb PACS nothing can catch the fault: it says so (``requires``), or every suite it declares
    needs one."""
    return "dicomweb" in fault.requires or (bool(fault.suites) and set(fault.suites or ()) <= pacs_suites)


@dataclass(frozen=True)
class SuiteSelection:
    """Which suite files one fault's run collects, and why."""

    files: list[Path]  # empty: the run's own paths (every selected suite)
    reason: str


def select_suites(fault: Fault, available: dict[str, Path], *, full: bool) -> SuiteSelection:
    if full:
        return SuiteSelection([], "all: full run")
    if fault.suites is None:
        return SuiteSelection([], "all: no declared suites")
    chosen = [suite for suite in fault.suites if suite in available]
    if not chosen:  # e.g. `--suites` narrowed to a suite the fault does not name: judge that suite anyway
        return SuiteSelection([], "all: none of its declared suites selected")
    if set(chosen) == set(available):
        return SuiteSelection([], "declared")
    return SuiteSelection([available[suite] for suite in chosen], "declared")


def mutate(
    suites: list[Path],
    *,
    target: str | None = None,
    faults: Iterable[Fault] = MUTATION_FAULTS,
    extra_args: Iterable[str] = (),
    progress: Callable[[str, FaultResult | None], None] | None = None,
    only_suites: Iterable[str] = (),
    full: bool = False,
    pacs: str | None = None,
    fuzz: FuzzMutation | None = None,
    fuzz_only: bool = False,
    fuzz_auth: AuthSettings | None = None,
) -> MutationReport:
    """Run the no-fault baseline on every suite, then each fault through one proxy against its
    declared suites (``full``: against every suite). ``only_suites`` narrows the run to these ids.
    ``pacs``: a PACS of PACS_REGISTRY to start (and load) when a fault or suite of the run needs one.
    ``fuzz``: fuzz every search fault too (``fuzz_only``: only that, no suite; only the search faults).
    ``fuzz_auth``: the fuzzer's SMART client for a remote ``target`` (the embedded one gets the suites')."""
    from contextlib import ExitStack

    started = time.perf_counter()
    only = list(only_suites)
    if fuzz_only:
        fuzz = fuzz or FuzzMutation()
    faults = [f for f in faults if f.search or not fuzz_only]
    extra = list(extra_args) + options.pytest_argv({"suite": only})
    first = suites[0].resolve()
    rootdir = first if first.is_dir() else first.parent  # the same node ids whatever files a run collects
    index = {suite: found for suite, found in index_suite_requirements(suites).items() if not only or suite in only}
    available = {suite: path for suite, (path, _) in index.items()}
    pacs_suites = {suite for suite, (_, requires) in index.items() if "dicomweb" in requires}
    wanted = any(needs_pacs(f, pacs_suites) for f in faults) or (full and bool(pacs_suites))
    with ExitStack() as stack:
        no_pacs = "no PACS given (imgconf mutate --with-pacs orthanc)"
        if pacs and wanted:
            from imgconf.targets.base import TargetUnavailable
            from imgconf.targets.pacs_run import start_pacs

            try:
                server, _ = start_pacs(pacs)
            except TargetUnavailable as exc:
                no_pacs = f"PACS {pacs} unavailable: {exc}"
            else:
                stack.callback(server.stop)
                no_pacs = ""
                extra += options.pytest_argv({"dicomweb": server.dicomweb_root})
        auth = None  # the embedded target's SMART auth: (server side, the harness's client settings)
        client_auth = fuzz_auth
        if target is None:
            from imgconf.auth.embedded import embedded_auth
            from imgconf.reference.server import EmbeddedServer

            # The embedded target runs with SMART on, as `imgconf run` does, so auth faults can be caught.
            auth = embedded_auth()
            upstream = stack.enter_context(EmbeddedServer(auth=auth[0])).base_url
            label = "embedded reference server (SMART auth on)"
        else:
            upstream = label = target
        proxy = stack.enter_context(FaultProxy(upstream, []))
        if auth is not None:
            server_auth, settings = auth
            server_auth.accept_audience(proxy.base_url + "/auth/token")  # the token URL as the harness sees it
            client_auth = settings
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imgconf-mutate-")))
            extra += options.pytest_argv({"config": write_auth_config(workdir, proxy.base_url, settings), "preset": "mutate"})
        baseline = RunOutcome([], 0, 0.0) if fuzz_only else run_suites(proxy.base_url, suites, extra, rootdir)
        if not fuzz_only and (baseline.exit_code not in (0, 1) or not baseline.cases):
            raise MutationError(
                f"the no-fault run did not complete (pytest exit code {baseline.exit_code}, {len(baseline.cases)} cases): "
                "fix collection errors first (`imgconf list`)"
            )
        if progress:
            progress("no fault", None)
        quiet = baseline.signals()
        results = []
        for fault in faults:
            if no_pacs and needs_pacs(fault, pacs_suites):
                skipped = FaultResult(fault, not_run=f"no PACS: {no_pacs}", selection="declared")
                results.append(skipped)
                if progress:
                    progress(fault.name, skipped)
                continue
            if fuzz_only and not fault.fuzzable:  # no suite and no fuzz run could catch it: not injected
                skipped = FaultResult(fault, not_run=f"not fuzzable: {fault.not_fuzzable}", selection="none: --fuzz-only")
                results.append(skipped)
                if progress:
                    progress(fault.name, skipped)
                continue
            proxy.set_faults([fault])
            result = FaultResult(fault, selection="none: --fuzz-only") if fuzz_only else _suites_result(
                fault, select_suites(fault, available, full=full), proxy.base_url, suites, extra, rootdir, quiet)
            results.append(result)
            if progress and (fuzz is None or not fault.fuzzable):  # a fuzzed fault: after its fuzz run
                progress(fault.name, result)
        proxy.set_faults([])
        fuzz_quiet = None
        to_fuzz = [r for r in results if r.fault.fuzzable and not r.not_run]
        if fuzz is not None and to_fuzz:  # after every suite run: the fuzz fixtures stay loaded for all fuzz runs
            fuzz_quiet = _fuzz_every_fault(proxy, fuzz, client_auth, to_fuzz, progress)
    return MutationReport(label, baseline, results, time.perf_counter() - started, full=full, fuzz=fuzz,
                          fuzz_baseline=fuzz_quiet, fuzz_only=fuzz_only)


def _suites_result(fault: Fault, selection: SuiteSelection, url: str, suites: list[Path], extra: list[str],
                   rootdir: Path, quiet: set[Signal]) -> FaultResult:
    """The suites' verdict on one fault (already set on the proxy): the signals the no-fault run lacked."""
    outcome = run_suites(url, selection.files or suites, extra, rootdir)
    new = sorted(outcome.signals() - quiet)
    result = FaultResult(
        fault,
        caught_by=[s for s in new if s[2] != "error"],
        errors=[s[0] for s in new if s[2] == "error"],
        duration_s=outcome.duration_s,
        suites_run=outcome.suite_ids,
        selection=selection.reason,
    )
    if outcome.exit_code not in (0, 1):  # collection error or interruption: no verdict for this fault
        result.caught_by = []
        result.incomplete = f"the run did not complete (pytest exit code {outcome.exit_code})"
    return result


def _fuzz_every_fault(proxy: FaultProxy, fuzz: FuzzMutation, auth: AuthSettings | None, results: list[FaultResult],
                      progress: Callable[[str, FaultResult | None], None] | None) -> FuzzOutcome:
    """The no-fault fuzz run, then one per search fault (``results``, filled in), all through one session whose
    fixtures are loaded once with no fault (saves a load and a teardown per fault, and every run searches the same
    stored data). It runs after the suites: their runs never see the fuzz fixtures."""
    from imgconf.session import SessionOptions, TargetSession

    session = TargetSession(SessionOptions(target=proxy.base_url, auth=auth))
    try:
        quiet = run_fuzzing(proxy.base_url, fuzz, auth, session=session)  # every fuzzed type, --fuzz-budget each
        if quiet.error:
            raise MutationError(f"the no-fault fuzz run did not complete: {quiet.error}")
        if progress:
            progress("no fault: fuzz", None)
        known = frozenset(f.cause for f in quiet.findings)
        for result in results:
            proxy.set_faults([result.fault])
            result.fuzz = run_fuzzing(proxy.base_url, fuzz, auth, result.fault.search_types, known=known, session=session)
            result.fuzz_caught_by = result.fuzz.new_since(quiet)
            if progress:
                progress(result.fault.name, result)
        return quiet
    finally:
        proxy.set_faults([])  # the fixtures are removed through a proxy with no fault
        session.close()


def run_fuzzing(url: str, fuzz: FuzzMutation, auth: AuthSettings | None, types: Sequence[str] | None = None,
                known: frozenset[str] = frozenset(), session: TargetSession | None = None) -> FuzzOutcome:
    """One ``imgconf fuzz`` run against ``url`` (the proxy, with or without a fault): each of ``types`` (None:
    every fuzzed type) in turn with ``fuzz.budget`` queries, from the same seed. ``known``: the no-fault run's
    causes, which do not end the run. ``session``: fuzz through it (its fixtures loaded once, left open)."""
    from imgconf.fuzz.fixtures import FUZZ_TYPES
    from imgconf.fuzz.runner import FuzzSettings, run_fuzz

    started = time.perf_counter()
    settings = FuzzSettings(budget=fuzz.budget, seed=fuzz.seed, resource_types=tuple(types or FUZZ_TYPES),
                            per_type=True, known_causes=known,
                            # caught or not is all a fault run must tell: it ends at its first new finding, unshrunk
                            stop_at_first_finding=True, shrink=False)
    try:
        run = run_fuzz(url, settings, auth=auth, session=session)
    except Exception as exc:  # noqa: BLE001 — a fault may break the fuzz run itself: no verdict, said why
        return FuzzOutcome(error=f"{type(exc).__name__}: {exc}", duration_s=time.perf_counter() - started)
    outcome = FuzzOutcome(list(run.findings), run.queries, run.not_judged, time.perf_counter() - started,
                          queries_per_type=dict(run.queries_per_type))
    if not run.queries:  # e.g. no CapabilityStatement to plan from: nothing was judged, which is no verdict either
        why = "; ".join(f"{rtype}: {', '.join(reasons[:2])}" for rtype, reasons in run.left_out.items())
        outcome.error = "no query was generated and judged" + (f" ({why})" if why else "")
    return outcome


def write_auth_config(workdir: Path, url: str, settings: AuthSettings) -> Path:
    """A preset for the in-process runs: the ephemeral client's private JWKS in a 0600 file that
    lives only as long as the mutation run (the config format takes keys from files, never inline)."""
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    keys = []
    for key in settings.keys:
        jwk = json.loads((RSAAlgorithm if key.alg == "RS384" else ECAlgorithm).to_jwk(key.private_key))
        keys.append({**jwk, "kid": key.kid, "alg": key.alg})
    key_file = workdir / "client.jwks"
    key_file.touch(mode=0o600)
    key_file.write_text(json.dumps({"keys": keys}), encoding="utf-8")
    config = workdir / "imgconf.toml"
    config.write_text(
        "[presets.mutate]\n"
        f'url = "{url}"\n'
        "[presets.mutate.auth]\n"
        f'client_id = "{settings.client_id}"\n'
        f'key_file = "{key_file}"\n'
        f'scopes = "{" ".join(settings.scopes)}"\n',
        encoding="utf-8",
    )
    return config


def write_json(report: MutationReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")


def select_faults(names: Iterable[str]) -> list[Fault]:
    """The mutation faults called ``names``; KeyError for any other name (a transport fault's too)."""
    chosen = [registry.fault(name) for name in names]
    mutation_names = {f.name for f in MUTATION_FAULTS}
    for one in chosen:
        if one.name not in mutation_names:
            raise KeyError(f"{one.name!r} is a transport fault (tests/test_reliability.py), not a mutation fault")
    return chosen

"""`imgconf fuzz`: generate searches, judge each with the oracle, shrink every failure, one finding per cause.

Two Hypothesis phases, both reproducible from the seed alone (``database=None``, ``@seed``):

1. Generation: ``@given(search_queries(...))`` with ``phases=[generate]`` and ``max_examples=budget``.
   The test never fails; it judges each query and keeps, per preliminary cause, the first failing
   example (its Hypothesis choice sequence) and how often the cause occurred. ``--seconds`` stops
   generation when the time is up. Why not one run that raises per cause: Hypothesis stops generating
   soon after the first failure, so the budget would not be spent looking for other causes.
2. Shrinking: per cause, ``hypothesis.find`` replays the stored example (it is put in an in-memory
   database's secondary corpus, which Hypothesis shrinks from) and shrinks it to the smallest query
   that still fails the same way — fewest parameters, simplest values, as the strategies order them.
   Hypothesis's shrinker can stop at a local minimum (two parameters it does not remove one at a time,
   or MAX_SHRINK_CALLS), and values differ from run to run (server-assigned ids), so the same cause
   could end at different shapes. A deterministic greedy pass (``minimize``) follows: it removes one
   criterion, comma alternative, extra ``_sort`` key, ``_count``/``_include``, POST or compartment at a
   time, in a fixed order, keeping each removal after which the same cause still fails, until no single
   removal keeps it failing (1-minimal; at most MAX_MINIMIZE_CALLS new queries per cause).
   Causes are then keyed again on the shrunk query (``cause_key``) and merged.

Fixtures are loaded first and removed at the end by ``TargetSession.close()`` — also on Ctrl-C and
SIGTERM (the CLI turns SIGTERM into KeyboardInterrupt), since everything runs inside ``try/finally``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgconf.fuzz.fixtures import FUZZ_TYPES, load_fixtures
from imgconf.fuzz.judge import STRENGTH, Failure, JudgedQuery, judge_query
from imgconf.fuzz.model import FuzzFinding, FuzzQuery, FuzzRun
from imgconf.results import Level

if TYPE_CHECKING:
    from imgconf.auth import AuthSettings
    from imgconf.session import TargetSession

# (universe, plan) -> SearchStrategy[FuzzQuery]; Any: Hypothesis is imported only when a run starts
QueryStrategy = Callable[[Any, Any], Any]
MAX_SHRINK_CALLS = 250  # queries one shrink may send; past it the best example so far stands
MAX_MINIMIZE_CALLS = 40  # new queries the greedy pass after the shrink may send per cause
MAX_CONSECUTIVE_UNREACHABLE = 5


class TargetUnavailable(Exception):
    """The target did not answer (transport errors): the run cannot go on."""


@dataclass(frozen=True)
class FuzzSettings:
    budget: int | None = 200
    seconds: float | None = None
    seed: int = 0
    resource_types: tuple[str, ...] = FUZZ_TYPES
    probe_all: bool = False
    # `imgconf mutate --fuzz` asks only whether a fault is caught: generation ends at the first query with a
    # finding, and findings may keep the query they were found with (shrinking costs up to ~300 queries each).
    stop_at_first_finding: bool = False
    shrink: bool = True
    # Per type (`imgconf fuzz --per-type`, `imgconf mutate --fuzz`): each resource type in turn gets the whole
    # budget from the same seed, instead of the types sharing it. Why: a defect of one type's parameter
    # (a date prefix, a string rule) was missed when three types shared 2,000 queries.
    per_type: bool = False
    # Causes already known (the mutation run's no-fault findings): they do not end a stop_at_first_finding run.
    known_causes: frozenset[str] = frozenset()
    # IHE actors the target is judged as (imgconf.fuzz.actors: mhd-responder, pdqm-supplier): the parameters they
    # must process are never taken as leniently ignored. None: those the CapabilityStatement claims (instantiates).
    actors: tuple[str, ...] | None = None

    def total_budget(self, types: int) -> int | None:
        """Queries the run may judge over ``types`` resource types (None: no budget, only --seconds)."""
        return None if self.budget is None else self.budget * (types if self.per_type else 1)


@dataclass
class _Cause:
    """A preliminary cause seen during generation: its first example and how often it occurred."""

    query: FuzzQuery
    failure: Failure
    choices: tuple[Any, ...]
    occurrences: int = 1


@dataclass
class _Judge:
    """Judges queries once each (shrinking asks the same query again and again)."""

    session: TargetSession
    cache: dict[FuzzQuery, JudgedQuery] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)  # references the oracle read: fixtures do not change
    sent: int = 0
    unreachable_in_a_row: int = 0
    actors: frozenset[str] = frozenset()  # IHE actors the target is judged as

    def __call__(self, query: FuzzQuery) -> JudgedQuery:
        if query not in self.cache:
            judged = judge_query(self.session, query, self.resolved, self.actors)
            self.sent += 1
            self.unreachable_in_a_row = self.unreachable_in_a_row + 1 if judged.unreachable else 0
            if self.unreachable_in_a_row >= MAX_CONSECUTIVE_UNREACHABLE:
                raise TargetUnavailable(f"{self.unreachable_in_a_row} queries in a row got no answer: {judged.not_judged}")
            if len(self.cache) > 20_000:  # bounded memory on long runs; generated queries rarely repeat
                self.cache.clear()
            self.cache[query] = judged
        return self.cache[query]


def interesting(judged: JudgedQuery) -> list[Failure]:
    """Failures worth a finding: SHALL/SHOULD possible. A self-link "echoed criteria" failure only
    repeats a precision failure of the same query (one cause, one verdict)."""
    found = [f for f in judged.failures if STRENGTH[f.strongest] >= STRENGTH[Level.SHOULD]]
    if any(f.defect.kind == "precision" for f in found):
        found = [f for f in found if not (f.defect.kind == "self-link" and "REST-046" in f.defect.requirement)]
    return found


def _key(query: FuzzQuery, failure: Failure) -> str:
    from imgconf.fuzz.shape import cause_key

    culprit = failure.culprit if failure.culprit and not failure.culprit.startswith("(") else None
    return cause_key(query, failure.defect, culprit)


def _names(query: FuzzQuery) -> frozenset[str]:
    return frozenset(name for name, _ in query.params)


def _preliminary_key(query: FuzzQuery, failure: Failure) -> str:
    """The cause as far as generation can tell. Without a culprit (a recall failure of several criteria)
    the parameter names are part of it, so different combinations are shrunk apart (and merged after)."""
    key = _key(query, failure)
    return key if failure.culprit else f"{key} [{' '.join(sorted(_names(query)))}]"


def _same_cause(failure: Failure) -> Callable[[FuzzQuery, Failure], bool]:
    """Does a (shrunk) query fail like ``failure``: the same kind about the same criterion — or the same kind
    with no criterion at all (a server that loses matches whatever is asked: one finding, not one per parameter)."""
    def same(query: FuzzQuery, other: Failure) -> bool:
        if other.defect.kind != failure.defect.kind:
            return False
        if failure.culprit is None or other.culprit == failure.culprit:
            return True
        return other.culprit is None and not query.compartment and not _criteria(query)
    return same


def _criteria(query: FuzzQuery) -> list[str]:
    from imgconf.searchparams.query import RESULT_PARAMS

    return [name for name, _ in query.params if name.split(":", 1)[0] not in RESULT_PARAMS]


def run_fuzz(
    base_url: str | None,
    settings: FuzzSettings,
    *,
    auth: AuthSettings | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    reports_dir: Path | None = None,
    timeout: float = 30.0,
    verify_tls: bool = True,
    queries: QueryStrategy | None = None,
    session: TargetSession | None = None,
) -> FuzzRun:
    """Load the fuzz fixtures, generate, judge, shrink, dedupe, clean up (also on Ctrl-C); the run.

    ``base_url`` None: the embedded reference server (with SMART auth on, as ``imgconf run``).
    ``reports_dir``: where the run tag is noted for ``imgconf cleanup`` after a hard stop.
    ``queries``: the strategy factory (default ``strategies.search_queries``; tests give a small one).
    ``session``: an open session to fuzz through instead (base_url, auth, headers, timeout, verify_tls unused): the
    fixtures it already holds are not loaded again and it is left open — the mutation run loads them once, with no
    fault, for the no-fault run and every fault's (the CapabilityStatement is still read afresh by each run)."""
    from imgconf.session import SessionOptions, TargetSession

    header_list = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    started = time.monotonic()
    own = session is None
    if session is None:
        session = TargetSession(SessionOptions(target=base_url, auth=auth, headers=header_list, timeout=timeout,
                                               verify_tls=verify_tls))
    try:
        if reports_dir is not None and own:
            _note_run(session, reports_dir)
        run = FuzzRun(target=session.base_url, resource_types=list(settings.resource_types), seed=settings.seed,
                      budget=settings.budget, seconds=settings.seconds, restricted_to_capability=not settings.probe_all,
                      per_type=settings.per_type)
        _fuzz(session, settings, run, progress, started, queries)
        run.duration_s = round(time.monotonic() - started, 2)
        return run
    finally:
        if own:
            session.close()


def _note_run(session: TargetSession, reports_dir: Path) -> None:
    from imgconf import runstate

    with contextlib.suppress(OSError):  # a read-only checkout: the run goes on without the way back
        runstate.record_start(reports_dir, session.run_tag, session.base_url, read_only=False,
                              embedded=session.embedded is not None)


def _fuzz(session: TargetSession, settings: FuzzSettings, run: FuzzRun,
          progress: Callable[[int, int], None] | None, started: float, queries: QueryStrategy | None) -> None:
    from imgconf.client import TargetUnreachable
    from imgconf.fuzz.strategies import Universe, plan_from_capability, search_queries

    try:  # an unreachable target is no target without a CapabilityStatement: the run cannot start
        metadata = session.client.send("GET", "metadata")
    except TargetUnreachable as exc:
        raise TargetUnavailable(str(exc)) from None
    # planned from this read, not the session's cached one: a session shared by runs (mutate) may meet a fault
    # that breaks /metadata itself
    statement = metadata.resource if metadata.status == 200 else None
    capability = statement if statement and statement.get("resourceType") == "CapabilityStatement" else None
    plan, left_out = plan_from_capability(capability, settings.resource_types, probe_all=settings.probe_all)
    run.left_out = left_out
    if not plan.resource_types:
        return
    universe = Universe(resources=load_fixtures(session, settings.resource_types), base_url=session.base_url)
    from imgconf.fuzz.actors import claimed_actors

    actors = frozenset(settings.actors) if settings.actors is not None else claimed_actors(session.capabilities())
    run.actors = sorted(actors)
    run.actors_named = settings.actors is not None
    judge = _Judge(session, actors=actors)
    total = settings.total_budget(len(plan.resource_types)) or 0
    # per_type: one generation (and its shrinks) per type, each with the whole budget; else the types share it
    parts = [replace(plan, resource_types=(rtype,)) for rtype in plan.resource_types] if settings.per_type else [plan]
    for part in parts:
        strategy = (queries or search_queries)(universe, part)
        causes = _generate(strategy, judge, settings, run, progress, started, total)
        run.findings += (_shrink_all(strategy, judge, causes, settings.seed) if settings.shrink
                         else _as_found(judge, causes, settings.seed))
        if settings.stop_at_first_finding and _has_new(run.findings, settings.known_causes):
            break
    run.findings.sort(key=lambda f: f.cause)


def _has_new(findings: Sequence[FuzzFinding], known: frozenset[str]) -> bool:
    return any(f.cause not in known for f in findings)


def _as_found(judge: _Judge, causes: dict[str, _Cause], seed_value: int) -> list[FuzzFinding]:
    """Findings with the queries they were generated with (no shrinking), one per cause."""
    from imgconf.fuzz.shape import query_shape

    findings: dict[str, FuzzFinding] = {}
    for cause in causes.values():
        key = _key(cause.query, cause.failure)
        if key in findings:
            findings[key].occurrences += cause.occurrences
            continue
        judged = judge(cause.query)  # cached: no query is sent again
        findings[key] = FuzzFinding(
            cause=key, shape=query_shape(cause.query), query=cause.query, defect=cause.failure.defect,
            expected_ids=judged.expected_ids, actual_ids=judged.actual_ids, seed=seed_value,
            occurrences=cause.occurrences, evidence=judged.exchanges,
        )
    return sorted(findings.values(), key=lambda f: f.cause)


def _generate(strategy: Any, judge: _Judge, settings: FuzzSettings, run: FuzzRun,
              progress: Callable[[int, int], None] | None, started: float, total: int) -> dict[str, _Cause]:
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings as hsettings
    from hypothesis.control import current_build_context

    causes: dict[str, _Cause] = {}
    deadline = started + settings.seconds if settings.seconds else None
    budget = settings.budget if settings.budget is not None else 10**9

    class TimeUp(Exception):  # --seconds spent, or (stop_at_first_finding) a finding is in
        pass

    stopped = [False]  # Hypothesis replays the example that raised TimeUp: that replay is not another query

    @seed(settings.seed)
    @hsettings(max_examples=budget, database=None, deadline=None, phases=[Phase.generate], derandomize=False,
               verbosity=Verbosity.quiet, report_multiple_bugs=False,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example])
    @given(strategy)
    def generated(query: FuzzQuery) -> None:
        if stopped[0] or (deadline is not None and time.monotonic() >= deadline):
            stopped[0] = True
            raise TimeUp
        judged = judge(query)
        run.queries_per_type[query.resource_type] = run.queries_per_type.get(query.resource_type, 0) + 1
        if judged.judged:
            run.queries += 1
        else:
            run.not_judged += 1
        if progress is not None:
            progress(run.queries + run.not_judged, total)
        for failure in interesting(judged):
            key = _preliminary_key(query, failure)
            if key in causes:
                causes[key].occurrences += 1
            else:
                causes[key] = _Cause(query, failure, tuple(current_build_context().data.choices))
        if settings.stop_at_first_finding and any(
                _key(c.query, c.failure) not in settings.known_causes for c in causes.values()):
            stopped[0] = True
            raise TimeUp

    with contextlib.suppress(TimeUp):
        generated()
    return causes


def _shrink_all(strategy: Any, judge: _Judge, causes: dict[str, _Cause], seed_value: int) -> list[FuzzFinding]:
    from imgconf.fuzz.shape import query_shape

    findings: dict[str, FuzzFinding] = {}
    # Most frequent first; a combination that holds a parameter already shrunk to a finding of the same
    # kind is counted there instead of shrunk again (shrinking costs up to MAX_SHRINK_CALLS queries).
    for cause in sorted(causes.values(), key=lambda c: (c.failure.culprit is None, -c.occurrences)):
        if cause.failure.culprit is None and (covering := next(
                (f for f in findings.values() if f.defect.kind == cause.failure.defect.kind
                 and _names(f.query) and _names(f.query) <= _names(cause.query)), None)) is not None:
            covering.occurrences += cause.occurrences
            continue
        same = _same_cause(cause.failure)
        query = minimize(judge, _shrink(strategy, judge, cause), same)
        judged = judge(query)
        failure = next((f for f in interesting(judged) if same(query, f)), None)
        if failure is None or failure.defect.level not in ("SHALL", "SHALL NOT", "SHOULD", "SHOULD NOT"):
            continue  # shrunk to a failure R4 leaves open (a MAY modifier): no finding
        key = _key(query, failure)
        if key in findings:
            findings[key].occurrences += cause.occurrences
            continue
        findings[key] = FuzzFinding(
            cause=key, shape=query_shape(query), query=query, defect=failure.defect,
            expected_ids=judged.expected_ids, actual_ids=judged.actual_ids, seed=seed_value,
            occurrences=cause.occurrences, evidence=judged.exchanges,
        )
    return sorted(findings.values(), key=lambda f: f.cause)


def _shrink(strategy: Any, judge: _Judge, cause: _Cause) -> FuzzQuery:
    """The smallest query that fails like ``cause``, Hypothesis shrinking from its first example."""
    from hypothesis import Phase, find, settings as hsettings
    from hypothesis.database import InMemoryExampleDatabase, choices_to_bytes
    from hypothesis.errors import Flaky, HypothesisWarning, NoSuchExample

    same = _same_cause(cause.failure)
    best: list[FuzzQuery] = [cause.query]
    calls = [0]

    def fails_the_same(query: FuzzQuery) -> bool:
        if calls[0] >= MAX_SHRINK_CALLS:  # out of patience: only the best so far still counts
            return query == best[0]
        calls[0] += 1
        if any(same(query, f) for f in interesting(judge(query))):
            if _simpler(query, best[0]):
                best[0] = query
            return True
        return False

    database = InMemoryExampleDatabase()
    key = b"imgconf-fuzz-shrink"
    # The secondary corpus is what Hypothesis shrinks from (the primary one it would only replay).
    database.save(key + b".secondary", choices_to_bytes(cause.choices))
    try:
        with warnings.catch_warnings():  # find() spells out the strategy (sampled from every fixture value): noise
            warnings.filterwarnings("ignore", message="Generating overly large repr", category=HypothesisWarning)
            return find(strategy, fails_the_same, database_key=key,
                        settings=hsettings(database=database, phases=[Phase.reuse, Phase.shrink], max_examples=1,
                                           deadline=None))
    except (NoSuchExample, Flaky):  # it no longer fails (a flaky target, or past MAX_SHRINK_CALLS): the best so far
        return best[0]


def _simpler(a: FuzzQuery, b: FuzzQuery) -> bool:
    return (len(a.params), len(a.display())) < (len(b.params), len(b.display()))


def _without(params: tuple[tuple[str, str], ...], index: int, value: str | None = None) -> tuple[tuple[str, str], ...]:
    """``params`` without the one at ``index`` (``value`` None), or with its value replaced by ``value``."""
    if value is None:
        return params[:index] + params[index + 1:]
    return params[:index] + ((params[index][0], value),) + params[index + 1:]


def _removals(query: FuzzQuery) -> Iterator[FuzzQuery]:
    """Every query one removal simpler than ``query``, in a fixed order (the same query gives the same
    sequence): compartment, POST, whole parameters (sorted by name and value, so the order they were sent
    in does not matter), then one comma alternative of a criterion, then one ``_sort`` key beyond the first."""
    from imgconf.fuzz.shape import LITERAL_PARAMS
    from imgconf.searchparams.text import split_unescaped

    if query.compartment:
        yield replace(query, compartment=None)
    if query.method == "POST":
        yield replace(query, method="GET")
    params = query.params
    order = sorted(range(len(params)), key=lambda i: params[i])
    for i in order:
        yield replace(query, params=_without(params, i))
    for i in order:
        name, value = params[i]
        if name == "_sort":
            keys = value.split(",")
            for k in range(1, len(keys)):
                yield replace(query, params=_without(params, i, ",".join(keys[:k] + keys[k + 1:])))
        elif name.split(":", 1)[0] not in LITERAL_PARAMS and name != "_count":
            alternatives = split_unescaped(value, ",")
            for k in range(len(alternatives)) if len(alternatives) > 1 else ():
                yield replace(query, params=_without(params, i, ",".join(alternatives[:k] + alternatives[k + 1:])))


def minimize(judge: Callable[[FuzzQuery], JudgedQuery], query: FuzzQuery,
             same: Callable[[FuzzQuery, Failure], bool], max_calls: int = MAX_MINIMIZE_CALLS) -> FuzzQuery:
    """Greedy, deterministic: remove one part of ``query`` at a time (``_removals``), keep a removal after which
    it still fails the same way (``same``, re-judged), until no single removal does (1-minimal) or ``max_calls``
    queries not judged before were sent. Escapes the local minima Hypothesis's shrinker can stop at."""
    seen: set[FuzzQuery] = {query}
    calls = 0
    improved = True
    while improved:
        improved = False
        for candidate in _removals(query):
            if candidate in seen:
                continue
            if calls >= max_calls:
                return query
            seen.add(candidate)
            calls += 1  # an upper bound: the run's judge answers a query it judged before from its cache
            if any(same(candidate, f) for f in interesting(judge(candidate))):
                query, improved = candidate, True
                break
    return query

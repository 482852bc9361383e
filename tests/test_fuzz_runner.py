"""The `imgconf fuzz` engine: judging one query with the oracle, the run, shrinking, dedupe, cleanup.

Real HTTP against the reference server; misbehaviour is the reference server behind FaultProxy.
Most tests use a small local strategy (modality, status, _count) so they are fast and do not depend
on the generator's distribution; one runs the real generator against the embedded server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import yaml
from fuzz_support import loaded_through
from hypothesis import strategies as st

from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault, ProxyCall
from imgconf.faults.registry import BY_NAME
from imgconf.faults.rewrite import drop_params, named, outcome_response, set_status
from imgconf.fixtures import RUN_TAG_SYSTEM
from imgconf.fuzz.fixtures import FUZZ_FIXTURES, fixture_keys, load_fixtures
from imgconf.fuzz.judge import Failure, judge_query
from imgconf.fuzz.model import FuzzQuery
from imgconf.fuzz.runner import FuzzSettings, run_fuzz
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions, TargetSession

IMAGING = ("ImagingStudy",)


def small_queries(universe: Any, plan: Any) -> Any:
    """ImagingStudy searches of one to three of modality, status and _count (simplest values first)."""
    pair = st.one_of(
        st.sampled_from(["CT", "MR", "US", "NM"]).map(lambda v: ("modality", v)),
        st.sampled_from(["available", "registered", "cancelled"]).map(lambda v: ("status", v)),
        st.sampled_from(["2", "5"]).map(lambda v: ("_count", v)),
    )
    return st.lists(pair, min_size=1, max_size=3, unique_by=lambda p: p[0]).map(
        lambda pairs: FuzzQuery("ImagingStudy", tuple(pairs)))


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def proxy(upstream: EmbeddedServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.base_url, []) as p:
        yield p


@pytest.fixture(scope="module")
def loaded(proxy: FaultProxy) -> Iterator[TargetSession]:
    """A session through the proxy with the ImagingStudy fuzz fixtures loaded (faults set per test)."""
    with loaded_through(proxy, IMAGING) as session:
        yield session


def tagged_left(base_url: str) -> dict[str, int]:
    """Resources of the fuzzed types (and their dependencies' types) still carrying any imgconf run tag."""
    left = {}
    with httpx.Client(base_url=base_url, headers={"Accept": "application/fhir+json"}, timeout=10) as client:
        for rtype in ("ImagingStudy", "DocumentReference", "Patient", "Practitioner", "Endpoint", "Binary", "Encounter"):
            bundle = client.get(f"/{rtype}", params={"_tag": f"{RUN_TAG_SYSTEM}|", "_count": "100"}).json()
            left[rtype] = len(bundle.get("entry") or [])
    return {k: v for k, v in left.items() if v}


# -- fixtures ------------------------------------------------------------------------------------

def test_fuzz_fixtures_are_those_the_search_suites_use() -> None:
    used: set[str] = set()
    for path in suites_dir().rglob("*.yaml"):
        suite = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(suite, dict) and "search:" in path.read_text(encoding="utf-8"):
            used |= set(suite.get("fixtures") or [])
    fuzzed = set(fixture_keys(("ImagingStudy", "DocumentReference", "Patient")))
    assert fuzzed <= used
    wanted = {k for k in used if k.split("/")[0] in ("imagingstudy", "documentreference", "patient")
              and not k.split("/")[1].startswith("pacs-")}
    assert wanted <= fuzzed, f"search suites use fixtures fuzzing does not load: {sorted(wanted - fuzzed)}"
    assert set(FUZZ_FIXTURES) == {"ImagingStudy", "DocumentReference", "Patient"}
    with pytest.raises(ValueError, match="Observation"):
        fixture_keys(("Observation",))


# -- judging one query ----------------------------------------------------------------------------

def test_a_conformant_answer_has_no_defect_and_names_expected_and_returned_ids(loaded: TargetSession, proxy: FaultProxy) -> None:
    proxy.set_faults([])
    judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("modality", "CT"), ("_sort", "-started"), ("_count", "1"))))
    assert judged.judged and judged.status == 200
    assert judged.defects == [] and judged.failures == []
    assert judged.expected_ids and sorted(judged.actual_ids) == judged.expected_ids  # paged, _count=1: all pages read
    assert len(judged.exchanges) == len(judged.expected_ids)  # one exchange per page, redacted dicts
    assert all(isinstance(e, dict) and e["status"] == 200 for e in judged.exchanges)


def test_a_ignored_declared_parameter_is_a_precision_defect_citing_its_requirement(loaded: TargetSession,
                                                                                   proxy: FaultProxy) -> None:
    proxy.set_faults([BY_NAME["ignores-modality"]])
    judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("modality", "CT"),)))
    kinds = {d.kind for d in judged.defects}
    assert "precision" in kinds
    precision = next(f for f in judged.failures if f.defect.kind == "precision")
    assert precision.culprit == "modality"
    assert "IS-053" in precision.defect.requirement and precision.defect.level == "SHALL"
    assert set(judged.actual_ids) > set(judged.expected_ids)


def test_an_unsupported_modifier_left_out_of_the_self_link_is_not_judged(loaded: TargetSession, proxy: FaultProxy) -> None:
    """R4 lenient handling (REST-034/082): a server that ignores modality:not and says so (self link) is right;
    the suites' oracle (lenient_ignored off) still judges every criterion it sent."""
    from imgconf.checks.base import CheckContext
    from imgconf.checks.search import check_search
    from imgconf.checks.search_target import SearchExpectation
    from imgconf.results import Level, Verdict
    from imgconf.suite.model import Request

    proxy.set_faults([Fault("ignores-modality-not", "drops modality:not", ("REST-034",), on_request=drop_params(named("modality:not")))])
    query = FuzzQuery("ImagingStudy", (("modality:not", "CT"),))
    judged = judge_query(loaded, query)
    assert judged.judged and judged.failures == []
    response = loaded.client.send("GET", query.path, params=list(query.params))
    strict = CheckContext(response=response, request=Request("GET", query.path), exchange=0, requirements=("IS-053",),
                          level=Level.SHALL, variables={}, session=loaded)
    precision = [r for r in check_search(SearchExpectation(), strict) if r.detail.startswith("precision")]
    assert precision and precision[0].verdict is Verdict.FAIL


def test_a_refusal_is_not_judged_and_a_server_error_is_a_should_defect(loaded: TargetSession, proxy: FaultProxy) -> None:
    def refuse(call: ProxyCall) -> Any:
        if call.is_search and any(k == "status" for k, _ in call.query):
            return outcome_response(400, "not-supported", "status searches are not supported")
        return None

    proxy.set_faults([Fault("refuses-status", "400 to status", ("REST-033",), on_request=refuse)])
    refused = judge_query(loaded, FuzzQuery("ImagingStudy", (("status", "available"),)))
    assert not refused.judged and refused.status == 400 and "400" in (refused.not_judged or "")
    assert refused.failures == []
    proxy.set_faults([Fault("crashes", "500 to searches", ("REST-033",), on_response=set_status(500))])
    crashed = judge_query(loaded, FuzzQuery("ImagingStudy", (("modality", "CT"),)))
    assert crashed.judged and [(d.kind, d.requirement, d.level) for d in crashed.defects] == [("status", ("REST-033",), "SHOULD")]


# -- the run ------------------------------------------------------------------------------------------

def test_a_fault_is_found_shrunk_to_one_parameter_and_deduplicated(proxy: FaultProxy, upstream: EmbeddedServer) -> None:
    before = tagged_left(upstream.base_url)  # the module's own session keeps its fixtures until the end
    proxy.set_faults([BY_NAME["ignores-modality"]])
    try:
        run = run_fuzz(proxy.base_url, FuzzSettings(budget=40, seed=0, resource_types=IMAGING), queries=small_queries)
    finally:
        proxy.set_faults([])
    assert run.queries == 40 and run.not_judged == 0
    causes = [f.cause for f in run.findings]
    assert causes == ["ImagingStudy modality precision"], causes
    finding = run.findings[0]
    assert len(finding.query.params) == 1 and finding.query.params[0][0] == "modality"
    assert finding.occurrences > 1  # many generated queries, one finding
    assert finding.defect.level == "SHALL" and "IS-053" in finding.defect.requirement
    assert set(finding.actual_ids) > set(finding.expected_ids) and finding.evidence
    assert finding.seed == 0 and finding.shape.startswith("ImagingStudy?modality=")
    again = run_fuzz(proxy.base_url, FuzzSettings(budget=40, seed=0, resource_types=IMAGING), queries=small_queries)
    assert again.findings == []  # the fault is gone: the same seed is clean
    assert tagged_left(upstream.base_url) == before


def test_stop_at_first_finding_ends_generation_and_keeps_the_query_as_found(proxy: FaultProxy) -> None:
    """What `imgconf mutate --fuzz` asks of a fault run: caught or not, without spending the budget or shrinking."""
    proxy.set_faults([BY_NAME["ignores-modality"]])
    try:
        run = run_fuzz(proxy.base_url, FuzzSettings(budget=40, seed=0, resource_types=IMAGING,
                                                    stop_at_first_finding=True, shrink=False), queries=small_queries)
    finally:
        proxy.set_faults([])
    assert [f.cause for f in run.findings] == ["ImagingStudy modality precision"]
    assert run.queries + run.not_judged < 40  # generation ended at the first finding
    finding = run.findings[0]
    assert any(name == "modality" for name, _ in finding.query.params)
    assert finding.evidence and finding.defect.level == "SHALL"


def test_the_reference_server_gives_no_finding_with_the_generator() -> None:
    with EmbeddedServer() as srv:
        run = run_fuzz(srv.base_url, FuzzSettings(budget=30, seed=1))
        assert run.queries + run.not_judged == 30
        assert [f.cause for f in run.findings] == []
        assert set(run.left_out) == {"ImagingStudy", "DocumentReference", "Patient"}
        assert tagged_left(srv.base_url) == {}


def test_ctrl_c_during_generation_leaves_no_fixture_behind(upstream: EmbeddedServer) -> None:
    during: list[dict[str, int]] = []

    def interrupt(done: int, total: int) -> None:
        if done == 3:
            during.append(tagged_left(upstream.base_url))
            raise KeyboardInterrupt

    before = tagged_left(upstream.base_url)
    with pytest.raises(KeyboardInterrupt):
        run_fuzz(upstream.base_url, FuzzSettings(budget=50, seed=0), progress=interrupt, queries=small_queries)
    assert during and during[0]["ImagingStudy"] > before.get("ImagingStudy", 0)  # the fixtures were there
    assert tagged_left(upstream.base_url) == before


def test_an_unreachable_target_stops_the_run() -> None:
    from imgconf.fuzz.runner import TargetUnavailable

    with pytest.raises(TargetUnavailable):
        run_fuzz("http://127.0.0.1:9/fhir", FuzzSettings(budget=5), timeout=2)


def test_seconds_stop_generation_at_the_time_limit(upstream: EmbeddedServer) -> None:
    started = time.monotonic()
    run = run_fuzz(upstream.base_url, FuzzSettings(budget=None, seconds=2.0, seed=0, resource_types=IMAGING),
                   queries=small_queries)
    took = time.monotonic() - started
    assert run.queries > 0 and run.budget is None and run.seconds == 2.0
    # fixtures are loaded within the limit's clock; teardown and the embedded client add a little
    assert took < 2.0 + 10, took


def dated_queries(universe: Any, plan: Any) -> Any:
    """ImagingStudy searches of started (month and day values inside coarser fixture dates), modality and _count."""
    pair = st.one_of(
        st.sampled_from(["ge2019", "2019-03", "2020-07-14"]).map(lambda v: ("started", v)),
        st.sampled_from(["CT", "NM"]).map(lambda v: ("modality", v)),
        st.sampled_from(["3"]).map(lambda v: ("_count", v)),
    )
    return st.lists(pair, min_size=1, max_size=3, unique_by=lambda p: p[0]).map(
        lambda pairs: FuzzQuery("ImagingStudy", tuple(pairs)))


def test_date_eq_as_overlap_is_found_and_shrunk_to_the_date_alone(proxy: FaultProxy) -> None:
    """The fixtures nm-unknown (started 2019) and us-abdomen (2020-07): eq2019-03 must not match them (REST-072)."""
    proxy.set_faults([BY_NAME["date-eq-overlap"]])
    try:
        run = run_fuzz(proxy.base_url, FuzzSettings(budget=40, seed=0, resource_types=IMAGING), queries=dated_queries)
    finally:
        proxy.set_faults([])
    assert len(run.findings) == 1, [f.cause for f in run.findings]
    finding = run.findings[0]
    assert finding.cause.startswith("ImagingStudy started") and finding.cause.endswith("precision")
    assert [name for name, _ in finding.query.params] == ["started"]
    assert finding.query.params[0][1] in ("2019-03", "2020-07-14")
    assert finding.defect.level == "SHALL" and "REST-072" in finding.defect.requirement



def test_the_same_seed_generates_the_same_queries(upstream: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import imgconf.fuzz.runner as runner

    sent: list[FuzzQuery] = []

    def spy(session: TargetSession, query: FuzzQuery, resolved: Any = None, actors: frozenset[str] = frozenset()) -> Any:
        sent.append(query)
        return judge_query(session, query, resolved, actors)

    monkeypatch.setattr(runner, "judge_query", spy)
    runs = []
    for seed in (5, 5, 6):
        sent.clear()
        run_fuzz(upstream.base_url, FuzzSettings(budget=12, seed=seed, resource_types=IMAGING), queries=dated_queries)
        runs.append(list(sent))
    assert runs[0] == runs[1] and len(runs[0]) == 12
    assert runs[0] != runs[2]


def test_the_greedy_pass_ends_a_two_parameter_local_minimum_at_the_one_parameter_that_fails(
        loaded: TargetSession, proxy: FaultProxy) -> None:
    """Hypothesis's shrinker can stop at two parameters (or at MAX_SHRINK_CALLS); the greedy pass removes
    status, a comma alternative, the extra _sort key and _count one at a time while modality still fails."""
    from imgconf.fuzz.runner import _Judge, _same_cause, interesting, minimize

    proxy.set_faults([BY_NAME["ignores-modality"]])
    try:
        judge = _Judge(loaded)
        start = FuzzQuery("ImagingStudy", (("status", "available"), ("modality", "CT,NM"), ("_sort", "-started,_id"),
                                           ("_count", "2")))
        failure = next(f for f in interesting(judge(start)) if f.defect.kind == "precision")
        assert failure.culprit == "modality"
        sent_before = judge.sent
        shrunk = minimize(judge, start, _same_cause(failure))
        assert len(shrunk.params) == 1 and shrunk.params[0][0] == "modality" and "," not in shrunk.params[0][1]
        assert judge.sent - sent_before <= 40
        assert minimize(judge, start, _same_cause(failure)) == shrunk  # deterministic
        # the same query sent in another order ends at the same query
        assert minimize(judge, replace(start, params=start.params[::-1]), _same_cause(failure)) == shrunk
    finally:
        proxy.set_faults([])
    # with the fault gone nothing fails: the greedy pass keeps no removal
    judge = _Judge(loaded)
    assert minimize(judge, start, _same_cause(failure)) == start


def test_the_greedy_pass_keeps_a_removal_only_for_the_same_cause(loaded: TargetSession, proxy: FaultProxy) -> None:
    """A fault about status: the greedy pass never keeps a query that fails only about modality, and stops
    within its bound of new queries."""
    from imgconf.fuzz.runner import _Judge, _same_cause, interesting, minimize

    proxy.set_faults([BY_NAME["ignores-modality"]])
    try:
        judge = _Judge(loaded)
        start = FuzzQuery("ImagingStudy", (("status", "available"), ("modality", "CT")))
        failure = next(f for f in interesting(judge(start)) if f.defect.kind == "precision")
        other = Failure(replace(failure.defect, kind="precision"), "status", failure.strongest)
        assert minimize(judge, start, _same_cause(other)) == start
        assert minimize(judge, start, _same_cause(failure), max_calls=0) == start
    finally:
        proxy.set_faults([])


def test_a_wrong_answer_on_an_eu_parameter_outside_r4_core_is_no_more_than_a_should(proxy: FaultProxy) -> None:
    """DocumentReference modality is EU Imaging's (EUIMG-055), not R4's: a server that does not know it SHOULD
    ignore it (R4 search.html#errors, REST-034) — Medplum answers an empty set. A core parameter stays SHALL."""
    from imgconf.faults.rewrite import rewrite_values

    def matching_nothing(*names: str) -> Fault:
        return Fault("matches-nothing", "a filter that matches nothing", ("REST-034",),
                     on_request=rewrite_values(named(*names), lambda _v: "no-such-code"))

    session = TargetSession(SessionOptions(target=proxy.base_url))
    try:
        load_fixtures(session, ("DocumentReference",))
        modality = FuzzQuery("DocumentReference", (("modality", "CT"),))
        proxy.set_faults([])
        assert judge_query(session, modality).failures == []  # the reference server knows the parameter
        proxy.set_faults([matching_nothing("modality")])
        recall = next(f for f in judge_query(session, modality).failures if f.defect.kind == "recall")
        assert recall.culprit == "modality" and recall.defect.level == "SHOULD"
        assert "REST-034" in recall.defect.requirement
        proxy.set_faults([matching_nothing("category")])
        category = judge_query(session, FuzzQuery("DocumentReference", (("category", "Medical-Imaging"),)))
        core = next(f for f in category.failures if f.defect.kind == "recall")
        assert core.culprit == "category" and core.defect.level == "SHALL" and "REST-034" not in core.defect.requirement
    finally:
        proxy.set_faults([])
        session.close()

"""The search faults (Fault.search) and `imgconf mutate --fuzz`: which search faults the generative search
tester (imgconf fuzz) catches, besides the suites."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from imgconf.faults import BY_NAME, MUTATION_FAULTS, Fault, FaultProxy, ProxyCall, ProxyResponse
from imgconf.fuzz.model import Defect, FuzzFinding, FuzzQuery
from imgconf.mutate import FaultResult, FuzzMutation, FuzzOutcome, MutationReport, RunOutcome
from imgconf.paths import suites_dir

# Every fault whose breakage is search semantics (R4 search.html): matching, modifiers, prefixes, chains,
# compartments, POST _search, paging, order, total, _include, the searchset's shape, refusals. A change here
# is deliberate: a new search fault is tagged where it is declared (Fault(..., search=True)).
SEARCH_FAULTS = {
    # imagingstudy.py
    "bundle-type-collection", "no-self-link", "relative-full-urls", "drops-first-match", "next-link-loops",
    "truncates-paging", "html-error-page", "ignores-modality", "ignores-status", "ignores-patient", "ignores-started",
    "tokens-case-insensitive", "date-eq-overlap", "modality-study-level", "invalid-date-accepted",
    "study-uid-prefix-tolerant", "series-uid-prefix-tolerant", "echoes-ignored-params", "ignores-strict-handling",
    "ignores-sort", "ignores-count", "includes-as-matches", "total-counts-includes", "date-sa-eb-as-gt-lt",
    "ignores-missing", "lastupdated-case-insensitive", "patient-matches-any-subject", "endpoint-study-level-only",
    "ignores-summary", "ignores-elements",
    # documents.py
    "ignores-setting", "ignores-patient-identifier-chain", "mhd-returns-entered-in-error",
    "ignores-mothers-maiden-name", "ignores-exact",
    # matching.py
    "string-matches-anywhere", "exact-ignores-case", "patient-identifier-ignores-case", "study-identifier-ignores-case",
    "related-identifier-as-reference", "ignores-type-text",
    # rest.py
    "compartment-unfiltered", "post-search-ignores-body", "ignores-include", "ignores-revinclude", "identifier-bare-uid",
    "ignores-series", "comma-is-not-or", "missing-inverted", "refuses-optional-modifiers", "not-modifier-ignored",
    "sort-missing-first", "subset-without-subsetted-tag", "total-is-page-size", "no-bundle-type", "no-search-mode",
}

# Catalogue sections of search semantics: a search fault is tied to at least one requirement there.
SEARCH_SECTIONS = ("A.5", "B.4", "B.5", "B.6", "B.7", "B.8", "B.9", "B.10", "C.1", "C.4")


def test_the_search_faults_are_tagged_where_they_are_declared() -> None:
    assert {f.name for f in MUTATION_FAULTS if f.search} == SEARCH_FAULTS


def test_every_search_fault_is_tied_to_a_search_requirement() -> None:
    from imgconf.catalogue import get

    for fault in MUTATION_FAULTS:
        sections = {found.section.split()[0] for r in fault.requirements if (found := get(r)) is not None}
        if fault.search:
            assert sections & set(SEARCH_SECTIONS), fault.name
    # the format, history, CRUD, representation and CapabilityStatement faults are not search faults
    for name in ("xml-ignored", "history-oldest-first", "create-returns-200", "searchset-entry-request",
                 "metadata-hides-modality", "accepts-request-without-token"):
        assert name not in SEARCH_FAULTS


def _finding(cause: str) -> FuzzFinding:
    query = FuzzQuery("ImagingStudy", (("started", "2019"),))
    return FuzzFinding(cause, "ImagingStudy started=date:year", query, Defect("precision", ("REST-072",), "SHALL", "x"))


def test_attribution_counts_a_fault_caught_by_either_and_says_which() -> None:
    fault = BY_NAME["date-eq-overlap"]
    quiet = FuzzOutcome([_finding("ImagingStudy _sort order")])
    fuzzed = FuzzOutcome([_finding("ImagingStudy _sort order"), _finding("ImagingStudy started precision")])
    signal = ("imagingstudy-search-dates::eq", "search", "fail", ("REST-072",))
    # a finding the no-fault run had too is not a catch
    assert [f.cause for f in fuzzed.new_since(quiet)] == ["ImagingStudy started precision"]
    assert FuzzOutcome(list(quiet.findings)).new_since(quiet) == []
    both = FaultResult(fault, caught_by=[signal], fuzz=fuzzed, fuzz_caught_by=fuzzed.new_since(quiet))
    suites = FaultResult(fault, caught_by=[signal], fuzz=quiet, fuzz_caught_by=[])
    fuzz_only = FaultResult(fault, fuzz=fuzzed, fuzz_caught_by=fuzzed.new_since(quiet))
    neither = FaultResult(fault, fuzz=FuzzOutcome(error="RuntimeError: broken"))
    not_fuzzed = FaultResult(BY_NAME["create-returns-200"], caught_by=[("crud::c", "status", "fail", ("REST-020",))])
    assert [r.attribution for r in (both, suites, fuzz_only, neither, not_fuzzed)] == [
        "both", "suites", "fuzz", "neither", "suites"]
    assert [r.caught for r in (both, suites, fuzz_only, neither)] == [True, True, True, False]
    report = MutationReport("t", RunOutcome([], 0, 0.0), [both, suites, fuzz_only, neither, not_fuzzed], 1.0,
                            fuzz=FuzzMutation(budget=50, seed=3), fuzz_baseline=FuzzOutcome())
    data = report.to_dict()
    assert data["caught"] == 4 and data["injected"] == 5
    assert data["fuzz"]["attribution"] == {"both": 1, "suites": 2, "fuzz": 1, "neither": 1}
    assert data["fuzz"]["caught_only_by_fuzz"] == 1 and data["fuzz"]["caught_by_fuzz"] == 2
    assert data["fuzz"]["search_faults"] == 4 and data["fuzz"]["errors"] == {"date-eq-overlap": "RuntimeError: broken"}
    by_row = data["faults"]
    assert by_row[4]["caught_by_fuzz"] is None and by_row[4]["fuzz"] is None  # not a search fault: not fuzzed
    assert by_row[2]["attribution"] == "fuzz" and by_row[2]["fuzz"]["findings"][0]["query"] == "ImagingStudy?started=2019"
    assert report.ok is False  # one fault caught by neither


def test_a_fuzz_finding_with_no_fault_is_a_false_positive() -> None:
    caught = FaultResult(BY_NAME["date-eq-overlap"], fuzz=FuzzOutcome([_finding("c")]), fuzz_caught_by=[_finding("c")])
    clean = MutationReport("t", RunOutcome([], 0, 0.0), [caught], 1.0, fuzz=FuzzMutation(), fuzz_baseline=FuzzOutcome())
    assert clean.ok
    noisy = MutationReport("t", RunOutcome([], 0, 0.0), [caught], 1.0, fuzz=FuzzMutation(),
                           fuzz_baseline=FuzzOutcome([_finding("ImagingStudy modality recall")]))
    assert not noisy.ok and noisy.to_dict()["fuzz"]["no_fault_run"]["green"] is False


SEARCH_BASIC = str(suites_dir() / "imagingstudy" / "search-basic.yaml")


@pytest.mark.slow
def test_mutate_with_fuzz_says_per_fault_what_caught_it(tmp_path: Path) -> None:
    # Only imagingstudy-search-basic runs. drops-first-match: that suite and any fuzzed search with a match catch it;
    # ignores-count: the suite sends no _count, the fuzzer often does; modality-lowercase is no search fault (not
    # fuzzed); nothing sends `Prefer: handling=strict` (the fuzzer neither): ignores-strict-handling is caught by
    # neither; html-error-page also answers /metadata with HTML, so the fuzzer has nothing to plan from. Both are
    # declared not fuzzable: no fuzz run is spent on them, the report says why.
    out = tmp_path / "mutation.json"
    proc = subprocess.run(
        [sys.executable, "-m", "imgconf.cli", "mutate", "--suites", SEARCH_BASIC, "--json", str(out), "--fuzz",
         "--fuzz-budget", "40", "--fuzz-seed", "1", "--fault", "drops-first-match", "--fault", "ignores-count",
         "--fault", "modality-lowercase", "--fault", "ignores-strict-handling", "--fault", "html-error-page"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False,
        env={**os.environ, "COLUMNS": "400"},  # the table's rows unwrapped
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    by_name = {f["fault"]: f for f in report["faults"]}
    assert {name: f["attribution"] for name, f in by_name.items()} == {
        "drops-first-match": "both", "ignores-count": "fuzz", "modality-lowercase": "suites",
        "ignores-strict-handling": "neither", "html-error-page": "suites"}
    assert by_name["modality-lowercase"]["fuzz"] is None  # not a search fault
    counted = by_name["ignores-count"]
    assert counted["caught_by_suites"] is False and counted["caught_by_fuzz"] is True
    assert all("REST-085" in f["requirements"] and "_count=" in f["query"] for f in counted["fuzz"]["findings"])
    html = by_name["html-error-page"]
    assert html["caught_by_fuzz"] is None and html["fuzz"] is None and html["not_fuzzable"].startswith("GET metadata")
    assert by_name["ignores-strict-handling"]["fuzz"] is None
    assert "suites only (not fuzzable: GET metadata" in proc.stdout
    assert "neither (not fuzzable: the fuzzer sends no Prefer header)" in proc.stdout
    fuzz = report["fuzz"]
    assert fuzz["no_fault_run"]["green"] is True and fuzz["no_fault_run"]["queries"] > 0
    assert fuzz["budget"] == 40 and fuzz["seed"] == 1 and fuzz["caught_only_by_fuzz"] == 1
    assert fuzz["attribution"] == {"both": 1, "suites": 2, "fuzz": 1, "neither": 1}
    assert fuzz["not_fuzzable"]["attribution"] == {"suites": 1, "neither": 1} and fuzz["not_caught_by_fuzz"] == []
    assert report["caught"] == 4 and report["injected"] == 5 and report["not_caught"] == ["ignores-strict-handling"]
    assert proc.returncode == 1  # one fault caught by neither
    assert "fuzzing only 1, neither 1 (2 search fault(s) not fuzzable)" in proc.stdout and "ignores-count" in proc.stdout


def test_the_proxy_maps_its_base_inside_encoded_queries_both_ways() -> None:
    # A search with an absolute reference on the proxy's base: the upstream must see its own base in a POST _search
    # form (percent-encoded), and the self link it echoes must come back with the proxy's base (encoded in the query).
    # Without it every fuzzed absolute reference was a false finding of mutate --fuzz's no-fault run.
    from imgconf.fuzz.fixtures import load_fixtures
    from imgconf.fuzz.judge import judge_query
    from imgconf.reference.server import EmbeddedServer
    from imgconf.session import SessionOptions, TargetSession

    with EmbeddedServer() as server, FaultProxy(server.base_url, []) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            loaded = load_fixtures(session, ("ImagingStudy",))
            jones = f"{proxy.base_url}/Patient/{loaded['patient/jones']['id']}"
            muller = f"{proxy.base_url}/Patient/{loaded['patient/muller']['id']}"
            for query in (FuzzQuery("ImagingStudy", (("subject", f"{jones},{muller}"),)),
                          FuzzQuery("ImagingStudy", (("subject", muller),), method="POST")):
                judged = judge_query(session, query)
                assert judged.judged and judged.expected_ids and not judged.failures, (query, judged.failures)
                assert sorted(judged.actual_ids) == judged.expected_ids
        finally:
            session.close()


def test_a_shrink_that_runs_out_of_patience_keeps_the_best_query_instead_of_crashing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Against Medplum (imgconf fuzz --with-target medplum --probe-all --budget 1000 --seed 0) a shrink that hit
    # MAX_SHRINK_CALLS crashed the run with FlakyFailure: past the limit only the best query so far still "fails",
    # so Hypothesis's replay of an example that failed before the limit (but was not simpler) no longer did.
    from hypothesis import strategies as st

    from imgconf.fuzz import runner
    from imgconf.fuzz.judge import Failure, JudgedQuery
    from imgconf.results import Level

    failure = Failure(Defect("recall", ("REST-046",), "SHALL", "lost"), None, Level.SHALL)
    strategy = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2).map(
        lambda names: FuzzQuery("Patient", tuple((n, "1") for n in names)))

    def judge(query: FuzzQuery) -> JudgedQuery:  # every query fails the same way
        return JudgedQuery(query, status=200, judged=True, failures=[failure])

    found_first = FuzzQuery("Patient")  # fewer parameters than anything the strategy draws: stays the best
    monkeypatch.setattr(runner, "MAX_SHRINK_CALLS", 1)
    shrunk = runner._shrink(strategy, judge, runner._Cause(found_first, failure, ()))  # type: ignore[arg-type]
    assert shrunk == found_first


# -- oracle citations found adjudicating the Medplum fuzz run (imgconf fuzz --with-target medplum --probe-all) --------

def _precision_failure(pairs: tuple[tuple[str, str], ...], resource: dict[str, object], failed: str) -> Defect:
    from imgconf.checks.search_target import SearchTarget
    from imgconf.fuzz.judge import _Culprits, _failure
    from imgconf.results import CheckResult, Level, Verdict

    query = FuzzQuery(str(resource["resourceType"]), pairs)
    target = SearchTarget(query.resource_type, list(pairs), None)
    result = CheckResult("search", [], Level.SHALL, Verdict.FAIL, "1 of 1 matches do not satisfy the search",
                         detail="precision over 1 page(s)")
    return _failure(result, _Culprits(target, query, None), {"failing": [(resource, failed)]}, query).defect


def test_a_case_variant_in_a_repeated_token_parameter_is_the_should_of_rest_055() -> None:
    # category=Medical-Imaging&category=MEDICAL-IMAGING (AND): Medplum returns the Medical-Imaging documents. The
    # judge took the first `category` criterion (which they meet) and cited REST-050 (SHALL) instead of REST-055.
    doc = {"resourceType": "DocumentReference", "id": "d1",
           "category": [{"coding": [{"system": "http://example.org/cs", "code": "Medical-Imaging"}]}]}
    pairs = (("category", "Medical-Imaging"), ("category", "MEDICAL-IMAGING"))
    defect = _precision_failure(pairs, doc, "category=MEDICAL-IMAGING")
    assert defect.requirement == ("REST-055",) and defect.level == "SHOULD"
    # a code that differs in more than case is still the SHALL of REST-050
    other = {**doc, "category": [{"coding": [{"system": "http://example.org/cs", "code": "Other"}]}]}
    defect = _precision_failure((("category", "Other"), ("category", "MEDICAL-IMAGING")), other, "category=MEDICAL-IMAGING")
    assert defect.requirement[0] == "REST-050" and defect.level == "SHALL"


def test_a_type_modifier_cites_rest_061_and_an_ihe_parameter_its_profile() -> None:
    from imgconf.fuzz.judge import _level_of, criterion_requirements
    from imgconf.searchparams import parse_query

    def reqs(rtype: str, name: str, value: str, actors: frozenset[str] = frozenset()) -> tuple[str, ...]:
        return criterion_requirements(rtype, parse_query(rtype, [(name, value)]).criteria[0], actors)

    # subject:Patient=123 failing: the :[type] modifier (MAY, as the suites judge it) is what Medplum lacks
    assert reqs("DocumentReference", "subject:Patient", "abc") == ("REST-061",)
    assert _level_of(reqs("ImagingStudy", "interpreter:Practitioner", "abc")).value == "MAY"
    assert reqs("DocumentReference", "subject", "Patient/abc") == ("REST-060",)  # the plain forms stay SHALL
    # creation / mothersMaidenName are IHE parameters: for a target judged as the actor, its requirement to process
    # them is cited; a plain R4 server may not know them (an unknown parameter: REST-034, SHOULD)
    both = frozenset({"mhd-responder", "pdqm-supplier"})
    assert "MHD-003" in reqs("DocumentReference", "creation", "2024", both)
    assert "PDQ-002" in reqs("Patient", "mothersMaidenName", "Lefèvre", both)
    assert "REST-034" in reqs("DocumentReference", "creation", "2024")
    assert "MHD-003" not in reqs("DocumentReference", "creation", "2024")
    assert _level_of(reqs("DocumentReference", "creation", "2024")).value == "SHOULD"
    assert "PDQ-002" not in reqs("Patient", "mothersMaidenName", "Lefèvre", frozenset({"mhd-responder"}))
    assert _level_of(reqs("Patient", "mothersMaidenName", "Lefèvre")).value == "SHOULD"


def test_the_legal_sort_variation_moves_only_matches_without_the_first_key() -> None:
    # Fuzzing caught the benign fault sort-missing-first: it moved a document that has `date` but no `creation` ahead
    # of earlier-dated ones for _sort=date,-creation. R4 leaves open only where a match without the deciding key goes;
    # the first key still orders the ones that have it. The variation now moves only matches without the first key.
    from imgconf.fuzz.fixtures import load_fixtures
    from imgconf.fuzz.judge import judge_query
    from imgconf.reference.server import EmbeddedServer
    from imgconf.session import SessionOptions, TargetSession

    with EmbeddedServer() as server, FaultProxy(server.base_url, [BY_NAME["sort-missing-first"]]) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            load_fixtures(session, ("DocumentReference", "ImagingStudy"))
            for pairs in ((("_sort", "date,-creation,-relation"),), (("_sort", "-started"),), (("_sort", "-creation,date"),)):
                rtype = "ImagingStudy" if "started" in pairs[0][1] else "DocumentReference"
                judged = judge_query(session, FuzzQuery(rtype, pairs))
                assert judged.judged and len(judged.actual_ids) > 1 and not judged.failures, (pairs, judged.failures)
        finally:
            session.close()


def test_missing_on_an_ihe_parameter_cites_its_profile_and_an_optional_chain_recall_is_no_finding() -> None:
    from imgconf.checks.search_target import SearchTarget
    from imgconf.fuzz.judge import _Culprits, _failure, criterion_requirements
    from imgconf.results import CheckResult, Level, Verdict
    from imgconf.searchparams import parse_query

    crit = parse_query("DocumentReference", [("creation:missing", "false")]).criteria[0]
    assert criterion_requirements("DocumentReference", crit, frozenset({"mhd-responder"})) == ("REST-080", "MHD-003")
    assert criterion_requirements("DocumentReference", crit) == ("REST-080", "REST-034")

    def recall(rtype: str, pairs: tuple[tuple[str, str], ...]) -> Defect:
        query = FuzzQuery(rtype, pairs)
        result = CheckResult("search", [], Level.SHALL, Verdict.FAIL, "matching fixtures not returned: x",
                             detail="recall over all pages")
        return _failure(result, _Culprits(SearchTarget(rtype, list(pairs), None), query, None), {}, query).defect

    # Medplum: ImagingStudy?basedon:ServiceRequest.code=…&subject:Patient.gender=… found nothing. Such chains are not
    # in the catalogue (only MHD's patient.identifier is): the judge cited REST-046 (SHALL), a precision rule.
    chained = recall("ImagingStudy", (("basedon:ServiceRequest.code", "24606-6"), ("subject:Patient.gender", "female")))
    assert chained.level == "INFO" and chained.requirement == ()
    # MHD's chain and a search with no criterion at all are still judged
    assert recall("DocumentReference", (("patient.identifier", "urn:oid:1.2|x"),)).requirement == ("REST-062",)
    assert recall("ImagingStudy", ()).requirement == ("REST-046",)


def test_an_order_failure_is_a_should_as_rest_086_is() -> None:
    # Measured with sort-missing-first: the order check ran at the search's level (SHALL) and the finding said SHALL
    # while citing REST-086, a SHOULD in the catalogue.
    from imgconf.checks.search_target import SearchTarget
    from imgconf.fuzz.judge import _Culprits, _failure
    from imgconf.results import CheckResult, Level, Verdict

    query = FuzzQuery("DocumentReference", (("_sort", "date"),))
    culprits = _Culprits(SearchTarget("DocumentReference", list(query.params), None), query, None)
    order = CheckResult("search", ["REST-086"], Level.SHALL, Verdict.FAIL, "not in _sort order", detail="order over all pages")
    assert _failure(order, culprits, {}, query).defect.level == "SHOULD"
    total = CheckResult("search", ["REST-041"], Level.SHALL, Verdict.FAIL, "total wrong", detail="total")
    assert _failure(total, culprits, {}, query).defect.level == "SHALL"  # REST-041 is a SHALL


def test_a_uri_criterion_with_a_comma_cites_nothing_rather_than_rest_057() -> None:
    # Medplum: location=[base]/ImagingStudy/1,[base]/Binary/ returned documents matching neither URI (a prefix match on
    # a uri parameter). The catalogue has no uri matching rule, so the judge cited only REST-057 (comma = OR), a
    # requirement the answer does not break.
    from imgconf.fuzz.judge import criterion_requirements
    from imgconf.searchparams import parse_query

    crit = parse_query("DocumentReference", [("location", "http://a/ImagingStudy/1,http://a/Binary/")]).criteria[0]
    assert criterion_requirements("DocumentReference", crit) == ()
    token = parse_query("ImagingStudy", [("status", "available,cancelled")]).criteria[0]
    assert "REST-057" in criterion_requirements("ImagingStudy", token)  # where a rule exists, the comma still counts


# -- the budget per resource type (issue 14: three types sharing 2,000 queries missed date-eq-overlap and
#    string-matches-anywhere) -----------------------------------------------------------------------------------------

def _count_queries(universe: object, plan: object) -> object:
    """A small strategy over the plan's types: ImagingStudy?_count=k (always judgeable, distinct examples)."""
    from hypothesis import strategies as st

    types = list(plan.resource_types)  # type: ignore[attr-defined]
    return st.tuples(st.sampled_from(types), st.integers(1, 500)).map(
        lambda drawn: FuzzQuery(drawn[0], (("_count", str(drawn[1])),)))


def test_per_type_gives_each_resource_type_the_whole_budget_and_shared_splits_it() -> None:
    from imgconf.fuzz.runner import FuzzSettings, run_fuzz

    per_type = run_fuzz(None, FuzzSettings(budget=4, per_type=True), queries=_count_queries)
    assert per_type.per_type and per_type.findings == []
    assert per_type.queries_per_type == {"ImagingStudy": 4, "DocumentReference": 4, "Patient": 4}
    assert list(per_type.queries_per_type) == ["ImagingStudy", "DocumentReference", "Patient"]  # one after the other
    shared = run_fuzz(None, FuzzSettings(budget=4, resource_types=("Patient", "ImagingStudy")), queries=_count_queries)
    assert not shared.per_type and sum(shared.queries_per_type.values()) == 4
    assert set(shared.queries_per_type) <= {"Patient", "ImagingStudy"}


def test_a_known_cause_does_not_end_a_run_that_stops_at_its_first_finding() -> None:
    # mutate --fuzz ends a fault's run at its first finding; one the no-fault run also had (a false positive of the
    # oracle or upstream) must not end it, or the fault's own defect is never looked for.
    from imgconf.fuzz.runner import FuzzSettings, run_fuzz
    from imgconf.reference.server import EmbeddedServer

    with EmbeddedServer() as server, FaultProxy(server.base_url, [BY_NAME["drops-first-match"]]) as proxy:
        settings = FuzzSettings(budget=6, resource_types=("ImagingStudy",), per_type=True, stop_at_first_finding=True,
                                shrink=False)
        first = run_fuzz(proxy.base_url, settings, queries=_count_queries)
        assert first.queries == 1 and first.findings  # stopped at the first query with a finding (recall, total)
        known = frozenset(f.cause for f in first.findings)
        on = run_fuzz(proxy.base_url, replace(settings, known_causes=known), queries=_count_queries)
        assert on.queries == 6 and {f.cause for f in on.findings} == known  # the whole budget, nothing new


def test_runs_through_one_session_load_the_fixtures_once_and_read_the_capability_statement_each_time() -> None:
    # mutate --fuzz fuzzes the no-fault run and every search fault through one session: the fixtures are loaded once
    # (no load and teardown per fault), but each run plans from its own GET /metadata (html-error-page breaks it).
    from imgconf.fuzz.runner import FuzzSettings, run_fuzz
    from imgconf.reference.server import EmbeddedServer
    from imgconf.session import SessionOptions, TargetSession

    with EmbeddedServer() as server, FaultProxy(server.base_url, []) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            first = run_fuzz(None, FuzzSettings(budget=2, resource_types=("Patient",)), queries=_count_queries,
                             session=session)
            stored = {key: resource["id"] for key, resource in session.fixtures.loaded.items()}
            second = run_fuzz(None, FuzzSettings(budget=2, resource_types=("Patient", "ImagingStudy"), per_type=True),
                              queries=_count_queries, session=session)
            assert not session.closed and first.queries == 2 and second.queries == 4
            assert {key: session.fixtures.loaded[key]["id"] for key in stored} == stored  # not loaded again
            proxy.set_faults([BY_NAME["html-error-page"]])
            broken = run_fuzz(None, FuzzSettings(budget=2), queries=_count_queries, session=session)
            assert broken.queries == 0 and "no CapabilityStatement" in " ".join(broken.left_out["Patient"])
        finally:
            proxy.set_faults([])
            remaining = session.close()
    assert remaining == 0


def test_search_types_name_fuzzed_types_and_only_search_faults_declare_them() -> None:
    from imgconf.fuzz.fixtures import FUZZ_TYPES

    declared = [f for f in MUTATION_FAULTS if f.search_types is not None]
    assert len(declared) >= 20
    for fault in declared:
        assert fault.search, fault.name
        assert fault.search_types and set(fault.search_types) <= set(FUZZ_TYPES), fault.name
        assert len(set(fault.search_types)) == len(fault.search_types), fault.name
    # the faults of one type's parameter say so (they were missed when the types shared the budget)
    assert BY_NAME["date-eq-overlap"].search_types == ("ImagingStudy",)
    assert BY_NAME["string-matches-anywhere"].search_types == ("Patient",)
    assert BY_NAME["ignores-setting"].search_types == ("DocumentReference",)
    # a fault of the searchset's shape changes every type's searches: it names none
    assert BY_NAME["no-self-link"].search_types is None and BY_NAME["drops-first-match"].search_types is None


def test_a_fault_leaves_the_searches_of_the_types_it_does_not_name_alone() -> None:
    # Fault.search_types may not be too narrow: every parameter (and common modifier) of an undeclared type, plain
    # and in a Patient compartment, goes through the fault's request hook unchanged, and no response edit is armed.
    from imgconf.faults.model import ProxyCall
    from imgconf.fuzz.fixtures import FUZZ_TYPES
    from imgconf.searchparams import params_for

    checked = 0
    for fault in MUTATION_FAULTS:
        if fault.search_types is None or fault.on_request is None:
            continue
        for rtype in (t for t in FUZZ_TYPES if t not in fault.search_types):
            names = sorted(params_for(rtype))
            names += [f"{n}:{m}" for n in names for m in ("missing", "not", "exact", "contains", "identifier", "text")]
            names += [chain for chain in ("patient.identifier", "subject:Patient.family") if chain.split(".")[0].split(":")[0]
                      in names] + ["_sort", "_count", "_include"]
            paths = [rtype] + ([f"Patient/p1/{rtype}"] if rtype != "Patient" else [])
            for path, name, value in ((p, n, v) for p in paths for n in names for v in ("x", "2020", "eq2020", "x,y")):
                call = ProxyCall("GET", path, [(name, value)], {}, b"", "http://proxy/fhir")
                assert fault.on_request(call) is None, (fault.name, rtype, name)
                assert (call.path, call.query, call.notes) == (path, [(name, value)], {}), (fault.name, rtype, name, value)
                checked += 1
    assert checked > 1000


@pytest.mark.slow
def test_mutate_fuzzes_each_fault_on_its_types_and_stops_at_the_first_new_finding() -> None:
    from imgconf.mutate import mutate

    report = mutate([Path(SEARCH_BASIC)], faults=[BY_NAME["ignores-setting"], BY_NAME["drops-first-match"],
                                                  BY_NAME["ignores-summary"]],
                    fuzz=FuzzMutation(budget=15, seed=0), fuzz_only=True)
    assert report.fuzz_baseline is not None and not report.fuzz_false_positives
    # the no-fault run: every fuzzed type, the whole budget each
    assert report.fuzz_baseline.queries_per_type == {"ImagingStudy": 15, "DocumentReference": 15, "Patient": 15}
    by_name = {r.fault.name: r for r in report.results}
    setting = by_name["ignores-setting"].fuzz
    assert setting is not None and set(setting.queries_per_type) == {"DocumentReference"}  # its one type only
    dropped = by_name["drops-first-match"]
    assert dropped.caught_by_fuzz and dropped.fuzz is not None
    assert list(dropped.fuzz.queries_per_type) == ["ImagingStudy"]  # caught on the first type: no other searched
    data = report.to_dict()
    assert data["fuzz"]["budget_per_type"] is True
    assert data["faults"][1]["fuzz"]["queries_per_type"] == dropped.fuzz.queries_per_type
    # fuzzing alone cannot catch a not-fuzzable fault: not injected, not scored, said why
    assert by_name["ignores-summary"].fuzz is None
    assert data["not_run"] == [{"fault": "ignores-summary", "reason": "not fuzzable: the generator never sends _summary"}]


# -- search faults a search-semantics fuzzer cannot see, by design (Fault.not_fuzzable) ----------------------------------

# A change here is deliberate. Each was "not caught by fuzzing" in 6,000 queries, and its reason says why: the generator
# never sends what it breaks, or nothing is left to plan from. ignores-sort is not here: the generator sends _sort, so
# fuzzing can catch it in principle (that an ignored _sort left out of the self link is legal R4 is why it rarely does).
NOT_FUZZABLE = {"invalid-date-accepted", "html-error-page", "ignores-revinclude", "ignores-summary",
                "subset-without-subsetted-tag", "lastupdated-case-insensitive", "ignores-strict-handling",
                "ignores-type-text"}


def test_every_not_fuzzable_fault_is_a_search_fault_with_a_reason() -> None:
    from imgconf.faults import RELIABILITY_FAULTS

    declared = {f.name: f for f in MUTATION_FAULTS if f.not_fuzzable is not None}
    assert set(declared) == NOT_FUZZABLE
    for fault in declared.values():
        assert fault.search and not fault.fuzzable, fault.name
        assert fault.not_fuzzable and fault.not_fuzzable.strip() == fault.not_fuzzable, fault.name
    assert {f.name for f in MUTATION_FAULTS if f.fuzzable} == SEARCH_FAULTS - NOT_FUZZABLE
    assert BY_NAME["ignores-sort"].fuzzable and not BY_NAME["modality-lowercase"].fuzzable  # the latter: no search fault
    assert all(f.not_fuzzable is None for f in RELIABILITY_FAULTS)


def _not_fuzzable_result(name: str, caught: bool) -> FaultResult:
    signal = ("imagingstudy-search-results::x", "search", "fail", BY_NAME[name].requirements)
    return FaultResult(BY_NAME[name], caught_by=[signal] if caught else [])


def test_a_not_fuzzable_fault_is_reported_suites_only_with_its_reason() -> None:
    summary = _not_fuzzable_result("ignores-summary", caught=True)
    strict = _not_fuzzable_result("ignores-strict-handling", caught=False)
    fuzzed = FaultResult(BY_NAME["ignores-count"], fuzz=FuzzOutcome([_finding("c")]), fuzz_caught_by=[_finding("c")])
    assert summary.attribution_label == "suites only (not fuzzable: the generator never sends _summary)"
    assert strict.attribution_label == "neither (not fuzzable: the fuzzer sends no Prefer header)"
    assert fuzzed.attribution_label == "fuzz"
    report = MutationReport("t", RunOutcome([], 0, 0.0), [summary, strict, fuzzed], 1.0, fuzz=FuzzMutation(budget=5),
                            fuzz_baseline=FuzzOutcome())
    data = report.to_dict()
    by_name = {f["fault"]: f for f in data["faults"]}
    assert by_name["ignores-summary"]["not_fuzzable"] == "the generator never sends _summary"
    assert by_name["ignores-summary"]["fuzz"] is None and by_name["ignores-summary"]["caught_by_fuzz"] is None
    assert by_name["ignores-summary"]["attribution"] == "suites" and by_name["ignores-count"]["not_fuzzable"] is None
    fuzz = data["fuzz"]
    assert fuzz["not_fuzzable"] == {"count": 2, "attribution": {"suites": 1, "neither": 1}, "faults": {
        "ignores-summary": "the generator never sends _summary",
        "ignores-strict-handling": "the fuzzer sends no Prefer header"}}
    # not counted as a fuzz miss: "not caught by fuzzing" lists only faults a fuzz run was spent on
    assert fuzz["not_caught_by_fuzz"] == [] and fuzz["search_faults"] == 1 and fuzz["errors"] == {}
    assert fuzz["attribution"] == {"both": 0, "suites": 1, "fuzz": 1, "neither": 1}
    # no fuzzable fault selected: no fuzz session ran, the report still says what was not fuzzable
    alone = MutationReport("t", RunOutcome([], 0, 0.0), [summary], 1.0, fuzz=FuzzMutation(budget=5)).to_dict()["fuzz"]
    assert alone["no_fault_run"] is None and alone["not_fuzzable"]["count"] == 1


def _replay_changes(fault: Fault, call: ProxyCall, response: ProxyResponse) -> bool:
    """Whether ``fault`` changes this recorded exchange: the request sent upstream or the response the fuzzer reads."""
    import copy

    sent = copy.deepcopy(call)
    early = fault.on_request(sent) if fault.on_request is not None else None
    if isinstance(early, ProxyResponse):
        return True
    if (sent.method, sent.path, sent.query, sent.headers, sent.body) != (call.method, call.path, call.query,
                                                                        call.headers, call.body):
        return True
    if fault.on_response is None:
        return False
    answered = fault.on_response(sent, copy.deepcopy(response))
    as_read = answered.json() if answered.json() is not None else answered.body
    return (answered.status, answered.headers.get("content-type"), as_read) != (
        response.status, response.headers.get("content-type"), response.json() if response.json() is not None
        else response.body)


def test_a_fuzz_run_never_sends_what_a_not_fuzzable_fault_breaks() -> None:
    # The reasons, checked on real traffic: a fuzz run's every exchange (GET metadata, GET and POST searches, through
    # the proxy, fixtures loaded) replayed through each not-fuzzable fault is left unchanged — or the fault breaks GET
    # metadata, and then nothing is planned. Fuzzable faults of parameters the generator sends do change some exchange.
    import copy

    from fuzz_support import loaded_through

    from imgconf.fuzz.fixtures import FUZZ_TYPES
    from imgconf.fuzz.runner import FuzzSettings, run_fuzz
    from imgconf.reference.server import EmbeddedServer

    exchanges: list[tuple[ProxyCall, ProxyResponse]] = []

    def received(call: ProxyCall) -> None:
        call.notes["received"] = copy.deepcopy(call)

    def answered(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        exchanges.append((call.notes["received"], copy.deepcopy(response)))  # type: ignore[arg-type]
        return response

    recorder = Fault("recorder", "records every exchange, changes nothing", (), on_request=received,
                     on_response=answered)
    with EmbeddedServer() as server, FaultProxy(server.base_url, []) as proxy, \
            loaded_through(proxy, FUZZ_TYPES) as session:
        proxy.set_faults([recorder])
        run = run_fuzz(None, FuzzSettings(budget=40, per_type=True, shrink=False), session=session)
    assert run.queries == 120 and run.not_judged == 0 and not run.findings
    sent = {name.split(":")[0] for call, _ in exchanges for name, _ in call.query}
    assert {"_sort", "_count"} <= sent and any(call.method == "POST" for call, _ in exchanges)
    for name in sorted(NOT_FUZZABLE):
        changed = [call for call, response in exchanges if _replay_changes(BY_NAME[name], call, response)]
        assert not changed or any(call.path == "metadata" for call in changed), (name, changed[:1])
    assert next(call.path for call, response in exchanges
            if _replay_changes(BY_NAME["html-error-page"], call, response)) == "metadata"
    for name in ("ignores-count", "ignores-sort", "ignores-status", "drops-first-match"):
        assert any(_replay_changes(BY_NAME[name], call, response) for call, response in exchanges), name


@pytest.mark.slow
def test_mutate_spends_no_fuzz_run_on_a_not_fuzzable_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    import imgconf.mutate as mutation

    active: list[str] = []
    fuzzed_with: list[list[str]] = []
    set_faults, run_fuzzing = FaultProxy.set_faults, mutation.run_fuzzing

    def recording_set_faults(proxy: FaultProxy, faults: list[Fault]) -> None:
        active[:] = [f.name for f in faults]
        set_faults(proxy, faults)

    def recording_run_fuzzing(*args: object, **kwargs: object) -> FuzzOutcome:
        fuzzed_with.append(list(active))  # one fuzz run, with the faults on the proxy then
        return run_fuzzing(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FaultProxy, "set_faults", recording_set_faults)
    monkeypatch.setattr(mutation, "run_fuzzing", recording_run_fuzzing)
    results = str(suites_dir() / "imagingstudy" / "search-results.yaml")
    report = mutation.mutate([Path(results)], faults=[BY_NAME["ignores-summary"], BY_NAME["ignores-count"]],
                             fuzz=FuzzMutation(budget=10, seed=0))
    assert fuzzed_with == [[], ["ignores-count"]]  # the no-fault run, then only the fuzzable fault
    summary, count = report.results
    assert summary.caught_by_suites and summary.fuzz is None and summary.attribution == "suites"
    assert summary.attribution_label.startswith("suites only (not fuzzable: ")
    assert count.fuzz is not None and count.fuzz.queries > 0
    assert report.to_dict()["fuzz"]["not_fuzzable"]["faults"] == {"ignores-summary": BY_NAME["ignores-summary"].not_fuzzable}
    # with no fuzzable fault selected, no fuzz session starts at all
    fuzzed_with.clear()
    alone = mutation.mutate([Path(results)], faults=[BY_NAME["ignores-summary"]], fuzz=FuzzMutation(budget=10))
    assert fuzzed_with == [] and alone.fuzz_baseline is None and alone.ok

"""The fuzz judge's citations for causes fuzzing found misattributed or missed (issue 14, oracle gaps).

Real HTTP against the reference server; misbehaviour is the reference server behind FaultProxy.
Each fix has a test that the bad answer is caught with the right requirement, and one that a legal
variation of the same behaviour passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fuzz_support import loaded_through, proxied_reference

from imgconf.checks.base import CheckContext
from imgconf.checks.search import check_search
from imgconf.checks.search_fullurl import full_url_problem
from imgconf.checks.search_results import reported_changed, reported_ignored
from imgconf.checks.search_target import SearchExpectation, SearchTarget
from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault
from imgconf.faults.registry import BY_NAME
from imgconf.faults.rewrite import (
    bundles,
    drop_params,
    edit_json,
    edit_resources,
    ignore_params,
    named,
    path_is,
    searches,
)
from imgconf.fuzz.actors import MHD_RESPONDER, PDQM_SUPPLIER, claimed_actors, ihe_requirements
from imgconf.fuzz.fixtures import load_fixtures
from imgconf.fuzz.judge import judge_query
from imgconf.fuzz.model import FuzzQuery
from imgconf.fuzz.runner import FuzzSettings, run_fuzz
from imgconf.results import Level, Verdict
from imgconf.searchparams.query import parse_criterion
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.model import Request

TYPES = ("DocumentReference", "Patient", "ImagingStudy")
NOT_CT = FuzzQuery("DocumentReference", (("modality:not", "CT"), ("_count", "1")))


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    with proxied_reference() as p:
        yield p


@pytest.fixture(scope="module")
def loaded(proxy: FaultProxy) -> Iterator[TargetSession]:
    with loaded_through(proxy, TYPES) as session:
        yield session


@pytest.fixture
def faults(proxy: FaultProxy) -> Iterator[Any]:
    yield proxy.set_faults
    proxy.set_faults([])


def _bundle(self_link: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "self", "url": self_link}]}


# -- 1: a criterion the self link shows replaced is a REST-082 defect, not paging or recall ----------

def test_a_modifier_answered_with_another_meaning_is_rest_082_not_paging(loaded: TargetSession, faults: Any) -> None:
    """not-modifier-ignored answers modality:not=CT as modality=CT and echoes that: one cause, REST-082 (SHOULD).
    It was REST-043 (paging): the last page held _count=1 matches and had no next link."""
    faults([BY_NAME["not-modifier-ignored"]])
    judged = judge_query(loaded, NOT_CT)
    assert [(f.culprit, f.defect.kind, f.defect.requirement, f.defect.level) for f in judged.failures] == [
        ("modality:not", "self-link", ("REST-082",), "SHOULD")]
    assert "modality=CT" in judged.failures[0].defect.message
    assert not any("REST-043" in f.defect.requirement for f in judged.failures)


def test_the_suites_strict_oracle_no_longer_blames_paging_for_a_changed_criterion(loaded: TargetSession,
                                                                                   faults: Any) -> None:
    """Without lenient handling (suites) the changed criterion is judged as sent (recall), never as REST-043."""
    faults([BY_NAME["not-modifier-ignored"]])
    response = loaded.client.send("GET", NOT_CT.path, params=list(NOT_CT.params))
    ctx = CheckContext(response=response, request=Request("GET", NOT_CT.path), exchange=0, requirements=("REST-056",),
                       level=Level.MAY, variables={}, session=loaded)
    results = check_search(SearchExpectation(), ctx)
    assert not any("REST-043" in r.requirement for r in results)
    recall = [r for r in results if r.detail.startswith("recall")]
    assert recall and recall[0].verdict is Verdict.INFO and "not returned" in recall[0].reason


def test_a_modifier_ignored_and_left_out_of_the_self_link_passes(loaded: TargetSession, faults: Any) -> None:
    """The legal branch of REST-082: the server drops modality:not and leaves it out of the self link."""
    faults([Fault("drops-not", "drops modality:not", ("REST-082",), on_request=drop_params(named("modality:not")))])
    judged = judge_query(loaded, NOT_CT)
    assert judged.judged and judged.failures == []
    faults([])
    assert judge_query(loaded, NOT_CT).failures == []  # the reference server supports :not


def test_changed_means_replaced_under_a_name_never_sent_and_ignored_means_absent() -> None:
    target = SearchTarget("DocumentReference", [("modality:not", "CT"), ("status", "current")], None)
    replaced = _bundle("http://x/DocumentReference?modality=CT&status=current")
    assert reported_changed(target, replaced) == {"modality:not": "modality=CT"}
    assert reported_ignored(target, replaced, {"status", "modality"}) == set()  # changed is not ignored
    absent = _bundle("http://x/DocumentReference?status=current")
    assert reported_changed(target, absent) == {}
    assert reported_ignored(target, absent, {"status", "modality"}) == {"modality:not"}
    # a resource-type modifier folded into the value is a legal rewrite, not a change of meaning
    typed = SearchTarget("ImagingStudy", [("subject:Patient", "1")], None)
    assert reported_changed(typed, _bundle("http://x/ImagingStudy?subject=Patient%2F1")) == {}
    # a parameter the client sent itself is no replacement
    both = SearchTarget("DocumentReference", [("modality", "MR"), ("modality:not", "CT")], None)
    assert reported_changed(both, _bundle("http://x/DocumentReference?modality=MR")) == {}


# -- 2: parameters an IHE actor must process are never "leniently ignored" ------------------------------------------

IHE = frozenset({MHD_RESPONDER, PDQM_SUPPLIER})


def _cited(judged: Any) -> list[tuple[str | None, str, tuple[str, ...], str]]:
    return [(f.culprit, f.defect.kind, f.defect.requirement, f.defect.level) for f in judged.failures]


def test_the_actors_judged_are_those_the_capability_statement_instantiates(loaded: TargetSession) -> None:
    assert claimed_actors(loaded.capabilities()) == IHE  # the reference server passes mhd-iti67 and pdqm-iti78
    assert claimed_actors({"resourceType": "CapabilityStatement"}) == frozenset()  # plain R4: none
    versioned = "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.Supplier|3.0.0"
    assert claimed_actors({"instantiates": [versioned, 7, "http://example.org/CapabilityStatement/other"]}) == {
        PDQM_SUPPLIER}


def test_a_pdqm_supplier_answering_exact_as_plain_breaks_pdq_004_and_plain_r4_only_rest_082(
        loaded: TargetSession, faults: Any) -> None:
    faults([BY_NAME["ignores-exact"]])
    query = FuzzQuery("Patient", (("family:exact", "Muller"),))  # exact: no match; plain folds the accent: Müller
    assert _cited(judge_query(loaded, query, actors=IHE)) == [("family:exact", "self-link", ("PDQ-004",), "SHALL")]
    assert _cited(judge_query(loaded, query)) == [("family:exact", "self-link", ("REST-082",), "SHOULD")]


def test_a_pdqm_supplier_dropping_exact_silently_breaks_pdq_004_a_plain_r4_server_may(
        loaded: TargetSession, faults: Any) -> None:
    faults([Fault("drops-exact", "drops family:exact", ("PDQ-004",), on_request=drop_params(named("family:exact")))])
    query = FuzzQuery("Patient", (("family:exact", "Müller"),))
    precision = [f for f in judge_query(loaded, query, actors=IHE).failures if f.defect.kind == "precision"]
    assert precision and precision[0].culprit == "family:exact"
    assert "PDQ-004" in precision[0].defect.requirement and precision[0].defect.level == "SHALL"
    assert judge_query(loaded, query).failures == []  # R4 lenient handling: ignored and left out of the self link
    assert judge_query(loaded, query, actors=frozenset({MHD_RESPONDER})).failures == []  # no PDQm claim


def test_an_mhd_responder_dropping_the_patient_identifier_chain_breaks_mhd_003(loaded: TargetSession,
                                                                                faults: Any) -> None:
    identifier = loaded.fixtures.loaded["patient/muller"]["identifier"][0]
    query = FuzzQuery("DocumentReference", (("patient.identifier", f"{identifier['system']}|{identifier['value']}"),))
    faults([])
    assert judge_query(loaded, query, actors=IHE).failures == []  # the reference server applies it
    faults([BY_NAME["ignores-patient-identifier-chain"]])
    precision = [f for f in judge_query(loaded, query, actors=IHE).failures if f.defect.kind == "precision"]
    assert precision and precision[0].culprit == "patient.identifier"
    assert "MHD-003" in precision[0].defect.requirement and precision[0].defect.level == "SHALL"
    assert judge_query(loaded, query).failures == []  # not judged as an MHD Document Responder: R4 lets it ignore


def test_an_ihe_actor_may_still_refuse_what_it_cannot_do(loaded: TargetSession, faults: Any) -> None:
    faults([BY_NAME["refuses-optional-modifiers"]])
    judged = judge_query(loaded, FuzzQuery("Patient", (("gender:not", "male"),)), actors=IHE)
    assert not judged.judged and judged.status == 400 and judged.failures == []


def test_ihe_requirements_name_only_the_listed_parameters() -> None:
    def reqs(actors: frozenset[str], rtype: str, name: str, value: str) -> tuple[str, ...]:
        crit = parse_criterion(rtype, name, value)
        assert crit is not None
        return ihe_requirements(actors, rtype, crit)

    assert reqs(IHE, "Patient", "family:exact", "X") == ("PDQ-004",)
    assert reqs(IHE, "Patient", "given", "X") == ("PDQ-002",)
    assert reqs(IHE, "Patient", "family:contains", "X") == ()  # PDQ-004: other modifiers are out of scope
    assert reqs(IHE, "Patient", "name:exact", "X") == ()  # not a PDQ-002 parameter
    assert reqs(IHE, "DocumentReference", "patient.identifier", "a|b") == ("MHD-003",)
    assert reqs(IHE, "DocumentReference", "status:not", "current") == ()
    assert reqs(frozenset(), "Patient", "family:exact", "X") == ()
    assert reqs(frozenset({PDQM_SUPPLIER}), "DocumentReference", "patient.identifier", "a|b") == ()


def _chain_queries(universe: Any, plan: Any) -> Any:
    from hypothesis import strategies as st

    return st.sampled_from(["urn:oid:1.2.250.1.999.1.1|none", "other"]).map(
        lambda v: FuzzQuery("DocumentReference", (("patient.identifier", v),)))


def test_a_fuzz_run_judges_the_actors_the_target_claims_unless_told_otherwise(proxy: FaultProxy, faults: Any) -> None:
    faults([BY_NAME["ignores-patient-identifier-chain"]])
    settings = FuzzSettings(budget=5, resource_types=("DocumentReference",), shrink=False)
    claimed = run_fuzz(proxy.base_url, settings, queries=_chain_queries)
    assert claimed.actors == [MHD_RESPONDER, PDQM_SUPPLIER]
    assert [(f.cause, f.defect.level) for f in claimed.findings] == [("DocumentReference patient.identifier precision",
                                                                      "SHALL")]
    assert "MHD-003" in claimed.findings[0].defect.requirement
    plain_r4 = run_fuzz(proxy.base_url, replace(settings, actors=()), queries=_chain_queries)
    assert plain_r4.actors == [] and plain_r4.findings == []


# -- 3: _include completeness (REST-083) ----------------------------------------------------------------------------

SUBJECTS = FuzzQuery("ImagingStudy", (("modality", "CT"), ("_include", "ImagingStudy:subject")))
ENDPOINTS = FuzzQuery("ImagingStudy", (("_include", "ImagingStudy:endpoint"), ("_count", "2")))


def _without_search_include(capability: dict[str, Any]) -> None:
    for rest in capability.get("rest") or []:
        for resource in rest.get("resource") or []:
            resource.pop("searchInclude", None)


def test_an_ignored_include_the_server_declares_is_a_rest_083_defect(loaded: TargetSession, faults: Any) -> None:
    faults([])
    assert judge_query(loaded, SUBJECTS).failures == [] and judge_query(loaded, ENDPOINTS).failures == []
    faults([BY_NAME["ignores-include"]])
    for query in (SUBJECTS, ENDPOINTS):  # paged: the includes of every page count
        judged = judge_query(loaded, query)
        assert _cited(judged) == [("_include", "include", ("REST-083",), "SHALL")], query.display()
        assert "not in the Bundle" in judged.failures[0].defect.message


def test_an_include_the_server_neither_declares_nor_echoes_may_be_ignored(proxy: FaultProxy, faults: Any) -> None:
    """R4 lenient handling: an include the server does not support is ignored and left out of the self link."""
    faults([Fault("undeclared-include-ignored", "declares no searchInclude and ignores _include", ("REST-083",),
                  on_request=ignore_params("_include"),
                  on_response=edit_json(_without_search_include, calls=path_is("metadata")))])
    session = TargetSession(SessionOptions(target=proxy.base_url))
    try:
        load_fixtures(session, ("ImagingStudy",))
        judged = judge_query(session, SUBJECTS)
        assert judged.judged and judged.failures == []
    finally:
        session.close()


def test_a_reference_to_a_resource_the_server_does_not_hold_is_not_judged(loaded: TargetSession, faults: Any) -> None:
    """A server cannot include what it does not hold: matches whose subject points at nothing need no include."""
    def dangling(study: dict[str, Any]) -> None:
        study["subject"] = {"reference": "Patient/not-on-this-server"}

    faults([BY_NAME["ignores-include"], Fault("dangling-subject", "subjects point at nothing", ("REST-083",),
                                              on_response=edit_resources("ImagingStudy", dangling))])
    judged = judge_query(loaded, SUBJECTS)
    assert judged.judged and judged.actual_ids and judged.failures == []


def test_included_resources_and_matches_count_as_present_and_only_server_statements_declare() -> None:
    from imgconf.checks.search_include import _entries_by_mode, declared_includes

    page = {"entry": [
        {"resource": {"resourceType": "ImagingStudy", "id": "s"}, "search": {"mode": "match"}},
        {"resource": {"resourceType": "Patient", "id": "p"}, "search": {"mode": "include"}},
        {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
    ]}
    matches, present = _entries_by_mode([page], "ImagingStudy")
    assert [m["id"] for m in matches] == ["s"] and present == {"ImagingStudy/s", "Patient/p"}
    statement = {"rest": [{"mode": "server", "resource": [{"type": "ImagingStudy", "searchInclude": ["ImagingStudy:subject"]}]},
                          {"mode": "client", "resource": [{"type": "ImagingStudy", "searchInclude": ["ImagingStudy:endpoint"]}]}]}
    assert declared_includes(statement, "ImagingStudy") == {"ImagingStudy:subject"}


# -- 4: fullUrl (REST-044), one finding per type for the run ---------------------------------------------------------

def _other_base(bundle: dict[str, Any]) -> None:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        entry["fullUrl"] = f"https://public.example/fhir/{resource.get('resourceType')}/{resource.get('id')}"


def test_relative_full_urls_are_a_rest_044_defect_and_another_public_base_is_not(loaded: TargetSession,
                                                                                  faults: Any) -> None:
    faults([BY_NAME["relative-full-urls"]])
    judged = judge_query(loaded, SUBJECTS)
    assert _cited(judged) == [("fullUrl", "full-url", ("REST-044",), "SHALL")]
    assert "is not absolute" in judged.failures[0].defect.message
    faults([Fault("public-base", "fullUrls name the server's public base", ("REST-044",),
                  on_response=edit_json(_other_base, calls=searches, body=bundles("searchset")))])
    assert judge_query(loaded, SUBJECTS).failures == []  # a server behind a proxy may name its public base


def test_full_url_problems() -> None:
    def entry(url: str | None, mode: str = "match", rid: str | None = "1") -> dict[str, Any]:
        return {"fullUrl": url, "resource": {"resourceType": "Patient", "id": rid}, "search": {"mode": mode}}

    assert full_url_problem(entry("http://x/fhir/Patient/1")) is None
    assert full_url_problem(entry("urn:uuid:0b7c", mode="outcome")) is None  # an outcome is not a stored resource
    assert full_url_problem(entry(None, rid=None)) is None  # no id: nothing to name
    assert "no fullUrl" in (full_url_problem(entry(None)) or "")
    assert "not absolute" in (full_url_problem(entry("Patient/1")) or "")
    assert "does not end in /Patient/1" in (full_url_problem(entry("http://x/fhir/Patient/2", mode="include")) or "")


def _varied_queries(universe: Any, plan: Any) -> Any:
    from hypothesis import strategies as st

    pair = st.one_of(st.sampled_from(["CT", "MR"]).map(lambda v: ("modality", v)),
                     st.sampled_from(["available", "cancelled"]).map(lambda v: ("status", v)),
                     st.just(("_count", "2")))
    return st.lists(pair, min_size=1, max_size=3, unique_by=lambda p: p[0]).map(
        lambda pairs: FuzzQuery("ImagingStudy", tuple(pairs)))


def test_a_fuzz_run_reports_relative_full_urls_once_whatever_the_queries(proxy: FaultProxy, faults: Any) -> None:
    faults([BY_NAME["relative-full-urls"]])
    run = run_fuzz(proxy.base_url, FuzzSettings(budget=15, resource_types=("ImagingStudy",)), queries=_varied_queries)
    assert [(f.cause, f.defect.requirement, f.defect.level) for f in run.findings] == [
        ("ImagingStudy fullUrl full-url", ("REST-044",), "SHALL")]
    assert run.findings[0].occurrences >= 5  # every query with an entry failed it: still one finding


def test_the_culprit_of_a_precision_failure_follows_the_query_not_the_servers_answer_order() -> None:
    # Medplum: across runs of the same seed 1-2 queries moved between causes: with two failing criteria the culprit
    # was the one the first offender in the answer failed, and the answer's order follows the server's random ids.
    from imgconf.fuzz.judge import _Culprits, _failure
    from imgconf.results import CheckResult

    query = FuzzQuery("Patient", (("family", "Dubois"), ("gender", "female")))
    culprits = _Culprits(SearchTarget("Patient", list(query.params), None), query, None)
    result = CheckResult("search", [], Level.SHALL, Verdict.FAIL, "2 of 2 matches do not satisfy the search",
                         detail="precision over 1 page(s)")
    a = {"resourceType": "Patient", "id": "a", "name": [{"family": "Martin"}], "gender": "female"}
    b = {"resourceType": "Patient", "id": "b", "name": [{"family": "Dubois"}], "gender": "male"}
    for answer in ([(b, "gender=female"), (a, "family=Dubois")], [(a, "family=Dubois"), (b, "gender=female")]):
        failure = _failure(result, culprits, {"failing": answer}, query)
        assert failure.culprit == "family", answer
        assert "REST-081" in failure.defect.requirement


def test_an_ihe_parameter_is_cited_by_its_profile_only_for_a_target_judged_as_its_actor() -> None:
    # Medplum claims no IHE actor (it serves no CapabilityStatement): an unknown mothersMaidenName answered wrongly
    # is REST-034 (SHOULD) for it, PDQ-002 (SHALL) only for a target judged as a PDQm Supplier.
    from imgconf.fuzz.judge import _Culprits

    query = FuzzQuery("Patient", (("mothersMaidenName", "Lefèvre"),))
    target = SearchTarget("Patient", list(query.params), None)
    from imgconf.fuzz.judge import _level_of

    plain = _Culprits(target, query, None).by_name["mothersMaidenName"]
    assert "REST-034" in plain and "PDQ-002" not in plain and _level_of(plain) is Level.SHOULD
    judged_as = _Culprits(target, query, None, frozenset({PDQM_SUPPLIER}))
    assert "PDQ-002" in judged_as.by_name["mothersMaidenName"]


# -- 3: a full last page without next is paging only when the server found more than it returned -----------------

COMMA_DATES = FuzzQuery("ImagingStudy", (("started", "lt2021-01-15T07:59:59Z,le2022-06-01T07:45:00+02:00"),
                                         ("started", "le2024-03-14T09:30:00+01:00"), ("_count", "1")))


def test_a_comma_read_as_its_first_value_is_rest_057_not_paging(loaded: TargetSession, faults: Any) -> None:
    """comma-is-not-or: one match, _count=1, no next link, Bundle.total=1. It was REST-043 (the full last page
    'cut short'); the server's total says it found no more, so the missing fixtures are a matching defect."""
    faults([BY_NAME["comma-is-not-or"]])
    judged = judge_query(loaded, COMMA_DATES)
    assert [(f.culprit, f.defect.kind, f.defect.level) for f in judged.failures] == [("started", "recall", "SHALL")]
    assert "REST-057" in judged.failures[0].defect.requirement  # the repeated name cites both occurrences
    assert not any("REST-043" in f.defect.requirement for f in judged.failures)
    faults([])
    assert judged.judged and judge_query(loaded, COMMA_DATES).failures == []  # OR understood: all pages, no finding


def test_a_missing_next_link_with_a_total_announcing_more_is_still_rest_043(loaded: TargetSession, faults: Any) -> None:
    faults([BY_NAME["truncates-paging"]])
    judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("_count", "2"),)))
    assert judged.failures and {f.defect.requirement for f in judged.failures} == {("REST-043",)}
    assert {f.defect.level for f in judged.failures} == {"SHOULD"}


def test_cut_short_believes_the_servers_total() -> None:
    from imgconf.checks.search import _cut_short

    target = SearchTarget("ImagingStudy", [("_count", "1")], None)
    full = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ImagingStudy", "id": "a"},
                                                 "search": {"mode": "match"}}]}
    assert _cut_short(full, target) is not None  # no total: a full last page may hide more
    assert _cut_short(full, target, total=3, returned=1) is not None
    assert _cut_short(full, target, total=1, returned=1) is None
    assert _cut_short(full, target, total=True, returned=1) is not None  # not a count


# -- 4: entries without search.mode next to _include results: one REST-045 defect, not total/precision/paging -------

INCLUDING = FuzzQuery("DocumentReference", (("relationship:missing", "false"), ("_count", "2"),
                                            ("_include", "DocumentReference:relatesto")))


def test_no_search_mode_with_includes_is_one_rest_045_defect(loaded: TargetSession, faults: Any) -> None:
    """no-search-mode: the included DocumentReference counted as a match gave REST-041 (total) and REST-080
    (precision of relationship:missing); across pages REST-043 (duplicates) and REST-083 (includes absent)."""
    faults([BY_NAME["no-search-mode"]])
    for query in (INCLUDING, replace(INCLUDING, method="POST"), FuzzQuery("ImagingStudy", (
            ("_count", "2"), ("_include", "ImagingStudy:subject")))):
        assert _cited(judge_query(loaded, query)) == [("search.mode", "search-mode", ("REST-045",), "SHALL")], query
    faults([])
    assert judge_query(loaded, INCLUDING).failures == []  # every entry marked match or include


def test_no_search_mode_without_includes_is_not_judged(loaded: TargetSession, faults: Any) -> None:
    # nothing to tell apart: every entry of the searched type is a match (the oracle's reading since the start)
    faults([BY_NAME["no-search-mode"]])
    judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("_count", "2"),)))
    assert judged.judged and judged.failures == []


def test_an_ignored_sort_is_judged_alike_by_get_and_post(loaded: TargetSession, faults: Any) -> None:
    """ignores-sort used to reach only the URL query: a POST _search was sorted, its GET next pages not, and the
    fuzz reported duplicates across pages (REST-043). Dropped from the form too, _sort is ignored and left out
    of the self link on both: R4 lets a server do that (not judged)."""
    faults([BY_NAME["ignores-sort"]])
    for method in ("GET", "POST"):
        judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("_sort", "-started"), ("_count", "4")), method=method))
        assert judged.judged and judged.failures == [], method
    faults([BY_NAME["comma-is-not-or"]])  # a request fault reaches a POST _search form: caught there too
    judged = judge_query(loaded, replace(COMMA_DATES, method="POST"))
    assert [(f.culprit, f.defect.kind) for f in judged.failures] == [("started", "recall")]

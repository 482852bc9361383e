"""The fuzz judge's citations for causes fuzzing found misattributed or missed (issue 14, oracle gaps).

Real HTTP against the reference server; misbehaviour is the reference server behind FaultProxy.
Each fix has a test that the bad answer is caught with the right requirement, and one that a legal
variation of the same behaviour passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imgconf.checks.base import CheckContext
from imgconf.checks.search import check_search
from imgconf.checks.search_results import reported_changed, reported_ignored
from imgconf.checks.search_target import SearchExpectation, SearchTarget
from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault
from imgconf.faults.registry import BY_NAME
from imgconf.faults.rewrite import drop_params, named
from imgconf.fuzz.fixtures import load_fixtures
from imgconf.fuzz.judge import judge_query
from imgconf.fuzz.model import FuzzQuery
from imgconf.reference.server import EmbeddedServer
from imgconf.results import Level, Verdict
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.model import Request

TYPES = ("DocumentReference", "Patient", "ImagingStudy")
NOT_CT = FuzzQuery("DocumentReference", (("modality:not", "CT"), ("_count", "1")))


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    with EmbeddedServer() as upstream, FaultProxy(upstream.base_url, []) as p:
        yield p


@pytest.fixture(scope="module")
def loaded(proxy: FaultProxy) -> Iterator[TargetSession]:
    session = TargetSession(SessionOptions(target=proxy.base_url))
    try:
        load_fixtures(session, TYPES)
        yield session
    finally:
        proxy.set_faults([])
        session.close()


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

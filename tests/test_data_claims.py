"""What a case claims of the target's data (imgconf.suite.claims) and the lock that admits claims side by side
(imgconf.data_claims): a case that writes a type never overlaps a case that reads or writes it; cases of other
types run alongside."""

from __future__ import annotations

import threading
import time

import pytest
from case_support import load_bundled

from imgconf.data_claims import EVERY_TYPE, ClaimLock, Claims
from imgconf.paths import suites_dir
from imgconf.suite.claims import case_claims, request_claims
from imgconf.suite.model import Request, TokenRequest

EVERYTHING = frozenset({EVERY_TYPE})


@pytest.mark.parametrize(("request_", "reads", "writes"), [
    (Request("GET", "ImagingStudy", params=(("patient", "Patient/1"),)), {"ImagingStudy"}, set()),
    (Request("GET", "ImagingStudy/${study_id}/_history"), {"ImagingStudy/*"}, set()),  # one resource, id not known yet
    (Request("GET", "ImagingStudy/_history"), {"ImagingStudy"}, set()),
    (Request("GET", "Patient/p1"), {"Patient/p1"}, set()),
    (Request("POST", "ImagingStudy/_search", form=(("status", "available"),)), {"ImagingStudy"}, set()),
    (Request("GET", "metadata"), set(), set()),
    (Request("GET", ".well-known/smart-configuration"), set(), set()),
    (Request("POST", "ImagingStudy", json={"resourceType": "ImagingStudy"}, has_json=True), set(), {"ImagingStudy"}),
    (Request("POST", "ImagingStudy", json={"resourceType": "Patient"}, has_json=True), set(),
     {"ImagingStudy", "Patient", "Patient/*"}),
    (Request("POST", "ImagingStudy", headers=(("If-None-Exist", "identifier=x|1"),), json={"resourceType": "ImagingStudy"},
             has_json=True), {"ImagingStudy"}, {"ImagingStudy"}),  # a conditional create searches first
    (Request("PUT", "ImagingStudy/s1", json={"resourceType": "ImagingStudy"}, has_json=True), set(),
     {"ImagingStudy", "ImagingStudy/s1"}),
    (Request("PUT", "ImagingStudy", params=(("identifier", "x|1"),)), {"ImagingStudy"}, {"ImagingStudy", "ImagingStudy/*"}),
    (Request("DELETE", "Binary/${removed_id}"), set(), {"Binary", "Binary/*"}),
    (Request("POST", "", json={"resourceType": "Bundle", "type": "transaction"}, has_json=True), set(), EVERYTHING),
    (Request("POST", "${smart.token_endpoint}", body="grant_type=client_credentials"), set(), set()),  # not FHIR data
    (Request("POST", "${some_url}", body="a=b"), set(), EVERYTHING),
    (Request("POST", "x", token=TokenRequest()), set(), set()),
    # A one-level chain reads its target types; deeper chains, _include, _has, an operation: anything.
    (Request("GET", "DocumentReference", params=(("patient.identifier", "x|1"),)), {"DocumentReference", "Patient"}, set()),
    (Request("GET", "ImagingStudy", params=(("subject:Patient.name", "x"),)), {"ImagingStudy", "Patient"}, set()),
    (Request("GET", "ImagingStudy", params=(("patient.organization.name", "x"),)), EVERYTHING, set()),
    (Request("GET", "ImagingStudy?_include=ImagingStudy:subject"), EVERYTHING, set()),
    (Request("GET", "Patient", params=(("_has:ImagingStudy:patient:status", "available"),)), EVERYTHING, set()),
    (Request("GET", "Patient/$everything"), EVERYTHING, set()),
    (Request("GET", "_history"), EVERYTHING, set()),
    (Request("GET", "${report_url}"), EVERYTHING, set()),  # not known before the case runs
    (Request("GET", "DocumentReference", params=(("context.practiceSetting", "x"),)), EVERYTHING, set()),  # no such reference
])
def test_what_a_request_claims(request_: Request, reads: set[str], writes: set[str]) -> None:
    claims = request_claims(request_)
    assert (set(claims.reads), set(claims.writes)) == (set(reads), set(writes))


def test_a_url_held_in_a_variable_is_claimed_by_the_type_it_names_once_known() -> None:
    request = Request("GET", "${report_url}")
    assert request_claims(request, lambda path: "Binary/7").reads == {"Binary/7"}
    assert request_claims(request, lambda path: None).reads == EVERYTHING


def test_every_bundled_case_has_claims_and_each_writer_claims_what_it_writes() -> None:
    writers = 0
    for path in sorted(suites_dir().rglob("*.yaml")):
        for case in load_bundled(path).cases:
            claims = case_claims(case)
            to_token_endpoint = all(step.request.path == "${smart.token_endpoint}" for step in case.steps if step.request.writes)
            assert bool(claims.writes) == (case.writes and not to_token_endpoint), (path.name, case.name)
            writers += bool(claims.writes)
    assert writers >= 20  # the CRUD, REST-semantics, history and MHD retrieval suites write


@pytest.mark.parametrize(("left", "right", "conflict"), [
    (Claims.of(reads={"A"}), Claims.of(reads={"A"}), False),
    (Claims.of(reads={"A"}), Claims.of(writes={"A"}), True),
    (Claims.of(writes={"A"}), Claims.of(writes={"B"}), False),
    (Claims.of(writes={"A"}), Claims.of(reads={"B"}), False),
    (Claims.of(reads={EVERY_TYPE}), Claims.of(writes={"B"}), True),
    (Claims.everything(), Claims.of(reads={"B"}), True),
    (Claims.everything(), Claims(), False),  # touching no data (metadata, a token) conflicts with nothing
    (Claims.of(reads={"A", "B"}, writes={"A"}), Claims.of(writes={"B"}), True),
    (Claims.of(writes={"A"}), Claims.of(writes={"A"}), False),  # two creates see nothing of each other
    (Claims.of(writes={"A", "A/1"}), Claims.of(writes={"A", "A/2"}), False),  # updates of two resources
    (Claims.of(writes={"A", "A/1"}), Claims.of(writes={"A", "A/1"}), True),
    (Claims.of(writes={"A", "A/*"}), Claims.of(writes={"A", "A/2"}), True),  # an id not known: any resource
    (Claims.of(writes={"A"}), Claims.of(reads={"A/1"}), False),  # a create does not change resource 1
    (Claims.of(writes={"A", "A/1"}), Claims.of(reads={"A"}), True),  # an update changes what a search sees
    (Claims.of(writes={"A", "A/*"}), Claims.of(reads={"A/1"}), True),
    (Claims.everything(), Claims.of(writes={"B"}), True),
])
def test_conflicts(left: Claims, right: Claims, conflict: bool) -> None:
    assert left.conflicts_with(right) is conflict
    assert right.conflicts_with(left) is conflict


def _spans(plan: list[tuple[str, Claims, float]]) -> dict[str, tuple[float, float]]:
    """Run each (name, claims, delay) on its own thread, started in order 10 ms apart; when each held the lock."""
    lock, spans, guard = ClaimLock(), {}, threading.Lock()

    def run(name: str, claims: Claims, hold_s: float) -> None:
        with lock.holding(claims):
            start = time.monotonic()
            time.sleep(hold_s)
            with guard:
                spans[name] = (start, time.monotonic())

    threads = []
    for name, claims, hold_s in plan:
        thread = threading.Thread(target=run, args=(name, claims, hold_s))
        thread.start()
        threads.append(thread)
        time.sleep(0.01)
    for thread in threads:
        thread.join(5)
    return spans


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_a_writer_of_a_type_overlaps_no_reader_of_it_and_other_types_go_on() -> None:
    spans = _spans([
        ("read A 1", Claims.of(reads={"A"}), 0.15),
        ("write A", Claims.of(writes={"A"}), 0.1),
        ("read A 2", Claims.of(reads={"A"}), 0.05),  # came after the writer asked: waits for it (writers first)
        ("read B", Claims.of(reads={"B"}), 0.05),
    ])
    assert not _overlap(spans["write A"], spans["read A 1"])
    assert not _overlap(spans["write A"], spans["read A 2"])
    assert spans["read A 2"][0] >= spans["write A"][1]  # not overtaking the waiting writer
    assert _overlap(spans["read B"], spans["read A 1"])  # another type: side by side, not held back
    assert spans["read B"][1] < spans["write A"][0]


def test_writers_of_different_types_run_side_by_side_and_everything_runs_alone() -> None:
    spans = _spans([
        ("write A", Claims.of(writes={"A"}), 0.1),
        ("write B", Claims.of(writes={"B"}), 0.1),
        ("transaction", Claims.everything(), 0.05),
        ("read C", Claims.of(reads={"C"}), 0.05),
    ])
    assert _overlap(spans["write A"], spans["write B"])
    for other in ("write A", "write B", "read C"):
        assert not _overlap(spans["transaction"], spans[other])


def test_a_writer_of_everything_is_not_starved_by_a_stream_of_other_writers() -> None:
    spans = _spans([
        ("write A 1", Claims.of(writes={"A", "A/1"}), 0.1),
        ("transaction", Claims.everything(), 0.05),
        ("write A 2", Claims.of(writes={"A", "A/2"}), 0.05),  # asked after the transaction: waits its turn
    ])
    assert spans["write A 1"][1] <= spans["transaction"][0] and spans["transaction"][1] <= spans["write A 2"][0]


def test_a_claim_is_released_when_the_case_raises() -> None:
    lock = ClaimLock()
    with pytest.raises(RuntimeError), lock.holding(Claims.everything()):
        raise RuntimeError("case failed")
    done = threading.Event()
    threading.Thread(target=lambda: (lock.holding(Claims.everything()).__enter__(), done.set())).start()
    assert done.wait(1)


def test_a_leading_slash_and_an_inline_query_name_the_same_type() -> None:
    assert request_claims(Request("GET", "/Patient?_id=1")).reads == {"Patient"}

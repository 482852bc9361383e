"""Suite files at the same time (imgconf.concurrent_cases) and what threads share: fixtures, teardown.

The chain scheduler is tested on its own (it knows nothing of cases); fixture loading and teardown
over real HTTP against the reference server, a HAPI-like referential-integrity refusal injected by a
FaultProxy.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from imgconf.client import TargetClient
from imgconf.concurrent_cases import CaseChains, NotRun, map_concurrently
from imgconf.data_claims import Claims
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.proxy import FaultProxy
from imgconf.fixtures import RUN_TAG_SYSTEM, FixtureManager, add_tag, id_from_response
from imgconf.paths import fixtures_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions, TargetSession

# -- the chain scheduler ------------------------------------------------------------------------


def _recording_runner(delay_s: float) -> tuple[list[tuple[str, float, float]], object]:
    log: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def run_one(item: str) -> str:
        started = time.monotonic()
        time.sleep(delay_s)
        with lock:
            log.append((item, started, time.monotonic()))
        return item.upper()

    return log, run_one


def test_chains_run_side_by_side_and_each_in_its_own_order() -> None:
    log, run_one = _recording_runner(0.1)
    chains = [["a1", "a2", "a3"], ["b1", "b2", "b3"], ["c1", "c2", "c3"]]
    runner: CaseChains[str, str] = CaseChains(3, run_one, lambda: False)  # type: ignore[arg-type]
    started = time.monotonic()
    runner.start(chains)
    assert [runner.result(item) for chain in chains for item in chain] == [i.upper() for c in chains for i in c]
    assert time.monotonic() - started < 0.9 * 0.1 * 9  # side by side, not one after another (0.9 s)
    for chain in chains:  # within a file: in order, never overlapping
        spans = [(s, e) for name, s, e in sorted(log, key=lambda row: row[1]) if name in chain]
        assert [name for name, _, _ in sorted(log, key=lambda row: row[1]) if name in chain] == chain
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    runner.stop()


def test_the_heaviest_chain_starts_first_when_workers_are_fewer_than_files() -> None:
    log, run_one = _recording_runner(0.02)
    runner: CaseChains[str, str] = CaseChains(1, run_one, lambda: False)  # type: ignore[arg-type]
    runner.start([["short"], ["long1", "long2", "long3"]])
    runner.result("short")
    assert [name for name, _, _ in log][:3] == ["long1", "long2", "long3"]
    runner.stop()


def test_a_case_that_raises_fails_alone_and_its_chain_goes_on() -> None:
    def run_one(item: str) -> str:
        if item == "a1":
            raise RuntimeError("harness bug")
        return item

    runner: CaseChains[str, str] = CaseChains(2, run_one, lambda: False)
    runner.start([["a1", "a2"]])
    with pytest.raises(RuntimeError, match="harness bug"):
        runner.result("a1")
    assert runner.result("a2") == "a2"  # as pytest goes on to the next item after an error
    runner.stop()


def test_stop_lets_the_case_in_flight_end_and_starts_no_other() -> None:
    log, run_one = _recording_runner(0.2)
    runner: CaseChains[str, str] = CaseChains(1, run_one, lambda: False)  # type: ignore[arg-type]
    runner.start([["a1", "a2", "a3"], ["b1"]])
    time.sleep(0.05)  # a1 is in flight
    runner.stop()
    assert runner.result("a1") == "A1"
    for item in ("a2", "a3", "b1"):
        with pytest.raises(NotRun):
            runner.result(item)
    assert [name for name, _, _ in log] == ["a1"]


def test_should_stop_is_asked_before_every_case() -> None:
    _, run_one = _recording_runner(0.0)
    stop_after = threading.Event()
    runner: CaseChains[str, str] = CaseChains(1, lambda item: (stop_after.set(), run_one(item))[1], stop_after.is_set)  # type: ignore[operator]
    runner.start([["a1", "a2"]])
    assert runner.result("a1") == "A1"
    with pytest.raises(NotRun):  # -x / --run-timeout / Ctrl-C seen by the chain before a2
        runner.result("a2")
    runner.stop()


def test_a_case_that_writes_runs_alone_and_a_reader_it_disturbed_reads_again() -> None:
    """No kept result may have seen the target's data change under it: a writer overlaps no other writer, and a
    reader whose run overlapped a writer runs again, holding its claim; the result kept is the last run's."""
    log, record = _recording_runner(0.1)
    runs_made: dict[str, int] = defaultdict(int)

    def run_one(item: str) -> str:
        runs_made[item] += 1
        return f"{record(item)}#{runs_made[item]}"  # type: ignore[operator]

    chains = [["r1", "w1", "r2"], ["r3", "r4", "r5"], ["r6", "w2", "r7"]]
    runner: CaseChains[str, str] = CaseChains(
        3, run_one, lambda: False, claims=lambda item: Claims.everything() if item.startswith("w") else Claims.of(reads={"A"}))
    runner.start(chains)
    for chain in chains:
        for item in chain:
            assert runner.result(item) == f"{item.upper()}#{runs_made[item]}"  # the last run's result is kept
    runner.stop()
    runs: dict[str, list[tuple[float, float]]] = {}
    for name, start, end in log:
        runs.setdefault(name, []).append((start, end))
    writers = [span for name in ("w1", "w2") for span in runs[name]]
    assert all(len(runs[name]) == 1 for name in ("w1", "w2"))
    assert not (writers[0][0] < writers[1][1] and writers[1][0] < writers[0][1])

    def overlaps_a_writer(span: tuple[float, float]) -> bool:
        return any(span[0] < w_end and w_start < span[1] for w_start, w_end in writers)

    readers = [name for name in runs if name.startswith("r")]
    for name in readers:
        assert not overlaps_a_writer(runs[name][-1]), name  # the kept run saw no write
        assert len(runs[name]) == (2 if overlaps_a_writer(runs[name][0]) else 1), name
    assert runner.rereads == sum(len(runs[name]) - 1 for name in readers)
    first = [runs[n][0] for n in ("r1", "r3", "r6")]  # the first case of each chain: readers, together
    assert max(s for s, _ in first) < min(e for _, e in first)


def test_readers_of_another_type_are_never_disturbed_by_a_writer() -> None:
    log, run_one = _recording_runner(0.05)
    runner: CaseChains[str, str] = CaseChains(  # type: ignore[arg-type]
        2, run_one, lambda: False,
        claims=lambda item: Claims.of(writes={"A"}) if item.startswith("w") else Claims.of(reads={"B"}))
    runner.start([["w1", "w2", "w3"], ["r1", "r2", "r3"]])
    for item in ("w1", "w2", "w3", "r1", "r2", "r3"):
        runner.result(item)
    runner.stop()
    assert runner.rereads == 0 and len(log) == 6


def test_map_concurrently_keeps_the_order_and_overlaps_the_waiting() -> None:
    started = time.monotonic()
    assert map_concurrently(lambda x: (time.sleep(0.1), x * 2)[1], list(range(8)), 8, "t") == [x * 2 for x in range(8)]
    assert time.monotonic() - started < 0.1 * 8 / 2


# -- fixtures asked for by several threads at once -----------------------------------------------

@pytest.fixture
def open_session() -> Iterator[TargetSession]:
    session = TargetSession(SessionOptions(embedded_auth=False))
    try:
        yield session
    finally:
        session.close()


def test_a_fixture_asked_for_by_eight_threads_at_once_is_created_once(open_session: TargetSession) -> None:
    keys = ["imagingstudy/ct-chest", "imagingstudy/dx-entered-in-error", "patient/jones"]
    barrier = threading.Barrier(8)

    def ask(_: int) -> None:
        barrier.wait()
        open_session.fixtures.ensure(keys)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ask, range(8)))
    created = open_session.fixtures.created
    assert len(created) == len(set(created))
    patients = open_session.client.send("GET", "Patient", params=[("_tag", f"{RUN_TAG_SYSTEM}|{open_session.run_tag}")]).resource
    assert patients is not None and patients.get("total") == sum(1 for rtype, _ in created if rtype == "Patient") == 1
    ids = {open_session.fixtures.value(key, "id") for key in keys}
    assert len(ids) == len(keys)


# -- teardown: deletes in waves ------------------------------------------------------------------

def _referential_integrity() -> tuple[Fault, list[str]]:
    """HAPI's behaviour: a Patient is not deleted (409) while an ImagingStudy created through the proxy still exists."""
    studies: set[str] = set()
    refused: list[str] = []
    lock = threading.Lock()

    def on_request(call: ProxyCall) -> ProxyResponse | None:
        with lock:
            if call.method == "DELETE" and call.resource_type == "Patient" and studies:
                refused.append(call.path)
                return ProxyResponse(409, {"content-type": "application/fhir+json"}, b'{"resourceType": "OperationOutcome", '
                                     b'"issue": [{"severity": "error", "code": "conflict", "diagnostics": "referenced"}]}')
        return None

    def on_response(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        with lock:
            if call.method == "POST" and call.path == "ImagingStudy" and response.status == 201:
                studies.add(response.headers["location"].split("/ImagingStudy/")[1].split("/")[0])
            if call.method == "DELETE" and call.resource_type == "ImagingStudy" and response.status < 300:
                studies.discard(call.path.split("/")[1])
        return response

    return Fault("referential-integrity", "DELETE of a referenced Patient answers 409", ("REST-030",),
                 on_request=on_request, on_response=on_response), refused


def _make_data(manager: FixtureManager, client: TargetClient, studies: int) -> None:
    created = client.send("POST", "Patient", json_body=add_tag({"resourceType": "Patient"}, manager.run_tag))
    manager.track(*(id_from_response(created) or ("", "")))
    patient = f"Patient/{manager.created[0][1]}"
    for _ in range(studies):
        study = client.send("POST", "ImagingStudy", json_body=add_tag(
            {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": patient}}, manager.run_tag))
        manager.track(*(id_from_response(study) or ("", "")))


@pytest.mark.parametrize("workers", [1, 4])
def test_teardown_deletes_a_referenced_resource_after_what_refers_to_it(workers: int) -> None:
    fault, refused = _referential_integrity()
    # 0.2 s per request: the concurrent Patient DELETE arrives while the ImagingStudy DELETEs are still on their way.
    with EmbeddedServer(latency_s=0.2) as server, FaultProxy(server.base_url, [fault]) as proxy:
        client = TargetClient(proxy.base_url)
        manager = FixtureManager(client, "teardown-waves", fixtures_dir(), lambda name: name)
        _make_data(manager, client, studies=3)
        started = time.monotonic()
        left = manager.teardown({"Patient", "ImagingStudy"}, budget_s=60, workers=workers)
        took = time.monotonic() - started
        client.close()
    assert left == 0  # nothing left behind, the refused Patient included
    if workers > 1:
        assert refused  # the first wave met the refusal: the Patient went again in the second
        assert took < 4 * 0.2 + 2 * 0.2 + 1.0  # waves, not one DELETE after another (4 deletes + 2 sweeps + a retry)
    else:
        assert not refused  # newest first: the studies are gone before the Patient is asked


def test_teardown_stops_when_a_wave_deletes_nothing_and_counts_what_is_left() -> None:
    def refuse(call: ProxyCall) -> ProxyResponse | None:
        return ProxyResponse(409, {}, b"") if call.method == "DELETE" and call.resource_type == "Patient" else None

    always = Fault("never-deleted", "every Patient DELETE answers 409", ("REST-030",), on_request=refuse)
    with EmbeddedServer() as server, FaultProxy(server.base_url, [always]) as proxy:
        client = TargetClient(proxy.base_url)
        manager = FixtureManager(client, "teardown-stuck", fixtures_dir(), lambda name: name)
        _make_data(manager, client, studies=2)
        left = manager.teardown({"Patient", "ImagingStudy"}, budget_s=60, workers=4)
        deletes = [path for method, path, _ in proxy.state.log if method == "DELETE" and path.startswith("Patient/")]
        client.close()
    assert left == 1  # the Patient, counted for imgconf cleanup
    assert 2 <= len(deletes) <= 2 + 5  # the waves (2), then the sweep's rounds: bounded, no endless retry

"""Bad server behaviour: every misbehaviour ends as a failed check or an infrastructure error with
evidence — never a crash, never a hang (issue 5).

The misbehaving servers are the reference server behind FaultProxy with the transport faults of
imgconf.faults.transport and the conformance faults (one registry: imgconf.faults.BY_NAME).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from case_support import run_selected_cases
from suite_roots import roots

from imgconf.client import TargetClient, TargetUnreachable
from imgconf.faults import BY_NAME, FaultProxy
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer

SUITES = suites_dir()
CRUD = str(SUITES / "imagingstudy" / "rest-crud.yaml")
SEARCH = str(SUITES / "imagingstudy" / "search-basic.yaml")
RESULTS = str(SUITES / "imagingstudy" / "search-results.yaml")

pytestmark = pytest.mark.slow


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


def fault(name: str) -> Any:
    return BY_NAME[name]


def run(pytester: pytest.Pytester, target: str, suites: list[str], *args: str) -> tuple[pytest.RunResult, dict[str, Any], float]:
    started = time.monotonic()
    # the suite file as the only root: the child collects (loads) what it runs, not every bundled suite
    result = pytester.runpytest_subprocess(*roots(*suites), *suites, *args, "--imgconf-target", target, "-p", "no:cacheprovider",
                                           timeout=240)
    elapsed = time.monotonic() - started
    return result, json.loads((pytester.path / "reports" / "summary.json").read_text()), elapsed


def tagged_left(base_url: str) -> int:
    with httpx.Client() as client:
        total = 0
        for rtype in ("Patient", "ImagingStudy", "Endpoint", "Practitioner"):
            bundle = client.get(f"{base_url}/{rtype}", params={"_summary": "count"}).json()
            total += bundle.get("total", 0)
        return total


SCENARIOS = [
    # (fault, suite, case ids (node ids end in them) separated by ' | ', what the selected cases must end as, words the evidence shows)
    ("malformed-json", SEARCH, "modality-by-code", {"fail"}, "not JSON"),
    ("html-error-page", SEARCH, "modality-by-code", {"fail"}, "not JSON"),
    ("wrong-content-type", CRUD, "capability-statement", {"fail"}, "text/plain"),
    ("slow-response", SEARCH, "modality-by-code", {"error"}, "Timeout"),
    ("connection-reset", SEARCH, "modality-by-code", {"error"}, "Error"),
    ("redirect-loop", SEARCH, "modality-by-code", {"error"}, "TooManyRedirects"),
    ("next-link-loops", RESULTS, "count-2-pages-through-every-match", {"warn"}, "loops back"),  # REST-043 is SHOULD
    ("huge-bundle", SEARCH, "modality-by-code", {"error"}, "exceeds"),
    ("wrong-resource-type", CRUD,
     "create-returns-201-with-location-and-etag | created-resource-is-readable-with-same-content", {"fail"}, "Observation"),
    ("no-bundle-type", SEARCH, "patient-by-bare-id", {"fail"}, "searchset"),
    ("5xx-storm", SEARCH, "modality-by-code", {"error"}, "503"),
    ("gzip-broken", SEARCH, "modality-by-code", {"error"}, "Decoding"),
]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[EmbeddedServer]:
    """One reference server for the scenario table: each scenario is a fresh session with its own run tag."""
    with EmbeddedServer() as srv:
        yield srv


@pytest.mark.parametrize(("name", "suite", "select", "verdicts", "evidence"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_bad_server_yields_failed_check_or_error_with_evidence(
    shared_server: EmbeddedServer, name: str, suite: str, select: str, verdicts: set[str], evidence: str
) -> None:
    # In process through the engine (the code path of `imgconf run` and of the pytest items), the fault active from
    # the first request, as a pytest run with these node ids selected; no exception may escape ("never a crash").
    # The pytest process meeting a bad server (exit code, summary.json on disk) is test_run_timeout_stops_cleanly_….
    wanted = select.split(" | ")
    started = time.monotonic()
    with FaultProxy(shared_server.base_url, [fault(name)]) as proxy:
        data = run_selected_cases(proxy.base_url, [suite], lambda c: c.key in wanted,
                                  timeout=2.0, max_response_bytes=5 * 1024 * 1024)
    elapsed = time.monotonic() - started
    assert sorted(c["case_id"] for c in data["cases"]) == sorted(wanted), data["cases"]
    exit_code = 1 if data["totals"]["cases"].get("fail", 0) + data["totals"]["cases"].get("error", 0) else 0
    assert exit_code == (0 if verdicts == {"warn"} else 1), data["totals"]
    assert elapsed < 120, f"{name}: the run took {elapsed:.0f} s"
    judged = [c for c in data["cases"] if c["verdict"] != "skip"]
    assert judged, f"{name}: no case was judged"
    # The first selected case meets the misbehaviour; everything that ran ends in a verdict.
    first = judged[0] if name != "wrong-resource-type" else next(c for c in judged if "readable" in c["case"])
    assert first["verdict"] in verdicts, (name, first["verdict"], first.get("error"))
    text = json.dumps([first] + [c for c in data["checks"] if c["case"] == first["case"]])
    assert evidence.lower() in text.lower(), f"{name}: evidence does not show {evidence!r}: {text[:1500]}"
    assert first["exchanges"], f"{name}: no request/response evidence"
    if "error" in verdicts:  # infrastructure errors are reported apart from conformance failures
        assert data["totals"]["cases"].get("error", 0) >= 1


def test_a_huge_response_is_cut_at_the_cap_with_truncated_evidence(server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [fault("huge-bundle")]) as proxy:
        client = TargetClient(proxy.base_url, timeout=30, max_response_bytes=2 * 1024 * 1024)
        try:
            with pytest.raises(TargetUnreachable) as caught:
                client.send("GET", "ImagingStudy")
        finally:
            client.close()
    exchange = caught.value.exchange
    assert "exceeds 2097152 bytes" in str(caught.value)
    assert exchange.status == 200 and exchange.response_body is not None
    assert exchange.response_body.startswith('{"resourceType":"Bundle"')
    assert "not kept" in exchange.response_body and len(exchange.response_body) < 70 * 1024


def test_a_dripping_response_hits_the_whole_request_deadline(server: EmbeddedServer) -> None:
    """httpx's read timeout restarts with every chunk; the client's own deadline does not."""
    import asyncio

    from starlette.responses import StreamingResponse

    from imgconf.faults import Fault, ProxyResponse

    def drip(call: Any) -> ProxyResponse:
        async def slowly() -> Any:
            for _ in range(15):  # 3 s in all: well past the 1 s deadline, never 1 s without a byte
                await asyncio.sleep(0.2)
                yield b" "
        return ProxyResponse(200, {}, b"", raw=StreamingResponse(slowly(), media_type="application/fhir+json"))

    with FaultProxy(server.base_url, [Fault("drip", "one byte every 0.2 s", ("REST-040",), on_request=drip)]) as proxy:
        client = TargetClient(proxy.base_url, timeout=1.0)
        started = time.monotonic()
        try:
            with pytest.raises(TargetUnreachable, match=r"longer than 1\.0 s"):
                client.send("GET", "ImagingStudy")
        finally:
            client.close()
    assert time.monotonic() - started < 5


def test_run_timeout_stops_cleanly_and_tears_down(pytester: pytest.Pytester, server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [fault("slow-response")]) as proxy:
        result, data, elapsed = run(pytester, proxy.base_url, [SEARCH], "--imgconf-request-timeout", "1", "--imgconf-run-timeout", "3")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "--run-timeout 3 s reached" in out
    assert elapsed < 60
    assert data["run"]["options"]["run_timeout_reached"] is True
    assert data["run"]["options"]["teardown_remaining"] == 0
    assert tagged_left(server.base_url) == 0

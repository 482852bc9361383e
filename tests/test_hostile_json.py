"""Issue 9 item 3: hostile JSON cannot stop teardown or the report.

The attacks: a /metadata nested thousands of levels deep (RecursionError ended the session before
teardown: all fixtures left, no report), nested DELETE answers (teardown stopped after the first
delete), ``"entry": null`` in the ``_tag`` sweep (TypeError, no report). The target is the reference
server behind FaultProxy with these faults; the upstream server is then checked for leftovers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hostile_support import tagged_left
from imgconf.client import HttpResult
from imgconf.faults import Fault, FaultProxy, ProxyCall, ProxyResponse
from imgconf.fixtures import tagged_ids
from imgconf.jsonsafe import MAX_JSON_DEPTH, JsonTooDeep, json_depth, loads_bounded
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.report.html import _body
from imgconf.report.redact import redact_text
from imgconf.results import Exchange
from suite_roots import BUNDLED

SEARCH = str(suites_dir() / "imagingstudy" / "search-basic.yaml")
DEEP = b"[" * 50_000 + b"]" * 50_000  # far beyond Python's recursion limit


def nested_resource(rtype: str, depth: int = 50_000) -> bytes:
    return b'{"resourceType":"' + rtype.encode() + b'","x":' + b"[" * depth + b"]" * depth + b"}"


# -- the bound itself ------------------------------------------------------------------------

def test_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{"}]}') == 3
    assert json_depth(b'"]]]"') == 0
    assert json_depth(b'{"a": "\\"[[["}') == 1


def test_nesting_beyond_the_bound_is_refused_as_not_json() -> None:
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert loads_bounded(ok) is not None
    with pytest.raises(JsonTooDeep, match="201 levels deep, more than the 200"):
        loads_bounded(b"[" + ok + b"]")
    with pytest.raises(ValueError):  # callers that catch ValueError for "not JSON" catch it too
        loads_bounded(DEEP)


def test_a_deep_body_is_unusable_json_evidence_not_an_exception() -> None:
    result = HttpResult(status=200, headers=httpx.Headers(), content=DEEP, url="http://x/fhir/metadata",
                        exchange=Exchange(method="GET", url="http://x", request_headers={}, request_body=None,
                                          status=200, response_headers={}, response_body=None, elapsed_ms=1))
    assert result.json is None and result.resource is None
    assert "not usable JSON" in (result.json_error or "")


def test_redaction_and_the_html_body_survive_deep_json() -> None:
    text = DEEP.decode()
    assert redact_text(text) == text
    body, _ = _body(text)
    assert body.startswith("[[[")


def test_the_sweep_reads_any_shape_and_only_tagged_resources() -> None:
    ours = {"system": "urn:imgconf:run", "code": "t1"}
    for bundle in (None, [], {"entry": None}, {"entry": {"x": 1}}, {"entry": [None, 1, "x", {"resource": None}]},
                   {"entry": [{"resource": {"resourceType": "Patient", "id": "p", "meta": {"tag": None}}}]}):
        assert tagged_ids(bundle, "Patient", "t1") == []
    bundle = {"entry": [
        {"resource": {"resourceType": "Patient", "id": "mine", "meta": {"tag": [ours]}}},
        {"resource": {"resourceType": "Patient", "id": "theirs"}},  # a server ignoring _tag sends everything
        {"resource": {"resourceType": "Patient", "id": "other-run", "meta": {"tag": [{**ours, "code": "t2"}]}}},
    ]}
    assert tagged_ids(bundle, "Patient", "t1") == ["mine"]


# -- end to end: a run against the hostile server --------------------------------------------

@pytest.fixture()
def upstream() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


def _hostile(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.path.strip("/") == "metadata":
        return ProxyResponse(200, {"content-type": "application/fhir+json"}, nested_resource("CapabilityStatement"))
    if call.method == "DELETE":  # the delete happened upstream; the answer is hostile
        return ProxyResponse(200, {"content-type": "application/fhir+json"}, nested_resource("OperationOutcome"))
    if call.method == "GET" and any(k == "_tag" for k, _ in call.query):
        return ProxyResponse(200, {"content-type": "application/fhir+json"},
                             b'{"resourceType":"Bundle","type":"searchset","entry":null}')
    return response


HOSTILE = Fault("hostile-json", "nested /metadata and DELETE answers, entry: null in _tag searches", ("REST-040",),
                on_response=_hostile)


def _run(pytester: pytest.Pytester, target: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess(*BUNDLED, SEARCH, "--imgconf-target", target, "-p", "no:cacheprovider", *args, timeout=300)
    return result, json.loads((pytester.path / "reports" / "summary.json").read_text())


@pytest.mark.slow
def test_hostile_json_cannot_stop_teardown_or_the_report(pytester: pytest.Pytester, upstream: EmbeddedServer) -> None:
    with FaultProxy(upstream.base_url, [HOSTILE]) as proxy:
        result, data = _run(pytester, proxy.base_url, "--imgconf-request-timeout", "5")
        deletes = [entry for entry in proxy.state.log if entry[0] == "DELETE"]
    out = result.stdout.str() + result.stderr.str()
    assert "RecursionError" not in out and "INTERNALERROR" not in out, out[-3000:]
    assert len(deletes) >= 3  # every tracked fixture got its DELETE, not just the first
    assert tagged_left(upstream.base_url) == {}  # zero fixtures left on the server
    assert data["cases"] and (pytester.path / "reports" / "report.html").exists()
    assert data["run"]["server_software"].startswith("unknown")  # the nested /metadata is not used


@pytest.mark.slow
def test_a_server_ignoring_tag_loses_nothing_to_the_sweep(pytester: pytest.Pytester, upstream: EmbeddedServer) -> None:
    bystander = httpx.post(f"{upstream.base_url}/Patient", json={"resourceType": "Patient", "name": [{"family": "Bystander"}]})
    rid = bystander.headers["Location"].split("/Patient/")[1].split("/")[0]

    def ignore_tag(call: ProxyCall) -> ProxyCall:
        call.query = [(k, v) for k, v in call.query if k != "_tag"]
        return call

    with FaultProxy(upstream.base_url, [Fault("ignores-_tag", "answers _tag searches with everything", ("REST-040",),
                                              on_request=ignore_tag)]) as proxy:
        _run(pytester, proxy.base_url, "--imgconf-request-timeout", "5")
    assert httpx.get(f"{upstream.base_url}/Patient/{rid}").status_code == 200
    assert tagged_left(upstream.base_url) == {}

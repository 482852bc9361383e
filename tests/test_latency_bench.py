"""The benchmark's distant target (benchmarks/bench_latency.py): the embedded server answers late."""

from __future__ import annotations

import time

import httpx

from imgconf.reference.server import EmbeddedServer


def test_embedded_server_answers_every_request_late() -> None:
    with EmbeddedServer(latency_s=0.2) as server, httpx.Client() as client:
        for path in ("metadata", "ImagingStudy?_count=1"):
            started = time.perf_counter()
            answer = client.get(f"{server.base_url}/{path}")
            assert answer.status_code == 200
            assert time.perf_counter() - started >= 0.2  # a lower bound only: the delay is applied


def test_without_latency_nothing_is_wrapped() -> None:
    with EmbeddedServer() as server:
        assert server.latency_s == 0.0
        assert httpx.get(f"{server.base_url}/metadata").status_code == 200

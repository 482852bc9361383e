"""The benchmark's distant target (benchmarks/bench_latency.py): the embedded server answers late."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

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


def _bench_module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_latency.py"
    spec = importlib.util.spec_from_file_location("bench_latency", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_target_is_a_process_of_its_own_late_and_with_smart_auth(tmp_path: Path) -> None:
    bench = _bench_module()
    target = bench.Target(200, tmp_path, bench.Client.make(tmp_path))
    try:
        assert target.proc.pid != os.getpid() and target.proc.poll() is None
        started = time.perf_counter()
        assert httpx.get(f"{target.base_url}/metadata").status_code == 200
        assert time.perf_counter() - started >= 0.2
        assert httpx.get(f"{target.base_url}/ImagingStudy").status_code == 401  # SMART on, as the embedded target
        preset = target.config.read_text(encoding="utf-8")
        assert target.base_url in preset and target.client_id in preset and "IMGCONF_BENCH_CLIENT_KEY" in preset
        assert "PRIVATE KEY" in target.key_env["IMGCONF_BENCH_CLIENT_KEY"] and "PRIVATE" not in preset  # the key never in the file
        assert target.cpu_s() >= 0
    finally:
        target.stop()
    assert target.proc.returncode is not None

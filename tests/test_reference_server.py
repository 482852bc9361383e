"""The server wrappers: EmbeddedServer start/stop, concurrency, foreground `serve`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from imgconf.reference import EmbeddedServer


def test_start_fast_and_cleanup() -> None:
    t0 = time.monotonic()
    srv = EmbeddedServer().start()
    assert time.monotonic() - t0 < 1.0
    tmp = srv.db_path.parent
    assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/fhir")
    assert httpx.get(f"{srv.base_url}/metadata").status_code == 200
    srv.stop()
    assert not tmp.exists()


def test_given_db_path_persists(tmp_path: Path) -> None:
    db = tmp_path / "ref.sqlite"
    with EmbeddedServer(db) as srv:
        rid = httpx.post(f"{srv.base_url}/Patient", json={"resourceType": "Patient"}).json()["id"]
    assert db.exists()
    with EmbeddedServer(db) as srv:  # a restart reads the same file
        assert httpx.get(f"{srv.base_url}/Patient/{rid}").status_code == 200


def test_concurrent_writes_are_consistent() -> None:
    with EmbeddedServer() as srv:
        base = srv.base_url
        rid = httpx.post(f"{base}/Patient", json={"resourceType": "Patient"}).json()["id"]

        def put(i: int) -> int:
            body = {"resourceType": "Patient", "id": rid, "name": [{"family": f"N{i}"}]}
            return httpx.put(f"{base}/Patient/{rid}", json=body, headers={"If-Match": 'W/"1"'}).status_code

        def post(i: int) -> str:
            return httpx.post(f"{base}/Patient", json={"resourceType": "Patient"}).json()["id"]

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(put, range(8)))
            new_ids = list(pool.map(post, range(16)))
        assert statuses.count(200) == 1 and statuses.count(412) == 7  # exactly one winner for version 1
        assert len(set(new_ids)) == 16
        assert httpx.get(f"{base}/Patient", params={"_count": "100"}).json()["total"] == 17


def test_serve_foreground(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"from imgconf.reference import serve; serve('127.0.0.1', {port}, None)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        assert r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement"
        assert r.json()["implementation"]["url"] == f"http://127.0.0.1:{port}/fhir"
    finally:
        proc.terminate()
        proc.wait(timeout=10)

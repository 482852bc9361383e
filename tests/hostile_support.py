"""Helpers for the hostile-server tests (issue 9): `imgconf serve` in its own process, counting what
runs left on a server, and a tiny raw-socket HTTP server for answers no ASGI app can give."""

from __future__ import annotations

import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

IMGCONF = [sys.executable, "-m", "imgconf.cli"]
RUN_TAG_SYSTEM = "urn:imgconf:run"
COUNTED_TYPES = ("Patient", "ImagingStudy", "Endpoint", "Practitioner", "DocumentReference", "Binary",
                 "DiagnosticReport", "Composition", "Bundle", "List", "Organization", "Observation",
                 "ServiceRequest", "Device")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def imgconf_serve() -> Iterator[str]:
    """`imgconf serve` in a process of its own (a target that outlives the run)."""
    port = free_port()
    proc = subprocess.Popen([*IMGCONF, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("imgconf serve did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def tagged_left(base_url: str, tag: str | None = None) -> dict[str, int]:
    """Resources of the usual types still tagged by an imgconf run (``tag`` None: any run)."""
    value = f"{RUN_TAG_SYSTEM}|{tag}" if tag else f"{RUN_TAG_SYSTEM}|"
    left = {}
    with httpx.Client(timeout=10) as client:
        for rtype in COUNTED_TYPES:
            bundle = client.get(f"{base_url}/{rtype}", params={"_tag": value, "_summary": "count"}).json()
            if bundle.get("total"):
                left[rtype] = bundle["total"]
    return left


Handler = Callable[[str, str, bytes], bytes | None]  # (method, path, body) -> raw HTTP answer or None


class _RawHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1").strip()
        if not request_line:
            return
        method, path = request_line.split(" ")[:2]
        length = 0
        while (line := self.rfile.readline().decode("latin-1").strip()):
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        body = self.rfile.read(length) if length else b""
        answer = self.server.answer(method, path, body)  # type: ignore[attr-defined]
        try:
            if callable(answer):
                answer(self.wfile)
            elif answer is not None:
                self.wfile.write(answer)
        except OSError:
            pass


class RawServer(socketserver.ThreadingTCPServer):
    """Loopback HTTP server that writes whatever bytes ``answer`` returns (or calls it with the socket file)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Callable[[str, str, bytes], object]) -> None:
        super().__init__(("127.0.0.1", 0), _RawHandler)
        self.answer = answer
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/fhir"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def http_answer(status: int, body: bytes, content_type: str = "application/fhir+json") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body

"""A managed target: a FHIR server imgconf builds (if needed), starts on loopback, waits for, and stops.

Each concrete target (``imgconf.targets.registry``) says how to build and start its server and how to
know it is ready; this module owns the process: its own process group, a drained output pipe (kept
for error messages), readiness with a clear timeout message, and a stop that always runs — on
normal exit, on an exception, on Ctrl-C (KeyboardInterrupt) and on SIGTERM (the CLI turns it into
KeyboardInterrupt), with ``atexit`` as the last resort.
"""

from __future__ import annotations

import atexit
import collections
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
TARGETS_DIR = REPO_ROOT / "targets"


class TargetUnavailable(RuntimeError):
    """A prerequisite is missing, the build failed, or the server did not become ready."""


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Launch:
    """How to start the server process and how to tell it is ready."""

    command: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    base_url: str = ""  # known in advance (HTTP readiness), or announced on a line starting with `announce`
    announce: str | None = None
    ready_path: str = "/metadata"  # GET base_url + this answers 200 once ready (a FHIR server's CapabilityStatement)
    ready_headers: dict[str, str] = field(default_factory=dict)  # e.g. the credentials a PACS target is started with


class ManagedTarget:
    """Subclasses set ``name``/``description``/``ready_timeout`` and implement ``unavailable``, ``launch``
    (and ``build``/``needs_build`` when there is something to build). ``skip_areas`` maps a suite area to
    the reason its suites cannot be judged on this server (they are reported as skipped, with that reason)."""

    name = ""
    description = ""
    ready_timeout = 120.0
    skip_areas: ClassVar[dict[str, str]] = {}
    request_headers: tuple[str, ...] = ()  # 'Name: value' sent on every request of a run against this target

    def __init__(self) -> None:
        self.base_url = ""
        self.started_in: float | None = None  # seconds from process start to ready
        self._process: subprocess.Popen[str] | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=200)
        self._announced: str | None = None
        self._announce_seen = threading.Event()

    # -- what a concrete target provides --------------------------------------------------------
    def unavailable(self) -> str | None:
        """None when this target can start here, else what is missing (and how to get it)."""
        return None

    def needs_build(self) -> bool:
        return False

    def build(self) -> None:
        """Build the server (only called when ``needs_build``); raise TargetUnavailable on failure."""

    def launch(self, port: int) -> Launch:
        raise NotImplementedError

    def status(self) -> str:
        """One line for ``imgconf targets list``."""
        why = self.unavailable()
        if why is not None:
            return f"unavailable: {why}"
        return "ready to start (will build first)" if self.needs_build() else "ready to start"

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> ManagedTarget:
        if (why := self.unavailable()) is not None:
            raise TargetUnavailable(f"target {self.name} unavailable: {why}")
        if self.needs_build():
            self.build()
        launch = self.launch(free_port())
        began = time.monotonic()
        self._process = subprocess.Popen(
            launch.command, cwd=launch.cwd, env={**os.environ, **launch.env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group: stop() ends the server and its children
        )
        atexit.register(self.stop)
        threading.Thread(target=self._pump, args=(launch.announce,), daemon=True).start()
        try:
            self.base_url = self._wait_ready(launch, timeout if timeout is not None else self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _pump(self, announce: str | None) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        for line in process.stdout:  # keeps the pipe drained so the server never blocks on a full pipe
            line = line.rstrip("\n")
            self._output.append(line)
            if announce and self._announced is None and line.startswith(announce):
                self._announced = line[len(announce):].strip()
                self._announce_seen.set()

    def _wait_ready(self, launch: Launch, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise TargetUnavailable(
                        f"target {self.name} exited with status {self._process.returncode} before it was ready; "
                        f"last output: {self.output_tail()}")
                if launch.announce is not None:
                    if self._announce_seen.wait(0.2):
                        return self._announced or ""
                    continue
                try:
                    response = client.get(launch.base_url + launch.ready_path,
                                          headers={"Accept": "application/fhir+json", **launch.ready_headers})
                    if response.status_code == 200:
                        return launch.base_url
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.5)
        what = (f"did not print '{launch.announce}<base URL>'" if launch.announce is not None
                else f"did not answer 200 on GET {launch.base_url}{launch.ready_path} (last: {last})")
        raise TargetUnavailable(
            f"target {self.name} was not ready within {timeout:.0f} s: it {what}; last output: {self.output_tail()}")

    def output_tail(self, lines: int = 8) -> str:
        tail = list(self._output)[-lines:]
        return " | ".join(tail) if tail else "(none)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        atexit.unregister(self.stop)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> ManagedTarget:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

"""Start Medplum's in-memory FHIR server (targets/medplum/server.mjs) on loopback and wait for it.

Medplum is an independent FHIR implementation nobody on this project wrote; running the suites
against it (with ``expectations/medplum.yaml`` as the baseline) shows the harness does not only
agree with its own reference server. Needs Node.js and ``npm ci`` in targets/medplum.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

TARGET_DIR = Path(__file__).resolve().parent.parent / "targets" / "medplum"
_LISTENING = "listening "


class MedplumUnavailable(RuntimeError):
    """Node.js or the npm packages are missing, or the server did not come up."""


def node_flags(node: str) -> list[str]:
    """Node 20 has no global WebSocket, which @medplum/core expects; 22+ has it built in."""
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return []
    return ["--experimental-websocket"] if major < 22 else []


def available(target_dir: Path = TARGET_DIR) -> str | None:
    """None when Medplum can start here, else why not."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (target_dir / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return f"run `npm ci` in {target_dir}"
    return None


class MedplumServer:
    """``with MedplumServer() as medplum: medplum.base_url`` — a fresh, empty in-memory server."""

    def __init__(self, target_dir: Path = TARGET_DIR, port: int = 0) -> None:
        self.target_dir = target_dir
        self.port = port
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self, timeout: float = 60.0) -> MedplumServer:
        if (why := available(self.target_dir)) is not None:
            raise MedplumUnavailable(why)
        node = shutil.which("node") or "node"
        self._process = subprocess.Popen(
            [node, *node_flags(node), "server.mjs", str(self.port)],
            cwd=self.target_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self._process.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith(_LISTENING):
                self.base_url = line[len(_LISTENING):].strip()
                return self
        self.stop()
        raise MedplumUnavailable("Medplum did not start: " + " | ".join(seen[-10:]))

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:  # keeps the pipe drained so the server never blocks on it
            self._lines.put(line.rstrip("\n"))

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> MedplumServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """``python -m imgconf.medplum [imgconf run options]``: start Medplum, run the suites against it
    (e.g. with ``--baseline expectations/medplum.yaml``), stop it; the exit status is the run's."""
    import sys

    try:
        with MedplumServer() as server:
            print(f"Medplum 5.2.13 (FhirRouter + MemoryRepository) at {server.base_url}", flush=True)
            return subprocess.call([sys.executable, "-m", "imgconf.cli", "run", "--target", server.base_url, *argv])
    except MedplumUnavailable as exc:
        print(f"Medplum target unavailable: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

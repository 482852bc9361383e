"""Run the reference app under uvicorn: embedded in a thread (tests, `imgconf run`) or in the
foreground (`imgconf serve`). The FHIR base is mounted at `/fhir`."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from .app import create_app

MOUNT = "/fhir"


def _root_app(db_path: Path, base_url_override: str | None = None) -> tuple[Starlette, Starlette]:
    """(root app, mounted FHIR app)."""
    fhir = create_app(db_path, base_url_override=base_url_override)
    return Starlette(routes=[Mount(MOUNT, app=fhir)]), fhir


def _config(app: Starlette, **kw: object) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **kw)  # type: ignore[arg-type]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the host process
        pass


class EmbeddedServer:
    """A reference server on 127.0.0.1:<free port> in a daemon thread.

    `db_path` None means a fresh temporary directory, removed again by `stop()`.
    """

    def __init__(self, db_path: Path | None = None, *, host: str = "127.0.0.1") -> None:
        self._tmp: str | None = None
        if db_path is None:
            self._tmp = tempfile.mkdtemp(prefix="imgconf-ref-")
            db_path = Path(self._tmp) / "reference.sqlite"
        self.db_path = Path(db_path)
        self.host = host
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._fhir_app: Starlette | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (else Nagle +
        # delayed ACK add ~40 ms to every keep-alive response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        self._sock = sock
        self.base_url = f"http://{self.host}:{port}{MOUNT}"
        root, self._fhir_app = _root_app(self.db_path)
        self._server = _Server(_config(root))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"imgconf-ref-{port}", daemon=True
        )
        self._thread.start()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._thread is not None and not self._thread.is_alive():
                    break
                if self._server is not None and self._server.started:
                    try:
                        if client.get(f"{self.base_url}/metadata").status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"reference server did not start at {self.base_url}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        if self._fhir_app is not None:
            self._fhir_app.state.server.store.close()
        self._server = self._thread = self._sock = self._fhir_app = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(host: str, port: int, db_path: Path | None) -> None:
    """Serve in the foreground until interrupted (`imgconf serve`)."""
    tmp = None
    if db_path is None:
        tmp = tempfile.mkdtemp(prefix="imgconf-ref-")
        db_path = Path(tmp) / "reference.sqlite"
    try:
        print(f"imgconf reference server: http://{host}:{port}{MOUNT} (db {db_path})", flush=True)
        root, fhir = _root_app(Path(db_path))
        try:
            uvicorn.Server(_config(root, host=host, port=port)).run()
        finally:
            fhir.state.server.store.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

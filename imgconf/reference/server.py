"""Run the reference app under uvicorn: embedded in a thread (tests, `imgconf run`) or in the
foreground (`imgconf serve`). The FHIR base is mounted at `/fhir`."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from imgconf.asgi import ThreadedASGIServer, uvicorn_config

from .app import create_app
from .auth import ReferenceAuth

MOUNT = "/fhir"


def _root_app(db_path: Path, base_url_override: str | None = None, auth: ReferenceAuth | None = None) -> tuple[Starlette, Starlette]:
    """(root app, mounted FHIR app)."""
    fhir = create_app(db_path, base_url_override=base_url_override, auth=auth)
    return Starlette(routes=[Mount(MOUNT, app=fhir)]), fhir


class _Late:
    """ASGI wrapper answering every HTTP request ``delay_s`` late without blocking other requests: a distant
    target on loopback (benchmarks/bench_latency.py)."""

    def __init__(self, app: ASGIApp, delay_s: float) -> None:
        self.app = app
        self.delay_s = delay_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


class EmbeddedServer:
    """A reference server on 127.0.0.1:<free port> in a daemon thread.

    `db_path` None means a fresh temporary directory, removed again by `stop()`. With `auth` the
    server requires SMART bearer tokens (reference/auth.py); without it, it is open.
    """

    def __init__(self, db_path: Path | None = None, *, host: str = "127.0.0.1", auth: ReferenceAuth | None = None,
                 latency_s: float = 0.0, warm: bool = False) -> None:
        self.auth = auth
        self.latency_s = latency_s
        # Load the validation models before saying it is ready (a server of its own, the benchmark's target);
        # in the harness's process they load on first use instead, as a run that creates no document needs none.
        self.warm = warm
        self._tmp: str | None = None
        if db_path is None:
            self._tmp = tempfile.mkdtemp(prefix="imgconf-ref-")
            db_path = Path(self._tmp) / "reference.sqlite"
        self.db_path = Path(db_path)
        self.host = host
        self.base_url = ""
        self._runner: ThreadedASGIServer | None = None
        self._fhir_app: Starlette | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        if self.warm:
            _warm_up()
        root, self._fhir_app = _root_app(self.db_path, auth=self.auth)
        app: ASGIApp = _Late(root, self.latency_s) if self.latency_s > 0 else root
        self._runner = ThreadedASGIServer(app, host=self.host, ready_path=f"{MOUNT}/metadata")
        try:
            self._runner.start(timeout)
        except RuntimeError:
            self.stop()
            raise
        self.base_url = self._runner.origin + MOUNT
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
        if self._fhir_app is not None:
            self._fhir_app.state.server.store.close()
        self._runner = self._fhir_app = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _warm_up() -> None:
    from imgconf.reference.capability import SUPPORTED_TYPES
    from imgconf.reference.validate import warm_up

    warm_up(tuple(SUPPORTED_TYPES))


def serve(host: str, port: int, db_path: Path | None, auth: ReferenceAuth | None = None) -> None:
    """Serve in the foreground until interrupted (`imgconf serve`)."""
    tmp = None
    if db_path is None:
        tmp = tempfile.mkdtemp(prefix="imgconf-ref-")
        db_path = Path(tmp) / "reference.sqlite"
    try:
        print(f"imgconf reference server: http://{host}:{port}{MOUNT} (db {db_path})", flush=True)
        _warm_up()
        root, fhir = _root_app(Path(db_path), auth=auth)
        try:
            uvicorn.Server(uvicorn_config(root, host=host, port=port)).run()
        finally:
            fhir.state.server.store.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

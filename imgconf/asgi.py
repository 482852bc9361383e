"""Serve any ASGI app on a free loopback port in a daemon thread (reference server, fault proxy)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the host process (pytest, the CLI)
        pass


def uvicorn_config(app: Any, **kw: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **kw)


class ThreadedASGIServer:
    """``start()`` binds 127.0.0.1:0, serves in a thread and waits until ``ready_path`` answers."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", ready_path: str = "/") -> None:
        self.app = app
        self.host = host
        self.ready_path = ready_path
        self.port = 0
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedASGIServer:
        # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (else Nagle and
        # delayed ACKs add ~40 ms to every keep-alive response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._server = _QuietServer(uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"imgconf-asgi-{self.port}", daemon=True
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
                        client.get(self.origin + self.ready_path)
                        return
                    except httpx.TransportError:
                        pass
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"server did not start at {self.origin}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> ThreadedASGIServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

"""Bounded HTTP exchanges: a whole-exchange deadline and a body size cap.

httpx's timeouts restart with every socket read, so a server sending its status line and headers
one byte a second is never timed out (the body had its own check; the headers did not), and
SMART discovery and token answers were read whole (5.9 GB before MemoryError). Here:

* :func:`bounded_transport` is an httpx transport whose network streams shorten every read, write
  and connect to what is left of the current exchange's deadline, and fail with a timeout when none
  is left — headers included;
* :func:`deadline` sets that deadline for the requests sent inside it (a nested one replaces it
  while it lasts: a token fetched in the middle of a request gets its own bound, the request's
  resumes after);
* :func:`read_capped` reads a streamed body up to a byte cap.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import typing
from collections.abc import Iterator

import httpcore
import httpx

# (monotonic deadline, the bound in seconds for messages) of the exchange in progress, if any
_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar("imgconf_deadline", default=None)


class BodyTooLarge(httpx.HTTPError):
    """A response body exceeded its cap; reading stopped there."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests sent through a bounded transport inside this block end within ``seconds`` in total."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _too_long(current: tuple[float, float]) -> httpcore.ReadTimeout:
    return httpcore.ReadTimeout(f"the exchange took longer than {current[1]} s in total (the request timeout); stopped")


def _remaining(timeout: float | None) -> float | None:
    current = _DEADLINE.get()
    if current is None:
        return timeout
    left = current[0] - time.monotonic()
    if left <= 0:
        raise _too_long(current)
    return left if timeout is None else min(timeout, left)


@contextlib.contextmanager
def _explained() -> Iterator[None]:
    """A socket timeout that is really the whole-exchange deadline says so."""
    try:
        yield
    except httpcore.TimeoutException:
        current = _DEADLINE.get()
        if current is not None and time.monotonic() >= current[0] - 0.05:
            raise _too_long(current) from None
        raise


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _explained():
            return self._stream.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _explained():
            self._stream.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(host, port, _remaining(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _remaining(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bounded_transport(verify: typing.Any = True) -> httpx.HTTPTransport:
    """An httpx transport whose connections honour :func:`deadline`."""
    transport = httpx.HTTPTransport(verify=verify)
    pool = transport._pool  # httpx 0.28 builds the httpcore pool without a backend argument
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """A streamed response's (decoded) body, refused (BodyTooLarge) beyond ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"response body exceeds {max_bytes} bytes; reading stopped")
        chunks.append(chunk)
    return b"".join(chunks)

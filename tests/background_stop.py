"""Servers a module has finished with, stopped while the next tests run; every stop is awaited at session end.

Why: Orthanc takes ~2.5 s to exit after SIGTERM (measured: the same with or without the DICOMweb plugin, keep-alive
or one HTTP thread), time spent waiting, not computing, at the end of each module that starts one. The stop itself
is unchanged (SIGTERM, then the temporary storage removed); only the wait moves off the test's path.
tests/conftest.py calls ``wait_for_stops`` at session end, so no process outlives the test run and a failing stop
is still reported.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class Stoppable(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Stoppable)


_pending: list[threading.Thread] = []
_errors: list[BaseException] = []


def _stop(server: Stoppable) -> None:
    try:
        server.stop()
    except BaseException as error:  # noqa: BLE001 - kept and raised again by wait_for_stops
        _errors.append(error)


def stop_later(server: Stoppable) -> None:
    thread = threading.Thread(target=_stop, args=(server,), name=f"stop {type(server).__name__}", daemon=True)
    thread.start()
    _pending.append(thread)


@contextmanager
def running(server: S) -> Iterator[S]:
    """``with running(OrthancServer()) as pacs:`` -- started here, stopped in the background when the block ends."""
    server.start()
    try:
        yield server
    finally:
        stop_later(server)


def wait_for_stops(timeout_s: float = 60.0) -> None:
    """Join every background stop; raise the first error one of them met."""
    while _pending:
        _pending.pop().join(timeout_s)
    errors, _errors[:] = list(_errors), []
    if errors:
        raise errors[0]

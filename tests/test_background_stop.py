"""tests/background_stop.py: a server stopped in the background has stopped when the session ends, and a stop that
fails is not lost."""

from __future__ import annotations

import threading

import pytest
from background_stop import running, wait_for_stops


class SlowToStop:
    def __init__(self, fail: bool = False) -> None:
        self.started = self.stopped = False
        self.fail = fail
        self.release = threading.Event()

    def start(self) -> SlowToStop:
        self.started = True
        return self

    def stop(self) -> None:
        self.release.wait(5)  # as Orthanc waits ~2.5 s after SIGTERM
        if self.fail:
            raise RuntimeError("could not stop")
        self.stopped = True


def test_the_block_ends_before_the_stop_and_wait_for_stops_awaits_it() -> None:
    server = SlowToStop()
    with running(server) as same:
        assert same is server and server.started
    assert not server.stopped  # the stop has not delayed the end of the block
    server.release.set()
    wait_for_stops()
    assert server.stopped


def test_a_failing_stop_is_raised_by_wait_for_stops_once() -> None:
    server = SlowToStop(fail=True)
    with running(server):
        pass
    server.release.set()
    with pytest.raises(RuntimeError, match="could not stop"):
        wait_for_stops()
    wait_for_stops()  # reported once, not again at session end

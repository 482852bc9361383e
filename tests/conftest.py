"""Shared fixtures for the project's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]

# Suite files used as test inputs are data, not suites to run while testing the harness.
collect_ignore_glob = ["data/*"]


@pytest.fixture(scope="session")
def reference_server() -> Iterator[object]:
    """One embedded reference server (real HTTP on loopback, real SQLite) for a test session."""
    from imgconf.reference.server import EmbeddedServer

    server = EmbeddedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Shared fixtures for the project's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

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


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    """A reference server per test module (modules that need their own define ``server`` locally)."""
    from imgconf.reference.server import EmbeddedServer

    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[httpx.Client]:
    """A keep-alive client on the module's reference server, asking for FHIR JSON."""
    with httpx.Client(base_url=server.base_url, headers={"Accept": "application/fhir+json"}, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[Any, Any]]:
    """(FaultProxy, TargetSession) on a module's own reference server: set faults on the proxy per test."""
    from imgconf.faults import FaultProxy
    from imgconf.reference.server import EmbeddedServer
    from imgconf.session import SessionOptions, TargetSession

    with EmbeddedServer() as srv, FaultProxy(srv.base_url, []) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            yield proxy, session
        finally:
            session.close()

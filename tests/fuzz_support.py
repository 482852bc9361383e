"""Shared by the fuzz tests: a session through a FaultProxy with the fuzz fixtures loaded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from imgconf.faults import FaultProxy
from imgconf.fuzz.fixtures import load_fixtures
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions, TargetSession


@contextmanager
def proxied_reference() -> Iterator[FaultProxy]:
    """A FaultProxy, no fault set yet, in front of a reference server of its own."""
    with EmbeddedServer() as server, FaultProxy(server.base_url, []) as proxy:
        yield proxy


@contextmanager
def loaded_through(proxy: FaultProxy, resource_types: tuple[str, ...]) -> Iterator[TargetSession]:
    """A session through ``proxy`` with the fuzz fixtures of ``resource_types`` loaded; afterwards the proxy's faults
    are cleared (so the fixtures' removal is not faulted) and the session closed."""
    session = TargetSession(SessionOptions(target=proxy.base_url))
    try:
        load_fixtures(session, resource_types)
        yield session
    finally:
        proxy.set_faults([])
        session.close()

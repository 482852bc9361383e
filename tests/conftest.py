"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

import pytest
from full_run import FullRun, run_every_bundled_suite

pytest_plugins = ["pytester"]


def _share_compiled_modules() -> None:
    """Why: about a hundred tests start pytest or imgconf in a child process, and each child that may not
    write bytecode (PYTHONDONTWRITEBYTECODE, set on some CI images) compiles imgconf again and has pytest
    assertion-rewrite all of it (imgconf is a pytest11 plugin): ~1 CPU-s per child. The caches go to a
    per-user directory, so a checkout whose owner asked for no bytecode stays free of .pyc files."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imgconf" / "test-pycache"
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)  # inherited by xdist workers and every child process
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(cache)


_share_compiled_modules()

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



def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Servers handed to tests/background_stop.py (Orthanc: ~2.5 s to exit) have all exited before the run ends."""
    from background_stop import wait_for_stops

    wait_for_stops()


@pytest.fixture(scope="session")
def bundled_full_run(tmp_path_factory: pytest.TempPathFactory) -> FullRun:
    """Every bundled suite against the embedded server, once per session (tests/full_run.py). Why shared: a
    whole-suite run is the most expensive thing these tests do, and test_plugin_e2e and test_browser_report
    assert different things on the same run (the scheduling hooks below keep their tests on one worker)."""
    return run_every_bundled_suite(tmp_path_factory.mktemp("full-run"))


# -- scheduling under `-n` ---------------------------------------------------------------------------------
# Why: with files (or single tests) handed out in collection order, a worker can end up with the long serial
# chains (a JVM start, Medplum, whole-suite runs) at the end while the other idles. Under `-n`, this run uses
# pytest-xdist's work stealing: each worker gets one contiguous block of the collection up front and an idle
# worker steals the tail of the other's queue. The blocks are arranged so that each begins with its share of
# the expensive tests (dealt longest first) and ends with quick ones, which are what gets stolen. Only this
# project's own test run is affected (tests/conftest.py); a `--dist` given on the command line is kept.

# The longest tests with their measured wall seconds (--durations, two workers), dealt first; the other `slow`
# tests follow in collection order, each counted as SLOW_S. A prefix ending in "::" is a module kept together.
FULL_RUN_S = 120.0  # bundled_full_run and the tests asserting on it
LONGEST_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/test_targets.py::test_hapi_starts_and_names_itself_in_its_capability_statement", 90.0),  # a JVM start
    ("tests/test_medplum.py::", 120.0),  # Medplum started once for the module (module fixture), a run against it
)
SLOW_S = 5.0


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "load":  # `-n` alone means load; an explicit other --dist is kept
        return None
    from xdist.scheduler import WorkStealingScheduling

    return WorkStealingScheduling(config, log)


def _unit_key(item: pytest.Item) -> str:
    """Tests that must stay together (one module or session fixture) form one unit; any other test is its own."""
    if "bundled_full_run" in getattr(item, "fixturenames", ()):
        return "bundled_full_run"
    for prefix, _ in LONGEST_FIRST:
        if prefix.endswith("::") and item.nodeid.startswith(prefix):
            return prefix
    return item.nodeid


def _expected_seconds(item: pytest.Item) -> float | None:
    """Measured cost of the unit this item starts; None for a quick test."""
    if "bundled_full_run" in getattr(item, "fixturenames", ()):
        return FULL_RUN_S
    for prefix, seconds in LONGEST_FIRST:
        if item.nodeid.startswith(prefix):
            return seconds
    return SLOW_S if item.get_closest_marker("slow") else None


@pytest.hookimpl(trylast=True)  # after -m/-k deselection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or config.getoption("dist") not in ("no", "load"):
        return  # not an xdist worker (or a --dist chosen on the command line): collection order as it is
    workers = int(workerinput.get("workercount", 1))
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(_unit_key(item), []).append(item)
    costs = {key: _expected_seconds(unit[0]) for key, unit in units.items()}
    expensive = sorted((key for key, cost in costs.items() if cost is not None), key=lambda k: -(costs[k] or 0.0))
    quick = [item for key, unit in units.items() if costs[key] is None for item in unit]
    # the block sizes WorkStealingScheduling sends first: len(pending) // (idle workers left)
    sizes, left = [], len(items)
    for remaining in range(workers, 0, -1):
        sizes.append(left // remaining)
        left -= sizes[-1]
    blocks: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for key in expensive:  # longest first, each to the block with the least expected time so far
        lightest = loads.index(min(loads))
        blocks[lightest].extend(units[key])
        loads[lightest] += costs[key] or 0.0
    for block, size in zip(blocks, sizes):
        take = max(0, size - len(block))
        block.extend(quick[:take])
        quick = quick[take:]
    blocks[-1].extend(quick)
    items[:] = [item for block in blocks for item in block]

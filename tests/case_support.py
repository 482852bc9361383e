"""Run one named case of a loaded suite through the module's (FaultProxy, TargetSession) pair."""

from __future__ import annotations

from pathlib import Path

from imgconf.engine import run_case
from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir
from imgconf.results import CaseResult
from imgconf.session import TargetSession
from imgconf.suite.loader import load_suite
from imgconf.suite.model import Suite


def load_bundled(path: Path) -> Suite:
    return load_suite(path, fixture_library=library(fixtures_dir()))


def run_named_case(proxied: tuple[FaultProxy, TargetSession], suite: Suite, name: str, faults: list[Fault]) -> CaseResult:
    """Fixtures are loaded with no fault active; the faults apply to the case alone."""
    proxy, session = proxied
    session.fixtures.ensure(suite.fixtures)
    proxy.set_faults(faults)
    try:
        return run_case(next(c for c in suite.cases if c.name == name), suite, session)
    finally:
        proxy.set_faults([])

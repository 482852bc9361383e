"""Run one named case of a loaded suite through the module's (FaultProxy, TargetSession) pair."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from imgconf.engine import run_case
from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir
from imgconf.report.summary import build_summary
from imgconf.results import CaseResult
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.loader import load_suite
from imgconf.suite.model import Case, Suite


def load_bundled(path: Path | str) -> Suite:
    """One load per suite file and test process: loading (schema, FHIRPath compiles) is the costly part."""
    return _load_bundled(Path(path).resolve())


@cache
def _load_bundled(path: Path) -> Suite:
    return load_suite(path, fixture_library=library(fixtures_dir()))


def run_selected_cases(
    target: str, suite_paths: list[str], select: Callable[[Case], bool], **options: Any
) -> dict[str, Any]:
    """The selected cases of the suites, in suite order, on one fresh session against ``target`` (the code path of
    `imgconf run`, as a pytest run with those node ids selected would reach them); the summary.json of the run.
    ``options``: SessionOptions fields (timeout, max_response_bytes)."""
    session = TargetSession(SessionOptions(target=target, **options))
    try:
        cases: list[CaseResult] = []
        for path in suite_paths:
            suite = load_bundled(path)
            cases += [run_case(c, suite, session, nodeid=f"{path}::{c.key}") for c in suite.cases if select(c)]
        return build_summary(session.run_info(), cases)
    finally:
        session.close()


def run_named_case(proxied: tuple[FaultProxy, TargetSession], suite: Suite, name: str, faults: list[Fault]) -> CaseResult:
    """Fixtures are loaded with no fault active; the faults apply to the case alone."""
    proxy, session = proxied
    session.fixtures.ensure(suite.fixtures)
    proxy.set_faults(faults)
    try:
        return run_case(next(c for c in suite.cases if c.name == name), suite, session)
    finally:
        proxy.set_faults([])


"""Whole suites in process through the engine (the code path of `imgconf run` and of each pytest
item), with summary.json's content built from the results: what a child pytest process reports,
without paying its start-up and suite loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from case_support import load_bundled

from imgconf.engine import run_case
from imgconf.report.summary import build_summary
from imgconf.session import SessionOptions, TargetSession


def run_suites_summary(options: SessionOptions, *paths: Path | str) -> dict[str, Any]:
    """Every case of the suites in order (a directory: its *.yaml in name order, as pytest collects
    them) on one session, as `pytest --imgconf-suites ROOT PATH...` runs them; closes the session
    (teardown) and returns the run's summary.json content."""
    files = [f for p in map(Path, paths) for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    suites = [load_bundled(f) for f in files]
    session = TargetSession(options)
    try:
        # read-only: the cases that write are deselected, as imgconf.runcontrol deselects their items
        results = [run_case(case, suite, session) for suite in suites for case in suite.cases
                   if not (options.read_only and case.writes)]
        info = session.run_info()
    finally:
        remaining = session.close()
    info.options["teardown_remaining"] = remaining
    return build_summary(info, results)


def exit_would_fail(data: dict[str, Any]) -> bool:
    """What a pytest run's exit status 1 means here: a case failed (or errored)."""
    return any(c["verdict"] in ("fail", "error") for c in data["cases"])

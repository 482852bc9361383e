"""An interrupted run is INTERRUPTED everywhere, never PASS.

Ctrl-C, SIGTERM and ``--run-timeout`` stop a run part-way: the cases that ran may all have passed,
but the target was not judged on the rest. This plugin (registered by imgconf.plugin) notes the
interruption before any report writer runs — ``tryfirst`` so that pytest's JUnit writer, which
writes in its own ``pytest_sessionfinish``, still gets the properties — with how many cases ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imgconf import options

INTERRUPTION_KEY = pytest.StashKey[dict[str, Any]]()
RUN_TIMEOUT_MARK = "--run-timeout"


def interruption(config: pytest.Config) -> dict[str, Any] | None:
    """``{"reason", "cases_run", "cases_total"}`` when the run was interrupted, else None."""
    return config.stash.get(INTERRUPTION_KEY, None)


_counts: dict[str, Any] = {"ran": 0, "timed_out": False}  # one run per process, reset at session start


def pytest_sessionstart(session: pytest.Session) -> None:
    _counts.update(ran=0, timed_out=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count judged cases (those with an imgconf result); notice --run-timeout skips.

    Reports from xdist workers arrive here on the controller too.
    """
    if getattr(report, "imgconf_case", None) is not None:
        _counts["ran"] += 1
    elif report.skipped and RUN_TIMEOUT_MARK in str(report.longrepr or ""):
        _counts["timed_out"] = True


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    counts = _counts
    from imgconf import runcontrol

    limit = options.get(config, "run_timeout")
    timed_out = counts["timed_out"] or runcontrol.report_options(config).get("run_timeout_reached", False)
    if timed_out:
        reason = f"--run-timeout {limit:g} s reached" if limit else "run timeout reached"
    elif int(exitstatus) == int(pytest.ExitCode.INTERRUPTED):
        reason = "stopped by Ctrl-C or SIGTERM"
    else:
        return
    total = max(int(getattr(session, "testscollected", 0) or 0) - int(getattr(session, "testsdeselected", 0) or 0),
                counts["ran"])
    record = {"reason": reason, "cases_run": counts["ran"], "cases_total": total}
    config.stash[INTERRUPTION_KEY] = record
    _tell_junit(config, record)
    _tell_allure(config, record)


def _tell_junit(config: pytest.Config, record: dict[str, Any]) -> None:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover — pytest internals moved
        return
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property("imgconf_outcome", "interrupted")
        xml.add_global_property("imgconf_interrupted", f"{record['reason']}: {record['cases_run']} of {record['cases_total']} cases ran")


def _tell_allure(config: pytest.Config, record: dict[str, Any]) -> None:
    """allure shows environment.properties on its overview page."""
    directory = config.getoption("allure_report_dir", None)
    if not directory:
        return
    path = Path(directory)
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / "environment.properties").write_text(
            "imgconf.outcome=INTERRUPTED\n"
            f"imgconf.interrupted={record['reason']}: {record['cases_run']} of {record['cases_total']} cases ran\n",
            encoding="utf-8",
        )
    except OSError:
        pass

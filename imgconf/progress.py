"""A rich progress display for ``imgconf run`` (pytest's own terminal output is switched off)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from imgconf.terminal import plain


class ProgressPlugin:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.counts: Counter[str] = Counter()
        self.cases_seen = 0
        self.problems: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(f"[bold red]collection error[/] {plain(report.longreprtext)}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.start()
        self.task = self.progress.add_task("cases", total=len(session.items), counts="")

    @pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook; absent when xdist is not installed
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("cases", total=len(ids), counts="")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        case = getattr(report, "imgconf_case", None)
        finished = report.when == "call" or (report.when == "setup" and not report.passed)
        if not finished or self.task is None:
            return
        verdict = case["verdict"] if case else ("skip" if report.skipped else "error")
        self.counts[verdict] += 1
        self.cases_seen += 1
        if verdict in ("fail", "error"):
            label = case["suite_id"] + " :: " + case["case"] if case else report.nodeid
            # reasons quote server data: shown as text, never as markup or terminal control sequences
            self.problems.append(f"[red]{verdict.upper()}[/] {plain(label)}: {plain(_first_reason(case, report))}")
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        self.progress.update(self.task, advance=1, counts=counts)

    def close(self) -> None:
        self.progress.stop()


def _first_reason(case: dict[str, Any] | None, report: pytest.TestReport) -> str:
    if case:
        if case.get("error"):
            return str(case["error"])
        for check in case["checks"]:
            if check["verdict"] in ("fail", "error"):
                return f"[{', '.join(check['requirement'])}] {check['reason']}"
    return report.longreprtext.splitlines()[0] if report.longreprtext else "failed"

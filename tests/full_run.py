"""One pytest run of every bundled suite against the embedded server (the session fixture ``bundled_full_run`` in
tests/conftest.py makes it once; test_plugin_e2e and test_browser_report assert on it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imgconf.paths import suites_dir
from suite_roots import BUNDLED


@dataclass(frozen=True)
class FullRun:
    """Where the run wrote its reports (``path/reports``), and how the pytest process ended."""

    path: Path
    result: pytest.RunResult

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "reports" / "summary.json").read_text(encoding="utf-8"))
        return data


def run_every_bundled_suite(path: Path) -> FullRun:
    """As a user runs them: a pytest process with two xdist workers, JUnit and Allure output, in ``path``."""
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", *BUNDLED, str(suites_dir()), "-n", "2",
                           "--junitxml=reports/junit.xml", "--alluredir=reports/allure", "-p", "no:cacheprovider"],
                          cwd=path, capture_output=True, text=True, timeout=900, check=False)
    result = pytest.RunResult(proc.returncode, proc.stdout.splitlines(), proc.stderr.splitlines(), time.monotonic() - began)
    return FullRun(path, result)

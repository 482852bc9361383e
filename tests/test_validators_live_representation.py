"""The live structure and rules checks run the offline validators on server responses: a server
that serves counts as strings / empty arrays (REST-102) or searchset entries with a request
(REST-103) fails; the reference server (the legal variation) passes the same suites."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imgconf.faults import BY_NAME, FaultProxy
from imgconf.reference.server import EmbeddedServer


def verdicts(suite: str, target: str, reports: Path) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "imgconf.cli", "run", "--suite", suite, "--target", target,
                    "--reports-dir", str(reports)], capture_output=True, text=True, timeout=600, check=False)
    summary = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    return {req: row["verdict"] for req, row in summary["requirements"].items()}


@pytest.mark.parametrize(("fault", "suite", "requirement"), [
    ("counts-as-strings", "imagingstudy-codings", "REST-102"),
    ("searchset-entry-request", "mhd-iti67", "REST-103"),
])
def test_fault_fails_and_reference_server_passes(tmp_path: Path, fault: str, suite: str, requirement: str) -> None:
    with EmbeddedServer() as server:
        with FaultProxy(server.base_url, [BY_NAME[fault]]) as proxy:
            faulty = verdicts(suite, proxy.base_url, tmp_path / "faulty")
        clean = verdicts(suite, server.base_url, tmp_path / "clean")
    assert faulty.get(requirement) == "fail"
    # a clean run records no REST-102/103 finding at all (a passing structure/rules check is
    # recorded under the case's own requirements) and fails nothing
    assert clean.get(requirement) in (None, "pass")
    assert "fail" not in clean.values()

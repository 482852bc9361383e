"""The imgconf command as a user runs it: separate processes, real servers on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_support import imgconf_serve

pytestmark = pytest.mark.slow

IMGCONF = [sys.executable, "-m", "imgconf.cli"]


@pytest.fixture()
def served() -> Iterator[str]:
    """`imgconf serve` started on its own, as a tester would start a second terminal."""
    with imgconf_serve() as base:
        yield base


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IMGCONF, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def verdicts(reports: Path) -> dict[str, str]:
    data = json.loads((reports / "summary.json").read_text())
    return {f"{c['suite_id']}::{c['case']}": c["verdict"] for c in data["cases"]}


def test_run_embedded_then_against_imgconf_serve_gives_the_same_verdicts(tmp_path: Path, served: str) -> None:
    embedded = run(["run", "--suite", "imagingstudy-search-basic", "--reports-dir", str(tmp_path / "a")], tmp_path)
    assert embedded.returncode == 0, embedded.stdout + embedded.stderr
    assert "outcome: PARTIAL" in embedded.stdout  # one suite of many: a selection, never PASS (issue 12)
    for name in ("report.html", "summary.json", "junit.xml"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    remote = run(["run", "--target", served, "--suite", "imagingstudy-search-basic", "--reports-dir", str(tmp_path / "b")], tmp_path)
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert verdicts(tmp_path / "a") == verdicts(tmp_path / "b")
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["run"]["target_url"] == served


def test_run_reports_failures_and_exits_non_zero(tmp_path: Path) -> None:
    result = run(["run", "--target", "http://127.0.0.1:9/fhir", "--request-timeout", "2", "--suite", "imagingstudy-crud",
                  "--reports-dir", str(tmp_path / "r")], tmp_path)
    assert result.returncode != 0
    assert "ERROR" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_list_names_suites_cases_and_requirements(tmp_path: Path) -> None:
    result = run(["list", "--json"], tmp_path)
    assert result.returncode == 0
    suites = json.loads(result.stdout)
    ids = {s["id"] for s in suites}
    assert {"imagingstudy-crud", "imagingstudy-search-basic"} <= ids
    assert all(s["requirements"] for s in suites)
    assert sum(len(s["cases"]) for s in suites) >= 49


def test_list_reports_a_malformed_suite_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("suite: Bad\narea: imagingstudy\nrequirements: [IS-053]\ncases:\n  - name: x\n    request: {path: [1]}\n")
    result = run(["list", "--suites", str(bad)], tmp_path)
    assert result.returncode == 2
    assert f"{bad}:6" in result.stdout.replace("\n", "")


def test_run_with_an_unknown_suite_id_says_so(tmp_path: Path) -> None:
    done = run(["run", "--suite", "imagingstudy-no-such-suite", "--reports-dir", str(tmp_path / "r")], tmp_path)
    assert done.returncode == 5, done.stdout + done.stderr  # pytest's "no tests collected"
    assert "no suite with id 'imagingstudy-no-such-suite'" in done.stdout
    assert "imgconf list" in done.stdout

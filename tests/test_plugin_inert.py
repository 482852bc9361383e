"""Installed but not asked, imgconf changes nothing in another project's pytest run (issue 11 §1).

A throwaway project — two tests and a ``pipeline.yaml`` with a top-level ``suite:`` key — runs
``pytest -n 2`` in this venv, where imgconf is installed through its pytest11 entry point, once as is
and once with ``-p no:imgconf``: same outcomes, the YAML file is not collected, the two tests run
on two workers, no reports are written, ``--help`` and ``--markers`` differ only by ``--imgconf-*``
options. With suite roots configured, suites under them are collected and each suite file stays on
one worker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgconf.paths import suites_dir

pytestmark = pytest.mark.slow

PIPELINE = """\
suite: nightly
stages: [lint, test, deploy]
"""

TESTS = """\
import time


def test_one():
    time.sleep(0.5)  # long enough that one worker cannot take both before the other starts


def test_two():
    time.sleep(0.5)
"""

HISTORY = suites_dir() / "rest" / "history.yaml"  # two cases: under plain `load` they would split across workers
WORKER_LINE = re.compile(r"^\[(gw\d+)\].*?(PASSED|FAILED|ERROR|SKIPPED) (\S+)", re.MULTILINE)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "someone-elses-project"
    root.mkdir()
    (root / "pipeline.yaml").write_text(PIPELINE)
    (root / "test_two.py").write_text(TESTS)
    return root


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest as the project would run it: this venv's python, no settings inherited from our own run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "IMGCONF_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=240)


def workers_by_test(output: str) -> dict[str, str]:
    return {nodeid: worker for worker, _, nodeid in WORKER_LINE.findall(output)}


def outcome_line(output: str) -> str:
    return re.sub(r" in [\d.]+s.*", "", output.strip().splitlines()[-1])


def options_in_help(output: str) -> set[str]:
    return set(re.findall(r"^\s+(--[\w-]+)", output, re.MULTILINE))


def test_an_unrelated_project_runs_as_if_imgconf_were_not_installed(project: Path) -> None:
    without = pytest_in(project, "-n", "2", "-v", "-p", "no:imgconf")
    left_by_pytest = sorted(p.name for p in project.iterdir())  # other plugins' droppings (.benchmarks), not ours
    with_imgconf = pytest_in(project, "-n", "2", "-v")
    for run in (with_imgconf, without):
        assert run.returncode == 0, run.stdout + run.stderr
        assert "pipeline.yaml" not in run.stdout + run.stderr  # not collected, not an error
    assert outcome_line(with_imgconf.stdout) == outcome_line(without.stdout) == "============================== 2 passed"
    placed = workers_by_test(with_imgconf.stdout)
    assert set(placed) == {"test_two.py::test_one", "test_two.py::test_two"}
    assert len(set(placed.values())) == 2, placed  # balanced as `--dist load` balances, not grouped by file
    assert len(set(workers_by_test(without.stdout).values())) == 2
    assert sorted(p.name for p in project.iterdir()) == left_by_pytest  # no reports/, nothing written
    assert "reports" not in left_by_pytest


def test_only_prefixed_options_and_no_markers_are_added(project: Path) -> None:
    helped = options_in_help(pytest_in(project, "--help").stdout)
    plain = options_in_help(pytest_in(project, "--help", "-p", "no:imgconf").stdout)
    added = helped - plain
    assert "--imgconf-target" in added and "--imgconf-suites" in added
    assert all(option.startswith("--imgconf-") for option in added), sorted(added)
    assert pytest_in(project, "--markers").stdout == pytest_in(project, "--markers", "-p", "no:imgconf").stdout


def test_configured_roots_collect_suites_and_keep_each_suite_file_on_one_worker(project: Path) -> None:
    (project / "conformance").mkdir()
    shutil.copy(HISTORY, project / "conformance" / "history.yaml")
    run = pytest_in(project, "-n", "2", "-v", "--imgconf-suites", "conformance", "--imgconf-no-reports", ".")
    assert run.returncode == 0, run.stdout + run.stderr
    placed = workers_by_test(run.stdout)
    suite_workers = {worker for nodeid, worker in placed.items() if nodeid.startswith("conformance/history.yaml::")}
    assert len([n for n in placed if n.startswith("conformance/history.yaml::")]) == 2
    assert len(suite_workers) == 1, placed  # the cases of one suite share saved variables
    assert {"test_two.py::test_one", "test_two.py::test_two"} <= set(placed)
    assert not any("pipeline.yaml" in nodeid for nodeid in placed)  # outside the roots, whatever its content


def test_roots_named_alone_are_what_the_run_collects(project: Path) -> None:
    (project / "conformance").mkdir()
    shutil.copy(HISTORY, project / "conformance" / "history.yaml")
    listed = pytest_in(project, "--collect-only", "-q", "--imgconf-suites", "conformance").stdout
    collected = [line for line in listed.splitlines() if "::" in line]
    assert len(collected) == 2 and all(line.startswith("conformance/history.yaml::") for line in collected), listed
    ini = pytest_in(project, "--collect-only", "-q", "-o", "imgconf_suites=conformance").stdout  # ini roots: pytest's own paths
    assert sorted(line.split("::")[0] for line in ini.splitlines() if "::" in line) == [
        "conformance/history.yaml", "conformance/history.yaml", "test_two.py", "test_two.py"]

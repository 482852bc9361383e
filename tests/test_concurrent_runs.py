"""``imgconf run --concurrency N`` gives the sequential run's verdicts, in the same order, sooner.

Real ``imgconf run`` processes against the embedded reference server; ``IMGCONF_BENCH_LATENCY_MS``
makes it a distant target (every request answered late), where running suite files side by side pays.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from cli_support import interrupt_after_cases
from hostile_support import IMGCONF
from suite_roots import BUNDLED

from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.session import BENCH_LATENCY_ENV

# Three suite files of about the same length (15-17 requests each): together they can take little longer than one.
THREE = ["imagingstudy/rest-crud.yaml", "smart/discovery.yaml", "imagingstudy/search-modifiers.yaml"]


def _run(tmp_path: Path, name: str, *args: str, latency_ms: int = 0, suites: list[str] | None = None) -> dict[str, Any]:
    reports = tmp_path / name
    argv = [*IMGCONF, "run", "--reports-dir", str(reports), *args]
    for suite in suites or []:
        argv += ["--suites", str(suites_dir() / suite)]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, BENCH_LATENCY_ENV: str(latency_ms)})
    assert (reports / "summary.json").exists(), done.stdout[-3000:] + done.stderr[-3000:]
    summary: dict[str, Any] = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    return summary


def _verdicts(summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per case, in report order: what it was judged (verdict, how many checks, why skipped, error or not)."""
    return [(c["nodeid"], c["verdict"], c["checks"], c["skipped_reason"], bool(c["error"])) for c in summary["cases"]]


def _chains(summary: dict[str, Any]) -> dict[str, float]:
    chains: dict[str, float] = defaultdict(float)
    for case in summary["cases"]:
        chains[case["suite_id"]] += float(case["duration_s"] or 0.0)
    return chains


@pytest.mark.slow  # three whole imgconf runs (~25 s)
def test_three_suite_files_side_by_side_same_verdicts_sooner(tmp_path: Path) -> None:
    sequential = _run(tmp_path, "seq", latency_ms=100, suites=THREE)
    concurrent = _run(tmp_path, "c3", "--concurrency", "3", latency_ms=100, suites=THREE)
    assert _verdicts(concurrent) == _verdicts(sequential)  # same cases, same verdicts, same (collection) order
    assert concurrent["outcome"] == sequential["outcome"]
    chains = _chains(sequential)
    assert len(chains) == 3
    overlappable = sum(chains.values()) - max(chains.values())  # what a perfect run would not wait for
    # The latency target: at least half of the overlappable waiting is gone (the rest: start-up, fixtures, load).
    assert concurrent["run"]["duration_s"] <= sequential["run"]["duration_s"] - overlappable / 2, (
        concurrent["run"]["duration_s"], sequential["run"]["duration_s"], dict(chains))
    assert concurrent["run"]["options"]["teardown_remaining"] == 0  # the deletes in waves left nothing behind


@pytest.mark.slow
def test_a_deselected_case_is_not_run_by_its_chain(tmp_path: Path) -> None:
    """-k: only the selected case runs. Every search a case sends is recorded as tested (run report): a
    deselected search case run by its chain behind pytest's back would add its parameters."""
    one = ["imagingstudy/search-modifiers.yaml"]
    sequential = _run(tmp_path, "seq", "-k", "started-missing-true", suites=one)
    concurrent = _run(tmp_path, "c4", "--concurrency", "4", "-k", "started-missing-true", suites=one)
    assert len(concurrent["cases"]) == 1 and _verdicts(concurrent) == _verdicts(sequential)
    tested = concurrent["run"]["options"]["search_parameters"]["ImagingStudy"]["tested"]
    assert tested == sequential["run"]["options"]["search_parameters"]["ImagingStudy"]["tested"]
    assert "started:missing" in tested or "started" in tested


@pytest.mark.slow
def test_the_full_run_gives_identical_verdicts_sequential_and_concurrent(tmp_path: Path) -> None:
    sequential = _run(tmp_path, "seq")
    concurrent = _run(tmp_path, "c8", "--concurrency", "8")
    assert len(sequential["cases"]) > 400
    assert _verdicts(concurrent) == _verdicts(sequential)
    assert concurrent["outcome"] == sequential["outcome"]
    assert concurrent["totals"] == sequential["totals"]
    assert concurrent["run"]["options"]["teardown_remaining"] == sequential["run"]["options"]["teardown_remaining"] == 0
    # Readers a write overlapped ran again (their second result is the one judged): said in the run report.
    assert isinstance(concurrent["run"]["options"]["concurrency_rereads"], int)
    assert "concurrency_rereads" not in sequential["run"]["options"]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_ctrl_c_stops_the_chains_and_teardown_still_removes_everything(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    argv = [*IMGCONF, "run", "--concurrency", "4", "--reports-dir", str(reports)]
    for suite in ("imagingstudy/search-basic.yaml", "imagingstudy/search-dates.yaml", "imagingstudy/rest-semantics.yaml"):
        argv += ["--suites", str(suites_dir() / suite)]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, BENCH_LATENCY_ENV: "100"})
    out = interrupt_after_cases(proc, reports)
    assert proc.returncode == 2, out[-2000:]
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["outcome"] == "interrupted"
    assert 3 <= summary["interrupted"]["cases_run"] < summary["interrupted"]["cases_total"] == 35 + 27 + 34
    assert summary["run"]["options"]["teardown_remaining"] == 0  # the chains ended before teardown, which removed all


@pytest.mark.slow
def test_run_timeout_stops_the_chains(pytester: pytest.Pytester) -> None:
    # 0.5 s per request (answered late without blocking the others): the 22 cases of codings.yaml alone take
    # 11 s, past the 10 s --run-timeout however many files run at once.
    with EmbeddedServer(latency_s=0.5) as server:
        result = pytester.runpytest_subprocess(
            *BUNDLED, str(suites_dir() / "imagingstudy" / "rest-crud.yaml"), str(suites_dir() / "imagingstudy" / "codings.yaml"),
            "--imgconf-target", server.base_url, "--imgconf-concurrency", "4", "--imgconf-run-timeout", "10",
            "-p", "no:cacheprovider", timeout=240)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert summary["interrupted"]["reason"].startswith("--run-timeout 10 s")
    assert 1 <= summary["interrupted"]["cases_run"] < summary["interrupted"]["cases_total"] == 15 + 22
    assert summary["run"]["options"]["teardown_remaining"] == 0

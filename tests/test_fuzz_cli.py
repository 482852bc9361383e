"""`imgconf fuzz` on the command line: progress, findings, reports, baseline gate, exit codes.

The command runs in-process (typer's CliRunner) against the embedded reference server or the
reference server behind FaultProxy. Tests that need a finding swap the generator for a small
ImagingStudy strategy (tests/test_fuzz_runner.py) so they are quick and independent of its distribution.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from imgconf.cli import app
from imgconf.faults import FaultProxy
from imgconf.faults.registry import BY_NAME
from imgconf.reference.server import EmbeddedServer
from tests.test_fuzz_runner import small_queries


def fuzz(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["fuzz", *args], env={"COLUMNS": "200"})
    return done.exit_code, done.stdout


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultProxy]:
    """The reference server behind a proxy that ignores the modality parameter."""
    with EmbeddedServer() as srv, FaultProxy(srv.base_url, [BY_NAME["ignores-modality"]]) as proxy:
        yield proxy


@pytest.fixture
def small_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    import imgconf.fuzz.strategies

    monkeypatch.setattr(imgconf.fuzz.strategies, "search_queries", small_queries)


def test_embedded_server_run_is_clean_and_writes_the_reports(tmp_path: Path) -> None:
    code, out = fuzz("--budget", "12", "--resource", "Patient", "--reports-dir", str(tmp_path),
                     "--json", str(tmp_path / "run.json"))
    assert code == 0, out
    assert "embedded reference server" in out and "queries/s" in out
    assert "left out of generation for Patient" in out and "0 finding(s)" in out
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["queries"] + run["not_judged"] == 12 and run["findings"] == [] and run["resource_types"] == ["Patient"]
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["fuzz"]["queries"] == run["queries"]
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "report.html").exists()


@pytest.mark.parametrize("args, message", [
    (["--resource", "Observation"], "not Observation"),
    (["--with-target", "medplum", "--target", "http://127.0.0.1:9/fhir"], "--with-target starts its own server"),
    (["--preset", "x"], "needs --config"),
    (["--header", "no colon"], "expected 'Name: value'"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, out = fuzz(*args)
    assert code == 2 and message in " ".join(out.split()), out  # the console wraps long lines


def test_an_unreachable_target_exits_2(tmp_path: Path) -> None:
    code, out = fuzz("--target", "http://127.0.0.1:9/fhir", "--request-timeout", "2", "--reports-dir", str(tmp_path))
    assert code == 2 and "cannot fuzz" in out, out


@pytest.mark.slow  # Hypothesis sweeps / real processes and clusters: the full run, not the fast loop
def test_a_new_finding_exits_1_with_query_ids_requirement_and_reproduce_line(
    faulty: FaultProxy, small_generator: None, tmp_path: Path,
) -> None:
    code, out = fuzz("--target", faulty.base_url, "--resource", "ImagingStudy", "--budget", "30", "--seed", "3",
                     "--reports-dir", str(tmp_path), "--write-baseline", str(tmp_path / "baseline.yaml"))
    assert code == 1, out
    assert "FAIL ImagingStudy modality precision [IS-053" in out and "SHALL]" in out
    assert "query:    ImagingStudy?modality=" in out and "expected: ImagingStudy/" in out and "returned: ImagingStudy/" in out
    assert f"reproduce: imgconf fuzz --target {faulty.base_url} --budget 30 --seed 3 --resource ImagingStudy" in out
    assert "1 finding(s)" in out

    # A baseline whose entry has its reason accepts the finding: exit 0; without the reason it is refused.
    entries = yaml.safe_load((tmp_path / "baseline.yaml").read_text(encoding="utf-8"))
    code, out = fuzz("--target", faulty.base_url, "--resource", "ImagingStudy", "--budget", "30", "--seed", "3",
                     "--reports-dir", str(tmp_path), "--baseline", str(tmp_path / "baseline.yaml"))
    assert code == 2 and "baseline" in out, out
    entries[0]["reason"] = "the server ignores modality; tracked by the vendor"
    entries[0]["clause"] = "IS-053: modality searches series.modality"
    (tmp_path / "known.yaml").write_text(yaml.safe_dump(entries), encoding="utf-8")
    code, out = fuzz("--target", faulty.base_url, "--resource", "ImagingStudy", "--budget", "30", "--seed", "3",
                     "--reports-dir", str(tmp_path), "--baseline", str(tmp_path / "known.yaml"))
    assert code == 0, out
    assert "known ImagingStudy modality precision" in out and "1 known, 0 new" in out


def test_nothing_generated_without_a_capability_statement_exits_2(tmp_path: Path) -> None:
    """html-error-page answers every GET of a one-segment path (metadata too) with an HTML page."""
    with EmbeddedServer() as srv, FaultProxy(srv.base_url, [BY_NAME["html-error-page"]]) as proxy:
        code, out = fuzz("--target", proxy.base_url, "--resource", "Patient", "--budget", "5", "--reports-dir", str(tmp_path))
    assert code == 2 and "nothing was generated" in out and "no CapabilityStatement" in out, out


@pytest.mark.slow  # Hypothesis sweeps / real processes and clusters: the full run, not the fast loop
def test_sigterm_during_a_run_removes_the_fixtures_and_exits_130(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.test_fuzz_runner import tagged_left

    with EmbeddedServer() as srv:
        before = tagged_left(srv.base_url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "imgconf.cli", "fuzz", "--target", srv.base_url, "--budget", "100000",
             "--resource", "ImagingStudy", "--reports-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 240
        for line in proc.stdout:  # the first progress line: fixtures are loaded, queries are being judged
            seen.append(line)
            if "queries/s" in line or time.monotonic() > deadline:
                break
        assert tagged_left(srv.base_url) != before, "".join(seen)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, "".join(seen) + out
        assert "interrupted" in out and "removed" in out
        assert tagged_left(srv.base_url) == before

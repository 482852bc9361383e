"""Medplum 5.2.13 (an independent FHIR implementation) as a target: the verdicts match
expectations/medplum.yaml, and that file is a valid baseline whose every entry has a reason.

Needs Node.js and `npm ci` in targets/medplum (.ci/run does both); without them the Medplum runs
are skipped with the reason, the expectations file is still checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imgconf.baseline import load_baseline
from imgconf.catalogue import is_known
from imgconf.targets.base import TargetUnavailable as MedplumUnavailable
from imgconf.targets.medplum import MedplumTarget as MedplumServer
from imgconf.targets.medplum import medplum_unavailable as available
from imgconf.paths import suites_dir

ROOT = Path(__file__).resolve().parent.parent
EXPECTATIONS = ROOT / "expectations" / "medplum.yaml"

needs_medplum = pytest.mark.skipif(available() is not None, reason=f"Medplum target not installed: {available()}")


def test_expectations_are_a_valid_baseline_with_reasons() -> None:
    entries = load_baseline(EXPECTATIONS)
    assert len(entries) >= 20
    for entry in entries:
        assert len(entry.reason) > 20, entry.case
        assert all(is_known(r) for r in entry.requirements), entry.case
        assert "::" in entry.case


def test_every_expectation_is_an_adjudicated_deviation() -> None:
    """Issue 8 §6: each entry names the deviation (reason, with the level and verdict it was judged at),
    the requirement it breaks, the check that found it and the spec clause that makes it one."""
    for entry in load_baseline(EXPECTATIONS):
        assert entry.check and entry.requirements, entry.case
        assert entry.reason.startswith(("[SHALL, fail]", "[SHOULD, warn]")), entry.case
        assert entry.clause and len(entry.clause) > 20, entry.case


def test_launcher_reports_a_missing_install_clearly(tmp_path: Path) -> None:
    with pytest.raises(MedplumUnavailable, match="npm ci|node"):
        MedplumServer(target_dir=tmp_path).start()


@pytest.fixture(scope="module")
def medplum() -> Iterator[MedplumServer]:
    with MedplumServer() as server:
        yield server


@needs_medplum
@pytest.mark.slow  # starts Medplum (Node.js)
def test_wrapper_speaks_fhir_http(medplum: MedplumServer) -> None:
    with httpx.Client(base_url=medplum.base_url + "/") as client:
        created = client.post("Patient", json={"resourceType": "Patient", "name": [{"family": "Jones"}]})
        assert created.status_code == 201 and created.headers["content-type"].startswith("application/fhir+json")
        assert "/Patient/" in created.headers["location"] and created.headers["etag"].startswith('W/"')
        pid = created.json()["id"]
        assert client.get(f"Patient/{pid}").json()["id"] == pid
        assert client.get("Patient/does-not-exist").status_code == 404
        assert client.delete(f"Patient/{pid}").status_code == 200


@needs_medplum
@pytest.mark.slow
def test_verdicts_match_the_expectations_file(medplum: MedplumServer, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--imgconf-suites", str(suites_dir()), "--imgconf-target", medplum.base_url, "-p", "no:cacheprovider", "-q",
         "--imgconf-reports-dir", str(tmp_path), f"--imgconf-baseline={EXPECTATIONS}"],
        capture_output=True, text=True, timeout=900, cwd=ROOT, check=False,
    )
    report = json.loads((tmp_path / "baseline.json").read_text())
    assert report["regressions"] == [] and report["stale"] == [], proc.stdout[-4000:]
    assert proc.returncode == 0 and report["known"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["run"]["embedded"] is False
    assert summary["run"]["options"]["teardown_remaining"] == 0  # the harness cleaned up on Medplum too

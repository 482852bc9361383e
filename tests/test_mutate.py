"""imgconf mutate on a small subset: per-fault catching checks, the score, and false positives."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgconf.catalogue import is_known
from imgconf.faults import BY_NAME, FAULTS, FaultProxy
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer

CRUD = str(suites_dir() / "imagingstudy" / "rest-crud.yaml")


def mutate_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "mutation.json"
    proc = subprocess.run(
        [sys.executable, "-m", "imgconf.cli", "mutate", "--suites", CRUD, "--json", str(out), *args],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
    )
    return proc, (json.loads(out.read_text()) if out.exists() else {})


def test_catalogue_has_forty_distinct_faults_tied_to_known_requirements() -> None:
    names = [f.name for f in FAULTS]
    assert len(names) >= 40 and len(set(names)) == len(names)
    for fault in FAULTS:
        assert fault.requirements and all(is_known(r) for r in fault.requirements), fault.name
        assert fault.on_request or fault.on_response, fault.name


@pytest.mark.slow
def test_scores_faults_and_names_the_checks_that_caught_them(tmp_path: Path) -> None:
    proc, report = mutate_cli(tmp_path, "--fault", "create-returns-200", "--fault", "no-etag", "--fault", "ignores-modality")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1  # one fault not caught by this suite alone
    assert report["injected"] == 3 and report["caught"] == 2 and report["score"] == pytest.approx(2 / 3, abs=1e-3)
    assert report["not_caught"] == ["ignores-modality"]
    assert report["no_fault_run"]["green"] is True and report["no_fault_run"]["cases"] > 10
    by_name = {f["fault"]: f for f in report["faults"]}
    create = by_name["create-returns-200"]
    assert create["caught"] and create["caught_by_own_requirement"]
    assert any(c["case"] == "imagingstudy-crud::create returns 201 with Location and ETag" and c["check"] == "status"
               and "REST-020" in c["requirements"] for c in create["caught_by"])
    assert by_name["no-etag"]["caught"] and "REST-021" in by_name["no-etag"]["requirements_that_caught"]
    assert "mutation score 2/3" in proc.stdout and "ignores-modality" in proc.stdout


@pytest.fixture()
def broken_target() -> Iterator[str]:
    with EmbeddedServer() as server, FaultProxy(server.base_url, [BY_NAME["deleted-read-404"]]) as proxy:
        yield proxy.base_url


@pytest.mark.slow
def test_a_target_that_fails_without_any_fault_shows_false_positives(tmp_path: Path, broken_target: str) -> None:
    proc, report = mutate_cli(tmp_path, "--target", broken_target, "--fault", "create-returns-200")
    assert proc.returncode == 1
    fps = report["no_fault_run"]["false_positives"]
    assert report["no_fault_run"]["green"] is False
    assert any(fp["case"] == "imagingstudy-crud::read after delete gives 410 Gone" for fp in fps)
    assert "FALSE POSITIVE" in proc.stdout


def test_unknown_fault_is_a_usage_error(tmp_path: Path) -> None:
    proc, _ = mutate_cli(tmp_path, "--fault", "no-such-fault")
    assert proc.returncode == 2 and "unknown fault 'no-such-fault'" in proc.stdout


@pytest.mark.slow
def test_a_legal_variation_is_not_scored_and_must_stay_green(tmp_path: Path) -> None:
    assert BY_NAME["discovery-v1-only"].benign
    proc, report = mutate_cli(tmp_path, "--suites", str(suites_dir() / "smart"), "--fault", "discovery-v1-only")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert report["benign_variations"] == {"run": ["discovery-v1-only"], "failed_on": []}
    assert report["injected"] == 0 and "legal variation, stayed green" in proc.stdout

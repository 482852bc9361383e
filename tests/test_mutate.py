"""imgconf mutate on a small subset: per-fault catching checks, the score, and false positives."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from case_support import load_bundled
from cli_support import imgconf_in_process

from imgconf.catalogue import is_known
from imgconf.faults import BY_NAME, MUTATION_FAULTS, FaultProxy
from imgconf.mutate import index_suites, select_suites
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.suite.discovery import discover

CRUD = str(suites_dir() / "imagingstudy" / "rest-crud.yaml")


def mutate_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "mutation.json"
    proc = subprocess.run(
        [sys.executable, "-m", "imgconf.cli", "mutate", "--suites", CRUD, "--json", str(out), *args],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
    )
    return proc, (json.loads(out.read_text()) if out.exists() else {})


def test_mutation_runs_forty_or_more_faults_tied_to_known_requirements() -> None:
    # name uniqueness: tests/test_faults_registry.py
    assert len(MUTATION_FAULTS) >= 40
    for fault in MUTATION_FAULTS:
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
    # refused before any run: in this process (tests/cli_support.py), no child needed to read the usage error
    proc = imgconf_in_process("mutate", "--suites", CRUD, "--json", str(tmp_path / "mutation.json"),
                              "--fault", "no-such-fault", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown fault 'no-such-fault'" in proc.stdout


@pytest.mark.slow
def test_a_legal_variation_is_not_scored_and_must_stay_green(tmp_path: Path) -> None:
    assert BY_NAME["discovery-v1-only"].benign
    proc, report = mutate_cli(tmp_path, "--suites", str(suites_dir() / "smart"), "--fault", "discovery-v1-only")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert report["benign_variations"] == {"run": ["discovery-v1-only"], "failed_on": []}
    assert report["injected"] == 0 and "legal variation, stayed green" in proc.stdout


# -- suite selection: each fault against the suites it declares (Fault.suites) -------------------

CAPABILITY = str(suites_dir() / "rest" / "capability-declarations.yaml")

# mutate() in a child process (it runs pytest in-process), with faults whose declarations the test sets; one child
# runs every spec of the module, one report (a JSON line) per spec
_SELECTION_RUN = """
import dataclasses, json, sys
from pathlib import Path
from imgconf.faults import BY_NAME
from imgconf.mutate import mutate
for spec in json.loads(sys.argv[1]):
    faults = [dataclasses.replace(BY_NAME[name], suites=None if suites is None else tuple(suites))
              for name, suites in spec["faults"]]
    report = mutate([Path(p) for p in spec["suites"]], faults=faults, full=spec["full"])
    print(json.dumps({**report.to_dict(), "ok": report.ok}))
"""

# (faults with their declared suites, full run?) of the selection tests below
DECLARED_AND_UNDECLARED = ([("create-returns-200", ["imagingstudy-crud"]), ("no-etag", None)], False)
TOO_NARROW = ([("create-returns-200", ["rest-capability-declarations"])], True)  # deliberately wrong, see its test


@pytest.fixture(scope="module")
def selection_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    runs = {"declared": DECLARED_AND_UNDECLARED, "narrow": TOO_NARROW}
    specs = [{"suites": [CRUD, CAPABILITY], "faults": faults, "full": full} for faults, full in runs.values()]
    proc = subprocess.run([sys.executable, "-c", _SELECTION_RUN, json.dumps(specs)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path_factory.mktemp("mutate"), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()[-len(runs):]
    return {name: json.loads(line) for name, line in zip(runs, lines, strict=True)}


def test_every_declared_suite_is_a_bundled_suite() -> None:
    known = {load_bundled(path).id for path in discover([suites_dir()])}  # what index_suites keys: the same loads, shared
    for fault in MUTATION_FAULTS:
        assert fault.suites is None or (fault.suites and set(fault.suites) <= known), (fault.name, fault.suites)


def test_selection_runs_a_declared_fault_on_its_suites_and_an_undeclared_one_on_all() -> None:
    available = index_suites([Path(CRUD), Path(CAPABILITY)])
    fault = BY_NAME["create-returns-200"]
    declared = select_suites(dataclasses.replace(fault, suites=("imagingstudy-crud", "token")), available, full=False)
    assert declared.files == [Path(CRUD)] and declared.reason == "declared"  # token: not among the selected suites
    assert select_suites(dataclasses.replace(fault, suites=None), available, full=False).files == []  # [] = every suite
    assert select_suites(dataclasses.replace(fault, suites=("token",)), available, full=False).reason == \
        "all: none of its declared suites selected"
    assert select_suites(dataclasses.replace(fault, suites=("imagingstudy-crud",)), available, full=True).files == []


@pytest.mark.slow
def test_a_declared_fault_runs_only_its_suites_and_an_undeclared_fault_every_suite(selection_reports: dict[str, dict]) -> None:
    report = selection_reports["declared"]  # DECLARED_AND_UNDECLARED
    assert report["mode"] == "selected" and report["ok"] and report["score"] == 1.0
    # the false-positive probe still covers both suites
    assert report["no_fault_run"]["suites"] == ["imagingstudy-crud", "rest-capability-declarations"]
    declared, undeclared = report["faults"]
    assert declared["suites_run"] == ["imagingstudy-crud"] and declared["selection"] == "declared"
    assert declared["caught"] and declared["catching_suites"] == ["imagingstudy-crud"]
    assert undeclared["suites_run"] == ["imagingstudy-crud", "rest-capability-declarations"]
    assert undeclared["selection"] == "all: no declared suites"
    assert report["declaration_problems"] == []  # only a full run can judge declarations


@pytest.mark.slow
def test_full_run_reports_a_declaration_that_is_too_narrow(selection_reports: dict[str, dict]) -> None:
    # Deliberately wrong: create-returns-200 breaks create (imagingstudy-crud catches it), not the CapabilityStatement.
    report = selection_reports["narrow"]  # TOO_NARROW, a full run
    fault = report["faults"][0]
    assert report["mode"] == "full" and fault["selection"] == "all: full run"
    assert fault["suites_run"] == ["imagingstudy-crud", "rest-capability-declarations"] and fault["caught"]
    assert report["declaration_problems"] == [
        "declaration too narrow: fault create-returns-200 also caught by suite imagingstudy-crud",
        "declared suites no longer catch fault create-returns-200: rest-capability-declarations",
    ]
    assert report["score"] == 1.0 and report["ok"] is False  # a rotted declaration fails the periodic check


@pytest.mark.slow
def test_cli_full_flag_runs_every_suite_and_keeps_a_right_declaration_quiet(tmp_path: Path) -> None:
    proc, report = mutate_cli(tmp_path, "--suites", CAPABILITY, "--full", "--fault", "create-returns-200")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert report["mode"] == "full" and report["declaration_problems"] == []
    assert report["faults"][0]["suites_run"] == ["imagingstudy-crud", "rest-capability-declarations"]
    assert "(full: every fault" in proc.stdout

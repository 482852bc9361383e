"""The catalogue's DICOMweb faults (imgconf/faults/dicomweb.py): each is caught by the dicomweb-crosscheck suite
at the level of the requirement it breaks (never by an INFO row alone), the suite is clean without a fault, and
the faults are invisible to the FHIR-only rules and suites that read ImagingStudies.

Real HTTP: the reference server behind the FaultProxy holds the PACS fixtures, a real Orthanc holds their DICOM
studies and the other patient's study (``pacs_studies``). Needs Debian's orthanc + orthanc-dicomweb."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from case_support import load_bundled
from pacs_support import needs_orthanc, pacs_behind_proxy

from imgconf.dicom import IMGCONF_DICOM_SEED
from imgconf.dicom.generate import generate_other_patient_study, pacs_studies
from imgconf.engine import run_case
from imgconf.faults import BY_NAME, Fault, FaultProxy
from imgconf.faults.dicomweb import DICOMWEB_FAULTS, SEARCHED_BY_MODALITY
from imgconf.paths import suites_dir
from imgconf.results import CaseResult, Verdict
from imgconf.session import TargetSession
from imgconf.suite.model import Suite
from imgconf.validators import validate_resource

DEVIATIONS = (Verdict.FAIL, Verdict.WARN)
World = tuple[FaultProxy, TargetSession]


def _suite(path: str) -> Suite:
    return load_bundled(suites_dir() / path)


CROSSCHECK = "dicomweb/crosscheck.yaml"
# FHIR-only suites that read ImagingStudies and Endpoints back and judge them with the imaging rules, and that
# search every study of the run (the PACS studies among them) by modality and SOP class
FHIR_ONLY = ("imagingstudy/codings.yaml", "imagingstudy/identifiers.yaml", "imagingstudy/search-basic.yaml",
             "imagingstudy/search-tokens.yaml")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with pacs_behind_proxy(pacs_studies(IMGCONF_DICOM_SEED), [_suite(path) for path in (CROSSCHECK, *FHIR_ONLY)]) as (
        proxy, session, _orthanc,
    ):
        yield proxy, session


def _run(world: World, path: str, faults: list[Fault]) -> list[CaseResult]:
    proxy, session = world
    suite = _suite(path)
    proxy.set_faults(faults)
    try:
        return [run_case(case, suite, session) for case in suite.cases]  # file order: later cases use saved values
    finally:
        proxy.set_faults([])


def _deviations(results: list[CaseResult]) -> set[tuple[str, Verdict, tuple[str, ...]]]:
    return {(c.check, c.verdict, tuple(c.requirement)) for r in results for c in r.checks if c.verdict in DEVIATIONS}


def _shown(results: list[CaseResult]) -> list[tuple[str, str, str, str]]:
    return [(r.case, c.check, c.verdict.value, c.reason) for r in results for c in r.checks
            if c.verdict not in (Verdict.PASS, Verdict.SKIP)]


def test_every_dicomweb_fault_declares_the_crosscheck_suite_and_is_a_mutation_fault() -> None:
    from imgconf.faults import MUTATION_FAULTS

    assert len(DICOMWEB_FAULTS) == 6
    for fault in DICOMWEB_FAULTS:
        extra = SEARCHED_BY_MODALITY if fault.name == "pacs-study-modality-disagrees" else ()
        assert fault.suites == ("dicomweb-crosscheck", *extra) and fault.requirements and not fault.benign
        assert fault.requires == ("dicomweb",)
        assert fault in MUTATION_FAULTS and BY_NAME[fault.name] is fault


@needs_orthanc
def test_without_a_fault_the_crosscheck_suite_is_clean(world: World) -> None:
    results = _run(world, CROSSCHECK, [])
    assert all(r.verdict in (Verdict.PASS, Verdict.INFO) for r in results), _shown(results)
    assert not _deviations(results)


# fault -> (the check that catches it, its verdict at the catalogue level, every check that deviates: the rewrite
# keeps everything else agreeing with the PACS)
CAUGHT = {
    "pacs-instance-count-smaller": ("dicomweb.count", Verdict.WARN, {"dicomweb.count"}),  # IS-013 SHOULD (smaller)
    # IS-004; its WADO-RS URLs would 404 too: not judged, one cause gives one verdict
    "pacs-series-uid-unknown": ("dicomweb.series-found", Verdict.FAIL, {"dicomweb.series-found"}),
    "pacs-study-modality-disagrees": ("dicomweb.study-modality", Verdict.WARN,  # IS-012 SHOULD; IS-030 SHALL
                                      {"dicomweb.study-modality", "dicomweb.sop-class"}),
    "pacs-endpoint-trailing-slash": ("dicomweb.endpoint-address", Verdict.FAIL, {"dicomweb.endpoint-address"}),
    "pacs-endpoint-wrong-root": ("dicomweb.wado-metadata", Verdict.FAIL,  # IS-045/044; the retrieve fails too
                                 {"dicomweb.wado-metadata", "dicomweb.wado-instance"}),
    "pacs-study-of-another-patient": ("dicomweb.patient", Verdict.WARN, {"dicomweb.patient"}),  # DICOM-013 SHOULD
}


def test_the_table_covers_every_fault() -> None:
    assert set(CAUGHT) == {f.name for f in DICOMWEB_FAULTS}


@needs_orthanc
@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_each_fault_is_caught_by_the_crosscheck_at_its_requirements_level(world: World, name: str) -> None:
    fault = BY_NAME[name]
    check, verdict, deviating = CAUGHT[name]
    results = _run(world, CROSSCHECK, [fault])
    found = _deviations(results)
    catching = {(c, v, reqs) for c, v, reqs in found if c == check}
    assert catching and {v for _, v, _ in catching} == {verdict}, _shown(results)
    # the catching row cites the requirement the fault breaks (a WARN/FAIL row, never only an INFO one)
    assert any(set(fault.requirements) & set(reqs) for _, _, reqs in catching), catching
    assert {c for c, _, _ in found} == deviating, _shown(results)  # all else still agrees with the PACS


def _study_uid_search(world: World, faults: list[Fault]) -> list[str]:
    by_case = {r.case_id: r for r in _run(world, CROSSCHECK, faults)}
    return [c.verdict.value for c in by_case["search-pacs-mr-by-study-uid"].checks
            if c.check == "fhirpath" and c.requirement == ["IS-051"]]


@needs_orthanc
def test_the_study_uid_search_is_judged_on_the_search_alone(world: World) -> None:
    # IS-051 fails when the IS-051 form finds nothing ...
    assert _study_uid_search(world, [BY_NAME["identifier-bare-uid"]]) == ["fail"]
    # ... not for what other requirements govern: search.mode (REST-045), the resource's own UID spelling (IS-020)
    for other in ("includes-as-matches", "no-search-mode", "study-uid-without-prefix"):
        assert _study_uid_search(world, [BY_NAME[other]]) == ["pass"], other
    assert _study_uid_search(world, []) == ["pass"]


@needs_orthanc
def test_a_series_the_pacs_lacks_leaves_its_wado_urls_not_judged(world: World) -> None:
    results = _run(world, CROSSCHECK, [BY_NAME["pacs-series-uid-unknown"]])
    rows = [c for r in results for c in r.checks if c.check.startswith("dicomweb.wado")]
    not_judged = [c for c in rows if c.verdict is Verdict.NOT_JUDGED]
    assert not_judged and all("series-found above" in c.reason for c in not_judged), _shown(results)
    assert all(c.verdict in (Verdict.PASS, Verdict.NOT_JUDGED) for c in rows), _shown(results)  # the other series'


@needs_orthanc
def test_the_other_patient_study_is_what_the_faulted_resource_names(world: World) -> None:
    """The patient-identity fault is a consistent server: read and search by the (wrong) UID tell one story."""
    results = _run(world, CROSSCHECK, [BY_NAME["pacs-study-of-another-patient"]])
    other = generate_other_patient_study(IMGCONF_DICOM_SEED)
    by_case = {r.case_id: r for r in results}
    patient = [c for c in by_case["read-pacs-mr"].checks if c.check == "dicomweb.patient"]
    assert patient and patient[0].verdict is Verdict.WARN and other.patient_id in patient[0].reason
    search = by_case["search-pacs-mr-by-study-uid"]
    assert any(c.check == "fhirpath" and c.verdict is Verdict.PASS for c in search.checks), _shown([search])


def _read(world: World, path: str, faults: list[Fault]) -> dict[str, Any]:
    proxy, session = world
    proxy.set_faults(faults)
    try:
        answer = session.client.send("GET", path)
    finally:
        proxy.set_faults([])
    assert answer.status == 200 and isinstance(answer.resource, dict)
    return answer.resource


def _pacs_paths(world: World) -> list[str]:
    _, session = world
    ids = {key: session.fixtures.value(key, "id") for key in ("imagingstudy/pacs-ct", "imagingstudy/pacs-mr",
                                                        "endpoint/pacs-wado-rs")}
    return [f"ImagingStudy/{ids['imagingstudy/pacs-ct']}", f"ImagingStudy/{ids['imagingstudy/pacs-mr']}",
            f"Endpoint/{ids['endpoint/pacs-wado-rs']}"]


def _findings(resource: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f.requirement, f.level, f.location) for f in validate_resource(resource)}


@needs_orthanc
@pytest.mark.parametrize("name", sorted(set(CAUGHT) - {"pacs-endpoint-trailing-slash"}))
def test_the_faulted_pacs_resources_break_no_fhir_only_rule(world: World, name: str) -> None:
    """The resources as the faulty server serves them: the offline imaging rules + R4 structure find nothing
    they did not find in the right ones. Only the comparison with the PACS can tell."""
    changed = 0
    for path in _pacs_paths(world):
        right, wrong = _read(world, path, []), _read(world, path, [BY_NAME[name]])
        changed += right != wrong
        assert _findings(wrong) == _findings(right), (path, _findings(wrong) - _findings(right))
    assert changed, f"{name} changed none of the PACS resources"


@needs_orthanc
def test_a_trailing_slash_is_visible_to_the_fhir_only_rule_only_where_a_suite_reads_that_endpoint(world: World) -> None:
    """Honest limit: the IS-041 rule would flag the PACS endpoint's slash offline; in the suites only the
    cross-check reads that Endpoint (the FHIR-only twin, imagingstudy.py's endpoint-trailing-slash, is caught
    by imagingstudy-codings)."""
    endpoint = _pacs_paths(world)[2]
    wrong = _read(world, endpoint, [BY_NAME["pacs-endpoint-trailing-slash"]])
    assert wrong["address"].endswith("/")
    assert any(f.requirement == "IS-041" for f in validate_resource(wrong))


@needs_orthanc
@pytest.mark.parametrize("path", FHIR_ONLY)
def test_the_fhir_only_imagingstudy_suites_do_not_see_the_faults(world: World, path: str) -> None:
    """(The modality fault is left out: when the PACS fixtures are created through it, the search oracle of
    SEARCHED_BY_MODALITY sees that the upstream matched on the true modality, see imgconf/faults/dicomweb.py.)"""
    clean = _run(world, path, [])
    faulted = _run(world, path, [f for f in DICOMWEB_FAULTS if f.name != "pacs-study-modality-disagrees"])
    assert [(r.case, r.verdict) for r in faulted] == [(r.case, r.verdict) for r in clean], _shown(faulted)
    assert _deviations(faulted) == _deviations(clean)


def test_mutate_knows_which_faults_need_the_pacs() -> None:
    from imgconf.faults import MUTATION_FAULTS
    from imgconf.mutate import index_suite_requirements, needs_pacs

    index = index_suite_requirements([suites_dir()])
    pacs_suites = {suite for suite, (_, requires) in index.items() if "dicomweb" in requires}
    assert pacs_suites == {"dicomweb-crosscheck", "dicomweb-crosscheck-readonly"}
    assert {f.name for f in MUTATION_FAULTS if needs_pacs(f, pacs_suites)} == {f.name for f in DICOMWEB_FAULTS}
    # a fault that also declares a PACS suite but is caught without one (its twin on every Endpoint) still runs
    twin = dataclasses.replace(BY_NAME["endpoint-trailing-slash"], suites=("imagingstudy-codings", "dicomweb-crosscheck"))
    assert not needs_pacs(twin, pacs_suites)


def _mutate_cli(tmp_path: Any, *args: str) -> tuple[Any, dict[str, Any]]:
    import json
    import subprocess
    import sys

    out = tmp_path / "mutation.json"
    proc = subprocess.run([sys.executable, "-m", "imgconf.cli", "mutate", "--suites", str(suites_dir() / CROSSCHECK),
                           "--fault", "pacs-instance-count-smaller", "--json", str(out), *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    return proc, (json.loads(out.read_text()) if out.exists() else {})


@pytest.mark.slow
def test_mutate_without_a_pacs_reports_the_dicomweb_faults_not_run(tmp_path: Any) -> None:
    proc, report = _mutate_cli(tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert report["injected"] == 0 and report["not_caught"] == []  # neither caught nor failed: not scored
    assert report["not_run"] == [{"fault": "pacs-instance-count-smaller",
                                  "reason": "no PACS: no PACS given (imgconf mutate --with-pacs orthanc)"}]
    assert "not run" in proc.stdout


@needs_orthanc
@pytest.mark.slow
def test_mutate_with_pacs_starts_orthanc_and_the_crosscheck_catches(tmp_path: Any) -> None:
    proc, report = _mutate_cli(tmp_path, "--with-pacs", "orthanc")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert report["injected"] == report["caught"] == 1 and report["not_run"] == []
    assert report["no_fault_run"]["green"] and report["no_fault_run"]["cases"] == 4
    fault = report["faults"][0]
    assert fault["catching_suites"] == ["dicomweb-crosscheck"] and fault["requirements_that_caught"] == ["IS-013"]
    assert {c["verdict"] for c in fault["caught_by"]} == {"warn"}

"""`imgconf validate` on realistic DICOM→FHIR converter output (tests/data/producers): each defect
class is flagged with the right requirement, level and location; the legal variations pass.
Also the command line: --quiet, --format json|text|junit, --json, --profile."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_support import imgconf_in_process

from imgconf.offline import validate_paths
from imgconf.validators.findings import MANDATORY

DATA = Path(__file__).resolve().parent / "data" / "producers"
DEFECTS, LEGAL = DATA / "defects", DATA / "legal"
IS = "ImagingStudy"


def findings_of(path: Path) -> set[tuple[str, str, str, str]]:
    """(label tail, requirement, level, location) of every finding."""
    return {(label.split("/")[-1], f.requirement, f.level, f.location)
            for label, _, found in validate_paths([path]) for f in found}


@pytest.fixture(scope="module")
def defects() -> set[tuple[str, str, str, str]]:
    return findings_of(DEFECTS)


A = "conv-a-ct-chest.json"
B = "conv-b-ct-chest.json"
TX = "converter-transaction.json"
ND = "merged-patients.ndjson"


@pytest.mark.parametrize("expected", [
    # counts as strings: REST-102, and still compared (IS-013 too small, IS-057 sum)
    (A, "REST-102", "SHALL", f"{IS}.numberOfSeries"),
    (A, "REST-102", "SHALL", f"{IS}.numberOfInstances"),
    (A, "REST-102", "SHALL", f"{IS}.series[1].numberOfInstances"),
    (A, "IS-013", "SHOULD", f"{IS}.series[1].numberOfInstances"),
    (A, "IS-057", "SHOULD", f"{IS}.numberOfInstances"),
    # empty arrays / strings
    (A, "REST-102", "SHALL", f"{IS}.procedureCode"),
    (A, "REST-102", "SHALL", f"{IS}.note"),
    (A, "REST-102", "SHALL", f"{IS}.description"),
    # accession without issuer
    (A, "IS-058", "SHOULD", f"{IS}.identifier[1].system"),
    # bodySite from Body Part Examined: no system, SNOMED RT, body part term under SNOMED CT, bad check digit
    (A, "IS-059", "SHOULD", f"{IS}.series[0].bodySite.system"),
    (A, "IS-059", "SHOULD", f"{IS}.series[1].bodySite.code"),
    (A, "IS-059", "SHOULD", f"{IS}.series[1].laterality.system"),
    (B, "IS-059", "SHOULD", f"{IS}.series[0].bodySite.code"),
    (B, "IS-059", "SHOULD", f"{IS}.series[1].bodySite.code"),
    # two patients merged into one study, across NDJSON lines
    (f"{ND}:2", "DICOM-013", "SHOULD", f"{IS}.subject"),
    (f"{ND}:3", "DICOM-012", "SHALL", f"{IS}.series[0].uid"),
    (f"{ND}:3", "DICOM-012", "SHALL", f"{IS}.series[1].instance[0].uid"),
    # a converter's transaction Bundle: Bundle invariants, and the merge inside one Bundle
    (TX, "REST-103", "SHALL", "Bundle.total"),
    (TX, "REST-103", "SHALL", "Bundle.entry[1].request.method"),
    (TX, "REST-103", "SHALL", "Bundle.entry[3].request"),
    (f"{TX}#entry[3]", "DICOM-013", "SHOULD", "Bundle.entry[3].resource.subject"),
])
def test_each_defect_class_is_flagged(defects: set[tuple[str, str, str, str]], expected: tuple[str, str, str, str]) -> None:
    assert expected in defects


def test_nothing_else_is_blamed(defects: set[tuple[str, str, str, str]]) -> None:
    """No finding beyond the planted defects (and the IS-029 MAY note on identifier accessions)."""
    planted = {e for e in test_each_defect_class_is_flagged.pytestmark[0].args[1]}  # type: ignore[attr-defined]
    extra = {d for d in defects if d not in planted and d[1] != "IS-029"}
    assert extra == set()


def test_cross_resource_findings_name_both_places() -> None:
    messages = [f.message for label, _, found in validate_paths([DEFECTS / ND]) for f in found if f.requirement == "DICOM-012"]
    assert messages and all(f"{ND}:1 {IS}.series[0]" in m for m in messages)
    tx = [f.message for _, _, found in validate_paths([DEFECTS / TX]) for f in found if f.requirement == "DICOM-013"]
    assert tx and f"{TX} Bundle.entry[2].resource.subject" in tx[0]


def test_conflicts_across_files_of_a_folder(tmp_path: Path) -> None:
    lines = (DEFECTS / ND).read_text(encoding="utf-8").splitlines()
    (tmp_path / "one.ndjson").write_text(lines[0] + "\n", encoding="utf-8")
    (tmp_path / "two.json").write_text(lines[2], encoding="utf-8")
    found = [(label, f) for label, _, fs in validate_paths([tmp_path]) for f in fs if f.requirement == "DICOM-012"]
    assert found and all(label.endswith("two.json") and "one.ndjson:1" in f.message for label, f in found)


def test_legal_variations_pass() -> None:
    found = {(label.split("/")[-1], f.requirement, f.level) for label, _, fs in validate_paths([LEGAL]) for f in fs}
    assert {f for f in found if f[2] in ("SHALL", "SHALL NOT", "SHOULD")} == set()


def imgconf(*args: str) -> subprocess.CompletedProcess[str]:
    """`imgconf validate ARGS` in this process (tests/cli_support.py: what it prints and returns, not start-up)."""
    return imgconf_in_process("validate", *args)


def test_cli_quiet_prints_the_summary_only() -> None:
    run = imgconf("--quiet", str(DEFECTS))
    assert run.returncode == 1
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "resource(s) checked" in lines[0] and "failing" in lines[0]


def test_cli_format_json_on_stdout() -> None:
    run = imgconf("--format", "json", str(DEFECTS / A))
    data = json.loads(run.stdout)  # stdout is pure JSON; the summary line goes to stderr
    assert data["summary"]["failing_resources"] == 1 and run.returncode == 1
    assert "REST-102" in {f["requirement"] for r in data["results"] for f in r["findings"]}


def test_cli_format_junit(tmp_path: Path) -> None:
    out = tmp_path / "validate.xml"
    run = imgconf("--format", "junit", "--output", str(out), str(DEFECTS))
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None and run.returncode == 1
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) == 10  # every resource, Bundles included
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures", "0")) == len(failed) == 3
    assert {c.find("failure").get("type") for c in failed} == {"REST-102", "REST-103", "DICOM-012"}  # type: ignore[union-attr]


def test_cli_json_option_still_works(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    run = imgconf("--json", str(report), str(LEGAL))
    assert run.returncode == 0 and json.loads(report.read_text(encoding="utf-8"))["summary"]["failing_resources"] == 0


def test_cli_rejects_an_unknown_format() -> None:
    assert imgconf("--format", "xml", str(LEGAL)).returncode == 2


def test_quiet_and_text_agree_on_the_exit_code(tmp_path: Path) -> None:
    assert imgconf("-q", str(LEGAL)).returncode == 0
    assert imgconf(str(DEFECTS / B)).returncode == 0  # SHOULD findings only: exit 0
    assert not any(f.level in MANDATORY for _, _, fs in validate_paths([DEFECTS / B]) for f in fs)

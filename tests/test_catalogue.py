"""The committed requirement catalogue and the script that builds it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from imgconf import catalogue
from imgconf.results import Level

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "requirements.md"
JSON_PATH = ROOT / "imgconf" / "catalogue" / "requirements.json"


def _builder():
    spec = importlib.util.spec_from_file_location("build_catalogue", ROOT / "tools" / "build_catalogue.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counts() -> None:
    assert len(catalogue.requirements()) == 257
    assert len(catalogue.findings()) == 23


def test_requirement_fields() -> None:
    r = catalogue.get("IS-020")
    assert r is not None
    assert r.level is Level.SHALL
    assert r.section == "A.2 Identifiers and UID syntax"
    assert r.test == "V" and r.test_kinds == {"V"}
    assert r.basis == "[V] R4-IS-notes" and r.verified
    assert 'urn:dicom:uid' in r.text and "`" not in r.text
    assert r.check.startswith('e.g. {"system":"urn:dicom:uid"')


@pytest.mark.parametrize(
    ("req_id", "level", "level_text"),
    [
        ("REST-062", Level.SHALL, "SHALL (MHD)"),
        ("REST-084", Level.SHALL, "SHALL (if declared)"),
        ("EUIMG-011", Level.SHOULD, "SHOULD (warning)"),
        ("IS-011", Level.SHALL_NOT, "SHALL NOT"),
        ("SMART-034", Level.SHOULD_NOT, "SHOULD NOT"),
        ("IS-010", Level.INFO, "INFO"),
        ("IS-026", Level.MAY, "MAY"),
    ],
)
def test_levels_are_normalised(req_id: str, level: Level, level_text: str) -> None:
    r = catalogue.get(req_id)
    assert r is not None and r.level is level and r.level_text == level_text


def test_markdown_escapes_are_undone_but_regexes_survive() -> None:
    reqs = catalogue.requirements().values()
    assert not any("\\|" in f for r in reqs for f in (r.text, r.check, r.title))
    assert not any("`" in f or "**" in f for r in reqs for f in (r.text, r.check, r.title))
    is002 = catalogue.get("IS-002")
    assert is002 and "registered | available | cancelled" in is002.check
    is024 = catalogue.get("IS-024")
    assert is024 and is024.check == r"regex ^[A-Za-z0-9\-\.]{1,64}$"
    rest057 = catalogue.get("REST-057")
    assert rest057 and "Escape , | $ \\ with a backslash" in rest057.text


def test_rows_without_check_cell() -> None:
    # These rows omit the "Exact values / check" cell; test and basis are read from the right.
    is051, rest075, dicom002 = (catalogue.get(i) for i in ("IS-051", "REST-075", "DICOM-002"))
    assert is051 and is051.check == "" and is051.test == "S" and is051.basis == "[V]"
    assert rest075 and rest075.test == "V" and rest075.basis == "[V] R4-DR-tbl"
    assert dicom002 and dicom002.test == "" and dicom002.section == "G.1 CID 29 Acquisition Modality"


def test_sections_and_order() -> None:
    reqs = list(catalogue.requirements().values())
    assert [r.order for r in reqs] == list(range(len(reqs)))
    assert reqs[0].id == "IS-001" and reqs[-1].id == "DICOM-013"
    man = catalogue.get("MAN-001")
    assert man and man.section == "E. Imaging manifests"
    is044 = catalogue.get("IS-044")
    assert is044 and is044.test_kinds == {"C", "S"}


def test_findings() -> None:
    f1 = catalogue.findings()["FIND-01"]
    assert f1.title == "Imaging report LOINC type changed"
    assert f1.evidence.startswith("euridice-org/eu-health-data-api 9b8c753")
    assert f1.action == "Test with 85430-7; report 68604-8 as legacy"
    f3 = catalogue.get_finding("FIND-03")
    assert f3 and f3.title == "context.practiceSetting= is not a search parameter"
    f2 = catalogue.get_finding("FIND-02")
    assert f2 and "urn:oid:1.3.6.1.4.1.19376.1.2.6.1|REPORTS" in f2.text
    assert list(catalogue.findings()) == [f"FIND-{i:02d}" for i in range(1, 24)]


def test_lookup_api() -> None:
    assert catalogue.is_known("IS-001") and catalogue.is_known("FIND-22")
    assert not catalogue.is_known("IS-999") and not catalogue.is_known("FIND-99")
    assert catalogue.get("FIND-01") is None and catalogue.get("nope") is None
    assert catalogue.requirements() is catalogue.requirements()  # cached
    r = catalogue.get("IS-001")
    assert r is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.level = Level.MAY  # type: ignore[misc]


def test_parser_on_a_small_table() -> None:
    b = _builder()
    md = "\n".join([
        "### X.1 Thing (source: https://example.org)",
        "",
        "| ID | Lvl | Requirement | Exact values / check | Test | Basis |",
        "|---|---|---|---|---|---|",
        "| AB-001 | SHALL (if declared) | Use `a\\|b` and **bold** *words*; keep 0..* | `x\\|y` | C/S | [V] |",
        "| AB-002 | MAY | No check cell here. | S | [K] |",
        "",
        "| # | Name | Type |",
        "|---|---|---|",
        "| 1 | `foo` | token |",
        "",
        "| ID | Finding | Evidence | Harness action |",
        "|---|---|---|---|",
        "| FIND-01 | **Title here.** More text. | ev | act |",
    ])
    reqs, finds = b.parse(md)
    assert [r["id"] for r in reqs] == ["AB-001", "AB-002"]
    a, c = reqs
    assert a["section"] == "X.1 Thing" and a["level"] == "SHALL" and a["level_text"] == "SHALL (if declared)"
    assert a["text"] == "Use a|b and bold words; keep 0..*" and a["check"] == "x|y" and a["test"] == "C/S"
    assert c["check"] == "" and c["test"] == "S" and c["basis"] == "[K]"
    assert finds == [{"id": "FIND-01", "title": "Title here", "text": "Title here. More text.",
                      "evidence": "ev", "action": "act"}]


def test_parser_rejects_a_malformed_row() -> None:
    b = _builder()
    md = "| ID | Lvl | Requirement | Exact values / check | Test | Basis |\n|---|---|---|---|---|---|\n| AB-001 | MUST | x | — | S | [V] |\n"
    with pytest.raises(AssertionError):
        b.parse(md)


@pytest.mark.skipif(not SOURCE.is_file(), reason="shared/requirements.md not available")
def test_committed_json_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "requirements.json"
    assert _builder().main([str(SOURCE), "-o", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(JSON_PATH.read_text(encoding="utf-8")), (
        "requirements.json is stale: run python tools/build_catalogue.py"
    )

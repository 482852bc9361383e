"""`imgconf validate` in bulk mode (-j N, --summary, --report): the same findings whatever the number
of processes and chunks — including cross-resource UID conflicts (DICOM-012/013) split across
chunks and workers — as the one-process in-memory path; bad lines are findings; reports; Ctrl-C."""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from imgconf.bulk.pool import run_bulk
from imgconf.bulk.quality import QualityReport
from imgconf.offline import run_validate, validate_paths
from imgconf.validators.samples import sample_imaging_study

PRODUCERS = Path(__file__).resolve().parent / "data" / "producers" / "defects"
Key = tuple[str, str, str, str, str]


def study(i: int, *, series: int = 2, instances: int = 2) -> dict[str, Any]:
    """A valid study with UIDs of its own (1.2.3.<i>...)."""
    out = copy.deepcopy(sample_imaging_study(series, instances))
    out["id"] = f"s{i}"
    out["identifier"][0]["value"] = f"urn:oid:1.2.3.{i}"
    out["subject"]["reference"] = f"Patient/p{i}"
    for k, s in enumerate(out["series"]):
        s["uid"] = f"1.2.3.{i}.{k}"
        for j, inst in enumerate(s["instance"]):
            inst["uid"] = f"1.2.3.{i}.{k}.{j}"
    return out


def conflicted_ndjson(path: Path, n: int = 40) -> Path:
    """``n`` studies with planted cross-resource conflicts far apart (other chunks when chunks are small),
    a bad line, a blank line and a Bundle whose entry conflicts with a line before it."""
    lines: list[str] = []
    for i in range(n):
        s = study(i)
        if i == 30:  # DICOM-012: study 3's first series under another study
            s["series"][0]["uid"] = "1.2.3.3.0"
        if i == 33:  # DICOM-012: an instance of study 5's series 1 under another series
            s["series"][1]["instance"][0]["uid"] = "1.2.3.5.1.0"
        if i == 36:  # DICOM-013: study 4's UID with another subject
            s["identifier"][0]["value"] = "urn:oid:1.2.3.4"
            s["subject"]["reference"] = "Patient/someone-else"
            for k, ser in enumerate(s["series"]):  # its own series/instances are study 4's: no DICOM-012
                ser["uid"] = f"1.2.3.4.{k}"
                for j, inst in enumerate(ser["instance"]):
                    inst["uid"] = f"1.2.3.4.{k}.{j}"
        if i % 9 == 2:
            s["status"] = "bogus"  # a per-resource SHALL finding
        lines.append(json.dumps(s))
        if i == 12:
            lines.append("{not json")
        if i == 20:
            lines.append("")
    other = study(99)
    other["series"][1]["uid"] = "1.2.3.7.1"  # DICOM-012 inside a Bundle entry
    lines.append(json.dumps({"resourceType": "Bundle", "type": "collection",
                             "entry": [{"fullUrl": "urn:uuid:0b7f3a3e-6f6e-4c44-9d63-2f6b5d7f0a11", "resource": other}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def flat_findings(report: Path) -> set[Key]:
    data = json.loads(report.read_text(encoding="utf-8"))
    return {(r["source"], f["requirement"], f["level"], f["location"], f["message"])
            for r in data["results"] for f in r["findings"]}


def reference_findings(paths: list[Path]) -> set[Key]:
    """The one-process path with one in-memory UidIndex (imgconf.offline)."""
    return {(label, f.requirement, f.level, f.location, f.message)
            for label, _, found in validate_paths(paths) for f in found}


def quiet_console() -> Console:
    return Console(file=open(os.devnull, "w", encoding="utf-8"))


@pytest.mark.parametrize("jobs,chunk_lines", [(1, 500), (1, 4), (2, 3), (2, 500)])
def test_any_jobs_and_chunking_give_the_findings_of_the_in_memory_path(tmp_path: Path, jobs: int,
                                                                        chunk_lines: int) -> None:
    data = conflicted_ndjson(tmp_path / "studies.ndjson")
    out = tmp_path / "out.json"
    code = run_bulk([data], jobs=jobs, console=quiet_console(), json_out=out, progress=False, chunk_lines=chunk_lines)
    assert code == 1
    got, expected = flat_findings(out), reference_findings([data])
    assert got == expected
    cross = {(src, req, loc) for src, req, _, loc, _ in got if req in ("DICOM-012", "DICOM-013")}
    nd = str(data)
    assert cross == {  # the planted conflicts, each at the later place, nothing else
        (f"{nd}:33", "DICOM-012", "ImagingStudy.series[0].uid"),  # line = study + 3 (a bad and a blank line before)
        (f"{nd}:36", "DICOM-012", "ImagingStudy.series[1].instance[0].uid"),
        (f"{nd}:39", "DICOM-013", "ImagingStudy.subject"),
        (f"{nd}:43#entry[0]", "DICOM-012", "Bundle.entry[0].resource.series[1].uid"),
    }
    message = next(m for src, req, _, loc, m in got if src == f"{nd}:33" and req == "DICOM-012")
    assert f"at {nd}:4 ImagingStudy.series[0].uid" in message  # names the first place, as the in-memory index does


def test_json_files_before_an_ndjson_file_keep_input_order(tmp_path: Path) -> None:
    """A folder of a.json then b.ndjson sharing a series UID: the later place (b.ndjson:1) is blamed, as
    without -j and with --dask (the grouped JSON files used to be sent after the NDJSON chunks)."""
    folder = tmp_path / "in"
    folder.mkdir()
    first, second = study(1), study(2)
    second["series"][0]["uid"] = first["series"][0]["uid"]
    (folder / "a.json").write_text(json.dumps(first), encoding="utf-8")
    (folder / "b.ndjson").write_text(json.dumps(second) + "\n", encoding="utf-8")
    out = tmp_path / "out.json"
    run_bulk([folder], jobs=1, console=quiet_console(), json_out=out, progress=False)
    got = flat_findings(out)
    assert got == reference_findings([folder])
    assert {src for src, req, *_ in got if req == "DICOM-012"} == {f"{folder / 'b.ndjson'}:1"}


def test_realistic_producer_output_same_findings_in_bulk_mode(tmp_path: Path) -> None:
    # JSON files, transaction Bundles and NDJSON in one folder; DICOM-012 across files
    legacy, bulk = tmp_path / "legacy.json", tmp_path / "bulk.json"
    assert run_validate([PRODUCERS], json_out=legacy, console=quiet_console()) == 1
    assert run_bulk([PRODUCERS], jobs=2, console=quiet_console(), json_out=bulk, progress=False, chunk_lines=2) == 1
    assert flat_findings(bulk) == flat_findings(legacy)
    assert any(key[1] == "DICOM-012" for key in flat_findings(bulk))


def test_bad_line_and_missing_path_are_findings_with_their_place(tmp_path: Path) -> None:
    data = tmp_path / "x.ndjson"
    good = json.dumps(study(1))
    data.write_text(f"{good}\n[1, 2]\n{{broken\n\n{good[:40]}\n", encoding="utf-8")
    out = tmp_path / "out.json"
    code = run_bulk([data, tmp_path / "missing.ndjson"], jobs=2, console=quiet_console(), json_out=out, progress=False)
    assert code == 1
    read = {(r["source"], r["findings"][0]["message"].split(":")[0]) for r in json.loads(out.read_text())["results"]
            if r["findings"][0]["requirement"] == "INPUT-READ"}
    assert read == {(f"{data}:2", "expected a JSON object, got list"), (f"{data}:3", "line is not JSON"),
                    (f"{data}:5", "line is not JSON"), (f"{tmp_path / 'missing.ndjson'}", "no such file or directory")}


def _nested_patient(levels: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/x", "valueString": "y"}
    for _ in range(levels):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    return {"resourceType": "Patient", "id": "deep", "extension": [extension]}


def test_nesting_too_deep_to_read_is_an_input_error_never_an_r4_finding_or_a_traceback(tmp_path: Path) -> None:
    """Too deep for the parsers (3,000 levels: a RecursionError in json, a traceback before) and too deep
    for the R4 models (200 extension levels with a defect only the models see) are INPUT-READ with the
    depth, in the one-process path and with -j, never FHIR-R4-STRUCTURE "could not be read"; the same
    defect within reach is a finding, and a deep but clean resource passes (R4 sets no depth limit)."""
    unreadable = '{"resourceType": "Patient", "extension": ' + "[" * 3000 + "]" * 3000 + "}"
    deep = _nested_patient(200)
    deep_defect = {**deep, "extension": [{"extension": deep["extension"][0]["extension"]}]}  # Extension.url missing
    shallow = _nested_patient(20)
    shallow_defect = {**shallow, "extension": [{"extension": shallow["extension"][0]["extension"]}]}
    data = tmp_path / "deep.ndjson"
    data.write_text("\n".join([unreadable, *map(json.dumps, (deep_defect, shallow_defect, deep))]) + "\n", encoding="utf-8")
    single = tmp_path / "deep.json"
    single.write_text(unreadable, encoding="utf-8")
    out = tmp_path / "out.json"
    assert run_bulk([data, single], jobs=2, console=quiet_console(), json_out=out, progress=False) == 1
    got = flat_findings(out)
    assert got == reference_findings([data, single])
    by_source = {src: (req, message) for src, req, _, _, message in got}
    assert by_source[f"{data}:1"] == ("INPUT-READ", "JSON nested too deep to parse (more than about 1,000 levels); not judged")
    assert by_source[str(single)] == by_source[f"{data}:1"]
    req, message = by_source[f"{data}:2"]
    assert req == "INPUT-READ" and message.startswith("nesting 403 levels deep: deeper than the validators can read")
    assert "an input error, not an R4 finding" in message
    assert by_source[f"{data}:3"][0] != "INPUT-READ"  # within the models' reach: the defect itself
    assert f"{data}:4" not in by_source  # deep and clean: nothing to say
    assert not any(req == "FHIR-R4-STRUCTURE" and "could not be read" in m for _, req, _, _, m in got)


def imgconf(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imgconf.cli", "validate", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.slow  # processes / thousands of mutants: the full run, not the fast loop
def test_quiet_and_summary_print_the_summary_only(tmp_path: Path) -> None:
    data = conflicted_ndjson(tmp_path / "studies.ndjson")
    loud = imgconf("-j", "2", str(data))
    assert "ImagingStudy/s2" in loud.stdout  # per-resource findings by default
    for flag in ("--quiet", "--summary"):
        run = imgconf("-j", "2", flag, str(data))
        assert run.returncode == 1, run.stderr
        assert "ImagingStudy/s" not in run.stdout.split("worst resources:")[0]  # no finding printed per resource
        assert "findings by rule and level:" in run.stdout
        assert "DICOM-012" in run.stdout and "INPUT-READ" in run.stdout
        assert "worst resources:" in run.stdout
        assert run.stdout.rstrip().splitlines()[-1].startswith("43 resource(s) checked, ")  # 40 studies, a bad line, a Bundle and its entry


def test_printing_is_capped_but_reports_have_everything(tmp_path: Path) -> None:
    data = conflicted_ndjson(tmp_path / "studies.ndjson")
    out = tmp_path / "out.json"
    lines: list[str] = []
    console = Console(file=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    console.print = lambda *a, **k: lines.append(str(a[0]))  # type: ignore[method-assign]
    run_bulk([data], jobs=1, console=console, json_out=out, progress=False, print_limit=2)
    headers = [line for line in lines if "ImagingStudy/" in line or "unreadable" in line]
    assert len(headers) == 2
    assert any("more resource(s) with findings not printed" in line for line in lines)
    assert len(json.loads(out.read_text())["results"]) > 2


@pytest.mark.slow  # processes / thousands of mutants: the full run, not the fast loop
def test_quality_report_files_and_plots(tmp_path: Path) -> None:
    data = conflicted_ndjson(tmp_path / "studies.ndjson")
    run = imgconf("-j", "2", "--summary", "--report", str(tmp_path / "rep"), str(data))
    assert run.returncode == 1, run.stderr
    quality = json.loads((tmp_path / "rep" / "quality.json").read_text())
    assert quality["complete"] is True
    assert quality["totals"]["resources"] == 43 and quality["totals"]["unreadable"] == 1
    assert quality["findings_by_rule"]["DICOM-012"] == {"SHALL": 3}
    assert quality["findings_by_rule"]["DICOM-013"] == {"SHOULD": 1}
    assert quality["by_modality"]["CT"]["resources"] == 41
    assert "(no meta.source)" in quality["by_producer"]
    assert quality["worst_resources"][0]["mandatory"] >= 1
    html = (tmp_path / "rep" / "quality.html").read_text()
    plots = [part.split("'", 1)[0] for part in html.split("src='data:image/png;base64,")[1:]]
    assert len(plots) == 3  # by rule, by modality, by producer
    assert all(base64.b64decode(p).startswith(b"\x89PNG\r\n\x1a\n") for p in plots)
    assert "INCOMPLETE" not in html


def test_failing_count_includes_resources_failing_only_by_a_cross_resource_conflict(tmp_path: Path) -> None:
    a, b = study(1), study(2)
    b["series"][0]["uid"] = "1.2.3.1.0"  # b is otherwise valid
    data = tmp_path / "x.ndjson"
    data.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n", encoding="utf-8")
    rep = tmp_path / "rep"
    assert run_bulk([data], jobs=1, console=quiet_console(), report_dir=rep, progress=False) == 1
    quality = json.loads((rep / "quality.json").read_text())
    assert quality["totals"]["failing_resources"] == 1 and quality["totals"]["resources"] == 2
    worst = quality["worst_resources"]
    own = quality["totals"]["findings"] - 1  # the sample's INFO findings, the same for both studies
    assert worst[0] == {"source": f"{data}:2", "resource": "ImagingStudy/s2", "mandatory": 1, "findings": own // 2 + 1}
    assert [w["source"] for w in worst] == [f"{data}:2", f"{data}:1"]  # counted once, with its own findings too


@pytest.mark.slow  # processes / thousands of mutants: the full run, not the fast loop
def test_ctrl_c_leaves_a_partial_report_marked_incomplete(tmp_path: Path) -> None:
    line = json.dumps(dict(study(0, series=1, instances=1), status="bogus"))  # every line has a finding
    data = tmp_path / "big.ndjson"
    with data.open("w", encoding="utf-8") as fh:
        for i in range(40_000):
            fh.write(line.replace('"s0"', f'"s{i}"', 1) + "\n")
    out, rep = tmp_path / "out.json", tmp_path / "rep"
    proc = subprocess.Popen([sys.executable, "-m", "imgconf.cli", "validate", "-j", "2", "--quiet", "--json", str(out),
                             "--report", str(rep), str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)  # findings are being written (8 kB flushed): the run is in its loop
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    quality = json.loads((rep / "quality.json").read_text())
    assert quality["complete"] is False
    assert 0 < quality["totals"]["resources"] < 40_000
    assert any("interrupted" in note for note in quality["notes"])
    assert "INCOMPLETE" in (rep / "quality.html").read_text()
    report = json.loads(out.read_text())  # the JSON report is closed, valid, and says so too
    assert report["summary"]["complete"] is False
    assert "interrupted" in stdout


def test_quality_report_merge_is_associative() -> None:
    from imgconf.validators import validate_resource

    resources = [study(i) for i in range(12)]
    for i in (1, 5, 8):
        resources[i]["status"] = "bogus"
        resources[i]["meta"] = {"source": f"http://pacs{i % 2}.example/fhir#req{i}"}
    parts = []
    for k in range(3):
        part = QualityReport(worst_n=3)
        for i in range(k * 4, k * 4 + 4):
            part.add(f"x:{i}", resources[i], validate_resource(resources[i]))
        parts.append(part)
    left, right = QualityReport(worst_n=3), QualityReport(worst_n=3)
    left.merge(parts[0])
    left.merge(parts[1])
    left.merge(parts[2])
    tail = QualityReport(worst_n=3)
    tail.merge(parts[1])
    tail.merge(parts[2])
    right.merge(parts[0])
    right.merge(tail)
    assert left.to_json() == right.to_json()
    assert set(left.to_json()["by_producer"]) == {"http://pacs0.example/fhir", "http://pacs1.example/fhir",
                                                  "(no meta.source)"}


def test_one_process_path_caps_printing_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imgconf.offline

    monkeypatch.setattr(imgconf.offline, "PRINT_LIMIT", 3)
    data = conflicted_ndjson(tmp_path / "studies.ndjson")
    lines: list[str] = []
    console = quiet_console()
    console.print = lambda *a, **k: lines.append(str(a[0]))  # type: ignore[method-assign]
    out = tmp_path / "out.json"
    assert run_validate([data], json_out=out, console=console) == 1
    assert len([line for line in lines if "ImagingStudy/" in line or "unreadable" in line]) == 3
    assert any("more resource(s) with findings not printed" in line for line in lines)
    assert flat_findings(out) == reference_findings([data])  # the report still has every finding


def test_bulk_modules_use_no_private_names_of_other_modules() -> None:
    """imgconf.bulk's modules (and imgconf.offline, which they share) reach each other through public
    names only: no ``from m import _x`` and no ``module._x`` of an imported module."""
    import ast

    root = Path(__file__).resolve().parents[1] / "imgconf"
    offenders = []
    for path in [*sorted((root / "bulk").glob("*.py")), root / "offline.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   for alias in node.names if node.module in ("imgconf", "imgconf.bulk")}
        modules |= {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imgconf"):
                offenders += [f"{path.name}: from {node.module} import {a.name}" for a in node.names
                              if a.name.startswith("_")]
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in modules:
                offenders.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert offenders == []

"""imgconf.offline: reading JSON / Bundles / NDJSON / folders, printing, JSON report, exit code."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from imgconf.offline import INPUT_READ, ReadError, iter_resources, run_validate, validate_paths
from imgconf.validators.samples import sample_endpoint, sample_imaging_study


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def bad_study() -> dict[str, Any]:
    r = sample_imaging_study()
    r["id"] = "bad"
    r["series"][0]["uid"] = "urn:oid:1.2.3.4"
    return r


def warn_study() -> dict[str, Any]:
    r = sample_imaging_study()
    r["id"] = "warn"
    r["numberOfSeries"] = 1  # IS-013 SHOULD only
    return r


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, color_system=None), buf


def test_single_resource_file(tmp_path: Path) -> None:
    f = write(tmp_path / "study.json", sample_imaging_study())
    ((label, resource),) = list(iter_resources(f))
    assert label == str(f) and resource["resourceType"] == "ImagingStudy"


def test_bundle_file_yields_entries(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": sample_imaging_study()}, {"search": {"mode": "outcome"}}, {"resource": sample_endpoint()}]}
    f = write(tmp_path / "bundle.json", bundle)
    labels = [label for label, _ in iter_resources(f)]
    assert labels == [str(f), f"{f}#entry[0]", f"{f}#entry[2]"]  # the Bundle itself first (REST-103)


def test_ndjson_labels_and_malformed_lines(tmp_path: Path) -> None:
    f = tmp_path / "data.ndjson"
    lines = [json.dumps(sample_imaging_study()), "", "{not json", json.dumps([1, 2]), json.dumps(sample_endpoint())]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = list(iter_resources(f))
    assert [label for label, _ in got] == [f"{f}:1", f"{f}:3", f"{f}:4", f"{f}:5"]
    assert isinstance(got[1][1], ReadError) and "not JSON" in got[1][1].message
    assert isinstance(got[2][1], ReadError) and "JSON object" in got[2][1].message
    results = list(validate_paths([f]))
    assert [(label.rsplit(":", 1)[1], resource is None, [x.requirement for x in fs]) for label, resource, fs in results] == [
        ("1", False, []), ("3", True, [INPUT_READ]), ("4", True, [INPUT_READ]), ("5", False, [])]


def test_directory_is_walked_recursively_and_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b" / "two.json", sample_endpoint())
    write(tmp_path / "a.json", sample_imaging_study())
    (tmp_path / "c.ndjson").write_text(json.dumps(sample_endpoint()) + "\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    labels = [label for label, _ in iter_resources(tmp_path)]
    assert labels == [str(tmp_path / "a.json"), str(tmp_path / "b" / "two.json"), f"{tmp_path / 'c.ndjson'}:1"]


def test_unreadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    (tmp_path / "latin1.ndjson").write_bytes(b'{"resourceType": "Patient", "name": "\xe9"}\n')
    for path in (tmp_path / "broken.json", tmp_path / "latin1.ndjson", tmp_path / "missing.json"):
        ((_, item),) = list(iter_resources(path))
        assert isinstance(item, ReadError), path


def test_run_validate_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", sample_imaging_study())
    warn = write(tmp_path / "warn.json", warn_study())
    bad = write(tmp_path / "bad.json", bad_study())
    out, _ = console()
    assert run_validate([good], json_out=None, console=out) == 0
    assert run_validate([good, warn], json_out=None, console=out) == 0  # SHOULD findings do not fail
    assert run_validate([good, bad], json_out=None, console=out) == 1
    assert run_validate([tmp_path / "missing.json"], json_out=None, console=out) == 1


def test_run_validate_prints_grouped_findings(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", bad_study())
    out, buf = console()
    run_validate([bad], json_out=None, console=out)
    text = buf.getvalue()
    assert f"{bad}  ImagingStudy/bad" in text
    assert "IS-022" in text and "SHALL" in text and "ImagingStudy.series[0].uid" in text  # [0] not eaten as markup
    assert "[value: urn:oid:1.2.3.4]" in text
    assert "1 resource(s) checked, 1 failing" in text


def test_json_report(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", sample_imaging_study())
    bad = write(tmp_path / "bad.json", bad_study())
    nd = tmp_path / "x.ndjson"
    nd.write_text("oops\n", encoding="utf-8")
    report = tmp_path / "report.json"
    out, _ = console()
    assert run_validate([good, bad, nd], json_out=report, console=out) == 1
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"]["resources"] == 3
    assert data["summary"]["failing_resources"] == 2
    sources = [r["source"] for r in data["results"]]
    assert sources == [str(bad), f"{nd}:1"]  # only resources with findings are listed
    first = data["results"][0]
    assert (first["resourceType"], first["id"]) == ("ImagingStudy", "bad")
    # bad.json repeats good.json's instances under another series UID: DICOM-012 across files
    assert {f["requirement"] for f in first["findings"]} == {"IS-022", "IS-024", "DICOM-012"}
    assert data["results"][1]["findings"][0]["requirement"] == INPUT_READ


def test_json_report_when_everything_passes(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", sample_imaging_study())
    report = tmp_path / "report.json"
    out, _ = console()
    assert run_validate([good], json_out=report, console=out) == 0
    assert json.loads(report.read_text(encoding="utf-8")) == {
        "results": [], "summary": {"resources": 1, "failing_resources": 0, "findings_by_level": {}}}

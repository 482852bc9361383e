"""``imgconf validate FILES --dicomweb URL`` against a real Orthanc: ImagingStudy files (Endpoints contained or
given as files) and KOS manifests (.dcm files, DocumentReferences carrying the KOS inline) are cross-checked.
Needs Debian's orthanc + orthanc-dicomweb; skipped with the reason otherwise."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from background_stop import running
from typer.testing import CliRunner

from imgconf.cli import app
from imgconf.dicom.expected import expected_imaging_study
from imgconf.dicom.generate import KEY_OBJECT_SELECTION, GeneratedStudy, generate_studies, part10_bytes
from imgconf.dicom.upload import upload_studies
from imgconf.offline import run_validate
from imgconf.targets.orthanc import OrthancServer

SEED = 7
_WHY_NOT = OrthancServer().unavailable()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=f"Orthanc not installed: {_WHY_NOT}")


@pytest.fixture(scope="module")
def pacs() -> Iterator[tuple[OrthancServer, tuple[GeneratedStudy, ...]]]:
    with running(OrthancServer()) as orthanc:  # stopped in the background (tests/background_stop.py)
        studies = generate_studies(SEED)
        with orthanc.client() as rest:
            upload_studies(rest, studies)
        yield orthanc, studies


def _findings(tmp_path: Path, paths: list[Path], root: str) -> tuple[int, list[dict[str, Any]]]:
    report = tmp_path / "findings.json"
    code = run_validate(paths, json_out=report, console=None, quiet=True, dicomweb=root)
    data = json.loads(report.read_text(encoding="utf-8"))
    return code, [{"source": r["source"], **f} for r in data["results"] for f in r["findings"]]


def _write(path: Path, resource: dict[str, Any]) -> Path:
    path.write_text(json.dumps(resource), encoding="utf-8")
    return path


def _kos(studies: tuple[GeneratedStudy, ...]) -> Any:
    ct = next(s for s in studies if s.key == "ct")
    return copy.deepcopy(next(ds for ds in ct.datasets if str(ds.SOPClassUID) == KEY_OBJECT_SELECTION))


def _pacs_findings(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in found if f["message"].startswith("PACS:") or f["requirement"] in ("MAN-015", "DICOM-012")]


def test_study_files_agree_with_the_pacs(pacs: Any, tmp_path: Path) -> None:
    orthanc, studies = pacs
    ct = expected_imaging_study(studies[0].datasets, dicomweb_root=orthanc.dicomweb_root)
    mr = expected_imaging_study(studies[1].datasets, dicomweb_root=orthanc.dicomweb_root, endpoint_reference="Endpoint/pacs")
    endpoint = {**ct["contained"][0], "id": "pacs"}
    files = [_write(tmp_path / "ct.json", ct), _write(tmp_path / "mr.json", mr), _write(tmp_path / "endpoint.json", endpoint)]
    code, found = _findings(tmp_path, files, orthanc.dicomweb_root)
    assert _pacs_findings(found) == []
    assert code == 0, found


def test_a_damaged_study_file_fails(pacs: Any, tmp_path: Path) -> None:
    orthanc, studies = pacs
    mr = expected_imaging_study(studies[1].datasets, dicomweb_root=orthanc.dicomweb_root)
    mr["series"][0]["uid"] = "2.25.5551212"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": mr}]}
    code, found = _findings(tmp_path, [_write(tmp_path / "bundle.json", bundle)], orthanc.dicomweb_root)
    series = [f for f in found if f["requirement"] == "IS-004" and f["message"].startswith("PACS:")]
    assert code == 1
    assert series and series[0]["location"] == "Bundle.entry[0].resource.series[0].uid" and series[0]["level"] == "SHALL"


def test_kos_files_and_inline_kos_are_checked(pacs: Any, tmp_path: Path) -> None:
    orthanc, studies = pacs
    kos = _kos(studies)
    good = tmp_path / "kos.dcm"
    good.write_bytes(part10_bytes(kos))
    other_study = _kos(studies)  # its first reference moved to an MR instance: held by the PACS in another study
    sop = other_study.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    sop.ReferencedSOPInstanceUID = str(studies[1].datasets[0].SOPInstanceUID)
    unknown = _kos(studies)
    unknown.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]\
        .ReferencedSOPInstanceUID = "2.25.999000111"
    document = {"resourceType": "DocumentReference", "status": "current",
                "content": [{"attachment": {"contentType": "application/dicom",
                                            "data": base64.b64encode(part10_bytes(other_study)).decode()}}]}
    bad = tmp_path / "unknown.dcm"
    bad.write_bytes(part10_bytes(unknown))
    code, found = _findings(tmp_path, [good, _write(tmp_path / "docref.json", document), bad], orthanc.dicomweb_root)
    by_source = {(Path(f["source"]).name, f["requirement"], f["level"]) for f in _pacs_findings(found)}
    assert by_source == {("docref.json", "MAN-015", "SHALL"), ("unknown.dcm", "MAN-015", "INFO")}
    located = next(f for f in found if Path(f["source"]).name == "docref.json" and f["requirement"] == "MAN-015")
    assert located["location"] == "DocumentReference.content[0].attachment.data"
    assert code == 1


def test_the_cli_option_reaches_the_pacs_and_an_unreachable_one_exits_2(pacs: Any, tmp_path: Path) -> None:
    orthanc, studies = pacs
    mr = expected_imaging_study(studies[1].datasets, dicomweb_root=orthanc.dicomweb_root)
    mr["series"][1]["instance"][0]["uid"] = "2.25.8080"
    path = _write(tmp_path / "mr.json", mr)
    result = CliRunner().invoke(app, ["validate", str(path), "--dicomweb", orthanc.dicomweb_root])
    assert result.exit_code == 1 and "IS-006" in result.output, result.output
    down = CliRunner().invoke(app, ["validate", str(path), "--dicomweb", "http://127.0.0.1:9/dicom-web"])
    assert down.exit_code == 2 and "the PACS did not answer" in down.output, down.output

"""Write the PACS fixtures: the ImagingStudies (and their Patient and Endpoint) of the studies a PACS run holds.

    .venv/bin/python tools/build_pacs_fixtures.py          # rewrite the files
    .venv/bin/python tools/build_pacs_fixtures.py --check  # exit 1 when a committed file is out of date

From ``imgconf.dicom.generate.generate_studies(IMGCONF_DICOM_SEED)`` — the studies ``imgconf run --with-pacs
orthanc`` loads — through ``imgconf.dicom.expected``: the ImagingStudy a conformant server holds for them. What
differs per run stays a placeholder: the Endpoint's address is ``${pacs.dicomweb}`` (the run's PACS), the subject
and endpoint references name the fixture Patient and Endpoint (``${fixture.<key>.id}``). Deterministic: the same
seed writes the same bytes (tests/test_dicomweb_wiring.py checks the committed files are up to date).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from imgconf.dicom import IMGCONF_DICOM_SEED
from imgconf.dicom.expected import expected_imaging_study, wado_rs_endpoint
from imgconf.dicom.generate import GeneratedStudy, generate_studies
from imgconf.paths import fixtures_dir

PATIENT = "patient/pacs-patient"
ENDPOINT = "endpoint/pacs-wado-rs"
STUDIES = {"ct": "imagingstudy/pacs-ct", "mr": "imagingstudy/pacs-mr"}
PACS_ROOT = "${pacs.dicomweb}"
_SEX = {"F": "female", "M": "male", "O": "other"}


def patient_resource(ds: Dataset) -> dict[str, Any]:
    """The Patient the PACS's Patient ID (with its issuer) names, as the ImagingStudy's subject identifier gives it."""
    subject = expected_imaging_study([ds], dicomweb_root=PACS_ROOT)["subject"]
    family, _, given = str(ds.PatientName).partition("^")
    patient: dict[str, Any] = {"resourceType": "Patient", "identifier": [{"use": "usual", **subject["identifier"]}],
                               "active": True, "name": [{"use": "official", "family": family, "given": [given]}]}
    if str(ds.get("PatientSex", "")) in _SEX:
        patient["gender"] = _SEX[str(ds.PatientSex)]
    birth = str(ds.get("PatientBirthDate", ""))
    if len(birth) == 8:
        patient["birthDate"] = f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"
    return patient


def study_resource(study: GeneratedStudy) -> dict[str, Any]:
    return expected_imaging_study(study.datasets, dicomweb_root=PACS_ROOT,
                                  subject_reference=f"Patient/${{fixture.{PATIENT}.id}}",
                                  endpoint_reference=f"Endpoint/${{fixture.{ENDPOINT}.id}}")


def fixtures(seed: int = IMGCONF_DICOM_SEED) -> dict[str, dict[str, Any]]:
    """Fixture key -> resource template, for the generated studies of ``seed``."""
    studies = {study.key: study for study in generate_studies(seed)}
    built = {PATIENT: patient_resource(studies["ct"].datasets[0]), ENDPOINT: wado_rs_endpoint(PACS_ROOT)}
    built.update({key: study_resource(studies[role]) for role, key in STUDIES.items()})
    return built


def render(resource: dict[str, Any]) -> str:
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is out of date")
    parser.add_argument("--fixtures-dir", type=Path, default=fixtures_dir())
    args = parser.parse_args(argv)
    stale = []
    for key, resource in fixtures().items():
        path = args.fixtures_dir / f"{key}.json"
        text = render(resource)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'written'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

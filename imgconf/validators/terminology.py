"""The CID 29 / CID 33 tables from the root ``validators/`` directory, loaded once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imgconf.paths import terminology_dir

DCM = "http://dicom.nema.org/resources/ontology/DCM"


@dataclass(frozen=True)
class ModalityTable:
    version: str  # the pinned list version, e.g. "2024.2"
    codes: frozenset[str]  # codes of the pinned version
    meanings: dict[str, str]  # every code in the file, any version
    versions_of: dict[str, tuple[str, ...]]  # code -> list versions it appears in


def _load(name: str) -> dict[str, Any]:
    path: Path = terminology_dir() / name
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
        raise ValueError(f"{path}: expected a mapping with a 'codes' list")
    return data


@functools.cache
def cid29() -> ModalityTable:
    data = _load("cid29.yaml")
    pinned = str(data["pinned"])
    meanings: dict[str, str] = {}
    versions_of: dict[str, tuple[str, ...]] = {}
    for row in data["codes"]:
        meanings[row["code"]] = row["meaning"]
        versions_of[row["code"]] = tuple(str(v) for v in row["lists"])
    codes = frozenset(c for c, vs in versions_of.items() if pinned in vs)
    return ModalityTable(pinned, codes, meanings, versions_of)


@functools.cache
def cid33_nonacquisition() -> ModalityTable:
    data = _load("cid33-nonacquisition.yaml")
    meanings = {row["code"]: row["meaning"] for row in data["codes"]}
    version = str(data.get("version", ""))
    return ModalityTable(version, frozenset(meanings), meanings, dict.fromkeys(meanings, (version,)))

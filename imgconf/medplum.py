"""Thin compatibility shim: Medplum now runs through ``imgconf.targets`` (``imgconf run --with-target medplum``).

Kept only so ``python -m imgconf.medplum [imgconf run options]`` and
``from imgconf.medplum import MedplumServer, MedplumUnavailable, available`` keep working while
expectations/medplum.yaml is re-recorded; to be removed afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from imgconf.targets.base import TargetUnavailable
from imgconf.targets.medplum import MEDPLUM_DIR, MedplumTarget, medplum_unavailable, node_flags

TARGET_DIR = MEDPLUM_DIR
MedplumUnavailable = TargetUnavailable


def available(target_dir: Path = TARGET_DIR) -> str | None:
    """None when Medplum can start here, else why not."""
    return medplum_unavailable(target_dir)


class MedplumServer(MedplumTarget):
    """``with MedplumServer() as medplum: medplum.base_url`` — a fresh, empty in-memory server."""

    def __init__(self, target_dir: Path = TARGET_DIR, port: int = 0) -> None:  # port: the server picks its own
        super().__init__(target_dir)


def main(argv: list[str]) -> int:
    """Start Medplum, run the suites against it with the given ``imgconf run`` options, stop it."""
    try:
        with MedplumServer() as server:
            print(f"Medplum 5.2.13 (FhirRouter + MemoryRepository) at {server.base_url}", flush=True)
            return subprocess.call([sys.executable, "-m", "imgconf.cli", "run", "--target", server.base_url, *argv])
    except MedplumUnavailable as exc:
        print(f"Medplum target unavailable: {exc}", file=sys.stderr)
        return 2


__all__ = ["TARGET_DIR", "MedplumServer", "MedplumUnavailable", "available", "main", "node_flags"]

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Medplum's in-memory FHIR server (targets/medplum/server.mjs): FhirRouter + MemoryRepository.

An independent FHIR implementation nobody on this project wrote. Needs Node.js and ``npm ci`` in
targets/medplum. The server picks its own port and announces ``listening <base URL>``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from imgconf.targets.base import TARGETS_DIR, Launch, ManagedTarget

MEDPLUM_DIR = TARGETS_DIR / "medplum"


def node_flags(node: str) -> list[str]:
    """Node 20 has no global WebSocket, which @medplum/core expects; 22+ has it built in."""
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return []
    return ["--experimental-websocket"] if major < 22 else []


def medplum_unavailable(target_dir: Path = MEDPLUM_DIR) -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (target_dir / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return f"run `npm ci` in {target_dir}"
    return None


class MedplumTarget(ManagedTarget):
    name = "medplum"
    description = "Medplum 5.2.13 (FhirRouter + MemoryRepository), Node.js; prerequisite: npm ci in targets/medplum"
    ready_timeout = 60.0

    def __init__(self, target_dir: Path = MEDPLUM_DIR) -> None:
        super().__init__()
        self.target_dir = target_dir

    def unavailable(self) -> str | None:
        return medplum_unavailable(self.target_dir)

    def launch(self, port: int) -> Launch:
        node = shutil.which("node") or "node"
        # port 0: the server chooses and announces its base URL
        return Launch([node, *node_flags(node), "server.mjs", "0"], cwd=self.target_dir,
                      env={"NODE_NO_WARNINGS": "1"}, announce="listening ")

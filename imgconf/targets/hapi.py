"""HAPI FHIR's JPA server (targets/hapi): a plain R4 server, HAPI's default settings, in-memory H2.

The most widely deployed open-source FHIR server, and the natural second opinion on every verdict.
Built with Maven (Java 17) into targets/hapi/target/imgconf-hapi-target.jar the first time it is
needed; Maven downloads from Maven Central at build time only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from imgconf.targets.base import TARGETS_DIR, Launch, ManagedTarget, TargetUnavailable

HAPI_DIR = TARGETS_DIR / "hapi"
HAPI_JAR = HAPI_DIR / "target" / "imgconf-hapi-target.jar"
BUILD_TIMEOUT = 1800.0


def hapi_jar_built(target_dir: Path = HAPI_DIR) -> bool:
    return (target_dir / "target" / HAPI_JAR.name).is_file()


class HapiTarget(ManagedTarget):
    name = "hapi"
    description = "HAPI FHIR JPA server 8.8.0 (R4, H2 in memory), Java 17; prerequisites: java and mvn (builds once)"
    ready_timeout = 420.0  # Spring + Hibernate start-up: ~25 s on an idle machine, minutes on a busy one
    skip_areas: ClassVar[dict[str, str]] = {"smart": "HAPI JPA has no SMART authorization server"}
    # HAPI reuses the result of an identical search for 60 s by default (reuseCachedSearchResultsForMillis), so a
    # search repeated after a write can answer from before it, depending on timing: verdicts would flap. The
    # server keeps its default; the harness asks per request, with the standard header HAPI honours, for a
    # fresh search (the stale-cache behaviour itself is reported in the HAPI adjudication, not judged per run).
    request_headers = ("Cache-Control: no-cache",)

    def __init__(self, target_dir: Path = HAPI_DIR) -> None:
        super().__init__()
        self.target_dir = target_dir

    def unavailable(self) -> str | None:
        if shutil.which("java") is None:
            return "java (17+) is not on PATH"
        if not hapi_jar_built(self.target_dir) and shutil.which("mvn") is None:
            return f"mvn is not on PATH and {self.target_dir / 'target' / HAPI_JAR.name} is not built"
        return None

    def needs_build(self) -> bool:
        return not hapi_jar_built(self.target_dir)

    def build(self) -> None:
        command = ["mvn", "-q", "-B", "package", "-DskipTests"]
        try:
            done = subprocess.run(command, cwd=self.target_dir, capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise TargetUnavailable(f"target hapi: `{' '.join(command)}` did not finish within {BUILD_TIMEOUT:.0f} s") from None
        if done.returncode != 0 or not hapi_jar_built(self.target_dir):
            tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise TargetUnavailable(f"target hapi: the Maven build failed (in {self.target_dir}): " + " | ".join(tail))

    def launch(self, port: int) -> Launch:
        return Launch(["java", "-jar", str(self.target_dir / "target" / HAPI_JAR.name), str(port)], cwd=self.target_dir,
                      base_url=f"http://127.0.0.1:{port}/fhir")

"""The embedded reference server as a separate process (``imgconf serve``), without SMART auth: the
same server ``imgconf run`` uses in-process, brought up next to a vendor's server by a plug-a-thon
organiser, or run like any other target."""

from __future__ import annotations

import sys
from typing import ClassVar

from imgconf.targets.base import REPO_ROOT, Launch, ManagedTarget


class EmbeddedTarget(ManagedTarget):
    name = "embedded"
    description = "imgconf's reference server (imgconf serve, SQLite, no SMART auth), Python"
    ready_timeout = 60.0
    skip_areas: ClassVar[dict[str, str]] = {
        "smart": "the embedded target runs without SMART auth (imgconf run without --target tests it with auth)"}

    def launch(self, port: int) -> Launch:
        return Launch([sys.executable, "-m", "imgconf.cli", "serve", "--port", str(port)], cwd=REPO_ROOT,
                      base_url=f"http://127.0.0.1:{port}/fhir")

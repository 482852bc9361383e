"""A reference server of its own (``imgconf serve``, the latency benchmark's target) loads its validation models
before it says it is ready; in the harness's process (``imgconf run``'s embedded target) they load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from imgconf.reference.server import EmbeddedServer
server = EmbeddedServer(warm={warm}).start()
loaded = [m for m in ("fhir.resources.R4B.bundle", "fhir.resources.R4B.composition", "fhir.resources.R4B.imagingstudy")
          if m in sys.modules]
server.stop()
print(",".join(loaded))
"""


@pytest.mark.parametrize(("warm", "expected"), [
    (True, "fhir.resources.R4B.bundle,fhir.resources.R4B.composition,fhir.resources.R4B.imagingstudy"),
    (False, ""),
])
def test_a_warm_server_has_its_models_loaded_when_ready(warm: bool, expected: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(warm=warm)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == expected

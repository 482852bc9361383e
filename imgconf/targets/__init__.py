"""Named FHIR servers imgconf can bring up itself: ``imgconf targets list``, ``imgconf run --with-target NAME``.

Each target builds if needed, starts on a loopback port, is waited for (with a timeout that says what
it was waiting for), and is stopped when the run ends — also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable

from imgconf.targets.base import ManagedTarget, TargetUnavailable
from imgconf.targets.embedded import EmbeddedTarget
from imgconf.targets.hapi import HapiTarget
from imgconf.targets.medplum import MedplumTarget
from imgconf.targets.orthanc import OrthancServer

REGISTRY: dict[str, Callable[[], ManagedTarget]] = {
    "embedded": EmbeddedTarget,
    "hapi": HapiTarget,
    "medplum": MedplumTarget,
}

# Servers that are not FHIR servers (never a --with-target of a FHIR run): the PACS a cross-check reads.
PACS_REGISTRY: dict[str, Callable[[], ManagedTarget]] = {
    "orthanc": OrthancServer,
}


def get_target(name: str) -> ManagedTarget:
    try:
        return REGISTRY[name]()
    except KeyError:
        raise TargetUnavailable(f"unknown target {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


__all__ = ["PACS_REGISTRY", "REGISTRY", "ManagedTarget", "OrthancServer", "TargetUnavailable", "get_target"]

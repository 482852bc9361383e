"""The data `imgconf fuzz` searches over: the search suites' fixtures, loaded tagged, removed afterwards.

Fuzzing judges recall over the fixtures a run loaded, so it loads the ImagingStudy, DocumentReference
and Patient fixtures the bundled search suites use (their dependencies come with them: patients,
practitioners, endpoints, binaries …), through the session's FixtureManager: every resource carries
the run tag and is deleted by ``TargetSession.close()`` (also on Ctrl-C), then swept by ``_tag``.
Not loaded: the PACS fixtures (``*/pacs-*``: they describe studies held by a PACS, whose fixed UIDs
only the DICOMweb cross-check may use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imgconf.session import TargetSession

FUZZ_TYPES = ("ImagingStudy", "DocumentReference", "Patient")

# The keys the search suites (suites/imagingstudy/search-*, mhd/iti67, pdqm/iti78, workflow, manifests)
# list under `fixtures:`; tests/test_fuzz_runner.py keeps this list in step with the suites.
FUZZ_FIXTURES: dict[str, tuple[str, ...]] = {
    "ImagingStudy": (
        "imagingstudy/ct-chest", "imagingstudy/ct-phantom-device", "imagingstudy/dx-entered-in-error",
        "imagingstudy/mg-screening", "imagingstudy/mr-brain", "imagingstudy/mr-group-research",
        "imagingstudy/nm-unknown", "imagingstudy/us-abdomen-registered", "imagingstudy/xa-cancelled",
    ),
    "DocumentReference": (
        "documentreference/ct-chest-manifest-fhir", "documentreference/ct-chest-manifest-kos",
        "documentreference/ct-chest-report", "documentreference/ct-chest-report-eie",
        "documentreference/ct-chest-report-fhir", "documentreference/ct-chest-report-v1",
        "documentreference/jones-discharge", "documentreference/muller-mr-report",
    ),
    "Patient": (
        "patient/dubois", "patient/dubois-deprecated", "patient/dubois-marc", "patient/garcia",
        "patient/jones", "patient/muller",
    ),
}


def fixture_keys(resource_types: Sequence[str]) -> list[str]:
    """The fixtures to load for fuzzing these types (dependencies are loaded by the FixtureManager)."""
    unknown = [t for t in resource_types if t not in FUZZ_FIXTURES]
    if unknown:
        raise ValueError(f"imgconf fuzz searches {', '.join(FUZZ_TYPES)}; not {', '.join(unknown)}")
    return [key for rtype in resource_types for key in FUZZ_FIXTURES[rtype]]


def load_fixtures(session: TargetSession, resource_types: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Create the fixtures on the target (tagged, tracked for teardown); key -> resource as stored.

    Raises ``imgconf.fixtures.FixtureError`` (with the exchange) when the target refuses one; what was
    created before is still removed by ``session.close()``.
    """
    session.fixtures.ensure(fixture_keys(resource_types))
    for resource in session.fixtures.loaded.values():
        rtype = resource.get("resourceType")
        if isinstance(rtype, str):
            session.touched_types.add(rtype)  # the teardown sweep searches these types by _tag
    return dict(session.fixtures.loaded)

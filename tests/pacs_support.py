"""A real Orthanc holding generated DICOM studies, and the reference server (behind the fault-injecting proxy)
holding the PACS fixtures that describe them — the setting of the DICOMweb cross-check tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
from background_stop import running  # Orthanc's ~2.5 s exit waited for off the tests' path

from imgconf.dicom.generate import GeneratedStudy
from imgconf.dicom.upload import upload_studies
from imgconf.faults import FaultProxy
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.model import Suite
from imgconf.targets.orthanc import OrthancServer

ORTHANC_MISSING = OrthancServer().unavailable()
needs_orthanc = pytest.mark.skipif(ORTHANC_MISSING is not None, reason=f"Orthanc not installed: {ORTHANC_MISSING}")


@contextmanager
def pacs_behind_proxy(
    studies: Iterable[GeneratedStudy], fixture_suites: Iterable[Suite]
) -> Iterator[tuple[FaultProxy, TargetSession, OrthancServer]]:
    """Orthanc with ``studies`` uploaded; a session on the proxied reference server with the fixtures of
    ``fixture_suites`` stored and ``pacs.dicomweb`` bound to Orthanc. Skips when Orthanc is not installed."""
    if ORTHANC_MISSING is not None:
        pytest.skip(f"Orthanc not installed: {ORTHANC_MISSING}")
    with running(OrthancServer()) as orthanc, EmbeddedServer() as server, FaultProxy(server.base_url, []) as proxy:
        with orthanc.client() as rest:
            upload_studies(rest, studies)
        session = TargetSession(SessionOptions(target=proxy.base_url, variables={"pacs.dicomweb": orthanc.dicomweb_root}))
        try:
            for suite in fixture_suites:
                session.fixtures.ensure(suite.fixtures)
            yield proxy, session, orthanc
        finally:
            session.close()


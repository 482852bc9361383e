"""``imgconf run --with-pacs NAME``: start a PACS of ``PACS_REGISTRY`` on loopback and load the generated studies.

The studies are ``pacs_studies(IMGCONF_DICOM_SEED)``: ``generate_studies`` — the same ones the PACS fixtures
(``fixtures/imagingstudy/pacs-*.json``) describe — and another patient's study (for the patient-identity
fault), so the FHIR target's ImagingStudies point at studies the PACS really holds. The caller stops the
server (``stop()``), also on Ctrl-C/SIGTERM: it holds the server (``pacs_server``) before it starts
(``start_and_load``), so an interruption at any point after still finds it to stop.
"""

from __future__ import annotations

from imgconf.targets import PACS_REGISTRY
from imgconf.targets.base import ManagedTarget, TargetUnavailable
from imgconf.targets.orthanc import OrthancServer


def pacs_server(name: str) -> OrthancServer:
    """The PACS of that name, not started yet (so a caller holds it, and can stop it, before it starts)."""
    factory = PACS_REGISTRY.get(name)
    if factory is None:
        raise TargetUnavailable(f"unknown PACS {name!r}; known: {', '.join(sorted(PACS_REGISTRY))}")
    server: ManagedTarget = factory()
    if not isinstance(server, OrthancServer):  # the only kind of PACS there is; a new one says how it is loaded
        raise TargetUnavailable(f"PACS {name!r}: no loader for {type(server).__name__}")
    return server


def start_and_load(server: OrthancServer) -> int:
    """Start the server and load the generated studies; how many instances it holds. TargetUnavailable when it
    cannot start or load (then it is stopped; on any other exception the caller's stop still applies)."""
    import httpx  # the loader's imports (pydicom) only when a PACS is asked for

    from imgconf.dicom import IMGCONF_DICOM_SEED
    from imgconf.dicom.generate import pacs_studies
    from imgconf.dicom.upload import UploadFailed, upload_studies

    server.start()
    try:
        with server.client() as client:
            stored = upload_studies(client, pacs_studies(IMGCONF_DICOM_SEED))
    except (UploadFailed, httpx.HTTPError) as exc:
        server.stop()
        raise TargetUnavailable(f"PACS {server.name}: loading the generated studies failed: {exc}") from None
    return len(stored)


def start_pacs(name: str) -> tuple[OrthancServer, int]:
    """The started, loaded PACS and how many instances it holds (stopped again if anything fails on the way)."""
    server = pacs_server(name)
    try:
        return server, start_and_load(server)
    except BaseException:
        server.stop()
        raise

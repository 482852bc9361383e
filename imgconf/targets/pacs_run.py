"""``imgconf run --with-pacs NAME``: start a PACS of ``PACS_REGISTRY`` on loopback and load the generated studies.

The studies are ``generate_studies(IMGCONF_DICOM_SEED)`` — the same ones the PACS fixtures
(``fixtures/imagingstudy/pacs-*.json``) describe — so the FHIR target's ImagingStudies point at studies the PACS
really holds. The caller stops the server (``stop()``), also on Ctrl-C/SIGTERM; a failed load stops it here.
"""

from __future__ import annotations

from imgconf.targets import PACS_REGISTRY
from imgconf.targets.base import ManagedTarget, TargetUnavailable
from imgconf.targets.orthanc import OrthancServer


def start_pacs(name: str) -> tuple[OrthancServer, int]:
    """The started, loaded PACS and how many instances it holds; TargetUnavailable when it cannot start or load."""
    import httpx  # the loader's imports (pydicom) only when a PACS is asked for

    from imgconf.dicom import IMGCONF_DICOM_SEED
    from imgconf.dicom.generate import generate_studies
    from imgconf.dicom.upload import UploadFailed, upload_studies

    factory = PACS_REGISTRY.get(name)
    if factory is None:
        raise TargetUnavailable(f"unknown PACS {name!r}; known: {', '.join(sorted(PACS_REGISTRY))}")
    server: ManagedTarget = factory()
    if not isinstance(server, OrthancServer):  # the only kind of PACS there is; a new one says how it is loaded
        raise TargetUnavailable(f"PACS {name!r}: no loader for {type(server).__name__}")
    server.start()
    try:
        with server.client() as client:
            stored = upload_studies(client, generate_studies(IMGCONF_DICOM_SEED))
    except (UploadFailed, httpx.HTTPError) as exc:
        server.stop()
        raise TargetUnavailable(f"PACS {name}: loading the generated studies failed: {exc}") from None
    except BaseException:
        server.stop()
        raise
    return server, len(stored)

"""Orthanc with its DICOMweb plugin (Debian packages ``orthanc``, ``orthanc-dicomweb``): a real PACS on loopback.

Not a FHIR server, so not in ``REGISTRY`` (``--with-target`` runs FHIR suites): it is listed in ``PACS_REGISTRY``
and used directly, ``with OrthancServer() as pacs: ...``. Each start writes its own configuration and storage to a
fresh temporary directory, removed at stop: nothing survives a run and two servers never share data.

What the configuration shuts off: the DICOM (DIMSE) listener, remote HTTP access (Orthanc 1.10 has no bind-address
option and listens on all interfaces, but answers 403 to any client that is not on loopback), Lua and the REST
API's file-system writes. Basic authentication is optional (``credentials=(user, password)``) for tests of how
the harness sends PACS credentials.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from imgconf import secret_registry
from imgconf.targets.base import Launch, ManagedTarget

ORTHANC_EXECUTABLE = Path("/usr/sbin/Orthanc")  # Debian's orthanc 1.10.1 installs the server here
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")  # orthanc-dicomweb 1.7
DICOMWEB_PATH = "/dicom-web"
INSTALL_HINT = "apt-get install orthanc orthanc-dicomweb"


class OrthancServer(ManagedTarget):
    """``rest_root`` is Orthanc's own REST API (``POST /instances``, ``/system``), ``dicomweb_root`` the
    QIDO-RS/WADO-RS/STOW-RS root — what an ImagingStudy's ``dicom-wado-rs`` Endpoint.address points at."""

    name = "orthanc"
    description = "PACS: Orthanc 1.10.1 + DICOMweb plugin 1.7 (not a FHIR server); prerequisite: " + INSTALL_HINT
    kind = "pacs"
    ready_timeout = 60.0  # ~0.5 s on an idle machine

    def __init__(self, *, credentials: tuple[str, str] | None = None,
                 executable: Path = ORTHANC_EXECUTABLE, plugin: Path = DICOMWEB_PLUGIN) -> None:
        super().__init__()
        self.credentials = credentials
        self.executable = executable
        self.plugin = plugin
        self.workdir: Path | None = None  # configuration + storage + index of the running server
        if credentials is not None:
            secret_registry.register(credentials[1])

    # -- ManagedTarget ----------------------------------------------------------------------------
    def unavailable(self) -> str | None:
        if not self.executable.is_file():
            return f"{self.executable} is missing ({INSTALL_HINT})"
        if not self.plugin.is_file():
            return f"the DICOMweb plugin {self.plugin} is missing ({INSTALL_HINT})"
        return None

    def launch(self, port: int) -> Launch:
        self.workdir = Path(tempfile.mkdtemp(prefix="imgconf-orthanc-"))  # mode 0700: the config may hold a password
        storage = self.workdir / "storage"
        storage.mkdir()
        config_file = self.workdir / "orthanc.json"
        config_file.write_text(json.dumps(self.configuration(port, storage), indent=2), encoding="utf-8")
        return Launch([str(self.executable), str(config_file)], cwd=self.workdir,
                      base_url=f"http://127.0.0.1:{port}", ready_path="/system", ready_headers=self._auth_headers())

    def start(self, timeout: float | None = None) -> Self:
        try:
            super().start(timeout)
        except BaseException:
            self._remove_workdir()  # also when the process could not even be spawned
            raise
        return self

    def stop(self) -> None:
        super().stop()
        self._remove_workdir()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what users of the PACS need ------------------------------------------------------------------
    def configuration(self, port: int, storage: Path) -> dict[str, Any]:
        """The whole orthanc.json: everything not named here keeps Orthanc's default."""
        users = {self.credentials[0]: self.credentials[1]} if self.credentials else {}
        return {
            "Name": "imgconf",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(users),
            "RegisteredUsers": users,
            "DicomServerEnabled": False,
            "ExecuteLuaEnabled": False,
            "RestApiWriteToFileSystemEnabled": False,
            "ConcurrentJobs": 1,  # a small machine shared with other work
            "HttpThreadsCount": 8,
            "SaveJobs": False,
            "Plugins": [str(self.plugin)],
            "DicomWeb": {"Enable": True, "Root": DICOMWEB_PATH + "/", "EnableWado": True, "Ssl": False},
        }

    @property
    def rest_root(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash); empty before start."""
        return self.base_url

    @property
    def dicomweb_root(self) -> str:
        """``http://127.0.0.1:PORT/dicom-web`` (no trailing slash, as an Endpoint.address is written)."""
        return self.base_url + DICOMWEB_PATH if self.base_url else ""

    @property
    def pid(self) -> int | None:
        """The server process while it runs (tests look at the sockets it listens on)."""
        return self._process.pid if self._process is not None else None

    @property
    def auth(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(*self.credentials) if self.credentials else None

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on the REST root with the server's credentials (the caller closes it)."""
        if not self.base_url:
            raise RuntimeError("the Orthanc server is not started")
        return httpx.Client(base_url=self.rest_root, auth=self.auth, timeout=timeout)

    def _auth_headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        token = base64.b64encode(f"{self.credentials[0]}:{self.credentials[1]}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def _remove_workdir(self) -> None:
        workdir, self.workdir = self.workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

"""One run against one target: the client, the run tag, fixtures, per-run UIDs and teardown.

With no target URL the session starts the embedded reference server on loopback. With pytest-xdist
every worker has its own session and its own run tag, so one worker's teardown never removes
another worker's data.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgconf import __version__
from imgconf.auth import AuthSettings, SmartClient
from imgconf.auth.request_auth import RequestAuth
from imgconf.auth.variables import smart_variable
from imgconf.capabilities import Capabilities
from imgconf.client import DEFAULT_MAX_RESPONSE_BYTES, TargetClient, TargetUnreachable
from imgconf.editions import DEFAULT_EDITION, EDITIONS  # re-exported: imgconf.session.EDITIONS
from imgconf.fixtures import RUN_TAG_SYSTEM, FixtureManager
from imgconf.pacs import PacsAccess
from imgconf.paths import fixtures_dir
from imgconf.results import RunInfo
from imgconf.suite.template import MissingVariable

log = logging.getLogger(__name__)

TEARDOWN_BUDGET_S = 120.0  # at least; 4 x the request timeout when that is longer
# benchmarks/bench_latency.py: the embedded server answers every request this many ms late, to measure a
# latency-bound run (a distant target) on one machine. Not a user option.
BENCH_LATENCY_ENV = "IMGCONF_BENCH_LATENCY_MS"


def dicom_uid_for(seed: str, name: str) -> str:
    """A valid UUID-derived DICOM UID (PS3.5 B.2), the same for one name within one run."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'imgconf:{seed}:{name}').int}"


@dataclass
class SessionOptions:
    target: str | None = None
    timeout: float = 30.0
    verify_tls: bool = True
    edition: str = DEFAULT_EDITION
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    worker: str | None = None
    fixtures_dir: Path = field(default_factory=fixtures_dir)
    read_only: bool = False  # no writes: fixtures are bound to existing data through `variables`
    variables: dict[str, str] = field(default_factory=dict)  # --var name=value, win over everything
    headers: list[tuple[str, str]] = field(default_factory=list)  # --header, sent on every request
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    auth: AuthSettings | None = None  # SMART backend client (config preset); None: requests go without a token
    embedded_auth: bool = True  # the embedded target requires SMART tokens (ephemeral client key)
    dicomweb: PacsAccess | None = None  # the PACS behind the endpoints (--dicomweb, preset, --with-pacs); None: no cross-check
    concurrency: int = 1  # suite files at once (imgconf.concurrent_cases); teardown then deletes as many at a time


class TargetSession:
    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        self.embedded = None
        if options.target:
            base_url = options.target
        else:
            from imgconf.reference.server import EmbeddedServer

            server_auth = None
            if options.embedded_auth:
                from imgconf.auth.embedded import embedded_auth

                server_auth, options.auth = embedded_auth()
            latency_s = float(os.environ.get(BENCH_LATENCY_ENV) or 0) / 1000
            self.embedded = EmbeddedServer(auth=server_auth, latency_s=latency_s)
            self.embedded.start()
            base_url = self.embedded.base_url
        self.smart = (SmartClient(options.auth, base_url, verify=options.verify_tls, timeout=options.timeout,
                                  max_response_bytes=options.max_response_bytes)
                      if options.auth is not None else None)
        self.dicomweb = options.dicomweb  # root + credentials of the PACS (imgconf.pacs); read-only use
        self.request_auth = RequestAuth(self.smart)  # bearer token on every request; per-request overrides
        self.run_tag = options.run_id + (f"-{options.worker}" if options.worker else "")
        self.client = TargetClient(
            base_url, timeout=options.timeout, verify=options.verify_tls, max_response_bytes=options.max_response_bytes,
            read_only=options.read_only, extra_headers=options.headers, auth=self.request_auth,
        )
        self.base_url = self.client.base_url
        self.edition = EDITIONS[options.edition]
        self.started_at = dt.datetime.now(dt.UTC)
        self.saved: dict[str, dict[str, Any]] = {}  # suite id -> variables saved by its cases
        self.fixtures = FixtureManager(self.client, self.run_tag, options.fixtures_dir, self.lookup,
                                       bind_only=options.read_only, bindings=options.variables)
        self._capabilities: dict[str, Any] | None = None
        self._capabilities_error: str | None = None
        self._capability: Capabilities | None = None
        self.touched_types: set[str] = set()
        self.closed = False

    # -- variables ---------------------------------------------------------------------------
    def lookup(self, name: str, suite_vars: dict[str, Any] | None = None) -> Any:
        if name in self.options.variables:
            return self.options.variables[name]
        if suite_vars and name in suite_vars:
            return suite_vars[name]
        if name == "base":
            return self.base_url
        if name == "run.tag":
            return self.run_tag
        if name == "run.tag_system":
            return RUN_TAG_SYSTEM
        if name.startswith("uid."):
            return dicom_uid_for(self.run_tag, name.removeprefix("uid."))
        if name.startswith("run.uuid."):  # a UUID fixed for one name within one run (MHD entryUUID)
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"imgconf:{self.run_tag}:{name}"))
        if name == "pacs.dicomweb" and self.dicomweb is not None:  # absent: suites needing it are skipped
            return self.dicomweb.root
        if name.startswith("smart.") and self.smart is not None:
            return smart_variable(self.smart, name.removeprefix("smart."))
        if name.startswith("edition."):
            key = name.removeprefix("edition.")
            if key in self.edition:
                return self.edition[key]
        if name.startswith("fixture."):
            key, _, attribute = name.removeprefix("fixture.").rpartition(".")
            try:
                return self.fixtures.value(key, attribute)
            except KeyError:
                pass
        raise MissingVariable(name)

    # -- target facts ------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any] | None:
        """The CapabilityStatement, read once per run (None when the target has no usable one)."""
        if self._capabilities is None and self._capabilities_error is None:
            try:
                result = self.client.send("GET", "metadata")
            except TargetUnreachable as exc:
                self._capabilities_error = str(exc)
                return None
            body = result.resource
            if result.status == 200 and body and body.get("resourceType") == "CapabilityStatement":
                self._capabilities = body
            else:
                self._capabilities_error = f"GET metadata answered {result.status}"
        return self._capabilities

    @property
    def capability(self) -> Capabilities:
        """The declared search parameters, and what the run tested, from one read of /metadata."""
        if self._capability is None:
            self._capability = Capabilities(self.capabilities())
        return self._capability

    def run_info(self) -> RunInfo:
        caps = self.capabilities() or {}
        software_raw = caps.get("software")
        software = software_raw if isinstance(software_raw, dict) else {}

        def text(value: Any, default: str = "") -> str:  # server data: any JSON shape may come
            return value if isinstance(value, str) else default

        run_options: dict[str, Any] = {"search_parameters": self.capability.report(), "run_tag": self.run_tag,
                                       "auth": self.auth_description()}
        if self.dicomweb is not None:  # the PACS of the cross-check, as it may be shown (credential kind only)
            run_options["dicomweb"] = {"root": self.dicomweb.root, "auth": self.dicomweb.auth_description}
        return RunInfo(
            target_url=self.base_url,
            embedded=self.embedded is not None,
            server_software=text(software.get("name"), "unknown (no CapabilityStatement)"),
            server_version=text(software.get("version")),
            fhir_version=text(caps.get("fhirVersion")),
            harness_version=__version__,
            edition=self.options.edition,
            started_at=self.started_at.isoformat(timespec="seconds"),
            tls_verify=self.options.verify_tls,
            options=run_options,
        )

    def auth_description(self) -> str:
        """How the run authenticated (for the report; never a secret)."""
        if self.smart is None:
            return "none"
        settings = self.smart.settings
        return (f"SMART Backend Services, client {settings.client_id} ({', '.join(k.alg for k in settings.keys)}), "
                f"{settings.source or 'configured'}")

    # -- the end -----------------------------------------------------------------------------
    def close(self) -> int:
        """Remove everything this run created; return how many tagged resources remain."""
        if self.closed:
            return 0
        self.closed = True
        remaining = 0
        try:
            budget = max(TEARDOWN_BUDGET_S, 4 * self.options.timeout)  # a stalling server cannot hold the run forever
            remaining = 0 if self.options.read_only else self.fixtures.teardown(
                self.touched_types, budget_s=budget, workers=self.options.concurrency)
            if remaining:
                log.warning("teardown left %d resources tagged %s|%s", remaining, RUN_TAG_SYSTEM, self.run_tag)
        finally:
            self.client.close()
            if self.smart is not None:
                self.smart.close()
            if self.embedded is not None:
                self.embedded.stop()
        return remaining

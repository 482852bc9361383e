"""The PACS of a run: ``--dicomweb URL`` / preset ``dicomweb`` / ``imgconf run --with-pacs orthanc``, the variable
``${pacs.dicomweb}``, the skip rule of suites that need a PACS, and the PACS fixtures.

Fast tests need no Orthanc; the runs with ``--with-pacs orthanc`` (marked slow) need Debian's orthanc +
orthanc-dicomweb and are skipped, with the reason, without them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from imgconf import options, secret_registry
from imgconf.cli import app
from imgconf.config import ConfigError, load_preset
from imgconf.fixtures import library
from imgconf.pacs import NO_PACS_REASON, PacsAccess, resolve
from imgconf.paths import fixtures_dir
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.loader import load_suite
from imgconf.suite.template import MissingVariable, render
from imgconf.targets.orthanc import OrthancServer
from imgconf.validators import validate_resource

REPO = Path(__file__).resolve().parent.parent
WIRING_SUITE = REPO / "tests" / "data" / "dicomweb_wiring" / "pacs-fixtures.yaml"
CROSSCHECK_SUITE = REPO / "suites" / "dicomweb" / "crosscheck.yaml"
IMGCONF = Path(sys.executable).with_name("imgconf")
TOKEN = "pacs-bearer-7f3a9c2e51"
PASSWORD = "pacs-secret-b81d"


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    secret_registry.clear()
    yield
    secret_registry.clear()


# -- the option, the session, the variable -------------------------------------------------------

def test_dicomweb_is_one_run_option_for_pytest_and_imgconf_run() -> None:
    row = options.BY_NAME["dicomweb"]
    assert row.pytest_flag == "--imgconf-dicomweb" and row.cli == "--dicomweb" and row.ini_name == "imgconf_dicomweb"
    assert options.pytest_argv({"dicomweb": "http://127.0.0.1:8042/dicom-web"}) == [
        "--imgconf-dicomweb", "http://127.0.0.1:8042/dicom-web"]
    help_text = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "250"}).output
    assert "--dicomweb" in help_text and "--with-pacs" in help_text


def test_session_exposes_the_pacs_and_the_variable_only_when_given() -> None:
    pacs = PacsAccess.from_url("http://127.0.0.1:8042/dicom-web/")
    with_pacs = TargetSession(SessionOptions(target="http://127.0.0.1:9/fhir", read_only=True, dicomweb=pacs))
    without = TargetSession(SessionOptions(target="http://127.0.0.1:9/fhir", read_only=True))
    try:
        assert with_pacs.dicomweb is pacs
        assert with_pacs.lookup("pacs.dicomweb") == "http://127.0.0.1:8042/dicom-web"  # no trailing slash (IS-041)
        assert render({"address": "${pacs.dicomweb}"}, with_pacs.lookup) == {"address": "http://127.0.0.1:8042/dicom-web"}
        assert with_pacs.run_info().options["dicomweb"] == {"root": "http://127.0.0.1:8042/dicom-web", "auth": "none"}
        assert without.dicomweb is None
        with pytest.raises(MissingVariable):
            without.lookup("pacs.dicomweb")
    finally:
        with_pacs.close()
        without.close()


def test_preset_credentials_go_with_the_preset_pacs_origin_only() -> None:
    preset = PacsAccess.from_url("https://pacs.example.org/dicom-web", authorization="Bearer t0k3n-abcdef", source="cfg")
    same = resolve("https://pacs.example.org:443/dicom-web/", preset)
    assert same is not None and same.authorization == "Bearer t0k3n-abcdef"
    assert same.root == "https://pacs.example.org:443/dicom-web"  # as written, the trailing slash gone
    other = resolve("https://other-pacs.example.org/dicom-web", preset)
    assert other is not None and other.authorization is None  # a URL for another PACS never gets the preset's credential
    assert resolve(None, preset) is preset and resolve(None, None) is None
    basic = resolve("http://alice:s3cret-pw@127.0.0.1:8042/dicom-web", None)
    assert basic is not None and basic.root == "http://127.0.0.1:8042/dicom-web"
    assert basic.authorization == "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()
    assert secret_registry.scrub("pw s3cret-pw") == "pw [redacted]"


def test_with_pacs_and_dicomweb_together_is_a_usage_error_before_anything_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--with-pacs", "orthanc", "--dicomweb", "http://127.0.0.1:9/dicom-web",
                                      "--reports-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "--with-pacs starts its own PACS: give it without --dicomweb" in result.output


def test_targets_list_shows_the_pacs_registry() -> None:
    output = CliRunner().invoke(app, ["targets", "list"], env={"COLUMNS": "200"}).output
    assert "--with-pacs NAME" in output
    assert any("orthanc" in line and "PACS" in line for line in output.splitlines())


def test_an_unknown_pacs_names_the_known_ones() -> None:
    from imgconf.targets import TargetUnavailable
    from imgconf.targets.pacs_run import start_pacs

    with pytest.raises(TargetUnavailable, match="unknown PACS 'dcm4chee'; known: orthanc"):
        start_pacs("dcm4chee")


# -- config presets ------------------------------------------------------------------------------

def _config(tmp_path: Path, dicomweb: str) -> Path:
    path = tmp_path / "imgconf.toml"
    path.write_text(f'[presets.v]\nurl = "https://fhir.example.org/r4"\n\n[presets.v.dicomweb]\n{dicomweb}\n', encoding="utf-8")
    return path


def test_preset_dicomweb_bearer_token_from_env_is_a_redacted_secret(tmp_path: Path) -> None:
    path = _config(tmp_path, 'url = "https://pacs.example.org/dicom-web/"\ntoken_env = "PACS_TOKEN"')
    preset = load_preset(path, env={"PACS_TOKEN": TOKEN})
    assert preset.dicomweb is not None and preset.dicomweb.root == "https://pacs.example.org/dicom-web"
    assert preset.dicomweb.authorization == f"Bearer {TOKEN}"
    assert preset.dicomweb.auth_description.startswith("Bearer (") and TOKEN not in preset.dicomweb.auth_description
    assert secret_registry.scrub(f"echoed {TOKEN} and Authorization: Bearer {TOKEN}") == (
        "echoed [redacted] and Authorization: [redacted]")


def test_preset_dicomweb_basic_password_from_file(tmp_path: Path) -> None:
    (tmp_path / "pacs.pw").write_text(PASSWORD + "\n", encoding="utf-8")
    path = _config(tmp_path, 'url = "https://pacs.example.org/dicom-web"\nuser = "imgconf"\npassword_file = "pacs.pw"')
    preset = load_preset(path, env={})
    assert preset.dicomweb is not None
    assert preset.dicomweb.authorization == "Basic " + base64.b64encode(f"imgconf:{PASSWORD}".encode()).decode()
    assert secret_registry.scrub(f"password {PASSWORD}") == "password [redacted]"
    assert secret_registry.contains_secret(preset.dicomweb.authorization)


@pytest.mark.parametrize(("table", "key", "message"), [
    ('token_env = "X"', "url", "missing"),
    ('url = "https://u:pw-in-url@pacs.example.org/dicom-web"', "url", "without credentials"),
    ('url = "https://pacs.example.org/dicom-web"\ntoken_env = "T"\nuser = "u"\npassword_env = "P"', "dicomweb", "set one credential"),
    ('url = "https://pacs.example.org/dicom-web"\nuser = "u"', "user", "need a user"),
    ('url = "https://pacs.example.org/dicom-web"\ntoken = "abc"', "token", "unknown key"),
    ('url = "https://pacs.example.org/dicom-web"\ntoken_env = "UNSET_PACS_TOKEN"', "token_env", "is not set"),
])
def test_bad_dicomweb_presets_name_the_key_and_never_the_secret(tmp_path: Path, table: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_preset(_config(tmp_path, table), env={"T": TOKEN, "P": PASSWORD})
    assert raised.value.key.endswith(key)
    assert "pw-in-url" not in str(raised.value) and TOKEN not in str(raised.value)


# -- credentials stay with the PACS origin (real HTTP over loopback) -----------------------------

class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[int, str, str | None]]] = []  # (port, path, Authorization)
    redirect_to: ClassVar[str] = ""

    def do_GET(self) -> None:
        self.seen.append((self.server.server_address[1], self.path, self.headers.get("Authorization")))  # type: ignore[index,arg-type]
        if self.path.startswith("/dicom-web/redirect") and self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def two_origins() -> Iterator[tuple[str, str]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.seen.clear()
    try:
        yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_pacs_credentials_are_sent_to_the_pacs_origin_and_to_no_other(two_origins: tuple[str, str]) -> None:
    pacs_origin, elsewhere = two_origins
    access = PacsAccess.from_url(pacs_origin + "/dicom-web", authorization=f"Bearer {TOKEN}")
    _Recorder.redirect_to = elsewhere + "/studies"
    with access.client(timeout=5) as client:
        assert client.get(access.root + "/studies").status_code == 200
        assert client.get(elsewhere + "/dicom-web/studies").status_code == 200  # e.g. a BulkDataURI on another host
        assert client.get(access.root + "/redirect").status_code == 302  # redirects are not followed by default
        client.get(access.root + "/redirect", follow_redirects=True)  # and when followed, the hop gets nothing
    by_port = [(port, path, auth) for port, path, auth in _Recorder.seen]
    pacs_port, other_port = int(pacs_origin.rsplit(":", 1)[1]), int(elsewhere.rsplit(":", 1)[1])
    assert [auth for port, _, auth in by_port if port == pacs_port] == [f"Bearer {TOKEN}"] * 3
    assert [auth for port, _, auth in by_port if port == other_port] == [None, None]


# -- the skip rule -------------------------------------------------------------------------------

def _suite_file(tmp_path: Path, header: str, request_path: str = "metadata", fixtures: str = "[]") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"suite: t\nid: t\n{header}requirements: [REST-010]\nfixtures: {fixtures}\ncases:\n"
                    f"  - name: c\n    request: {{method: GET, path: \"{request_path}\"}}\n    expect: {{status: 200}}\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("header", "request_path", "fixtures", "requires"), [
    ("area: rest\n", "metadata", "[]", ()),
    ("area: rest\nrequires: [dicomweb]\n", "metadata", "[]", ("dicomweb",)),  # declared
    ("area: dicomweb\n", "metadata", "[]", ("dicomweb",)),  # the area of the cross-check
    ("area: rest\n", "x?a=${pacs.dicomweb}", "[]", ("dicomweb",)),  # the variable in a request
    ("area: imagingstudy\n", "metadata", "[imagingstudy/pacs-mr]", ("dicomweb",)),  # in a fixture it loads
    ("area: imagingstudy\n", "metadata", "[imagingstudy/ct-chest]", ()),
])
def test_a_suite_requires_a_pacs_when_it_says_so_or_cannot_render_without_one(
        tmp_path: Path, header: str, request_path: str, fixtures: str, requires: tuple[str, ...]) -> None:
    suite = load_suite(_suite_file(tmp_path, header, request_path, fixtures), fixture_library=library(fixtures_dir()))
    assert suite.requires == requires


def test_requires_takes_only_known_needs(tmp_path: Path) -> None:
    from imgconf.suite.loader import SuiteError

    with pytest.raises(SuiteError, match="requires"):
        load_suite(_suite_file(tmp_path, "area: rest\nrequires: [hl7v2]\n"), fixture_library=library(fixtures_dir()))


def _run(tmp_path: Path, *args: str, suite: Path = WIRING_SUITE,
         timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """imgconf run over one suite file copied out of tests/ (whose conftest pytest would otherwise load)."""
    suites = tmp_path / "suites"
    suites.mkdir(exist_ok=True)
    shutil.copy(suite, suites / suite.name)
    reports = tmp_path / "reports"
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([str(IMGCONF), "run", "--suites", str(suites), "--reports-dir", str(reports), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env)
    summary_file = reports / "summary.json"
    return done, json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else {}


def test_without_a_pacs_its_suites_are_skipped_and_the_run_stays_pass(tmp_path: Path) -> None:
    done, summary = _run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["outcome"] == "pass"  # a skip for a missing PACS is not a selection: no PARTIAL, no INCOMPLETE
    assert {c["skipped_reason"] for c in summary["cases"]} == {NO_PACS_REASON}
    assert "dicomweb" not in summary["run"]["options"]


# -- the PACS fixtures ---------------------------------------------------------------------------

def test_committed_pacs_fixtures_are_what_the_generator_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_pacs_fixtures", REPO / "tools" / "build_pacs_fixtures.py")
    assert spec is not None and spec.loader is not None
    build_pacs_fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_pacs_fixtures)
    assert build_pacs_fixtures.main(["--check"]) == 0, "run: .venv/bin/python tools/build_pacs_fixtures.py"
    templates = library(fixtures_dir())
    for key in ("imagingstudy/pacs-ct", "imagingstudy/pacs-mr", "endpoint/pacs-wado-rs", "patient/pacs-patient"):
        assert templates[key] == build_pacs_fixtures.fixtures()[key]


def test_pacs_fixtures_pass_the_offline_validator_once_rendered() -> None:
    values = {"pacs.dicomweb": "http://127.0.0.1:8042/dicom-web", "fixture.patient/pacs-patient.id": "p1",
              "fixture.endpoint/pacs-wado-rs.id": "e1"}
    templates = library(fixtures_dir())
    for key in ("imagingstudy/pacs-ct", "imagingstudy/pacs-mr", "endpoint/pacs-wado-rs", "patient/pacs-patient"):
        resource = {"id": "x1", **render(templates[key], values)}
        findings = validate_resource(resource)
        assert [f for f in findings if f.level != "INFO"] == [], key  # the KO series of the CT study is an INFO note
    bad = {**render(templates["endpoint/pacs-wado-rs"], {**values, "pacs.dicomweb": "http://127.0.0.1:8042/dicom-web/"})}
    assert [f.requirement for f in validate_resource(bad)] == ["IS-041"]  # the validator does look: a trailing slash


# -- imgconf run --with-pacs orthanc (a real Orthanc) --------------------------------------------

def _orthanc_missing() -> str | None:
    return OrthancServer().unavailable()


def _port_open(url: str) -> bool:
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.slow
def test_with_pacs_orthanc_starts_loads_cross_checks_and_stops(tmp_path: Path) -> None:
    if (missing := _orthanc_missing()) is not None:
        pytest.skip(missing)
    suite, extra = (CROSSCHECK_SUITE, ["--suite", "dicomweb-crosscheck"]) if CROSSCHECK_SUITE.exists() else (WIRING_SUITE, [])
    done, summary = _run(tmp_path, "--with-pacs", "orthanc", *extra, suite=suite)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "16 DICOM instances loaded" in done.stdout and "PACS orthanc stopped" in done.stdout
    root = summary["run"]["options"]["dicomweb"]["root"]
    assert root.startswith("http://127.0.0.1:") and root.endswith("/dicom-web")
    assert summary["outcome"] in ("pass", "partial") and summary["cases"]
    assert all(c["verdict"] == "pass" for c in summary["cases"]), [(c["case"], c["verdict"]) for c in summary["cases"]]
    assert not _port_open(root)  # Orthanc is gone with the run


@pytest.mark.slow
def test_with_pacs_stops_orthanc_on_sigterm(tmp_path: Path) -> None:
    if (missing := _orthanc_missing()) is not None:
        pytest.skip(missing)
    import signal
    import time

    suites = tmp_path / "suites"
    suites.mkdir()
    shutil.copy(WIRING_SUITE, suites / WIRING_SUITE.name)
    process = subprocess.Popen([str(IMGCONF), "run", "--with-pacs", "orthanc", "--suites", str(suites),
                                "--reports-dir", str(tmp_path / "reports")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    assert process.stdout is not None
    root = ""
    deadline = time.monotonic() + 120
    while line := process.stdout.readline():  # "PACS orthanc ready at http://127.0.0.1:PORT/dicom-web after …"
        if "PACS orthanc ready at" in line:
            root = line.split(" ready at ", 1)[1].split()[0]
            break
        assert time.monotonic() < deadline
    assert root and _port_open(root)
    process.send_signal(signal.SIGTERM)
    rest = process.stdout.read()  # readline above, read here: one buffer (communicate() after iteration loses lines)
    assert process.wait(timeout=120) != 0  # interrupted, never a green run
    assert "PACS orthanc stopped" in rest
    assert not _port_open(root)


@pytest.mark.slow
def test_preset_basic_credentials_reach_a_protected_orthanc_and_no_report(tmp_path: Path) -> None:
    """A PACS that requires Basic auth, its password in the environment named by the preset's dicomweb table:
    the cross-check passes (the credential went to the PACS) and the password is in no report file."""
    if (missing := _orthanc_missing()) is not None:
        pytest.skip(missing)
    if not CROSSCHECK_SUITE.exists():
        pytest.skip("suites/dicomweb/crosscheck.yaml is not there yet")
    from imgconf.targets.pacs_run import start_and_load

    pacs = OrthancServer(credentials=("imgconf", PASSWORD))
    try:
        start_and_load(pacs)  # what --with-pacs loads, into a PACS that answers 401 without the credential
        config = tmp_path / "imgconf.toml"
        config.write_text(f'[presets.local.dicomweb]\nurl = "{pacs.dicomweb_root}"\nuser = "imgconf"\n'
                          'password_env = "IMGCONF_TEST_PACS_PASSWORD"\n', encoding="utf-8")
        os.environ["IMGCONF_TEST_PACS_PASSWORD"] = PASSWORD
        try:
            done, summary = _run(tmp_path, "--config", str(config), "--suite", "dicomweb-crosscheck", suite=CROSSCHECK_SUITE)
        finally:
            del os.environ["IMGCONF_TEST_PACS_PASSWORD"]
        (tmp_path / "reports-without").mkdir()
        without, refused = _run(tmp_path / "reports-without", "--dicomweb", pacs.dicomweb_root, "--suite",
                                "dicomweb-crosscheck", suite=CROSSCHECK_SUITE)
    finally:
        pacs.stop()
    assert without.returncode != 0 and refused["outcome"] == "incomplete"  # the same PACS without the credential: 401
    assert done.returncode == 0, done.stdout[-3000:]
    assert summary["run"]["options"]["dicomweb"]["auth"].startswith("Basic (")
    assert summary["cases"] and all(c["verdict"] == "pass" for c in summary["cases"])
    leaked = [p for p in (tmp_path / "reports").rglob("*") if p.is_file() and PASSWORD in p.read_text(errors="replace")]
    assert leaked == [] and PASSWORD not in done.stdout

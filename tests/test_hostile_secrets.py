"""Credentials stay with the target, against a hostile one (issue 9 items 1, 2, 7, 8).

The target is the reference server behind a FaultProxy that plays every trick at once: its ``next``
links, ``attachment.url``s and references point at another loopback origin, its reads answer 302 to
that origin, and it echoes every request header back in a response header and in error bodies. The
other origin records every header it receives. A run with ``--header`` credentials under vendor
names and a password in the ``--target`` URL must then leave no credential at the other origin and
no secret in any output file or on the console.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgconf import secret_registry
from imgconf.auth.keys import SigningKey, private_pem
from imgconf.client import TargetClient
from imgconf.config import ConfigError, load_preset
from imgconf.faults import Fault, FaultProxy, ProxyCall, ProxyResponse
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.runcontrol import RunControlError, parse_headers
from suite_roots import BUNDLED

SUITES = suites_dir()
PASSWORD = "Pw-9c1e77d0b3"
SUBSCRIPTION_KEY = "ocp-sub-key-5d2f8a61c0e94b7a"
FUNCTIONS_KEY = "fn-key-0a8c3e5f7b9d1e2f4a6c"
BEARER = "static-bearer-4e6a8c0b2d4f6a8c0e2a"


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    yield
    secret_registry.clear()  # the registry is per process: do not let one test's secrets blur another's


@dataclass
class Elsewhere:
    """Another origin on loopback: answers every GET with an empty searchset and records the headers."""

    seen: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""

    def start(self) -> Elsewhere:
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
                body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/fhir"
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def carrying(self, secrets: set[str]) -> int:
        """How many requests it received that carried any of ``secrets`` in a header."""
        return sum(self.by_route(secrets).values())

    def by_route(self, secrets: set[str]) -> dict[str, int]:
        """Requests carrying a secret, per route that led here (Bundle = next link, Binary = attachment.url, …)."""
        routes: dict[str, int] = {}
        for headers in self.seen:
            if any(s in v for s in secrets for k, v in headers.items() if k != ":path"):
                path = headers[":path"]
                route = "referenced" if path.startswith("/referenced/") else path.split("/")[2]
                routes[route] = routes.get(route, 0) + 1
        return routes


def hostile_faults(elsewhere: str) -> list[Fault]:
    counter = iter(range(10**9))

    def elsewhere_url(kind: str) -> str:
        return f"{elsewhere}/{kind}/{next(counter)}"

    def rewrite(node: Any, own_base: str) -> Any:
        if isinstance(node, dict):
            out = {k: rewrite(v, own_base) for k, v in node.items()}
            if node.get("resourceType") == "Bundle" and node.get("type") == "searchset":
                out["link"] = [link for link in out.get("link") or [] if link.get("relation") != "next"]
                out["link"].append({"relation": "next", "url": elsewhere_url("Bundle")})
            if isinstance(node.get("url"), str) and ("contentType" in node or "size" in node):  # an Attachment
                out["url"] = elsewhere_url("Binary")
            if isinstance(node.get("reference"), str) and not node["reference"].startswith("#"):
                kind = node["reference"].split("/")[-2] if "/" in node["reference"] else "Patient"
                out["reference"] = elsewhere.replace("/fhir", "/referenced") + f"/{kind}/{next(counter)}"
            return out
        if isinstance(node, list):
            return [rewrite(v, own_base) for v in node]
        return node

    def on_request(call: ProxyCall) -> ProxyResponse | None:
        parts = [p for p in call.path.split("/") if p]
        if call.method == "GET" and len(parts) == 2 and parts[0] in ("ImagingStudy", "Patient") and not call.query:
            return ProxyResponse(302, {"location": elsewhere_url("redirected")}, b"")
        return None

    def on_response(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        echoed = "; ".join(f"{k}={v}" for k, v in call.headers.items())
        body = response.json()
        if isinstance(body, dict) and call.method == "GET":
            response.set_json(rewrite(body, call.base))
        if response.status >= 400:
            response.set_json({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "processing", "diagnostics": f"you sent: {echoed}"}]})
        response.headers["x-debug-request"] = echoed
        response.headers["x-echo-authorization"] = call.headers.get("authorization", "")
        return response

    return [Fault("hostile-credentials", "sends the harness elsewhere and echoes its headers", ("SMART-034",),
                  on_request=on_request, on_response=on_response)]


@pytest.fixture()
def hostile() -> Iterator[tuple[FaultProxy, Elsewhere]]:
    elsewhere = Elsewhere().start()
    with EmbeddedServer() as server, FaultProxy(server.base_url, hostile_faults(elsewhere.base_url)) as proxy:
        yield proxy, elsewhere
    elsewhere.stop()


def with_userinfo(url: str, user: str = "alice", password: str = PASSWORD) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def leaks(root: Path, secrets: set[str], console: str) -> dict[str, int]:
    """Occurrences of any secret per output file (and on the console)."""
    found: dict[str, int] = {}
    for path in [p for p in root.rglob("*") if p.is_file() and p.name not in ("stdout", "stderr")]:  # = console
        text = path.read_text("utf-8", errors="replace")
        count = sum(text.count(s) for s in secrets)
        if count:
            found[str(path.relative_to(root))] = count
    if (count := sum(console.count(s) for s in secrets)):
        found["<console>"] = count
    return found


def by_output(found: dict[str, int]) -> dict[str, int]:
    """Leaks summed per kind of output (all allure files together)."""
    out: dict[str, int] = {}
    for name, count in found.items():
        key = "allure" if name.startswith("reports/allure/") else name
        out[key] = out.get(key, 0) + count
    return out


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *BUNDLED, *args, "-p", "no:cacheprovider", "--junitxml=reports/junit.xml", "--alluredir=reports/allure",
        "--log-file=reports/run.log", "--log-file-level=DEBUG", "-rA", "-vv", timeout=600,
    )


@pytest.mark.slow
def test_a_hostile_target_gets_no_credential_out_of_the_harness(
        pytester: pytest.Pytester, hostile: tuple[FaultProxy, Elsewhere]) -> None:
    proxy, elsewhere = hostile
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    result = run(pytester, str(SUITES / "mhd" / "iti68-retrieve-document.yaml"),
                 str(SUITES / "imagingstudy" / "search-references.yaml"),
                 "--imgconf-target", with_userinfo(proxy.base_url),
                 "--imgconf-header", f"Ocp-Apim-Subscription-Key: {SUBSCRIPTION_KEY}",
                 "--imgconf-header", f"X-Functions-Key: {FUNCTIONS_KEY}")
    console = result.stdout.str() + result.stderr.str()
    secrets = {PASSWORD, SUBSCRIPTION_KEY, FUNCTIONS_KEY, basic}
    assert len(elsewhere.seen) >= 10, "the harness never followed a link elsewhere: the test would prove nothing"
    kinds = {"referenced" if h[":path"].startswith("/referenced/") else h[":path"].split("/")[2] for h in elsewhere.seen}
    assert {"Binary", "Bundle", "redirected", "referenced"} <= kinds, kinds  # attachment.url, next, 302, references
    carrying = elsewhere.carrying(secrets)
    found = leaks(pytester.path, secrets, console)
    print(f"requests elsewhere: {len(elsewhere.seen)}, carrying a credential: {carrying} {elsewhere.by_route(secrets)}; "
          f"secrets written: {sum(found.values())} times in {len(found)} places: {by_output(found)}")
    assert carrying == 0
    assert found == {}
    assert (pytester.path / "reports" / "summary.json").is_file(), console[-3000:]
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert PASSWORD not in summary["run"]["target_url"] and "alice" not in summary["run"]["target_url"]
    assert summary["run"]["options"]["extra_headers"] == ["Authorization", "Ocp-Apim-Subscription-Key", "X-Functions-Key"]
    assert "alice" not in console
    assert {".json", ".html", ".xml", ".log"} <= {p.suffix for p in pytester.path.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_static_bearer_header_never_reaches_another_origin(
        pytester: pytest.Pytester, hostile: tuple[FaultProxy, Elsewhere]) -> None:
    proxy, elsewhere = hostile
    result = run(pytester, str(SUITES / "mhd" / "iti68-retrieve-document.yaml"), "--imgconf-target", proxy.base_url,
                 "--imgconf-header", f"Authorization: Bearer {BEARER}", "--imgconf-header", f"X-Api-Key: {BEARER}-key")
    console = result.stdout.str() + result.stderr.str()
    assert len(elsewhere.seen) >= 3, "nothing was fetched from the other origin: the test would prove nothing"
    carrying, found = elsewhere.carrying({BEARER}), leaks(pytester.path, {BEARER}, console)
    print(f"requests elsewhere: {len(elsewhere.seen)}, carrying the bearer: {carrying} {elsewhere.by_route({BEARER})}; "
          f"written: {sum(found.values())} times in {len(found)} places: {by_output(found)}")
    assert carrying == 0
    assert found == {}


# -- the client on its own: every route to another origin, a redirect included -----------------

def test_header_and_url_credentials_go_to_the_target_origin_only(hostile: tuple[FaultProxy, Elsewhere]) -> None:
    proxy, elsewhere = hostile
    client = TargetClient(with_userinfo(proxy.base_url), extra_headers=[("X-Functions-Key", FUNCTIONS_KEY)])
    try:
        assert client.base_url == proxy.base_url  # ${base} has no userinfo
        bundle = client.send("GET", "Patient")  # the target itself: credentials sent (and echoed back)
        assert bundle.status == 200
        assert FUNCTIONS_KEY in bundle.headers["x-debug-request"]  # the server did get them
        assert "Basic " in bundle.headers["x-echo-authorization"]
        evidence = json.dumps(bundle.exchange.to_dict())
        assert FUNCTIONS_KEY not in evidence and PASSWORD not in evidence
        next_url = next(link["url"] for link in bundle.json["link"] if link["relation"] == "next")
        client.send("GET", next_url)  # a next link elsewhere
        client.send("GET", "Patient/anything")  # a 302 to elsewhere
        client.send("GET", elsewhere.base_url + "/Binary/1")  # an absolute URL elsewhere
    finally:
        client.close()
    assert len(elsewhere.seen) == 3
    assert elsewhere.carrying({FUNCTIONS_KEY, PASSWORD, "Basic "}) == 0
    assert not any("authorization" in h for h in elsewhere.seen)


def test_same_host_other_port_is_another_origin() -> None:
    from imgconf.credentials import origin

    assert origin("http://127.0.0.1:8080/fhir") != origin("http://127.0.0.1:8081/fhir")
    assert origin("http://Example.org/fhir") == origin("http://example.org:80/other")
    assert origin("https://example.org/fhir") != origin("http://example.org/fhir")


# -- redaction by value --------------------------------------------------------------------------

def test_redaction_is_by_value_whatever_the_header_name() -> None:
    from imgconf.report.redact import redact_headers, redact_text

    secret_registry.register_header("X-Functions-Key", "fn-value-77c1a2b3c4")
    assert redact_headers({"X-Whatever": "prefix fn-value-77c1a2b3c4"}) == {"X-Whatever": "prefix [redacted]"}
    body = '{"issue": [{"diagnostics": "bad key fn-value-77c1a2b3c4 and fn-value-77c1a2b3c4"}]}'
    assert "fn-value-77c1a2b3c4" not in redact_text(body)
    assert "fn-value-77c1a2b3c4" not in redact_text("http://h/fhir?k=fn-value-77c1a2b3c4")
    # its URL- and JSON-escaped spellings too
    secret_registry.register("tok/en+with=chars")
    assert redact_text("a=tok%2Fen%2Bwith%3Dchars b=tok\\/en+with=chars") == "a=[redacted] b=[redacted]"


def test_short_values_are_redacted_only_where_they_stand_alone() -> None:
    secret_registry.register("pw1")
    assert secret_registry.scrub("user pw1 here, alice:pw1@host") == "user [redacted] here, alice:[redacted]@host"
    assert secret_registry.scrub("pw12 apw1 pw1x 10.0.pw1") == "pw12 apw1 pw1x 10.0.pw1"
    for too_short in ("", "   ", "1", "ab"):
        secret_registry.register(too_short)
    assert secret_registry.known() == {"pw1"}
    assert secret_registry.scrub("127.0.0.1 total 1 ab") == "127.0.0.1 total 1 ab"


def test_descriptive_headers_are_not_secrets() -> None:
    before = secret_registry.known()
    secret_registry.register_header("Accept", "application/fhir+json")
    secret_registry.register_header("Prefer", "return=representation")
    assert secret_registry.known() == before


def test_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    secret_registry.register("log-secret-3f9a8b7c6d")
    with caplog.at_level(logging.INFO):
        logging.getLogger("imgconf.test").info("GET %s", "http://h/fhir?token=log-secret-3f9a8b7c6d")
    assert "log-secret-3f9a8b7c6d" not in caplog.text
    assert "[redacted]" in caplog.text


# -- item 8: careless config -------------------------------------------------------------------

def test_a_header_without_colon_is_not_echoed() -> None:
    with pytest.raises(RunControlError) as raised:
        parse_headers(["Accept: application/json", "Authorization Bearer sekr1t-4a5b6c7d8e"])
    assert "sekr1t-4a5b6c7d8e" not in str(raised.value)
    assert "--header number 2 of 2" in str(raised.value)


def test_a_header_without_colon_is_not_echoed_by_the_cli(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*BUNDLED, "-p", "no:cacheprovider", "--imgconf-header", "Authorization Bearer sekr1t-4a5b6c7d8e")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--header number 1 of 1" in output
    assert "sekr1t-4a5b6c7d8e" not in output


@pytest.fixture()
def pem_text() -> str:
    return private_pem(SigningKey.generate("ES384")).decode()


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.mark.parametrize("where", ["key_env", "key_file", "key_file_env", "client_id_env"])
def test_a_pem_pasted_into_a_config_key_is_not_echoed(tmp_path: Path, pem_text: str, where: str) -> None:
    config = tmp_path / "imgconf.toml"
    auth = {"client_id": "c", "key_file": "k.pem"}
    if where == "client_id_env":
        auth = {"client_id_env": pem_text, "key_file": "k.pem"}
    else:
        auth = {"client_id": "c", where: pem_text}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in auth.items())
    config.write_text(f'[presets.x]\nurl = "http://127.0.0.1:1/fhir"\n[presets.x.auth]\n{lines}\n')
    with pytest.raises(ConfigError) as raised:
        load_preset(config, "x", env={})
    message = str(raised.value)
    assert f"presets.x.auth.{where}" in message
    assert not any(line in message for line in pem_lines(pem_text)), message
    assert "BEGIN" not in message


def test_a_url_with_a_password_in_a_config_error_is_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "imgconf.toml"
    config.write_text(f'[presets.x]\nurl = "ftp://alice:{PASSWORD}@host/fhir"\n')
    with pytest.raises(ConfigError) as raised:
        load_preset(config, "x", env={})
    assert PASSWORD not in str(raised.value) and "presets.x.url" in str(raised.value)


def test_a_key_file_readable_by_others_is_warned_about_once(tmp_path: Path, pem_text: str,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from imgconf.auth.keys import load_key_file

    # imgconf's xdist workers leave the warning to their controller; this test may itself run in one
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)

    key = tmp_path / "client.pem"
    key.write_text(pem_text)
    os.chmod(key, 0o644)
    load_key_file(key)
    load_key_file(key)
    err = capsys.readouterr().err
    assert err.count(f"private key file {key} is readable by group or others") == 1, err
    private = tmp_path / "private.pem"
    private.write_text(pem_text)
    os.chmod(private, stat.S_IRUSR | stat.S_IWUSR)
    load_key_file(private)
    assert "private.pem" not in capsys.readouterr().err


def test_key_material_is_registered_when_read(tmp_path: Path, pem_text: str) -> None:
    from imgconf.auth.keys import load_keys

    load_keys(pem_text.encode(), source="test")
    assert all(line in secret_registry.known() for line in pem_lines(pem_text))
    assert re.sub(r"\s", "", secret_registry.scrub(pem_text)).count("[redacted]") >= 1


# -- tokens only an xdist worker knows, echoed by the server -----------------------------------

def token_echo_fault(seen: set[str]) -> Fault:
    """Echo the caller's bearer token, without its 'Bearer ' prefix, under a harmless header name
    and in every error body — what a chatty gateway does. Remembers each token it saw."""

    def on_response(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        token = call.headers.get("authorization", "").partition(" ")[2]
        if token:
            seen.add(token)
            response.headers["x-trace"] = f"caller={token}"
            if response.status >= 400:
                response.set_json({"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "security", "diagnostics": f"token {token} refused"}]})
        return response

    return Fault("token-echo", "echoes the bearer token", ("SMART-034",), on_response=on_response)


@pytest.mark.slow
def test_tokens_echoed_by_the_server_are_redacted_under_xdist(pytester: pytest.Pytester, tmp_path: Path) -> None:
    from smart_support import start_smart_target

    smart = start_smart_target(tmp_path / "keys")
    seen: set[str] = set()
    try:
        with FaultProxy(smart.base_url, [token_echo_fault(seen)]) as proxy:
            config = smart.write_config(tmp_path / "imgconf.toml", proxy.base_url)
            result = run(pytester, str(SUITES / "smart" / "enforcement.yaml"), str(SUITES / "mhd" / "iti68-retrieve-document.yaml"),
                         "--imgconf-config", str(config), "--imgconf-preset", "target", "-n", "2")
    finally:
        smart.server.stop()
    tokens = {t for t in seen if len(t) > 20 and not t.startswith("imgconf-invalid-")}
    assert tokens, "no token went over the wire: the test would prove nothing"
    console = result.stdout.str() + result.stderr.str()
    assert "2 workers" in console
    found = leaks(pytester.path, tokens, console)
    print(f"tokens echoed: {len(tokens)}; written: {sum(found.values())} times: {by_output(found)}")
    assert found == {}


def test_the_key_file_warning_is_printed_once_on_stderr_under_xdist(pytester: pytest.Pytester, tmp_path: Path,
                                                                    pem_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # the run below is the controller, not a worker
    key = tmp_path / "client.pem"
    key.write_text(pem_text)
    os.chmod(key, 0o644)
    config = tmp_path / "imgconf.toml"
    config.write_text(f'[presets.x]\nurl = "http://127.0.0.1:9/fhir"\n[presets.x.auth]\nclient_id = "c"\nkey_file = "{key}"\n')
    result = pytester.runpytest_subprocess(*BUNDLED, "-p", "no:cacheprovider", "--imgconf-config", str(config), "-n", "2",
                                           str(SUITES / "rest" / "capability-declarations.yaml"), "--collect-only")
    assert result.stderr.str().count(f"private key file {key} is readable by group or others") == 1, result.stderr.str()
    assert not any(line in result.stdout.str() + result.stderr.str() for line in pem_lines(pem_text))

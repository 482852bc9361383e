"""Nobody's secrets in the output: bearer tokens, client assertions and private keys never appear in
summary.json, report.html, junit.xml, allure results, the log file or the console (issue 5).

Two runs: SMART backend services through a recording proxy (it keeps every token and assertion
that went over the wire, so the test knows what to look for), and a static bearer header (--header).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from smart_support import SmartTarget, start_smart_target

from imgconf.faults import Fault, FaultProxy, ProxyCall
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from suite_roots import BUNDLED

pytestmark = pytest.mark.slow
SUITES = suites_dir()


class Recorder:
    """A fault that changes nothing and remembers every credential the harness sent."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.fault = Fault("record-credentials", "records credentials, changes nothing", ("SMART-020",), on_request=self.see)

    def see(self, call: ProxyCall) -> None:
        auth = call.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and len(auth) > 20:
            self.secrets.add(auth.split(" ", 1)[1])
        if call.body and b"client_assertion" in call.body:
            form = urllib.parse.parse_qs(call.body.decode("utf-8", "replace"))
            self.secrets.update(v for v in form.get("client_assertion", []) if len(v) > 20)


def output_files(root: Path, skip: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and skip not in p.parents]


def assert_nowhere(root: Path, skip: Path, secrets: set[str], console: str) -> int:
    files = output_files(root, skip)
    kinds = {p.suffix for p in files}
    assert {".json", ".html", ".xml", ".log"} <= kinds, kinds  # summary, report, junit, allure, log
    for path in files:
        text = path.read_text("utf-8", errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:12]}…) leaked into {path.relative_to(root)}"
    for secret in secrets:
        assert secret not in console, f"a secret ({secret[:12]}…) leaked onto the console"
    return len(files)


def private_key_material(target: SmartTarget) -> set[str]:
    jwks = json.loads((target.key_dir / "client.jwks").read_text())
    material = {k["d"] for k in jwks["keys"]}
    pem = (target.key_dir / "client-es384.pem").read_text().splitlines()
    material.update(line for line in pem if line and not line.startswith("-----"))
    return material


def run_and_collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *BUNDLED, *args, "-p", "no:cacheprovider", "--junitxml=reports/junit.xml", "--alluredir=reports/allure",
        "--log-file=reports/run.log", "--log-file-level=DEBUG", "-rA", "-vv", timeout=600,
    )


@pytest.fixture()
def smart(tmp_path: Path) -> Iterator[SmartTarget]:
    target = start_smart_target(tmp_path / "keys")
    yield target
    target.server.stop()


def test_smart_tokens_assertions_and_keys_stay_out_of_every_output(pytester: pytest.Pytester, smart: SmartTarget, tmp_path: Path) -> None:
    recorder = Recorder()
    with FaultProxy(smart.base_url, [recorder.fault]) as proxy:
        config = smart.write_config(tmp_path / "imgconf.toml", proxy.base_url)
        result = run_and_collect(pytester, str(SUITES / "smart"), str(SUITES / "imagingstudy" / "rest-crud.yaml"),
                                 "--imgconf-config", str(config), "--imgconf-preset", "target")
    assert recorder.secrets, "no token or assertion went over the wire: the test would prove nothing"
    assert any(s.count(".") == 2 for s in recorder.secrets)  # JWTs: assertions and/or tokens
    secrets = recorder.secrets | private_key_material(smart)
    console = result.stdout.str() + result.stderr.str()
    assert assert_nowhere(pytester.path, tmp_path / "keys", secrets, console) >= 4


def test_a_static_bearer_header_stays_out_of_every_output(pytester: pytest.Pytester) -> None:
    secret = "imgconf-static-bearer-7f3c9a1e5b2d4c6f8a0e"
    with EmbeddedServer() as server:
        result = run_and_collect(pytester, str(SUITES / "imagingstudy" / "search-basic.yaml"), "--imgconf-target", server.base_url,
                                 "--imgconf-header", f"Authorization: Bearer {secret}", "--imgconf-header", f"X-Api-Key: {secret}-key")
    console = result.stdout.str() + result.stderr.str()
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert summary["run"]["options"]["extra_headers"] == ["Authorization", "X-Api-Key"]
    assert assert_nowhere(pytester.path, pytester.path / "no-such-dir", {secret, f"{secret}-key"}, console) >= 4

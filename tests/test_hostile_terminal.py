"""Issue 9 item 6: server text reaches the terminal as text — not as rich markup, not as control sequences.

The attack: a CapabilityStatement named ``Acme FHIR [/]`` crashed the CLI at the end of a passing run
(rich MarkupError, exit 1), and ANSI escape sequences in server data reached the terminal.
"""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest
from rich.console import Console

from hostile_support import IMGCONF
from imgconf.faults import Fault, FaultProxy, ProxyCall, ProxyResponse
from imgconf.paths import suites_dir
from imgconf.progress import ProgressPlugin
from imgconf.reference.server import EmbeddedServer
from imgconf.terminal import plain, strip_controls

HOSTILE_NAME = "Acme FHIR [/] [bold red]x\x1b]0;pwned\x07\x1b[2J\x9b31m"


def test_plain_escapes_markup_and_shows_control_characters_visibly() -> None:
    assert strip_controls("a\x1b[2Jb\x07\x9bc\td\ne") == "a\\x1b[2Jb\\x07\\x9bc\td\ne"
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    console.print(f"server: {plain(HOSTILE_NAME)}")
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Acme FHIR [/] [bold red]x" in out and "\x1b" not in out and "\x07" not in out and "\x9b" not in out


def test_failure_reasons_with_markup_and_escapes_are_printed_as_text() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=300)
    progress = ProgressPlugin(console)
    progress.task = progress.progress.add_task("cases", total=1, counts="")

    class Report:
        when = "call"
        passed = False
        skipped = False
        nodeid = "x"
        longreprtext = ""
        imgconf_case: dict[str, Any] = {"verdict": "fail", "suite_id": "s [/]", "case": "c", "error": None,
                                        "checks": [{"verdict": "fail", "requirement": ["REST-040"],
                                                    "reason": "body said [/] \x1b[2J and [link=http://evil]x[/link]"}]}

    progress.pytest_runtest_logreport(Report())  # type: ignore[arg-type]
    for line in progress.problems:
        console.print(line)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "body said [/] \\x1b[2J and [link=http://evil]x[/link]" in out and "\x1b" not in out


def _hostile_metadata(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.path.strip("/") == "metadata" and response.status == 200:
        body = response.json()
        body["software"] = {"name": HOSTILE_NAME, "version": "1.0 [/]\x1b[5m"}
        response.set_json(body)
    return response


@pytest.mark.slow
def test_a_server_named_with_markup_and_escapes_does_not_crash_the_cli(tmp_path: Any) -> None:
    with EmbeddedServer() as server, FaultProxy(server.base_url, [Fault("hostile-name", "markup and ANSI in software.name",
                                                                        ("REST-040",), on_response=_hostile_metadata)]) as proxy:
        done = subprocess.run([*IMGCONF, "run", "--target", proxy.base_url, "--suites", str(suites_dir() / "imagingstudy" / "rest-crud.yaml"),
                               "-k", "capability", "--reports-dir", str(tmp_path / "reports")],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert "MarkupError" not in out and "Traceback" not in out, out[-3000:]
    assert done.returncode in (0, 1), out[-3000:]
    assert "Acme FHIR [/]" in out  # shown, as text
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out

"""Issue 9 item 5: an interrupted run is INTERRUPTED everywhere, never PASS.

The attack: SIGINT after 4 of 432 cases, and console, badge and summary.json said PASS. Here a real
`imgconf run` process gets SIGINT after a few cases, and a pytest run hits --run-timeout; console,
summary.json, report.html and JUnit say INTERRUPTED with how many cases ran of how many.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_support import interrupt_after_cases
from hostile_support import IMGCONF
from suite_roots import BUNDLED

from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault, ProxyCall
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer

pytestmark = pytest.mark.slow

SUITES = suites_dir() / "imagingstudy"


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a process group")
def test_sigint_after_a_few_cases_says_interrupted(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = subprocess.Popen([*IMGCONF, "run", "--suites", str(SUITES / "search-basic.yaml"), "--suites", str(SUITES / "search-dates.yaml"),
                             "--reports-dir", str(reports)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = interrupt_after_cases(proc, reports)
    assert proc.returncode == 2, out[-2000:]
    assert "outcome: INTERRUPTED" in out and "PASS" not in out.split("outcome:")[-1], out[-2000:]
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["outcome"] == "interrupted"
    stopped = summary["interrupted"]
    assert 3 <= stopped["cases_run"] < stopped["cases_total"] == 35 + 27, stopped
    assert f"{stopped['cases_run']} of {stopped['cases_total']} cases ran" in out
    html = (reports / "report.html").read_text()
    assert 'class="badge outcome-interrupted"' in html and "INTERRUPTED" in html
    assert f"{stopped['cases_run']} of {stopped['cases_total']} cases ran" in html
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props.get("imgconf_outcome") == "interrupted"
    env = (reports / "allure-results" / "environment.properties").read_text()
    assert "imgconf.outcome=INTERRUPTED" in env
    assert summary["run"]["options"]["teardown_remaining"] == 0  # the interrupted run still tore down


def _delay_every_request(call: ProxyCall) -> None:
    time.sleep(0.3)  # answers stay correct, only late: the run is interrupted, not failed


EVERY_REQUEST_SLOW = Fault("every-request-slow", "every request is answered 0.3 s late", ("REST-040",),
                           on_request=_delay_every_request)


def test_run_timeout_says_interrupted_even_when_every_case_that_ran_passed(pytester: pytest.Pytester) -> None:
    with EmbeddedServer() as server, FaultProxy(server.base_url, [EVERY_REQUEST_SLOW]) as proxy:
        # Every exchange takes 0.3 s, so the 15 cases cannot all start within the 2 s --run-timeout
        # (each case sends at least one request), whatever the machine's speed.
        result = pytester.runpytest_subprocess(*BUNDLED, str(SUITES / "rest-crud.yaml"), "--imgconf-target", proxy.base_url,
                                               "--imgconf-request-timeout", "10", "--imgconf-run-timeout", "2", "-p", "no:cacheprovider",
                                               "--junitxml", "reports/junit.xml", timeout=240)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert summary["outcome"] == "interrupted"
    assert summary["interrupted"]["reason"].startswith("--run-timeout 2 s")
    assert summary["interrupted"]["cases_run"] < summary["interrupted"]["cases_total"] == 15
    props = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "reports" / "junit.xml").getroot().iter("property")}
    assert props["imgconf_outcome"] == "interrupted"


def test_a_complete_run_has_no_interruption(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*BUNDLED, str(SUITES / "rest-crud.yaml"), "-k", "capability", "-p", "no:cacheprovider", timeout=240)
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    # -k makes it a selection: PARTIAL, never PASS (issue 12), and still not interrupted
    assert result.ret == 0 and summary["outcome"] == "partial" and "interrupted" not in summary

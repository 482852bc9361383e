"""Issue 9 item 9: local input limits — YAML alias bombs, oversized files, a FHIRPath that never ends.

The attacks: alias bombs in a suite, ``--baseline`` or ``--vars-file`` reached MemoryError at 3+ GB;
a 50 MB suite took 6.7 GB in ``imgconf list``; ``(1).repeat($this + 1)`` never ended. Each is now
refused or stopped with a clear message (file:line for YAML), quickly; legal inputs still load.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from hostile_support import IMGCONF
from suite_roots import roots
from imgconf.baseline import BaselineError, load_baseline
from imgconf.checks.base import CheckContext
from imgconf.checks.fhirpath import check_fhirpath
from imgconf.fhirpath import MAX_REPEAT_ITEMS, EvaluationLimitExceeded, evaluate
from imgconf.localinput import MAX_SUITE_BYTES, LocalInputError, safe_yaml
from imgconf.results import Verdict
from imgconf.runcontrol import RunControlError, load_vars_file
from imgconf.suite.loader import SuiteError, load_suite

# Ten levels of nine aliases each: 9**10 (3.5 billion) leaves once expanded; a few hundred bytes on disk.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)
BOMB_LINE = 5  # the first node whose expansion passes the bound (9**5 leaves, line 5: "e: &e [*d, …]")

SUITE_HEAD = """suite: input limits
id: input-limits
area: rest
requirements: [REST-092]
level: SHALL
"""


def _suite_case(expr: str) -> str:
    return SUITE_HEAD + f"""cases:
  - name: capability statement
    request: {{method: GET, path: metadata}}
    expect:
      status: 200
      fhirpath:
        - expr: "{expr}"
"""


def test_an_alias_bomb_in_a_suite_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(SUITE_HEAD + BOMB)
    started = time.monotonic()
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert time.monotonic() - started < 5
    assert caught.value.line is not None and 2 <= caught.value.line <= len((SUITE_HEAD + BOMB).splitlines())
    assert "alias bomb" in str(caught.value) and str(path) in str(caught.value)


def test_imgconf_list_refuses_an_alias_bomb_and_an_oversized_suite(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(SUITE_HEAD + BOMB)
    big = tmp_path / "big.yaml"
    big.write_text(SUITE_HEAD + "description: |\n" + ("  " + "x" * 1000 + "\n") * (MAX_SUITE_BYTES // 1000 + 10))
    done = subprocess.run([*IMGCONF, "list", "--suites", str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "400"})
    out = " ".join(done.stdout.split())  # rich wraps long lines (inside a word, too, on a narrow terminal)
    assert done.returncode == 2
    assert "alias bomb" in out and "bomb.yaml:" in out
    assert "more than the 2 MB" in out and "big.yaml" in out


def test_small_aliases_and_recursive_ones() -> None:
    assert safe_yaml(Path("ok.yaml"), "a: &a {k: v}\nb: *a\nc: [*a, *a]\n") == {"a": {"k": "v"}, "b": {"k": "v"}, "c": [{"k": "v"}] * 2}
    with pytest.raises(LocalInputError, match="refers to itself"):
        safe_yaml(Path("loop.yaml"), "a: &a [x, *a]\n")
    with pytest.raises(LocalInputError) as caught:
        safe_yaml(Path("b.yaml"), BOMB)
    assert caught.value.line == BOMB_LINE and str(caught.value).startswith(f"b.yaml:{BOMB_LINE}: ")


def test_baseline_alias_bomb_and_size_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "baseline.yaml"
    bomb.write_text(BOMB)
    with pytest.raises(BaselineError, match=f"baseline.yaml:{BOMB_LINE}: YAML aliases"):
        load_baseline(bomb)
    big = tmp_path / "big.json"
    with big.open("w") as fh:
        fh.truncate(17 * 1024 * 1024)
    with pytest.raises(BaselineError, match="more than the 16 MB"):
        load_baseline(big)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BaselineError, match="not valid JSON"):
        load_baseline(deep)
    legal = tmp_path / "ok.yaml"
    legal.write_text("known_failures: []\n")
    assert load_baseline(legal) == []


def test_vars_file_alias_bomb_and_size_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "vars.yaml"
    bomb.write_text(BOMB)
    with pytest.raises(RunControlError, match=f"vars.yaml:{BOMB_LINE}: YAML aliases"):
        load_vars_file(bomb)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (1024 * 1024 + 10) + "\n")
    with pytest.raises(RunControlError, match="more than the 1 MB"):
        load_vars_file(big)
    ok = tmp_path / "ok.yaml"
    ok.write_text("base_id: &id abc\nfixture.patient/jones.id: *id\n")
    assert load_vars_file(ok) == {"base_id": "abc", "fixture.patient/jones.id": "abc"}


def test_a_runaway_repeat_is_stopped_with_a_clear_message() -> None:
    started = time.monotonic()
    with pytest.raises(EvaluationLimitExceeded, match=f"exceeded {MAX_REPEAT_ITEMS:,} items in repeat"):
        evaluate("(1).repeat($this + 1)", {})
    assert time.monotonic() - started < 10
    # the legal use: repeat over a finite tree keeps fhirpathpy's semantics
    tree = {"resourceType": "Questionnaire", "item": [{"linkId": "1", "item": [{"linkId": "1.1"}, {"linkId": "1.2"}]}]}
    assert evaluate("Questionnaire.repeat(item).linkId", tree) == ["1", "1.1", "1.2"]
    assert evaluate("(1).repeat($this)", {}) == [1]


def test_a_runaway_repeat_in_a_check_is_an_error_not_an_accusation() -> None:
    import httpx

    from imgconf.client import HttpResult
    from imgconf.results import Exchange, Level
    from imgconf.checks.fhirpath import FhirPathExpectation
    from imgconf.suite.model import Request

    body = json.dumps({"resourceType": "Patient", "id": "p"}).encode()
    response = HttpResult(200, httpx.Headers(), body, "http://x/fhir/Patient/p",
                          Exchange("GET", "http://x", {}, None, 200, {}, None, 1.0))
    ctx = CheckContext(response=response, request=Request("GET", "x"), exchange=0, requirements=("REST-040",),
                       level=Level.SHALL, variables={})
    results = check_fhirpath((FhirPathExpectation(expr="(1).repeat($this + 1).exists()"),
                              FhirPathExpectation(expr="id = 'p'")), ctx)
    assert [r.verdict for r in results] == [Verdict.ERROR, Verdict.PASS]
    assert "evaluation exceeded" in results[0].reason


@pytest.mark.slow
def test_a_suite_with_a_runaway_expression_runs_to_its_end(pytester: pytest.Pytester) -> None:
    suite = pytester.path / "runaway.yaml"
    suite.write_text(_suite_case("(1).repeat($this + 1).exists()"))
    started = time.monotonic()
    result = pytester.runpytest_subprocess(*roots(suite), "-p", "no:cacheprovider", timeout=240)
    assert time.monotonic() - started < 120
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    check = next(c for c in summary["checks"] if c["check"] == "fhirpath")
    assert check["verdict"] == "error" and "evaluation exceeded" in check["reason"]
    assert result.ret != 0

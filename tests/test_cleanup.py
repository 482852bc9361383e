"""Issue 9 item 10: after a hard stop (SIGKILL) `imgconf cleanup` removes what the run left.

Real processes: `imgconf serve` as the target, `imgconf run` killed with SIGKILL once it has created
data, then `imgconf cleanup` — the target ends with zero resources tagged by imgconf.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cli_support import imgconf_in_process

from hostile_support import IMGCONF, RUN_TAG_SYSTEM, imgconf_serve, tagged_left
from imgconf.paths import suites_dir

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

WRITES = str(suites_dir() / "imagingstudy" / "search-basic.yaml")


def _kill_once_data_exists(tmp_path: Path, base: str) -> str:
    """Start `imgconf run`, SIGKILL it as soon as the target holds data tagged with its run tag."""
    proc = subprocess.Popen([*IMGCONF, "run", "--target", base, "--suites", WRITES, "--reports-dir", str(tmp_path / "reports")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / "reports" / ".imgconf-runs.json"
    tag = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if tag is None and state.exists():
                runs = json.loads(state.read_text() or "{}").get("runs") or []
                tag = runs[-1]["tag"] if runs else None
            if tag and sum(tagged_left(base, tag).values()) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate(timeout=10)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert tag is not None
    assert f"run tag: {RUN_TAG_SYSTEM}|{tag}" in out  # printed at the start, before any case
    return tag


def test_sigkilled_run_is_cleaned_up_by_its_run_tag(tmp_path: Path) -> None:
    with imgconf_serve() as base:
        tag = _kill_once_data_exists(tmp_path, base)
        before = tagged_left(base, tag)
        assert sum(before.values()) >= 3  # the attack: a hard stop leaves data behind
        note = json.loads((tmp_path / "reports" / ".imgconf-runs.json").read_text())["runs"][-1]
        assert note["target"] == base and note["read_only"] is False and note["finished"] is False

        # No --target: the noted target is used.
        done = subprocess.run([*IMGCONF, "cleanup", "--run-tag", tag, "--reports-dir", str(tmp_path / "reports")],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 left" in done.stdout
        assert tagged_left(base) == {}


def test_all_imgconf_finds_run_tags_on_the_target_and_spares_other_data(tmp_path: Path) -> None:
    with imgconf_serve() as base:
        untagged = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "name": [{"family": "Keep"}]}).headers["Location"]
        other_tag = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "meta": {"tag": [
            {"system": "urn:other", "code": "x"}]}}).headers["Location"]
        tag = _kill_once_data_exists(tmp_path, base)
        assert tagged_left(base, tag)
        recent = subprocess.run([*IMGCONF, "cleanup", "--target", base, "--all-imgconf"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert "left alone" in recent.stdout and tagged_left(base, tag)  # younger than --min-age: maybe running

        done = subprocess.run([*IMGCONF, "cleanup", "--target", base, "--all-imgconf", "--min-age", "0"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert tagged_left(base) == {}
        for location in (untagged, other_tag):
            path = location.split("/fhir/", 1)[1].split("/_history")[0]
            assert httpx.get(f"{base}/{path}").status_code == 200


def test_cleanup_refuses_to_guess(tmp_path: Path) -> None:
    # usage errors and a read-only note: no process boundary involved, run in this process (tests/cli_support.py)
    nothing = imgconf_in_process("cleanup", cwd=tmp_path)
    assert nothing.returncode == 2 and "--run-tag" in nothing.stdout
    unknown = imgconf_in_process("cleanup", "--run-tag", "abc", cwd=tmp_path)
    assert unknown.returncode == 2 and "--target" in unknown.stdout


def test_read_only_run_is_left_alone(tmp_path: Path) -> None:
    from imgconf import runstate

    runstate.record_start(tmp_path / "reports", "ro1", "http://127.0.0.1:9/fhir", read_only=True, embedded=False)
    done = imgconf_in_process("cleanup", "--run-tag", "ro1", "--reports-dir", str(tmp_path / "reports"), cwd=tmp_path)
    assert "read-only run" in done.stdout

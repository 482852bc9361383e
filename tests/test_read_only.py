"""--read-only: only cases that write nothing run, fixtures are existing data named with --var, and
a recording proxy proves that not one POST/PUT/PATCH/DELETE reaches the target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgconf.client import TargetClient, is_write
from imgconf.faults import FaultProxy
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.loader import load_suite
from suite_roots import BUNDLED

pytestmark = pytest.mark.slow
SEARCH = suites_dir() / "imagingstudy" / "search-basic.yaml"
CRUD = suites_dir() / "imagingstudy" / "rest-crud.yaml"
PRELOAD_TAG = "preloaded-data"


@pytest.fixture()
def server_with_data() -> Iterator[tuple[EmbeddedServer, dict[str, str]]]:
    """A server that already holds the data a read-only user points the harness at."""
    with EmbeddedServer() as server:
        # Loaded the way a normal run loads fixtures, but never torn down: it is "existing data".
        loader = TargetSession(SessionOptions(target=server.base_url, run_id=PRELOAD_TAG))
        suite = load_suite(SEARCH, fixture_library=library(fixtures_dir()))
        loader.fixtures.ensure(suite.fixtures)
        bindings = {f"fixture.{key}.id": resource["id"] for key, resource in loader.fixtures.loaded.items()}
        loader.client.close()
        yield server, bindings


def writes_in(log: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return [entry for entry in log if is_write(entry[0], entry[1])]


def test_read_only_run_sends_no_writes_and_judges_existing_data(
    pytester: pytest.Pytester, server_with_data: tuple[EmbeddedServer, dict[str, str]]
) -> None:
    server, bindings = server_with_data
    vars_file = pytester.path / "existing-data.yaml"
    vars_file.write_text("\n".join(f"{k}: {v}" for k, v in bindings.items()))  # a read-only data description
    with FaultProxy(server.base_url, []) as proxy:
        result = pytester.runpytest_subprocess(
            *BUNDLED, str(SEARCH), str(CRUD), "--imgconf-target", proxy.base_url, "--imgconf-read-only", f"--imgconf-vars-file={vars_file}",
            "-p", "no:cacheprovider",
        )
        log = list(proxy.state.log)
    assert log and writes_in(log) == [], writes_in(log)
    outcomes = result.parseoutcomes()
    assert outcomes.get("deselected", 0) >= 3  # the CRUD cases that create, update or delete
    data = json.loads((pytester.path / "reports" / "summary.json").read_text())
    verdicts = {c["case"]: c["verdict"] for c in data["cases"]}
    assert verdicts["patient by bare id"] == "pass" and verdicts["modality by code"] == "pass"
    assert sum(v == "pass" for v in verdicts.values()) >= 15
    assert data["run"]["options"]["read_only"] is True
    assert not any(c["verdict"] == "error" for c in data["cases"]), [c for c in data["cases"] if c["verdict"] == "error"]


def test_unbound_fixtures_skip_with_the_var_to_pass_and_still_no_writes(
    pytester: pytest.Pytester, server_with_data: tuple[EmbeddedServer, dict[str, str]]
) -> None:
    server, _ = server_with_data
    with FaultProxy(server.base_url, []) as proxy:
        result = pytester.runpytest_subprocess(*BUNDLED, str(SEARCH), "--imgconf-target", proxy.base_url, "--imgconf-read-only", "-p", "no:cacheprovider", "-rs")
        log = list(proxy.state.log)
    assert writes_in(log) == []
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*read-only: bind the suite*s fixtures to existing data: --var fixture.imagingstudy/ct-chest.id=<id>*"])


def test_the_client_refuses_writes_in_read_only_mode(server_with_data: tuple[EmbeddedServer, dict[str, str]]) -> None:
    from imgconf.client import TargetUnreachable

    server, _ = server_with_data
    with FaultProxy(server.base_url, []) as proxy:
        client = TargetClient(proxy.base_url, read_only=True)
        try:
            assert client.send("POST", "ImagingStudy/_search", form=[("status", "available")]).status == 200
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                with pytest.raises(TargetUnreachable, match="read-only run"):
                    client.send(method, "ImagingStudy/x" if method != "POST" else "ImagingStudy", json_body={"resourceType": "ImagingStudy"})
        finally:
            client.close()
        assert writes_in(proxy.state.log) == []


def test_bad_var_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = pytester.runpytest_subprocess(*BUNDLED, str(SEARCH), "--imgconf-var", "no-equals-sign", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*expected NAME=VALUE*"])

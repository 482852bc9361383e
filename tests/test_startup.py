"""Start-up cost of everyday commands (issue 11: `imgconf --help` and `imgconf list` in < 0.3 s).

Nothing here is timed (a shared machine makes timings flaky; benchmarks/startup.py measures them):
the guard is WHAT the light paths import. The heavy stack (HTTP client, FHIR models, schema and
FHIRPath engines, the ASGI server, DICOM) is what made `imgconf --help` take 1.4 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imgconf.paths import suites_dir
from imgconf.suite.discovery import discover

HEAVY = ("httpx", "fhir", "fhir_core", "pydantic", "jsonschema", "fhirpathpy", "antlr4", "starlette", "uvicorn",
         "lxml", "pydicom", "yaml", "pytest", "jinja2")

# Runs one imgconf command in a fresh interpreter and prints, as JSON, which heavy packages it imported.
PROBE = """
import json, sys
from imgconf.cli import app
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["imgconf", *json.loads(sys.argv[1])]
try:
    app()
except SystemExit:
    pass
print("\\nPROBE" + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
"""


def heavy_imports(args: list[str], cache: Path) -> list[str]:
    env = {**os.environ, "IMGCONF_CACHE_DIR": str(cache), "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    marker = done.stdout.rpartition("\nPROBE")[2]
    assert marker.startswith("["), done.stdout + done.stderr
    return list(json.loads(marker))


def imgconf(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    """``imgconf ARGS`` in this process (the cache lives on disk, so a listing here is what a new process would
    see); what a fresh interpreter imports is the subject of the PROBE / LIGHT_PATHS children alone."""
    from typer.testing import CliRunner

    from imgconf.cli import app

    done = CliRunner().invoke(app, args, env={"IMGCONF_CACHE_DIR": str(cache), "COLUMNS": "200"})
    return subprocess.CompletedProcess(["imgconf", *args], done.exit_code, done.stdout, done.stderr)


HELP_COMMANDS = [["--help"], ["--version"], ["run", "--help"], ["list", "--help"]]

# One fresh interpreter for every light path, in this order: import the CLI; run each help/version command; import
# the pytest plugin. What is loaded only grows, so each record holds everything up to that step: an empty record
# clears that step (and every one before it); the plugin's record is the plugin's own once the CLI steps are clean.
LIGHT_PATHS = """
import json, sys
heavy = set(json.loads(sys.argv[2]))
def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & heavy)
records = {}
import imgconf.cli
records["import imgconf.cli"] = loaded()
for args in json.loads(sys.argv[1]):
    sys.argv = ["imgconf", *args]
    try:
        imgconf.cli.app()
    except SystemExit:
        pass
    records[" ".join(args)] = loaded()
import imgconf.plugin
records["import imgconf.plugin"] = loaded()
print("\\nPROBE" + json.dumps(records))
"""


@pytest.fixture(scope="module")
def light_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    env = {**os.environ, "IMGCONF_CACHE_DIR": str(tmp_path_factory.mktemp("cache")), "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-c", LIGHT_PATHS, json.dumps(HELP_COMMANDS), json.dumps(HEAVY)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    marker = done.stdout.rpartition("\nPROBE")[2]
    assert marker.startswith("{"), done.stdout + done.stderr
    records: dict[str, list[str]] = json.loads(marker)
    return records


def test_importing_the_cli_imports_none_of_the_heavy_stack(light_paths: dict[str, list[str]]) -> None:
    assert light_paths["import imgconf.cli"] == []


def test_the_pytest_plugin_loads_nothing_heavy_beyond_pytest(light_paths: dict[str, list[str]]) -> None:
    """pytest loads imgconf.plugin (pytest11 entry point) in every project where imgconf is installed."""
    assert all(light_paths[" ".join(args)] == [] for args in HELP_COMMANDS), light_paths  # nothing before it counts
    assert light_paths["import imgconf.plugin"] == ["pytest"]


@pytest.mark.parametrize("args", HELP_COMMANDS)
def test_help_and_version_import_none_of_the_heavy_stack(args: list[str], light_paths: dict[str, list[str]]) -> None:
    assert light_paths[" ".join(args)] == [], light_paths


def test_list_from_the_cache_imports_none_of_the_heavy_stack_and_lists_the_same(tmp_path: Path) -> None:
    bundled = discover([suites_dir()])[:2]  # two real suites keep the test quick; any would do
    args = ["list", "--json", *(a for path in bundled for a in ("--suites", str(path)))]
    cache = tmp_path / "cache"
    cold = imgconf(args, cache)  # loads and validates the suites, remembers their rows
    assert cold.returncode == 0, cold.stdout + cold.stderr
    assert [s["file"] for s in json.loads(cold.stdout)] == [str(p) for p in bundled]
    index = cache / "suite-index.json"
    for _ in range(3):  # a listing that found the package changed (someone editing imgconf/) reloads: try again
        written = index.stat().st_mtime_ns
        heavy = heavy_imports(args, cache)
        if index.stat().st_mtime_ns == written:  # answered from the cache
            break
    assert heavy == []
    warm = imgconf(args, cache)
    assert warm.returncode == 0 and warm.stdout == cold.stdout


def test_a_suite_edited_after_listing_is_validated_again(tmp_path: Path) -> None:
    """The cache never hides an error: a suite whose bytes changed is loaded by the real loader."""
    suite = tmp_path / "mine.yaml"
    good = "suite: Mine\narea: imagingstudy\nrequirements: [IS-053]\ncases:\n  - name: x\n    request: {path: /metadata}\n"
    suite.write_text(good)
    cache = tmp_path / "cache"
    first = imgconf(["list", "--json", "--suites", str(suite)], cache)
    assert first.returncode == 0, first.stdout + first.stderr
    assert [s["id"] for s in json.loads(first.stdout)] == ["mine"]
    suite.write_text(good.replace("{path: /metadata}", "{path: [1]}"))  # schema error on line 6
    second = imgconf(["list", "--suites", str(suite)], cache)
    assert second.returncode == 2
    assert f"{suite}:6" in second.stdout.replace("\n", "")
    suite.write_text(good.replace("name: x", "name: renamed"))
    third = imgconf(["list", "--json", "--suites", str(suite)], cache)
    assert [c["name"] for c in json.loads(third.stdout)[0]["cases"]] == ["renamed"]


def test_a_suite_that_fails_to_load_is_never_remembered(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("suite: Bad\narea: imagingstudy\nrequirements: [IS-053]\ncases:\n  - name: x\n    request: {path: [1]}\n")
    cache = tmp_path / "cache"
    for _ in range(2):  # the second listing shows the error too: it loaded the suite again
        result = imgconf(["list", "--suites", str(bad)], cache)
        assert result.returncode == 2 and f"{bad}:6" in result.stdout.replace("\n", "")
    assert not (cache / "suite-index.json").exists()


def test_a_damaged_cache_entry_is_loaded_again_not_trusted(tmp_path: Path) -> None:
    suite = tmp_path / "mine.yaml"
    suite.write_text("suite: Mine\narea: imagingstudy\nrequirements: [IS-053]\ncases:\n  - name: x\n    request: {path: /metadata}\n")
    cache = tmp_path / "cache"
    first = imgconf(["list", "--json", "--suites", str(suite)], cache)
    assert first.returncode == 0, first.stdout + first.stderr
    index = cache / "suite-index.json"
    data = json.loads(index.read_text())
    for entry in data["suites"].values():
        entry["row"] = {"id": ["not", "a", "string"]}
    index.write_text(json.dumps(data))
    again = imgconf(["list", "--json", "--suites", str(suite)], cache)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert all(e["row"]["id"] == "mine" for e in json.loads(index.read_text())["suites"].values())

"""The check-kind registry: a new kind is one module, found the way a plugin's kind is found.

The kind below lives in a module written to tmp_path and declared by an ``imgconf.checks`` entry
point of a distribution on sys.path: nothing in imgconf is edited, yet the loader validates and
parses its YAML (with file:line errors) and the engine judges it against the reference server.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from case_support import run_named_case

from imgconf.checks import registry
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir
from imgconf.results import Verdict
from imgconf.suite.loader import SuiteError, load_suite, suite_schema

KIND_MODULE = "imgconf_entry_count_kind"

# The whole of a third-party kind: its spec, how it parses, how it runs, its schema and its place.
KIND_SOURCE = '''
"""A searchset holds between ``min`` and ``max`` match entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imgconf.checks.base import CheckContext
from imgconf.checks.registry import CheckKind, ParseContext, SpecError, register, waits_for
from imgconf.results import CheckResult


@dataclass(frozen=True)
class EntryCount:
    min: int = 0
    max: int | None = None


def parse(raw: dict[str, Any], _ctx: ParseContext) -> EntryCount:
    spec = EntryCount(min=raw.get("min", 0), max=raw.get("max"))
    if spec.max is not None and spec.max < spec.min:
        raise SpecError(f"entry_count: max {spec.max} is below min {spec.min}", ("max",))
    return spec


def run(spec: EntryCount, ctx: CheckContext) -> list[CheckResult]:
    entries = ctx.response.json.get("entry") or []
    count = sum(1 for e in entries if (e.get("search") or {}).get("mode", "match") == "match")
    ok = count >= spec.min and (spec.max is None or count <= spec.max)
    wanted = f"{spec.min}..{spec.max if spec.max is not None else 'any'}"
    return [ctx.result("entry-count", ok, f"{count} match entries, expected {wanted}", detail=wanted)]


ENTRY_COUNT = register(CheckKind[EntryCount](
    key="entry_count",
    schema={"type": "object", "additionalProperties": False,
            "properties": {"min": {"type": "integer", "minimum": 0}, "max": {"type": "integer", "minimum": 0}}},
    parse=parse,
    run=run,
    order=1000,
    awaiting=waits_for("entry-count", "match entry count"),
))
'''

SUITE = """\
suite: entry counts
id: entry-counts
area: imagingstudy
requirements: [REST-046]
fixtures: [imagingstudy/ct-chest, imagingstudy/mr-brain]
cases:
  - name: enough matches
    request: {path: ImagingStudy, params: {patient: "${fixture.patient/jones.id}"}}
    expect:
      status: 200
      resource: Bundle
      entry_count: {min: 1}
  - name: impossibly many matches
    request: {path: ImagingStudy, params: {patient: "${fixture.patient/jones.id}"}}
    expect:
      status: 200
      entry_count: {min: 100000}
  - name: no searchset at all
    request: {path: ImagingStudy/no-such-study}
    expect:
      status: 200
      entry_count: {min: 1}
"""


@pytest.fixture
def plugin_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.CheckKind[Any]]:
    """The kind module plus a distribution declaring it under the ``imgconf.checks`` entry point group."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{KIND_MODULE}.py").write_text(KIND_SOURCE, encoding="utf-8")
    dist = site / "imgconf_entry_count-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: imgconf-entry-count\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[imgconf.checks]\nentry_count = {KIND_MODULE}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    registry.kinds()  # the built-ins first, as in a run
    registry.load_plugins()
    try:
        kind = next(k for k in registry.kinds() if k.key == "entry_count")
        yield kind
    finally:
        registry.unregister("entry_count")
        sys.modules.pop(KIND_MODULE, None)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "entry-counts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_plugin_kind_is_loaded_and_judged_against_the_reference_server(
    plugin_kind: registry.CheckKind[Any], proxied: tuple[Any, Any], tmp_path: Path
) -> None:
    assert plugin_kind.run.__module__ == KIND_MODULE
    suite = load_suite(_write(tmp_path, SUITE), fixture_library=library(fixtures_dir()))
    assert suite.cases[0].steps[0].expect.spec("entry_count").min == 1

    enough = run_named_case(proxied, suite, "enough matches", [])
    counted = [c for c in enough.checks if c.check == "entry-count"]
    assert [c.verdict for c in counted] == [Verdict.PASS], counted
    assert enough.verdict is Verdict.PASS

    too_many = run_named_case(proxied, suite, "impossibly many matches", [])
    counted = [c for c in too_many.checks if c.check == "entry-count"]
    assert [c.verdict for c in counted] == [Verdict.FAIL] and "expected 100000..any" in counted[0].reason
    assert too_many.verdict is Verdict.FAIL

    # One cause, one verdict: a 404 for a search fails the status; the new kind is not judged.
    missing = run_named_case(proxied, suite, "no searchset at all", [])
    verdicts = {c.check: c.verdict for c in missing.checks}
    assert verdicts == {"status": Verdict.FAIL, "entry-count": Verdict.NOT_JUDGED}


def test_a_plugin_kind_reports_its_yaml_errors_with_file_and_line(plugin_kind: registry.CheckKind[Any], tmp_path: Path) -> None:
    bad_bounds = SUITE.replace("entry_count: {min: 1}\n  - name: impossibly", "entry_count:\n        min: 5\n        max: 2\n"
                               "  - name: impossibly")
    with pytest.raises(SuiteError) as parsed:
        load_suite(_write(tmp_path, bad_bounds), fixture_library=library(fixtures_dir()))
    assert parsed.value.line == 14 and "max 2 is below min 5" in parsed.value.message

    unknown_key = SUITE.replace("entry_count: {min: 100000}", "entry_count: {least: 3}")
    with pytest.raises(SuiteError) as schema:
        load_suite(_write(tmp_path, unknown_key), fixture_library=library(fixtures_dir()))
    assert schema.value.line == 17 and "unknown key 'least'" in schema.value.message and "max, min" in schema.value.message


def test_without_the_plugin_its_key_is_an_unknown_expectation(tmp_path: Path) -> None:
    with pytest.raises(SuiteError) as refused:
        load_suite(_write(tmp_path, SUITE), fixture_library=library(fixtures_dir()))
    assert refused.value.line == 12 and "unknown key 'entry_count'" in refused.value.message
    assert "fhirpath" in refused.value.message  # the allowed keys come from the registered kinds


def test_the_schema_is_assembled_from_the_built_in_kinds_in_their_order() -> None:
    keys = [k.key for k in registry.kinds()]
    builtins = ["structure", "rules", "image_urls", "fhirpath", "search", "attachment", "oauth_error", "token_response",
                "scopes", "xml"]
    assert [k for k in keys if k in builtins] == builtins  # the order checks ran in before the registry
    properties = suite_schema()["$defs"]["expect"]["properties"]
    assert set(builtins) | {"status", "headers", "resource", "on_status"} <= set(properties)
    assert properties["fhirpath"] is next(k for k in registry.kinds() if k.key == "fhirpath").schema


def test_a_kind_cannot_take_a_core_key_or_another_modules_key() -> None:
    structure = next(k for k in registry.kinds() if k.key == "structure")
    with pytest.raises(ValueError, match="judges status itself"):
        registry.register(registry.CheckKind[bool](key="status", schema={}, parse=registry.parse_flag,
                                                   run=lambda _s, _c: [], order=1, awaiting=registry.waits_for("x", "y")))
    with pytest.raises(ValueError, match=r"declared by imgconf\.checks\.structure"):
        registry.register(registry.CheckKind[bool](key="structure", schema={}, parse=registry.parse_flag,
                                                   run=lambda _s, _c: [], order=1, awaiting=registry.waits_for("x", "y")))
    assert next(k for k in registry.kinds() if k.key == "structure") is structure


def _imports(module: str) -> set[str]:
    path = Path(__file__).resolve().parents[1] / "imgconf" / "checks" / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_search_and_search_results_share_types_without_importing_each_other_back() -> None:
    assert "imgconf.checks.search" not in _imports("search_results")
    assert "imgconf.checks.search" not in _imports("search_target")
    assert "imgconf.checks.search_results" not in _imports("search_target")
    assert "TYPE_CHECKING" not in Path(registry.__file__).with_name("search_results.py").read_text(encoding="utf-8")

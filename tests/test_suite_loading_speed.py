"""The fast paths of suite loading give the answers of the slow ones they replace.

libyaml reads the suites (PyYAML's pure-Python parser words any error), jsonschema-rs proves a suite
valid (jsonschema reports the first error), FHIRPath is parsed once per expression, and ``--suite X``
peeks at the other files' ids instead of validating them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhirpathpy import compile as fhirpathpy_compile
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser
from suite_roots import roots

from imgconf import fhirpath, fhirpath_cache
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.suite import SuiteError, discover, load_suite, loader
from imgconf.suite.peek import peek_suite_id

BUNDLED = discover([suites_dir()])


def _read(path: Path) -> tuple[Any, dict[Any, int]]:
    return loader._parse_with(yaml.SafeLoader(path.read_text(encoding="utf-8")), path, words_errors=True)


def test_libyaml_reads_every_bundled_suite_as_pyyaml_does_with_the_same_lines() -> None:
    assert len(BUNDLED) >= 20
    for path in BUNDLED:
        assert loader.parse_yaml(path, path.read_text(encoding="utf-8")) == _read(path), path


@pytest.mark.parametrize("text", ["suite: x\na: b: c\n", "suite: x\ncases: [1, 2\n", "suite: x\ncases:\n\t- y\n"])
def test_a_yaml_error_is_worded_by_pyyaml_as_before(tmp_path: Path, text: str) -> None:
    """libyaml words these three differently ("… in this context", "did not find expected …")."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SuiteError) as fast:
        loader.parse_yaml(path, text)
    with pytest.raises(SuiteError) as pure:
        loader._parse_with(yaml.SafeLoader(text), path, words_errors=True)
    assert str(fast.value) == str(pure.value) and fast.value.line is not None


def test_a_nesting_libyaml_cannot_take_is_refused_as_before_not_a_crash(tmp_path: Path) -> None:
    """libyaml recurses in C without a limit: 200,000 levels crash the interpreter unless kept from it."""
    text = "suite: " + "[" * 200_000 + "]" * 200_000 + "\n"
    assert loader._nesting_bound(text) > loader._C_LOADER_MAX_DEPTH
    with pytest.raises(SuiteError, match="YAML nested too deep to read"):
        loader.parse_yaml(tmp_path / "deep.yaml", text)


def test_jsonschema_rs_proves_every_bundled_suite_valid() -> None:
    """Otherwise the fast path would buy nothing: each of these would be validated twice."""
    for path in BUNDLED:
        data, _ = loader.parse_yaml(path, path.read_text(encoding="utf-8"))
        assert loader._proved_valid(data), path


def _suite(**extra: Any) -> dict[str, Any]:
    case: dict[str, Any] = {"name": "c", "request": {"path": "metadata"}, "expect": {"status": [200, 404]}}
    case["expect"].update(extra)
    return {"suite": "S", "area": "rest", "requirements": ["REST-001"], "cases": [case]}


@pytest.mark.parametrize("legal", [
    _suite(on_status={404: {"resource": "OperationOutcome"}}),  # int keys, as YAML reads them
    _suite(headers={"ETag": {"matches": "^W/"}}),
])
def test_a_legal_suite_is_proved_valid(legal: dict[str, Any]) -> None:
    assert loader._proved_valid(legal)
    assert not list(loader._validator(loader.registry.generation()).iter_errors(legal))


@pytest.mark.parametrize("bad", [
    _suite(bogus=1),  # unknown key
    _suite(on_status={404: {"resource": 3}}),
    _suite(headers={"ETag": {"matches": "(?<n>x)"}}),  # an ECMA regex, not a Python one: format "regex" as jsonschema
    {**_suite(), "requirements": "REST-001"},
    {**_suite(), "created": __import__("datetime").date(2024, 1, 1)},  # a YAML date jsonschema-rs cannot take
])
def test_an_invalid_suite_is_not_proved_valid_and_jsonschema_finds_the_error(bad: dict[str, Any]) -> None:
    assert not loader._proved_valid(bad)
    assert list(loader._validator(loader.registry.generation()).iter_errors(bad))


def test_fhirpath_is_parsed_once_per_expression_and_evaluates_as_fhirpathpy(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _count_parses(monkeypatch)
    expression = "Patient.name.where(use = 'official').given.first() & ' ' & Patient.id"
    fhirpath._parsed.cache_clear()
    fhirpath.compile_expression.cache_clear()
    fhirpath.compile_in_bundle.cache_clear()
    compiled = fhirpath.compile_expression(expression)
    fhirpath.compile_in_bundle(expression)
    assert parses == ["x"]  # strict check, fhirpathpy's AST and the in-Bundle variant from one parse
    monkeypatch.undo()  # the parser as it was: fhirpathpy's own compile below parses for real
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"use": "official", "given": ["Ann", "B"]}]}
    assert compiled(patient, {}) == fhirpathpy_compile(expression, fhirpath.R4_MODEL)(patient, {}) == ["Ann p1"]
    with pytest.raises(fhirpath.FhirPathSyntaxError):
        fhirpath.compile_expression("Bundle.entry.(")


def test_peeked_id_is_the_loaded_id_for_every_bundled_suite() -> None:
    fixtures = library(fixtures_dir())
    for path in BUNDLED:
        assert peek_suite_id(path) == load_suite(path, fixture_library=fixtures).id, path


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("a.suite.yaml", "suite: S\ncases: []\n", "a"),
    ("a.yaml", "suite: S\nid: named\n", "named"),
    ("a.yaml", "{suite: S, id: 'flow'}\n", "flow"),
    ("a.yaml", "suite: S\nid: one\nid: two\n", "two"),
    ("a.yaml", "suite: S\nid: 3\n", None),
    ("a.yaml", "suite: S\nid: [x\n", None),
])
def test_peek_suite_id(tmp_path: Path, name: str, text: str, expected: str | None) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert peek_suite_id(path) == expected


@pytest.mark.slow  # two pytest processes
def test_suite_selection_does_not_validate_the_other_suites(pytester: pytest.Pytester) -> None:
    good = (suites_dir() / "rest" / "capability-declarations.yaml").read_text(encoding="utf-8")
    (pytester.path / "good.yaml").write_text(good, encoding="utf-8")
    (pytester.path / "broken.yaml").write_text(textwrap.dedent("""\
        suite: Broken
        area: rest
        requirements: [REST-001]
        cases: [{name: x, request: {path: metadata}, expect: {bogus: 1}}]
        """), encoding="utf-8")
    good_id = peek_suite_id(pytester.path / "good.yaml")
    selected = pytester.runpytest_subprocess(*roots(pytester.path), "--imgconf-suite", str(good_id), "--collect-only", "-q",
                                             "-p", "no:cacheprovider")
    assert selected.ret == 0, selected.stdout.str()[-2000:]
    assert "broken" not in selected.stdout.str()
    everything = pytester.runpytest_subprocess(*roots(pytester.path), "--collect-only", "-q", "-p", "no:cacheprovider")
    everything.stdout.fnmatch_lines(["*malformed suite*broken.yaml:4*unknown key 'bogus'*"])


# -- FHIRPath ASTs remembered between runs (imgconf.fhirpath_cache) ----------------------------------------

def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parses: list[str] = []
    original = FHIRPathParser.__init__

    def counting(self: FHIRPathParser, *args: Any, **kwargs: Any) -> None:
        parses.append("x")
        original(self, *args, **kwargs)

    monkeypatch.setattr(FHIRPathParser, "__init__", counting)
    return parses


@pytest.fixture
def ast_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("IMGCONF_CACHE_DIR", str(tmp_path))
    fhirpath_cache.save()  # what this test process parsed so far goes where it belongs, not into tmp_path
    fhirpath_cache.forget()
    fhirpath._parsed.cache_clear()
    yield tmp_path / fhirpath_cache.CACHE_FILE
    fhirpath_cache.forget()
    fhirpath._parsed.cache_clear()


EXPRESSION = "Bundle.entry.resource.where(resourceType = 'ImagingStudy').series.count() > 1"


def _next_process() -> None:
    """What a new process sees: the file, nothing in memory."""
    fhirpath_cache.save()
    fhirpath_cache.forget()
    fhirpath._parsed.cache_clear()


def test_a_parsed_expression_is_read_back_by_the_next_run_without_parsing(
        ast_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _count_parses(monkeypatch)
    first = fhirpath._parsed(EXPRESSION)
    _next_process()
    assert ast_cache.is_file() and parses == ["x"]
    assert fhirpath._parsed(EXPRESSION) == first and parses == ["x"]  # from the file
    study = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ImagingStudy", "series": [{}, {}]}}]}
    assert fhirpath.compile_expression(EXPRESSION)(study, {}) == [True]


def test_the_file_is_not_used_when_what_makes_an_ast_has_changed(ast_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _count_parses(monkeypatch)
    fhirpath._parsed(EXPRESSION)
    _next_process()
    monkeypatch.setattr(fhirpath_cache, "fingerprint", lambda: "another fhirpathpy, or another fhirpath.py")
    fhirpath._parsed(EXPRESSION)
    assert parses == ["x", "x"]


def test_a_malformed_file_or_entry_is_parsed_again(ast_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _count_parses(monkeypatch)
    ast_cache.write_text(json.dumps({"fingerprint": fhirpath_cache.fingerprint(), "asts": {EXPRESSION: {"children": "x"}}}))
    fhirpath._parsed(EXPRESSION)
    fhirpath_cache.forget()  # a new process, this one's AST not saved
    fhirpath._parsed.cache_clear()
    ast_cache.write_text("{not json")
    fhirpath._parsed(EXPRESSION)
    assert parses == ["x", "x"]


def test_an_expression_that_does_not_parse_is_never_remembered(ast_cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(fhirpath.FhirPathSyntaxError, match="column"):
            fhirpath.compile_expression("Bundle.entry.(")
        _next_process()
    assert not ast_cache.exists() or "Bundle.entry.(" not in json.loads(ast_cache.read_text())["asts"]

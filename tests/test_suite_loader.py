"""A malformed suite names the file, the line and what is wrong; a good one loads completely."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from case_support import load_bundled

from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.results import Level
from imgconf.suite import SuiteError, discover, load_suite

GOOD = """\
suite: Example
area: imagingstudy
requirements: [IS-053]
fixtures: [imagingstudy/ct-chest]
cases:
  - name: first
    request: {path: ImagingStudy, params: {modality: [CT, MR]}}
    expect:
      status: 200
      fhirpath:
        - Bundle.type = 'searchset'
        - {expr: "entry.count() >= 0", level: SHOULD, requirement: [REST-040]}
      search: {includes: [imagingstudy/ct-chest]}
    save:
      first_id: {fhirpath: "entry.first().resource.id"}
  - name: second
    level: MAY
    request: {path: "ImagingStudy/${first_id}"}
    expect: {status: [200, 404]}
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(path: Path):
    return load_suite(path, fixture_library=library(fixtures_dir()))


def error_of(tmp_path: Path, text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load(write(tmp_path, text))
    return info.value


def test_good_suite_loads_with_defaults_and_overrides(tmp_path: Path) -> None:
    suite = load(write(tmp_path, GOOD))
    assert suite.id == "suite"
    first, second = suite.cases
    assert first.requirements == ("IS-053",) and first.level is Level.SHALL
    assert second.level is Level.MAY
    assert first.steps[0].request.params == (("modality", "CT"), ("modality", "MR"))
    assert first.steps[0].expect.spec("fhirpath")[1].level is Level.SHOULD
    assert first.steps[0].expect.spec("search").includes == ("imagingstudy/ct-chest",)
    assert first.saves() == {"first_id"}
    assert second.uses_variables() == {"first_id"}
    assert suite.writes is True  # fixtures are written to the target


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("    expect: {status: [200, 404]}", "    expect: {status: [200, 404]"))
    assert err.line is not None and err.line >= 18
    assert "YAML syntax error" in str(err)
    assert str(err).startswith(str(tmp_path / "suite.yaml") + ":")


def test_unknown_key_points_at_the_key(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("      status: 200\n", "      status: 200\n      statuz: 201\n"))
    assert err.line == 10
    assert "unknown key 'statuz'" in err.message and "allowed:" in err.message


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("      status: 200\n", "      status: ok\n"))
    assert err.line == 9
    assert "status" in err.message


def test_bad_fhirpath_is_a_collection_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("Bundle.type = 'searchset'", "Bundle.entry.("))
    assert err.line == 11
    assert "FHIRPath syntax error" in err.message and "Bundle.entry.(" in err.message


def test_trailing_garbage_in_fhirpath_is_rejected(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("Bundle.type = 'searchset'", "Bundle.type searchset"))
    assert "FHIRPath syntax error" in err.message


def test_unknown_requirement_id(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("requirements: [IS-053]", "requirements: [IS-999]"))
    assert err.line == 3
    assert "IS-999" in err.message


def test_malformed_requirement_id(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("requirements: [IS-053]", "requirements: [imaging-1]"))
    assert err.line == 3


def test_variable_used_before_any_case_saves_it(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace('path: "ImagingStudy/${first_id}"', 'path: "ImagingStudy/${nope}"'))
    assert err.line == 18
    assert "${nope}" in err.message


def test_fixture_not_declared_by_the_suite(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace('path: "ImagingStudy/${first_id}"', 'path: "ImagingStudy/${fixture.imagingstudy/mr-brain.id}"'))
    assert "imagingstudy/mr-brain" in err.message


def test_unknown_fixture(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("fixtures: [imagingstudy/ct-chest]", "fixtures: [imagingstudy/nope]"))
    assert err.line == 4 and "unknown fixture" in err.message


def test_duplicate_case_names(tmp_path: Path) -> None:
    err = error_of(tmp_path, GOOD.replace("name: second", "name: first"))
    assert "duplicate case name" in err.message and err.line == 16


def test_request_and_steps_are_exclusive(tmp_path: Path) -> None:
    text = GOOD.replace("  - name: second\n", "  - name: second\n    steps: [{request: {path: metadata}}]\n")
    err = error_of(tmp_path, text)
    assert err.line == 16


def test_empty_file(tmp_path: Path) -> None:
    err = error_of(tmp_path, "")
    assert "empty" in err.message


def test_every_bundled_suite_loads() -> None:
    paths = discover([suites_dir()])
    assert paths, "no suites found"
    total = 0
    for path in paths:
        total += len(load_bundled(path).cases)
    assert total >= 25


def test_search_shape_options_load_and_are_type_checked(tmp_path: Path) -> None:
    text = GOOD.replace(
        "search: {includes: [imagingstudy/ct-chest]}",
        "search: {includes: [imagingstudy/ct-chest], self_link: true, order: true, total: true}",
    )
    search = load(write(tmp_path, text)).cases[0].steps[0].expect.spec("search")
    assert search is not None and (search.self_link, search.order, search.total) == (True, True, True)
    plain = load(write(tmp_path, GOOD, "plain.yaml")).cases[0].steps[0].expect.spec("search")
    assert plain is not None and (plain.self_link, plain.order, plain.total) == (False, False, False)
    err = error_of(tmp_path, GOOD.replace("search: {includes: [imagingstudy/ct-chest]}", "search: {order: sometimes}"))
    assert err.line is not None and "order" in str(err)


ALTERNATIVES = GOOD.replace(
    """      status: 200
      fhirpath:
        - Bundle.type = 'searchset'
        - {expr: "entry.count() >= 0", level: SHOULD, requirement: [REST-040]}
      search: {includes: [imagingstudy/ct-chest]}
""",
    """      status: [200, 400]
      on_status:
        200: {search: {includes: [imagingstudy/ct-chest]}}
        400: {resource: OperationOutcome}
""",
)


def test_on_status_branches_load_as_alternatives(tmp_path: Path) -> None:
    expect = load(write(tmp_path, ALTERNATIVES)).cases[0].steps[0].expect
    assert expect.status == (200, 400) and expect.spec("search") is None
    ok, refused = expect.branch(200), expect.branch(400)
    assert ok is not None and ok.spec("search") is not None and ok.spec("search").includes == ("imagingstudy/ct-chest",)
    assert refused is not None and refused.resource == "OperationOutcome" and refused.spec("search") is None
    assert expect.branch(404) is None


def test_on_status_for_a_status_not_expected_is_rejected_at_its_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, ALTERNATIVES.replace("        400: {resource", "        404: {resource"))
    assert err.line == 12 and "404 is not among the expected statuses" in err.message


def test_on_status_branch_cannot_set_its_own_status(tmp_path: Path) -> None:
    err = error_of(tmp_path, ALTERNATIVES.replace("400: {resource: OperationOutcome}", "400: {status: 400, resource: OperationOutcome}"))
    assert err.line == 12 and "cannot set status" in err.message
    err = error_of(tmp_path, ALTERNATIVES.replace("400: {resource: OperationOutcome}", "400: {search: {includes: [imagingstudy/nope]}}"))
    assert "not among the suite's fixtures" in err.message

"""Level discipline (imgconf.suite.levels): the loader rejects a judgement stricter than the catalogue
level of a requirement it cites, with file:line, unless the case says why in level_reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from case_support import load_bundled

from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.results import CaseResult, Level
from imgconf.suite import SuiteError, discover, load_suite

# REST-061 (type modifier) is MAY in the catalogue; the suite default level is SHALL.
MAY_AT_SHALL = """\
suite: Example
area: imagingstudy
requirements: [IS-053]
cases:
  - name: fine
    request: {path: ImagingStudy, params: {modality: CT}}
    expect: {status: 200}
  - name: type modifier
    requirements: [REST-061]
    request: {path: ImagingStudy, params: {"subject:Patient": "123"}}
    expect: {status: 200}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(path: Path):
    return load_suite(path, fixture_library=library(fixtures_dir()))


def test_a_may_requirement_at_shall_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, MAY_AT_SHALL)
    with pytest.raises(SuiteError) as info:
        load(path)
    err = info.value
    assert err.path == path and err.line == 9  # the case's requirements line
    assert str(err).startswith(f"{path}:9: ")
    for part in ("'type modifier'", "SHALL", "REST-061", "MAY", "level_reason"):
        assert part in err.message


def test_the_same_case_with_a_level_reason_loads_and_carries_it(tmp_path: Path) -> None:
    text = MAY_AT_SHALL.replace(
        "    requirements: [REST-061]\n",
        "    requirements: [REST-061]\n    level_reason: a test clause that makes the modifier SHALL\n",
    )
    case = load(write(tmp_path, text)).cases[1]
    assert case.level is Level.SHALL and case.level_reason == "a test clause that makes the modifier SHALL"
    result = CaseResult(suite_id="s", suite="S", case=case.name, nodeid="", area="imagingstudy",
                        requirement=list(case.requirements), level=case.level, level_reason=case.level_reason)
    assert CaseResult.from_dict(result.to_dict()).level_reason == case.level_reason


def test_an_empty_level_reason_is_no_reason(tmp_path: Path) -> None:
    text = MAY_AT_SHALL.replace("    requirements: [REST-061]\n", "    requirements: [REST-061]\n    level_reason: ' '\n")
    with pytest.raises(SuiteError):
        load(write(tmp_path, text))


def test_a_legal_case_loads(tmp_path: Path) -> None:
    text = MAY_AT_SHALL.replace("    requirements: [REST-061]\n", "    requirements: [REST-061]\n    level: MAY\n")
    assert load(write(tmp_path, text)).cases[1].level is Level.MAY


def test_a_lower_level_than_the_catalogue_is_always_allowed(tmp_path: Path) -> None:
    text = MAY_AT_SHALL.replace("    requirements: [REST-061]\n", "    requirements: [REST-061, IS-053]\n    level: INFO\n")
    assert load(write(tmp_path, text)).cases[1].level is Level.INFO


def test_a_qualified_shall_counts_as_shall(tmp_path: Path) -> None:
    # REST-091 is "SHALL (MHD/PDQm)" in the catalogue: a SHALL case may cite it.
    text = MAY_AT_SHALL.replace("    requirements: [REST-061]\n", "    requirements: [REST-091]\n")
    assert load(write(tmp_path, text)).cases[1].requirements == ("REST-091",)


def test_a_context_requirement_at_a_lower_level_forces_the_case_down(tmp_path: Path) -> None:
    # IS-053 is SHALL, IS-035 MAY: citing both at SHALL would file a SHALL failure under a MAY rule.
    text = MAY_AT_SHALL.replace("    requirements: [REST-061]\n", "    requirements: [IS-053, IS-035]\n")
    with pytest.raises(SuiteError, match="IS-035, which the catalogue gives as MAY"):
        load(write(tmp_path, text))


def test_a_check_with_its_own_requirement_is_held_to_it(tmp_path: Path) -> None:
    # The check cites REST-043 (SHOULD) and inherits the case's SHALL: rejected at the check's line.
    text = MAY_AT_SHALL.replace(
        "    expect: {status: 200}\n  - name: type modifier",
        "    expect:\n      status: 200\n      fhirpath:\n        - {expr: \"link.exists()\", requirement: [REST-043]}\n"
        "  - name: type modifier",
    )
    text = text.replace("    requirements: [REST-061]\n", "    requirements: [REST-061]\n    level: MAY\n")
    with pytest.raises(SuiteError) as info:
        load(write(tmp_path, text))
    assert info.value.line == 10 and "fhirpath check `link.exists()`" in info.value.message
    assert "REST-043" in info.value.message and "SHOULD" in info.value.message
    fixed = text.replace("requirement: [REST-043]}", "requirement: [REST-043], level: SHOULD}")
    assert load(write(tmp_path, fixed)).cases[0].steps[0].expect.spec("fhirpath")[0].level is Level.SHOULD


def test_checks_in_status_branches_are_held_to_it_too(tmp_path: Path) -> None:
    text = MAY_AT_SHALL.replace(
        "    expect: {status: 200}\n  - name: type modifier",
        "    expect:\n      status: [200, 400]\n      on_status:\n        200:\n          fhirpath:\n"
        "            - {expr: \"link.exists()\", requirement: [REST-043]}\n  - name: type modifier",
    )
    text = text.replace("    requirements: [REST-061]\n", "    requirements: [REST-061]\n    level: MAY\n")
    with pytest.raises(SuiteError, match="REST-043"):
        load(write(tmp_path, text))


def test_every_suite_in_the_repository_loads() -> None:
    paths = discover([suites_dir()])
    assert len(paths) >= 20
    for path in paths:
        load_bundled(path)  # raises SuiteError (file:line) on any case stricter than what it cites

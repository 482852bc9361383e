"""Stable case ids (issue 11 §4): an optional, unique ``id:`` per case keys baselines, compare and node ids,
so a case's prose name can be reworded freely; suites without ids keep working by name."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from case_support import load_bundled, run_named_case
from suite_roots import roots

from imgconf.baseline import compare, load_baseline
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.results import CaseResult, CheckResult, Level, Verdict
from imgconf.suite import SuiteError, discover, load_suite
from imgconf.suite.model import Suite

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import add_case_ids  # noqa: E402  (tools/ is not a package)

SUITE = """\
suite: Ids
area: imagingstudy
requirements: [IS-053]
cases:
  - name: capability statement
    id: capability
    request: {path: metadata}
    expect: {status: 200}
  - name: read the metadata again
    request: {path: metadata}
    expect: {status: 200}
"""


def load(path: Path) -> Suite:
    return load_suite(path, fixture_library=library(fixtures_dir()))


def write(tmp_path: Path, text: str, name: str = "ids.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def bundled() -> list[Suite]:
    return [load_bundled(path) for path in discover([suites_dir()])]  # loaded once per test process


# -- the loader --------------------------------------------------------------------------------

def test_every_bundled_case_has_an_id() -> None:
    suites = bundled()
    assert sum(len(s.cases) for s in suites) >= 455
    without = [f"{s.path}:{c.line} {c.name}" for s in suites for c in s.cases if not c.id]
    assert not without, without
    for suite in suites:
        assert len({c.id for c in suite.cases}) == len(suite.cases), suite.id


def test_an_id_is_the_key_and_a_case_without_one_is_keyed_by_its_name(tmp_path: Path) -> None:
    first, second = load(write(tmp_path, SUITE)).cases
    assert (first.id, first.key) == ("capability", "capability")
    assert (second.id, second.key) == (None, "read the metadata again")  # third-party suites need no ids


def test_a_duplicate_id_is_refused_at_the_second_occurrence(tmp_path: Path) -> None:
    text = SUITE.replace("  - name: read the metadata again\n", "  - name: read the metadata again\n    id: capability\n")
    with pytest.raises(SuiteError) as info:
        load(write(tmp_path, text))
    assert info.value.line == 10 and "duplicate case id 'capability' (first at line 6)" in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'ids.yaml'}:10:")


def test_an_id_may_not_take_the_name_of_a_case_without_one(tmp_path: Path) -> None:
    text = SUITE.replace("id: capability", "id: read-again").replace("read the metadata again", "read-again")
    with pytest.raises(SuiteError, match="duplicate case id 'read-again'"):
        load(write(tmp_path, text))


@pytest.mark.parametrize("bad", ["Capability", "has space", "-leading-dash", "x" * 81, "semi;colon", "a/b"])
def test_an_id_that_is_not_a_slug_is_refused_at_its_line(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SuiteError) as info:
        load(write(tmp_path, SUITE.replace("id: capability", f"id: {bad!r}")))
    assert info.value.line == 6 and "cases/0/id" in str(info.value)


# -- the bundled expectations ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["medplum.yaml", "hapi.yaml"])
def test_every_expectation_is_keyed_by_the_id_of_a_bundled_case(name: str) -> None:
    keys = {f"{s.id}::{c.id}": f"{s.id}::{c.name}" for s in bundled() for c in s.cases}
    entries = load_baseline(REPO / "expectations" / name)
    assert entries and all(e.case_id in keys for e in entries), [e.case_id for e in entries if e.case_id not in keys]
    # migrated from names: the readable name kept in `case` is the case's name today
    assert all(keys[e.case_id] == e.case for e in entries if e.case_id)


def test_a_reworded_bundled_case_still_meets_its_expectation() -> None:
    """The point of ids: rename a case that Medplum fails, and the Medplum baseline still covers it."""
    entry = load_baseline(REPO / "expectations" / "medplum.yaml")[0]
    assert entry.case_id is not None and entry.check is not None
    suite_id, case_id = entry.case_id.split("::")
    reworded = CaseResult(suite_id, "Suite", "a wholly new wording of the case", f"suites/x.yaml::{case_id}", "imagingstudy",
                          list(entry.requirements), Level.SHALL, case_id=case_id,
                          checks=[CheckResult(entry.check, list(entry.requirements), Level.SHALL, Verdict.FAIL, "as before")])
    result = compare([entry], [reworded])
    assert result.ok and len(result.known) == 1 and not result.regressions and not result.stale


# -- the pytest plugin: node ids, -k, results ------------------------------------------------

@pytest.mark.slow  # four pytest processes
def test_node_ids_are_case_ids_and_k_still_matches_names(pytester: pytest.Pytester, tmp_path: Path) -> None:
    suite = write(pytester.path, SUITE)
    listed = pytester.runpytest_subprocess(*roots(suite), "--collect-only", "-q", "-p", "no:cacheprovider")
    listed.stdout.fnmatch_lines(["ids.yaml::capability", "ids.yaml::read the metadata again"])
    by_name = pytester.runpytest_subprocess(*roots(suite), "--collect-only", "-q", "-k", "statement", "-p", "no:cacheprovider")
    by_name.stdout.fnmatch_lines(["ids.yaml::capability", "*1/2 tests collected (1 deselected)*"])
    by_id = pytester.runpytest_subprocess(*roots(suite), f"{suite}::capability", "--collect-only", "-q", "-p", "no:cacheprovider")
    by_id.stdout.fnmatch_lines(["ids.yaml::capability", "*1 test collected*"])
    ran = pytester.runpytest_subprocess(*roots(suite), "-p", "no:cacheprovider")  # the embedded reference server
    assert ran.ret == 0, ran.stdout.str()[-2000:]
    cases = json.loads((pytester.path / "reports" / "summary.json").read_text())["cases"]
    assert [(c["case_id"], c["case"], c["nodeid"].split("::")[1]) for c in cases] == [
        ("capability", "capability statement", "capability"),
        (None, "read the metadata again", "read the metadata again")]


def test_a_case_result_carries_the_case_id_through_summary_json() -> None:
    from report_demo import demo_run

    from imgconf.report import build_summary

    result = CaseResult("s", "S", "a name", "s.yaml::an-id", "a", ["IS-001"], Level.SHALL, case_id="an-id")
    assert CaseResult.from_dict(result.to_dict()).case_id == "an-id"
    legacy = result.to_dict()
    legacy.pop("case_id")  # a result written before ids
    assert CaseResult.from_dict(legacy).key == "a name"
    summary = build_summary(demo_run(), [result])
    assert summary["cases"][0]["case_id"] == "an-id"


def test_the_engine_sets_the_case_id(proxied: tuple[Any, Any]) -> None:
    suite = next(s for s in bundled() if s.id == "imagingstudy-crud")
    result = run_named_case(proxied, suite, "capability statement", [])
    assert result.case_id == "capability-statement" and result.key == "capability-statement"
    assert result.verdict is Verdict.PASS


# -- tools/add_case_ids.py -----------------------------------------------------------------------

def test_add_case_ids_inserts_an_id_after_each_name_and_keeps_the_layout(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        suite: Layout
        area: imagingstudy
        requirements: [IS-053]
        cases:
          # a comment that must survive
          - name: the capability statement
            request: {path: metadata}
          - tags: [probes-unknown-parameters]
            name: >-
              the capability
              statement, read again
            request: {path: metadata}
          - name: kept
            id: already-there
            request: {path: metadata}
          - name: steps have names too
            steps:
              - name: a step is not a case
                request: {path: metadata}
        """)
    new_text, added = add_case_ids.add_ids(text)
    assert added == 3 and "# a comment that must survive" in new_text
    cases = yaml.safe_load(new_text)["cases"]
    assert [c["id"] for c in cases] == ["capability-statement", "capability-statement-read-again", "already-there",
                                        "steps-have-names-too"]
    assert "id" not in cases[3]["steps"][0]
    assert "  - name: the capability statement\n    id: capability-statement\n" in new_text
    assert "      statement, read again\n    id: capability-statement-read-again\n" in new_text
    assert add_case_ids.add_ids(new_text) == (new_text, 0)  # idempotent
    assert load(write(tmp_path, new_text)).cases[1].id == "capability-statement-read-again"
    # "the" is filler; a name whose slug is taken gets a number, to stay unique in the suite
    assert add_case_ids.unique_slug("the capability statement", {"capability-statement"}) == "capability-statement-2"


def test_slugs_are_short_readable_and_never_end_mid_phrase() -> None:
    assert add_case_ids.slug("_lastupdated (wrong case) is not _lastUpdated") == "lastupdated-wrong-case-is-not-lastupdated"
    assert add_case_ids.slug("author.family") == "author.family"
    assert add_case_ids.slug("ITI-78 in XML by Accept application/fhir+xml") == "iti-78-in-xml-by-accept-application-fhir-xml"
    long = add_case_ids.slug("an accession number held only in basedOn is not an identifier match")
    assert long == "accession-number-held-only-in-basedon" and len(long) <= add_case_ids.MAX_LEN

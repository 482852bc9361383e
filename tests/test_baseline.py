"""--baseline / --write-baseline: known failures with reasons; runs fail on regressions and on stale entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from imgconf.baseline import BaselineError, compare, load_baseline
from imgconf.faults import BY_NAME, FaultProxy
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.results import CaseResult, CheckResult, Level, Verdict
from suite_roots import BUNDLED

CRUD = str(suites_dir() / "imagingstudy" / "rest-crud.yaml")
CREATE = "imagingstudy-crud::create returns 201 with Location and ETag"
CREATE_ID = "imagingstudy-crud::create-returns-201-with-location-and-etag"


def case(name: str, *checks: tuple[str, Verdict, list[str]], error: str | None = None) -> CaseResult:
    result = CaseResult("s", "Suite", name, f"suites/s.yaml::{name}", "rest", ["REST-020"], Level.SHALL, error=error)
    result.checks = [CheckResult(kind, reqs, Level.SHALL if v is not Verdict.WARN else Level.SHOULD, v, f"{kind} went wrong") for kind, v, reqs in checks]
    return result


def write(tmp_path: Path, entries: object, name: str = "baseline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(entries) if name.endswith(".yaml") else json.dumps(entries))
    return path


# -- loading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_entry_without_a_reason_is_refused(tmp_path: Path, reason: object) -> None:
    path = write(tmp_path, [{"case": "s::a", "reason": reason}])
    with pytest.raises(BaselineError, match=r"entry 1 \(s::a\): 'reason' is empty"):
        load_baseline(path)


@pytest.mark.parametrize(("content", "message"), [
    ([{"reason": "r"}], "'case_id' is missing"),
    ([{"case": "s::a", "reason": "r", "becuase": "typo"}], "unknown key"),
    ({"not": "a list"}, None),
    ("just text", "expected a list"),
])
def test_malformed_baselines_name_the_problem(tmp_path: Path, content: object, message: str | None) -> None:
    path = write(tmp_path, content)
    if message is None:  # a mapping without known_failures is an empty baseline
        assert load_baseline(path) == []
        return
    with pytest.raises(BaselineError, match=message):
        load_baseline(path)


def test_json_and_known_failures_mapping_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, {"known_failures": [{"case": "s::a", "reason": "r", "requirement": ["REST-020", "REST-021"]}]}, "b.json")
    [entry] = load_baseline(path)
    assert entry.requirements == ("REST-020", "REST-021") and entry.check is None


def test_an_entry_may_quote_the_clause_that_makes_it_a_deviation(tmp_path: Path) -> None:
    path = write(tmp_path, [{"case": "s::a", "reason": "r", "clause": ' R4 http.html#create: "the server SHALL ignore it" '},
                            {"case": "s::b", "reason": "r"}])
    quoted, plain = load_baseline(path)
    assert quoted.clause == 'R4 http.html#create: "the server SHALL ignore it"' and plain.clause is None


@pytest.mark.parametrize("clause", ["", "  ", 3, ["a"]])
def test_an_empty_or_non_text_clause_is_refused(tmp_path: Path, clause: object) -> None:
    with pytest.raises(BaselineError, match=r"entry 1 \(s::a\): 'clause' is empty"):
        load_baseline(write(tmp_path, [{"case": "s::a", "reason": "r", "clause": clause}]))


def test_unreadable_baseline(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "missing.yaml")


# -- comparing ---------------------------------------------------------------------------------

def entries(tmp_path: Path, *raw: dict[str, object]) -> list:
    return load_baseline(write(tmp_path, [dict(r, reason="known") for r in raw]))


def test_known_failures_pass_regressions_and_stale_entries_fail(tmp_path: Path) -> None:
    baseline = entries(
        tmp_path,
        {"case": "s::a", "check": "status"},         # covers a's status failure
        {"case": "suites/s.yaml::b"},                # a node id; case b now passes → stale
        {"case": "s::not-in-this-run"},              # not run → neither stale nor a regression
    )
    run = [
        case("a", ("status", Verdict.FAIL, ["REST-020"]), ("header", Verdict.FAIL, ["REST-021"])),
        case("b", ("status", Verdict.PASS, ["REST-020"])),
    ]
    result = compare(baseline, run)
    assert not result.ok
    assert [(f.case_key, f.check) for f in result.regressions] == [("s::a", "header")]
    assert [e.case for e in result.stale] == ["suites/s.yaml::b"]
    assert [e.case for e in result.not_run] == ["s::not-in-this-run"]
    assert len(result.known) == 1
    text = "\n".join(result.lines())
    assert "REGRESSION s::a · header" in text and "STALE (entry 2)" in text and "remove it" in text


def test_requirement_filter_and_errors(tmp_path: Path) -> None:
    baseline = entries(tmp_path, {"case": "s::a", "requirement": "REST-021"}, {"case": "s::c", "check": "error"})
    run = [case("a", ("header", Verdict.FAIL, ["REST-021"]), ("status", Verdict.FAIL, ["REST-020"])),
           case("c", error="GET x: ConnectError")]
    result = compare(baseline, run)
    assert [f.requirements for f in result.regressions] == [("REST-020",)]
    assert {e.case for _, e in result.known} == {"s::a", "s::c"}


def test_warnings_are_regressions_only_under_strict_should(tmp_path: Path) -> None:
    run = [case("a", ("header", Verdict.WARN, ["REST-021"]))]
    assert compare([], run).ok
    assert not compare([], run, strict_should=True).ok
    covered = entries(tmp_path, {"case": "s::a"})
    assert compare(covered, run).ok  # an entry may cover a warning, and is not stale while it warns


def test_a_skipped_case_makes_its_entry_not_run_rather_than_stale(tmp_path: Path) -> None:
    skipped = case("a")
    skipped.skipped_reason = "not declared"
    result = compare(entries(tmp_path, {"case": "s::a"}), [skipped])
    assert result.ok and len(result.not_run) == 1


# -- case ids: entries keyed by suite-id::case-id survive a reworded name ----------------------

def case_with_id(case_id: str, name: str, *checks: tuple[str, Verdict, list[str]]) -> CaseResult:
    result = case(name, *checks)
    result.case_id, result.nodeid = case_id, f"suites/s.yaml::{case_id}"
    return result


def test_an_entry_keyed_by_case_id_covers_the_case_whatever_its_name(tmp_path: Path) -> None:
    baseline = entries(tmp_path, {"case_id": "s::status-is-201", "case": "s::create answers 201", "check": "status"})
    reworded = case_with_id("status-is-201", "a create is answered with 201 Created", ("status", Verdict.FAIL, ["REST-020"]))
    result = compare(baseline, [reworded])
    assert result.ok and not result.stale and len(result.known) == 1  # neither a regression nor a stale entry
    healed = case_with_id("status-is-201", "a create is answered with 201 Created", ("status", Verdict.PASS, ["REST-020"]))
    assert [e.case_id for e in compare(baseline, [healed]).stale] == ["s::status-is-201"]
    # The name alone no longer decides: another case that took the old name is not covered.
    impostor = case_with_id("other", "create answers 201", ("status", Verdict.FAIL, ["REST-020"]))
    assert [f.case_key for f in compare(baseline, [impostor]).regressions] == ["s::other"]


def test_entries_written_before_case_ids_still_match_by_name(tmp_path: Path) -> None:
    baseline = entries(tmp_path, {"case": "s::create answers 201", "check": "status"},
                       {"case": "suites/s.yaml::create answers 201", "check": "header"})  # a node id spelled with the name
    run = [case_with_id("status-is-201", "create answers 201", ("status", Verdict.FAIL, ["REST-020"]),
                        ("header", Verdict.FAIL, ["REST-021"]))]
    result = compare(baseline, run)
    assert result.ok and len(result.known) == 2
    text = "\n".join(compare([], run).lines())
    assert "REGRESSION s::status-is-201 (create answers 201) · status" in text  # the id, and the name for the reader


@pytest.mark.parametrize("case_id", ["s::Not A Slug", "no-separator", "s::", 7])
def test_a_case_id_that_is_not_suite_and_case_slug_is_refused(tmp_path: Path, case_id: object) -> None:
    with pytest.raises(BaselineError, match="is not suite-id::case-id"):
        load_baseline(write(tmp_path, [{"case_id": case_id, "reason": "r"}]))


def test_a_written_baseline_keys_cases_by_id_and_cases_without_one_by_name() -> None:
    from imgconf.baseline import baseline_from

    run = [case_with_id("status-is-201", "create answers 201", ("status", Verdict.FAIL, ["REST-020"])),
           case("no id here", ("status", Verdict.FAIL, ["REST-020"]))]
    written = baseline_from(run)
    assert [(e.get("case_id"), e["case"]) for e in written] == [
        ("s::status-is-201", "s::create answers 201"), (None, "s::no id here")]


# -- end to end: the plugin and the CLI --------------------------------------------------------

@pytest.fixture()
def faulty_target() -> Iterator[str]:
    with EmbeddedServer() as server, FaultProxy(server.base_url, [BY_NAME["create-returns-200"]]) as proxy:
        yield proxy.base_url


@pytest.mark.slow
def test_write_baseline_then_run_against_it(pytester: pytest.Pytester, faulty_target: str) -> None:
    common = [CRUD, "--imgconf-target", faulty_target, "-p", "no:cacheprovider"]
    written = pytester.path / "known.yaml"
    first = pytester.runpytest_subprocess(*BUNDLED, *common, f"--imgconf-write-baseline={written}")
    assert first.ret == 1
    data = yaml.safe_load(written.read_text())
    assert data and {e["case"] for e in data} >= {CREATE} and all(e["reason"] == "" for e in data)
    assert {e["case_id"] for e in data} >= {CREATE_ID}  # written keyed by the case id, the name kept for the reader
    assert all(e["observed"] for e in data)

    refused = pytester.runpytest_subprocess(*BUNDLED, *common, f"--imgconf-baseline={written}")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*'reason' is empty*"])

    for entry in data:
        entry["reason"] = "the server answers 200 to a create"
    written.write_text(yaml.safe_dump(data))
    accepted = pytester.runpytest_subprocess(*BUNDLED, *common, f"--imgconf-baseline={written}")
    assert accepted.ret == 0, accepted.stdout.str()[-2000:]
    accepted.stdout.fnmatch_lines(["*baseline: * known failure(s), 0 regression(s), 0 stale entries*"])
    report = json.loads((pytester.path / "reports" / "baseline.json").read_text())
    assert report["outcome"] == "pass" and report["known"]


@pytest.mark.slow
def test_regression_and_stale_entry_fail_the_run(pytester: pytest.Pytester, faulty_target: str) -> None:
    baseline = pytester.path / "known.yaml"
    baseline.write_text(yaml.safe_dump([
        {"case": "imagingstudy-crud::read after delete gives 410 Gone", "reason": "old server bug, fixed since"},
    ]))
    result = pytester.runpytest_subprocess(*BUNDLED, CRUD, "--imgconf-target", faulty_target, "-p", "no:cacheprovider", f"--imgconf-baseline={baseline}")
    assert result.ret == 1
    out = result.stdout.str()
    assert f"REGRESSION {CREATE_ID} (create returns 201 with Location and ETag) · status" in out
    assert "STALE (entry 1) imagingstudy-crud::read after delete gives 410 Gone" in out
    report = json.loads((pytester.path / "reports" / "baseline.json").read_text())
    assert report["outcome"] == "fail" and report["stale"][0]["message"].startswith("stale")

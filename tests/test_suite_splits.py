"""Cases split so that each cites what it tests (issue 8 §2): the plain typed-reference cases that
were only judged together with a type modifier (REST-061, MAY) pass on the reference server and
fail when the server drops a match; the _include case no longer depends on a modifier."""

from __future__ import annotations


import pytest

from case_support import load_bundled, run_named_case
from imgconf.faults import BY_NAME, FaultProxy
from imgconf.paths import suites_dir
from imgconf.results import CaseResult, Level, Verdict
from imgconf.session import TargetSession

SPLIT = [
    ("search-references", "subject Group"),
    ("search-references", "performer device by a typed reference"),
    ("search-results", "_include with a target type"),
]



def _run(proxied: tuple[FaultProxy, TargetSession], stem: str, name: str, fault: str | None) -> CaseResult:
    suite = load_bundled(suites_dir() / "imagingstudy" / f"{stem}.yaml")
    return run_named_case(proxied, suite, name, [BY_NAME[fault]] if fault else [])


@pytest.mark.parametrize(("stem", "name"), SPLIT)
def test_split_case_is_shall_without_a_modifier_and_passes(proxied, stem: str, name: str) -> None:
    result = _run(proxied, stem, name, None)
    assert result.level is Level.SHALL and "REST-061" not in result.requirement
    exchange = result.exchanges[0].url
    assert not any(m in exchange for m in (":Group=", ":Device=", "%3AGroup=", "%3ADevice="))
    assert result.verdict is Verdict.PASS, [(c.check, c.reason) for c in result.checks if c.verdict is not Verdict.PASS]


@pytest.mark.parametrize(("stem", "name"), SPLIT)
def test_split_case_fails_when_the_server_drops_the_match(proxied, stem: str, name: str) -> None:
    result = _run(proxied, stem, name, "drops-first-match")
    assert result.verdict is Verdict.FAIL
    assert any(c.check == "search" and c.verdict is Verdict.FAIL for c in result.checks)

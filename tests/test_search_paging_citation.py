"""A missing next link is a paging defect (REST-043, SHOULD): the matches it hides and the Bundle.total
that still counts them are filed under REST-043, not as a wrong total (REST-041) or a SHALL recall
failure. Real suite cases against the reference server, with and without the truncates-paging fault."""

from __future__ import annotations


import pytest

from case_support import load_bundled, run_named_case
from imgconf.faults import BY_NAME, FaultProxy
from imgconf.paths import suites_dir
from imgconf.results import CaseResult, Verdict
from imgconf.session import TargetSession

PAGING_CASES = ["_count=2 pages through every match", "POST _search with paging"]



def _run(proxied: tuple[FaultProxy, TargetSession], name: str, fault: str | None) -> CaseResult:
    suite = load_bundled(suites_dir() / "imagingstudy" / "search-results.yaml")
    return run_named_case(proxied, suite, name, [BY_NAME[fault]] if fault else [])


@pytest.mark.parametrize("name", PAGING_CASES)
def test_paging_cases_pass_on_the_reference_server(proxied, name: str) -> None:
    result = _run(proxied, name, None)
    assert result.verdict is Verdict.PASS, [(c.check, c.reason) for c in result.checks if c.verdict is not Verdict.PASS]


@pytest.mark.parametrize("name", PAGING_CASES)
def test_a_missing_next_link_is_filed_under_rest_043_at_should(proxied, name: str) -> None:
    result = _run(proxied, name, "truncates-paging")
    bad = [c for c in result.checks if c.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)]
    assert bad, "the truncated paging was not noticed"
    assert result.verdict is Verdict.WARN
    assert all(c.requirement == ["REST-043"] and c.verdict is Verdict.WARN for c in bad), [(c.requirement, c.reason) for c in bad]
    assert any("no next link" in c.reason for c in bad)
    assert not any("REST-041" in c.requirement and c.verdict is not Verdict.PASS for c in result.checks)

"""A case result as a dict (summary.json, xdist, redaction): exactly what dataclasses.asdict gives."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings, strategies as st

from imgconf.results import CaseResult, CheckResult, Exchange, Level, Verdict

TEXT = st.text(max_size=12)
HEADERS = st.dictionaries(TEXT, TEXT, max_size=3)
EXCHANGES = st.builds(Exchange, method=TEXT, url=TEXT, request_headers=HEADERS, request_body=st.none() | TEXT,
                      status=st.none() | st.integers(100, 599), response_headers=HEADERS,
                      response_body=st.none() | TEXT, elapsed_ms=st.floats(0, 1e6), error=st.none() | TEXT)
CHECKS = st.builds(CheckResult, check=TEXT, requirement=st.lists(TEXT, max_size=3), level=st.sampled_from(Level),
                   verdict=st.sampled_from(Verdict), reason=TEXT, detail=TEXT,
                   exchange=st.none() | st.integers(0, 5), locations=st.lists(TEXT, max_size=3))


def _asdict_form(value: Any) -> dict[str, Any]:
    d = dataclasses.asdict(value)
    return {k: (v.value if isinstance(v, (Level, Verdict)) else v) for k, v in d.items()}


@settings(max_examples=200, deadline=None)
@given(EXCHANGES)
def test_an_exchange_as_asdict_gives_it(exchange: Exchange) -> None:
    assert exchange.to_dict() == _asdict_form(exchange)
    assert list(exchange.to_dict()) == [f.name for f in dataclasses.fields(Exchange)]  # a new field is not forgotten
    assert Exchange(**exchange.to_dict()) == exchange


@settings(max_examples=200, deadline=None)
@given(CHECKS)
def test_a_check_as_asdict_gives_it(check: CheckResult) -> None:
    assert check.to_dict() == _asdict_form(check)
    assert list(check.to_dict()) == [f.name for f in dataclasses.fields(CheckResult)]
    assert CheckResult.from_dict(check.to_dict()) == check


@given(st.builds(CaseResult, suite_id=TEXT, suite=TEXT, case=TEXT, nodeid=TEXT, area=TEXT,
                 requirement=st.lists(TEXT, max_size=2), level=st.sampled_from(Level),
                 checks=st.lists(CHECKS, max_size=3), exchanges=st.lists(EXCHANGES, max_size=2)))
def test_a_case_round_trips(case: CaseResult) -> None:
    assert CaseResult.from_dict(case.to_dict()) == dataclasses.replace(case, duration_s=round(case.duration_s, 4))


def test_the_dicts_are_copies() -> None:
    exchange = Exchange("GET", "u", {"A": "1"}, None, 200, {"B": "2"}, None, 1.0)
    check = CheckResult("status", ["REST-001"], Level.SHALL, Verdict.PASS, "ok", locations=["x"])
    for made in (exchange.to_dict(), check.to_dict()):
        for value in made.values():
            if isinstance(value, dict):
                value["changed"] = "yes"
            elif isinstance(value, list):
                value.append("changed")
    assert exchange.request_headers == {"A": "1"} and exchange.response_headers == {"B": "2"}
    assert check.requirement == ["REST-001"] and check.locations == ["x"]

"""Date semantics (REST-070..074): implicit ranges, eq containment, prefixes, periods."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from imgconf.searchparams import parse_query, resource_matches
from imgconf.searchparams.dates import DateError, compare, parse_range


def study(started: str) -> dict:
    return {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/1"},
            "started": started}


def hit(target: str, *values: str) -> bool:
    query = parse_query("ImagingStudy", [("started", v) for v in values])
    assert not query.unknown, query.unknown
    return resource_matches(study(target), query)


def test_eq_is_containment_not_overlap() -> None:  # REST-072 (samply/blaze#666)
    assert hit("2013-01-14", "2013")
    assert hit("2013-01-14", "eq2013-01")
    assert hit("2013-01-14T10:00:00Z", "2013-01-14")
    assert not hit("2013", "eq2013-01-14")  # the year is not contained in the day
    assert not hit("2013-01", "2013-01-14")
    assert hit("2013", "2013")


def test_ne_is_not_eq() -> None:
    assert hit("2013", "ne2013-01-14")
    assert not hit("2013-01-14", "ne2013")


@pytest.mark.parametrize("target,value,expected", [
    ("2013-01-15", "gt2013-01-14", True), ("2013-01-14", "gt2013-01-14", False),
    ("2013", "gt2013-01-14", True),  # the year extends past the day
    ("2013-01-13", "lt2013-01-14", True), ("2013-01-14", "lt2013-01-14", False),
    ("2013-01-14", "ge2013-01-14", True), ("2013-01-14", "le2013-01-14", True),
    ("2013-01-14T23:59:59Z", "ge2013-01-14", True), ("2013-01-13T23:59:59Z", "ge2013-01-14", False),
    ("2013-01-15", "sa2013-01-14", True), ("2013", "sa2013-01-14", False),  # overlaps: not strictly after
    ("2013-01-13", "eb2013-01-14", True), ("2013", "eb2013-01-14", False),
    ("2013-01-14T10:00:00+01:00", "2013-01-14T09:00:00Z", True),  # same instant, other zone
    ("2013-01-14T10:00:30Z", "2013-01-14T10:00", True),  # minute precision search value
    ("2013-01-14T10:00:00.250Z", "2013-01-14T10:00:00Z", True),
    ("2013-01-14T10:00:00Z", "2013-01-14T10:00:00.2", False),  # a second is not inside 100 ms
])
def test_prefixes(target: str, value: str, expected: bool) -> None:
    assert hit(target, value) is expected


def test_and_range() -> None:  # REST-074
    assert hit("2024-06-01", "ge2024-01-01", "lt2025-01-01")
    assert not hit("2025-01-01", "ge2024-01-01", "lt2025-01-01")


def test_time_without_zone_is_utc() -> None:  # REST-073, documented choice
    assert hit("2013-01-14T10:00:00Z", "2013-01-14T10:00:00")
    assert not hit("2013-01-14T10:00:00+02:00", "2013-01-14T10:00:00")


def test_period_with_open_end() -> None:
    def doc(period: dict) -> dict:
        return {"resourceType": "DocumentReference", "status": "current", "content": [],
                "context": {"period": period}}

    def ok(period: dict, value: str) -> bool:
        return resource_matches(doc(period), parse_query("DocumentReference", [("period", value)]))

    open_end = {"start": "2020-03-01"}
    assert ok(open_end, "gt2030-01-01")  # open end extends to infinity
    assert not ok(open_end, "lt2020-01-01")
    assert not ok(open_end, "eq2020")  # an infinite range is not contained in a year
    assert ok(open_end, "sa2019")
    closed = {"start": "2020-03-01", "end": "2020-03-05"}
    assert ok(closed, "2020-03")
    assert ok(closed, "ge2020-03-01") and not ok(closed, "ge2020-03-06")
    assert ok(closed, "eb2020-04") and not ok(closed, "eb2020-03-04")
    assert ok({"end": "2020-03-05"}, "lt1900")


def test_approximate() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    s = parse_range("2016-01-01")  # 10 years ago → ±1 year
    assert compare("ap", s, parse_range("2016-09-01"), now)
    assert not compare("ap", s, parse_range("2018-06-01"), now)
    near = parse_range("2025-12-31")  # at least one day either side
    assert compare("ap", near, parse_range("2026-01-01"), now)
    assert not compare("ap", near, parse_range("2026-01-05"), now)


@pytest.mark.parametrize("bad", ["notadate", "2013-13", "2013-02-30", "13-01-01", "2013-01-14T25:00",
                                 "2013-01-14T10:00:00 01:00", "xx2013"])
def test_invalid_values_are_invalid(bad: str) -> None:
    query = parse_query("ImagingStudy", [("started", bad)])
    assert not query.criteria
    assert query.invalid and query.unknown


def test_plus_hint() -> None:
    with pytest.raises(DateError, match="%2B"):
        parse_range("2013-01-14T10:00:00 01:00")


def test_range_precisions() -> None:
    low, high = parse_range("2013-02")
    assert (low.day, high.month) == (1, 3)
    low, high = parse_range("2013-01-14T10:00:00.5Z")
    assert high - low == timedelta(milliseconds=100)
    low, high = parse_range("2013-12")
    assert high.year == 2014 and high.month == 1


def test_missing_date() -> None:
    s = {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/1"}}
    assert resource_matches(s, parse_query("ImagingStudy", [("started:missing", "true")]))
    assert not resource_matches(study("2013"), parse_query("ImagingStudy", [("started:missing", "true")]))


def test_last_updated_and_case_sensitive_name() -> None:  # REST-090, FIND-10
    res = study("2013")
    res["meta"] = {"lastUpdated": "2024-05-01T10:00:00.000Z"}
    assert resource_matches(res, parse_query("ImagingStudy", [("_lastUpdated", "ge2024-05-01")]))
    query = parse_query("ImagingStudy", [("_lastupdated", "ge2024-05-01")])
    assert not query.criteria and query.unknown[0][0] == "_lastupdated"

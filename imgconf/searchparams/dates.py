"""FHIR date search: implicit ranges by precision and the R4 prefix semantics (search.html#date).

Every value (search value and target) becomes a half-open range [low, high). A value with a
time but no zone is read as UTC, and so is a date without time (this server's time zone is UTC;
REST-073 leaves it to the server). Period ends that are absent are infinite.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

NEG_INF = datetime.min.replace(tzinfo=UTC)
POS_INF = datetime.max.replace(tzinfo=UTC)

Range = tuple[datetime, datetime]

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class DateError(ValueError):
    pass


def _add_months(dt: datetime, months: int) -> datetime:
    total = dt.year * 12 + (dt.month - 1) + months
    return dt.replace(year=total // 12, month=total % 12 + 1)


def parse_range(text: str) -> Range:
    """The implicit range of a FHIR date/dateTime/instant (or a search value at minute precision)."""
    m = _DATE_RE.match(text.strip())
    if not m:
        hint = " (a '+' in a time-zone offset must be sent as %2B)" if " " in text else ""
        raise DateError(f"not a FHIR date/dateTime: {text!r}{hint}")
    g = m.groupdict()
    try:
        tz = UTC
        if g["tz"] and g["tz"] != "Z":
            sign = 1 if g["tz"][0] == "+" else -1
            hh, mm = int(g["tz"][1:3]), int(g["tz"][4:6])
            if hh > 14 or mm > 59:
                raise DateError(f"bad time-zone offset in {text!r}")
            tz = timezone(sign * timedelta(hours=hh, minutes=mm))
        year = int(g["y"])
        month = int(g["m"] or 1)
        day = int(g["d"] or 1)
        hour = int(g["H"] or 0)
        minute = int(g["M"] or 0)
        second = int(g["S"] or 0)
        frac = g["f"] or ""
        micro = int((frac + "000000")[:6]) if frac else 0
        if hour == 24 or second == 60:
            raise DateError(f"out-of-range time in {text!r}")
        low = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:  # datetime() rejects 2023-02-30 and friends
        raise DateError(f"not a valid date: {text!r} ({exc})") from None
    if g["f"]:
        high = low + timedelta(microseconds=10 ** max(0, 6 - len(frac)))
    elif g["S"]:
        high = low + timedelta(seconds=1)
    elif g["M"]:
        high = low + timedelta(minutes=1)
    elif g["d"]:
        high = low + timedelta(days=1)
    elif g["m"]:
        high = _add_months(low, 1)
    else:
        high = low.replace(year=year + 1) if year < 9999 else POS_INF
    if high is not POS_INF:
        high = high.astimezone(UTC)
    return low.astimezone(UTC), high


def target_range(value: object) -> Range | None:
    """Range of a target element: a date string or a Period dict; None for anything else."""
    if isinstance(value, str):
        try:
            return parse_range(value)
        except DateError:
            return None  # malformed stored data never matches
    if isinstance(value, dict) and ("start" in value or "end" in value):
        low, high = NEG_INF, POS_INF
        try:
            if value.get("start"):
                low = parse_range(value["start"])[0]
            if value.get("end"):
                high = parse_range(value["end"])[1]
        except DateError:
            return None
        return low, high
    return None


def split_prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and value[2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def parse_search(value: str) -> tuple[str, Range]:
    prefix, rest = split_prefix(value)
    return prefix, parse_range(rest)


def _contains(s: Range, t: Range) -> bool:
    return s[0] <= t[0] and t[1] <= s[1]


def compare(prefix: str, s: Range, t: Range, now: datetime | None = None) -> bool:
    """Does target range `t` satisfy `prefix` + search range `s` (R4 search.html#prefix)?"""
    if prefix == "eq":
        return _contains(s, t)
    if prefix == "ne":
        return not _contains(s, t)
    if prefix == "gt":  # the range above the search value intersects the target
        return t[1] > s[1]
    if prefix == "lt":
        return t[0] < s[0]
    if prefix == "ge":
        return t[1] > s[1] or _contains(s, t)
    if prefix == "le":
        return t[0] < s[0] or _contains(s, t)
    if prefix == "sa":  # starts after: no overlap and after
        return t[0] >= s[1]
    if prefix == "eb":  # ends before: no overlap and before
        return t[1] <= s[0]
    if prefix == "ap":
        now = now or datetime.now(UTC)
        gap = abs(now - s[0])
        delta = max(gap / 10, timedelta(days=1))
        low = s[0] - delta if s[0] - NEG_INF > delta else NEG_INF
        high = s[1] + delta if POS_INF - s[1] > delta else POS_INF
        return t[0] < high and low < t[1]  # overlap of the widened range
    raise ValueError(prefix)

"""Hypothesis strategies of R4 search queries over the fixtures a target stores (issue 14).

Values come from the Universe (the fixtures as the target stored them) and their near misses:
another case or accent, a prefix, neighbouring dates at each precision, another system, another
type or id, absolute and relative references. Everything is ordered simplest first and optional
parts are drawn from ``st.none() | ...`` or ``st.lists(min_size=0)``, so Hypothesis shrinks a
failure to the fewest parameters with the simplest values.

Only what the oracle (``imgconf.searchparams``) can judge is generated: never ``:text`` nor the
``ap`` prefix (R4 leaves both to the server), never a date whose answer depends on the server's
time zone (REST-073: a date without a time is read in the server's zone), and every query parses
with ``parse_query`` with no unknown or invalid parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from imgconf.fuzz.capability import FuzzPlan, Universe, plan_from_capability
from imgconf.fuzz.model import FuzzQuery
from imgconf.searchparams import SearchParam, dates as search_dates, get_param
from imgconf.searchparams.compartments import compartment_params
from imgconf.searchparams.extract import values as extract_values
from imgconf.searchparams.match import string_parts, token_items

__all__ = ["FuzzPlan", "Universe", "plan_from_capability", "search_queries"]

Pairs = tuple[tuple[str, str], ...]

# "" (no prefix) first: it is the simplest. ap is left out (R4: the server chooses the approximation).
DATE_PREFIXES = ("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
# sa/eb differ from gt/lt only for a value that ends/starts INSIDE a target's range; drawn among all nine
# prefixes and every value group, such a pair came up a few times in 2,000 queries (mostly hidden by
# another criterion), so sa/eb get their own option with the values inside wide targets.
EDGE_PREFIXES = ("sa", "eb")
# R4 leaves the zone of a date without a time to the server (REST-073); UTC offsets span -12:00..+14:00.
ZONE_SLACK = timedelta(hours=14)
OTHER_SYSTEM = "http://example.org/fuzz/other-system"
OTHER_BASE = "http://other.example.org/fhir"
# Code systems R4/their owners define as case-insensitive: no "other case" near miss there.
_CASE_INSENSITIVE_SYSTEMS = {"urn:ietf:bcp:13", "urn:ietf:bcp:47"}
_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}
# Groups drawn with equal weight: uri with string, composite with reference (few of each)
_TYPE_RANK = {"token": 0, "date": 1, "string": 2, "uri": 2, "reference": 3, "composite": 3}
_OR_COUNTS = (1,) * 7 + (2,) * 2 + (3,)  # values of a comma OR, drawn uniformly: 70 % one value
_CRITERIA_COUNTS = (0,) + (1,) * 10 + (2,) * 6 + (3,) * 2 + (4,)  # drawn uniformly: the share of each count
_MAX_CANDIDATES = 60  # per parameter: enough variety, short lists shrink fast


def escape(text: str, specials: str = ",|$") -> str:
    """R4 search.html#escaping: a backslash before ``\\`` and each special character of the value."""
    out = text.replace("\\", "\\\\")
    for ch in specials:
        out = out.replace(ch, "\\" + ch)
    return out


Groups = list[list[str]]  # candidate values in groups drawn with equal weight (exact forms, near misses, ...)


@dataclass(frozen=True)
class _Raw:
    """Candidate values as one copy of the fixtures gives them, in groups, BEFORE anything is dropped:
    a value that does not apply stays as "" and duplicates stay, so the canonical and the real copy
    give lists of the same lengths, position by position (``_finish`` decides on the canonical one)."""

    groups: tuple[list[str], ...]
    fallback: str  # the one candidate when nothing is left
    keep: Callable[[str], bool] | None = None  # a value the oracle can judge in this copy (dates: zone-independent)

    def lengths(self) -> list[int]:
        return [len(group) for group in self.groups]


def _raw(*groups: list[str], fallback: str, keep: Callable[[str], bool] | None = None) -> _Raw:
    return _Raw(groups, fallback, keep)


def _finish(canon: _Raw, real: _Raw, canonical: bool) -> Groups:
    """The candidate groups: which positions are kept (non-empty, first occurrence, judgeable, at most
    _MAX_CANDIDATES a group), in which order, is decided on the canonical copy alone, so the lists a seed
    draws from have the same lengths in every run; the value at a kept position is the real copy's (the
    canonical one with ``canonical``, or where the real one is empty or not judgeable in this run)."""
    if canon.lengths() != real.lengths():  # a server stored a value of another structure: this run's own lists
        canon, real = real, real
    seen: set[str] = set()
    out: Groups = []
    for canon_group, real_group in zip(canon.groups, real.groups, strict=True):
        group: list[str] = []
        for slot, value in zip(canon_group, real_group, strict=True):
            if len(group) >= _MAX_CANDIDATES:
                break
            if not slot or slot in seen or (canon.keep is not None and not canon.keep(slot)):
                continue
            seen.add(slot)
            usable = value and (real.keep is None or real.keep(value))
            group.append(slot if canonical or not usable else value)
        if group:
            out.append(group)
    return out or ([[canon.fallback]] if canon.fallback else [])


def _flat(groups: Groups) -> list[str]:
    return [v for group in groups for v in group]


def _other_case(text: str) -> str:
    swapped = text.upper() if text != text.upper() else text.lower()
    return swapped if swapped != text else ""


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _add_accent(text: str) -> str:
    """The first plain vowel gets an acute accent: still a default (accent-insensitive) match, not :exact."""
    for i, ch in enumerate(text):
        if ch in "aeiouAEIOU":
            return text[:i] + unicodedata.normalize("NFC", ch + "\u0301") + text[i + 1:]
    return ""


# --- the universe, indexed ------------------------------------------------------------------------

@dataclass
class _Index:
    universe: Universe
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in sorted(self.universe.resources):
            res = self.universe.resources[key]
            rtype, rid = res.get("resourceType"), res.get("id")
            if isinstance(rtype, str):
                self.by_type.setdefault(rtype, []).append(res)
                if isinstance(rid, str):
                    self.by_ref[f"{rtype}/{rid}"] = res

    @property
    def base(self) -> str:
        return self.universe.base_url.rstrip("/")

    def values(self, rtype: str, param: SearchParam) -> list[Any]:
        return [v for res in self.by_type.get(rtype, []) for v in extract_values(res, param)]

    def relative(self, literal: str) -> str | None:
        """``Type/id`` of a reference into this server (relative or under the base), else None."""
        if literal.startswith(self.base + "/"):
            literal = literal[len(self.base) + 1:]
        parts = literal.split("/")
        if len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
            return literal
        return None


@dataclass
class _Pair:
    """The canonical copy of the fixtures (``canonical.canonical_universe``: decides every list's shape)
    and the real one (gives the values sent); ``canonical`` renders the canonical values instead (tests:
    the "slots" a seed draws, the same whatever the server's ids and the run's UIDs)."""

    canon: _Index
    real: _Index
    canonical: bool = False

    def groups(self, build: Callable[[_Index], _Raw]) -> Groups:
        return _finish(build(self.canon), build(self.real), self.canonical)

    def references(self, rtype: str, param: SearchParam) -> tuple[Groups, dict[str, list[str]], Groups]:
        canon = _reference_raw(self.canon, param, self.canon.values(rtype, param))
        real = _reference_raw(self.real, param, self.real.values(rtype, param))
        if list(canon[1]) != list(real[1]):  # other target types (another structure): this run's own lists
            canon = real
        typed = {t: _flat(_finish(canon[1][t], real[1][t], self.canonical)) for t in canon[1]}
        return (_finish(canon[0], real[0], self.canonical), typed, _finish(canon[2], real[2], self.canonical))

    def ids(self, rtype: str) -> list[str]:
        """The ids of `rtype`'s fixtures, in fixture-key order (the same count in every run)."""
        def build(index: _Index) -> _Raw:
            return _raw([r["id"] for r in index.by_type.get(rtype, []) if isinstance(r.get("id"), str)], fallback="")
        return [v for v in _flat(self.groups(build)) if v]


def _pair_of(universe: Universe, canonical: bool = False) -> _Pair:
    from imgconf.fuzz.canonical import canonical_universe

    return _Pair(_Index(canonical_universe(universe)), _Index(universe), canonical)


# --- token ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    system: str | None  # None: no system to send (primitive without binding, ContactPoint)
    code: str
    can_be_systemless: bool  # `|code` is meaningful (a Coding/Identifier without system)
    case_sensitive: bool
    coded: bool = True  # a Coding/Identifier (False: a primitive, whose "no system" R4 leaves open)


def _tokens(param: SearchParam, values: list[Any]) -> list[_Token]:
    out: list[_Token] = []
    for value in values:
        if isinstance(value, bool):
            out.append(_Token(None, "true" if value else "false", False, False))
            continue
        if isinstance(value, str):  # code/id/uri primitive: system only when R4 binds one
            out.append(_Token(param.code_system or None, value, False,
                              (param.code_system or "") not in _CASE_INSENSITIVE_SYSTEMS, coded=False))
            continue
        if isinstance(value, dict) and ("rank" in value or value.get("system") in _CONTACT_SYSTEMS):
            if isinstance(value.get("value"), str):  # ContactPoint: the value only (no system, case left open)
                out.append(_Token(None, value["value"], False, False))
            continue
        for item in token_items(value):
            if item.code:
                out.append(_Token(item.system, item.code, not item.system,
                                  (item.system or "") not in _CASE_INSENSITIVE_SYSTEMS))
    return out


def _token_values(param: SearchParam, values: list[Any]) -> _Raw:
    tokens = _tokens(param, values)
    exact: list[str] = []
    near: list[str] = []  # another system, or none
    cases: list[str] = []  # another case (REST-055: tokens are case-sensitive)
    prefixes: list[str] = []  # a prefix is no token match
    uids: list[str] = []  # the other form of a DICOM UID (with / without urn:oid:)
    for t in tokens:
        code = escape(t.code)
        exact.append(code)
        if t.system:
            exact.append(f"{escape(t.system)}|{code}")
            exact.append(f"{escape(t.system)}|")
            if t.coded:
                near.append(f"|{code}")  # "no system": not this coded value
        elif t.can_be_systemless:
            exact.append(f"|{code}")
        if t.case_sensitive:
            other = escape(_other_case(t.code))  # "" (kept in place) where the code has no case
            cases.append(other)
            if t.system:
                cases.append(f"{escape(t.system)}|{other}" if other else "")
        prefixes.append(escape(t.code[: max(1, len(t.code) // 2)]) if len(t.code) > 1 else "")
        if t.system:
            near.append(f"{OTHER_SYSTEM}|{code}")
        if t.code.startswith("urn:oid:"):  # a bare UID is not the urn:oid: form
            uids.append(escape(t.code.removeprefix("urn:oid:")))
            if t.system:
                uids.append(f"{escape(t.system)}|{escape(t.code.removeprefix('urn:oid:'))}")
        elif t.code[:1].isdigit() and "." in t.code:
            uids.append(escape("urn:oid:" + t.code))
    return _raw(exact, cases, prefixes, near, uids, fallback="no-such-code")


def _of_type_values(values: list[Any]) -> _Raw:
    out: list[str] = []
    near: list[str] = []
    for value in values:
        for item in token_items(value):
            for tsys, tcode in item.id_types:
                if tsys and tcode and item.code:
                    out.append(f"{escape(tsys)}|{escape(tcode)}|{escape(item.code)}")
                    near.append(f"{escape(tsys)}|{escape(tcode)}X|{escape(item.code)}")
    return _raw(out, near, fallback="")


# --- string, uri ----------------------------------------------------------------------------------

def _parts(values: list[Any]) -> list[str]:
    return [p for v in values for p in string_parts(v) if p.strip()]


def _string_values(values: list[Any]) -> dict[str | None, _Raw]:
    parts = _parts(values)
    plain: list[str] = []
    exact: list[str] = []
    contains: list[str] = []
    for p in parts:  # "" keeps the place of a form a short part has not
        long = len(p) > 3
        plain += [p, p[: len(p) // 2] if long else ""]
        exact.append(p)
        contains += [p[1: len(p) - 1] if long else "", p[len(p) // 2:] + "zq"]
    after = [p + "zq" for p in parts]
    halves = [p[: len(p) // 2] if len(p) > 1 else "" for p in parts]

    def esc(*lists: list[str]) -> list[list[str]]:
        return [[escape(x, ",") for x in values] for values in lists]

    cases = [_other_case(p) for p in parts]
    accents = [a if a != p else "" for p in parts for a in (_strip_accents(p), _add_accent(p))]
    inside = [p[1: len(p) - 1] if len(p) > 3 else "" for p in parts]  # no match: R4 matches from the start
    return {None: _raw(*esc(plain, cases, accents, inside, after), fallback="Zzyzx"),
            "exact": _raw(*esc(exact, cases, accents, halves), fallback="Zzyzx"),
            "contains": _raw(*esc(contains), fallback="zyzx")}


def _uri_values(values: list[Any]) -> _Raw:
    uris = [v for v in values if isinstance(v, str)]
    near = [u[: len(u) // 2] if len(u) > 2 else "" for u in uris] + [u + "x" for u in uris]
    return _raw(*[[escape(u, ",") for u in group] for group in (uris, near)],
                fallback="http://example.org/fuzz/no-such-uri")


# --- date -----------------------------------------------------------------------------------------

def _date_texts(values: list[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out += [v[k] for k in ("start", "end") if isinstance(v.get(k), str)]
    return out


def _has_time(text: str) -> bool:
    return "T" in text


@dataclass(frozen=True)
class _Bound:
    at: datetime
    floating: bool  # a date without time: read in the server's zone


def _bounds(texts: list[str]) -> list[_Bound]:
    out: list[_Bound] = []
    for t in texts:
        try:
            low, high = search_dates.parse_range(t)
        except search_dates.DateError:
            continue
        out += [_Bound(low, not _has_time(t)), _Bound(high, not _has_time(t))]
    return out


def _zone_independent(candidate: str, bounds: list[_Bound]) -> bool:
    """The answer to `candidate` is the same whatever zone the server reads dates without time in."""
    try:
        low, high = search_dates.parse_range(candidate)
    except search_dates.DateError:
        return False
    floating = not _has_time(candidate)
    return all(abs(b.at - edge) >= ZONE_SLACK
               for b in bounds if b.floating != floating and b.at not in (search_dates.NEG_INF, search_dates.POS_INF)
               for edge in (low, high))


_ZONE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def _zone(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def _fmt_seconds(dt: datetime, zone: timezone) -> str:
    local = dt.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    offset = local.strftime("%z")
    return text + ("Z" if offset in ("+0000", "") and zone is UTC else f"{offset[:3]}:{offset[3:]}")


def _shift_month(dt: datetime, months: int) -> datetime:
    total = dt.year * 12 + dt.month - 1 + months
    return dt.replace(year=total // 12, month=total % 12 + 1, day=1)


def _date_values(values: list[Any]) -> _Raw:
    texts = _date_texts(values)
    by_precision: dict[str, list[str]] = {"year": [], "month": [], "day": [], "second": []}
    for text in texts:
        try:
            low, _ = search_dates.parse_range(text)
        except search_dates.DateError:
            low = search_dates.NEG_INF
        if low.year < 2 or low.year > 9997:  # no neighbours: "" keeps their places
            for precision, count in (("year", 3), ("month", 3), ("day", 3), ("second", 5)):
                by_precision[precision] += [""] * count
            continue
        for dy in (0, -1, 1):
            by_precision["year"].append(f"{low.year + dy:04d}")
        for dm in (0, -1, 1):
            by_precision["month"].append(_shift_month(low, dm).strftime("%Y-%m"))
        for dd in (0, -1, 1):
            by_precision["day"].append((low + timedelta(days=dd)).strftime("%Y-%m-%d"))
        if _has_time(text):
            own = _ZONE.search(text)  # the value's own offset first, then UTC, then another zone
            original = _fmt_seconds(low, _zone(own.group(0))) if own else ""
            seconds = [original, _fmt_seconds(low, UTC), _fmt_seconds(low, timezone(timedelta(hours=-5))),
                       _fmt_seconds(low - timedelta(seconds=1), UTC), _fmt_seconds(low + timedelta(seconds=1), UTC)]
            by_precision["second"] += seconds
        else:
            by_precision["second"] += [""] * 5
    bounds = _bounds(texts)
    # Inside a wide target (a Period, a year or month precision value), at a finer precision: where eq
    # (contains) and overlap differ, and so do sa/gt and eb/lt.
    inside = [_inside(v) for v in values]

    def kept(text: str) -> bool:
        return _valid_date(text) and _zone_independent(text, bounds)

    return _raw(by_precision["year"], inside, by_precision["month"] + by_precision["day"], by_precision["second"],
                fallback="1900", keep=kept)


def _inside_values(values: list[Any]) -> _Raw:
    """The values inside a wide target alone (the second group of ``_date_values``), or none."""
    bounds = _bounds(_date_texts(values))
    return _raw([_inside(v) for v in values], fallback="",
                keep=lambda text: _valid_date(text) and _zone_independent(text, bounds))


def _inside(value: Any) -> str:
    """A value strictly inside a target wider than its own precision ("" when there is none)."""
    target = search_dates.target_range(value)
    if target is None or search_dates.NEG_INF in target or search_dates.POS_INF in target:
        return ""
    low, high = target
    middle = low + (high - low) / 2
    texts = [value] if isinstance(value, str) else [value.get(k) for k in ("start", "end") if isinstance(value, dict)]
    timed = any(isinstance(t, str) and _has_time(t) for t in texts)
    if timed and high - low > timedelta(seconds=2):
        return _fmt_seconds(middle, UTC)
    if not timed and high - low > timedelta(days=2):
        return middle.strftime("%Y-%m-%d")  # a date against a date: no time-zone question
    return ""


def _valid_date(text: str) -> bool:
    try:
        search_dates.parse_range(text)
    except search_dates.DateError:
        return False
    return True


# --- reference ------------------------------------------------------------------------------------

def _reference_raw(index: _Index, param: SearchParam, values: list[Any]) -> tuple[_Raw, dict[str, _Raw], _Raw]:
    """(plain values, ``:Type`` -> bare ids, ``:identifier`` values)."""
    relative: list[str] = []
    bare: list[str] = []
    absolute: list[str] = []
    other_type: list[str] = []  # a reference of a type the parameter does not search (patient= vs a Device subject)
    near: list[str] = []
    typed: dict[str, list[str]] = {}
    identifiers: list[str] = []
    other_identifiers: list[str] = []
    for value in values:
        if not isinstance(value, dict):
            continue
        ident = value.get("identifier")
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            system = ident.get("system")
            identifiers.append(f"{escape(system)}|{escape(ident['value'])}" if isinstance(system, str) else escape(ident["value"]))
            other_identifiers.append(f"{OTHER_SYSTEM}|{escape(ident['value'])}")
        literal = value.get("reference")
        rel = index.relative(literal) if isinstance(literal, str) else None
        if rel is None:
            continue
        rtype, rid = rel.split("/")
        if param.targets and rtype not in param.targets:
            other_type += [rel, rid]
        else:
            relative.append(rel)
            bare.append(rid)
            absolute.append(f"{index.base}/{rel}")
        others = [t for t in (param.targets or ("Patient", "Group")) if t != rtype] or ["Group"]
        near += [f"{others[0]}/{rid}", f"{OTHER_BASE}/{rel}", f"{rtype}/{rid}x"]
        if not param.targets or rtype in param.targets:
            typed.setdefault(rtype, []).append(rid)
            if others[0] in (param.targets or (others[0],)):
                typed.setdefault(others[0], []).append(rid)
    fallback = f"{(param.targets or ('Patient',))[0]}/no-such-id"
    return (_raw(relative, bare, absolute, other_type, near, fallback=fallback),
            {t: _raw(ids, fallback="") for t, ids in sorted(typed.items())}, _raw(identifiers, other_identifiers, fallback=""))


class _Values(tuple[str, ...]):
    """Candidate values with a short repr: Hypothesis renders a strategy's arguments (a warning past
    a few kB), and these lists are long."""

    def __repr__(self) -> str:
        return f"<{len(self)} values: {', '.join(self[:3])}{', ...' if len(self) > 3 else ''}>"


def _choice(values: Iterable[str]) -> SearchStrategy[str]:
    return st.sampled_from(_Values(values))


# --- one criterion --------------------------------------------------------------------------------

def _one(groups: Groups) -> SearchStrategy[str]:
    """One value; each group (exact forms, near misses, ...) as likely as another, however long."""
    if len(groups) == 1:
        return _choice(groups[0])
    return st.tuples(st.one_of([_choice(g) for g in groups])).map(_first_str)


def _first_str(one: tuple[str]) -> str:
    return one[0]


def _or_values(draw: st.DrawFn, one: SearchStrategy[str]) -> str:
    # Mostly one value: an OR with an exact value hides what a near miss would have matched wrongly.
    # Sorted counts: Hypothesis shrinks toward one value.
    n = draw(st.sampled_from(_OR_COUNTS))
    return ",".join(dict.fromkeys(draw(one) for _ in range(n)))


def _or_list(groups: Groups) -> SearchStrategy[str]:
    """One value, or a comma OR of up to three (shrinks to one)."""
    return st.composite(_or_values)(_one(groups))


def _pair(name: str) -> Callable[[str], Pairs]:
    return lambda value: ((name, value),)


def _date_criterion(name: str, values: Groups, prefixes: tuple[str, ...] = DATE_PREFIXES) -> SearchStrategy[Pairs]:
    prefixed = st.tuples(st.sampled_from(prefixes), _one(values)).map("".join)
    single = st.composite(_or_values)(prefixed)
    # repeated AND: in one of four, a second bound (started=ge…&started=lt…); shrinks to none
    upper = st.one_of(st.none(), st.none(), st.none(),
                      st.tuples(st.sampled_from(("le", "lt", "eb")), _one(values)).map("".join))

    def pairs(parts: tuple[str, str | None]) -> Pairs:
        return ((name, parts[0]),) if parts[1] is None else ((name, parts[0]), (name, parts[1]))

    return st.tuples(single, upper).map(pairs)


def _missing(name: str) -> SearchStrategy[Pairs]:
    return st.sampled_from(("true", "false")).map(_pair(name + ":missing"))


def _per_group(groups: Groups, name: str) -> list[SearchStrategy[Pairs]]:
    """One option per value group (exact forms, other case, prefix, other system, other UID form, ...):
    a near miss gets the share of a modifier, however many exact values the parameter has."""
    return [_or_list([group]).map(_pair(name)) for group in groups]


def _criterion_options(pair: _Pair, rtype: str, param: SearchParam) -> list[SearchStrategy[Pairs]]:
    """The ways to ask one parameter, each drawn as often as another: modifier x value group, then :missing."""
    name = param.name
    options: list[SearchStrategy[Pairs]] = []
    if param.type == "token":
        tokens = pair.groups(lambda ix: _token_values(param, ix.values(rtype, param)))
        options += _per_group(tokens, name)
        # :not takes one value: R4 does not say whether `:not=a,b` is "neither" or "not both"
        # a modifier weighs as two value groups (a token parameter has up to five of them)
        options += [_one(tokens).map(_pair(name + ":not"))] * 2
        of_type = pair.groups(lambda ix: _of_type_values(ix.values(rtype, param)))
        if of_type:
            options += [_or_list(of_type).map(_pair(name + ":of-type"))] * 2
    elif param.type == "date":
        # one option per value group (years / inside wide targets / days / seconds), every prefix in each
        options += [_date_criterion(name, [group])
                    for group in pair.groups(lambda ix: _date_values(ix.values(rtype, param)))]
        inside = pair.groups(lambda ix: _inside_values(ix.values(rtype, param)))
        if inside:  # sa/eb against a value inside a wide target: where they differ from gt/lt
            options.append(_date_criterion(name, inside, EDGE_PREFIXES))
    elif param.type == "string":
        by_mod = {mod: pair.groups(lambda ix, m=mod: _string_values(ix.values(rtype, param))[m])  # type: ignore[misc]
                  for mod in (None, "exact", "contains")}
        options += _per_group(by_mod[None], name) + _per_group(by_mod["exact"], name + ":exact")
        options.append(_or_list(by_mod["contains"]).map(_pair(name + ":contains")))
    elif param.type == "uri":
        options += _per_group(pair.groups(lambda ix: _uri_values(ix.values(rtype, param))), name)
    elif param.type == "reference":
        plain, typed, identifiers = pair.references(rtype, param)
        options += _per_group(plain, name)
        for target, ids in typed.items():
            options.append(_or_list([ids]).map(_pair(f"{name}:{target}")))
        if identifiers:
            options.append(_or_list(identifiers).map(_pair(name + ":identifier")))
    elif param.type == "composite":
        options += _per_group(pair.groups(lambda ix: _composite_values(ix, param, ix.values(rtype, param))), name)
    else:
        return []
    return [*options, _missing(name)]


def _composite_values(index: _Index, param: SearchParam, values: list[Any]) -> _Raw:
    """DocumentReference relationship: ``code$reference`` (the registry's only composite here)."""
    out: list[str] = []
    near: list[str] = []
    for value in values:
        if not isinstance(value, dict):
            continue
        code = value.get("code")
        target = value.get("target")
        literal = target.get("reference") if isinstance(target, dict) else None
        rel = index.relative(literal) if isinstance(literal, str) else None
        if isinstance(code, str) and rel:
            out.append(f"{escape(code)}${rel}")
            near += [f"{escape(code)}x${rel}", f"{escape(code)}${rel}x"]
    return _raw(out, near, fallback="replaces$DocumentReference/no-such-id")


def _chain_criterion(pair: _Pair, rtype: str, chain: str) -> SearchStrategy[Pairs] | None:
    """``ref.param=value`` or ``ref:Target.param=value``; values from the resources the chain reaches."""
    head, _, terminal = chain.partition(".")
    ref_name, _, target_type = head.partition(":")
    ref = get_param(rtype, ref_name)
    if ref is None or not terminal:
        return None
    types = (target_type,) if target_type else ref.targets
    index = pair.canon  # which fixtures a chain reaches: the same in every run
    reached: dict[str, dict[str, Any]] = {}
    for value in index.values(rtype, ref):
        literal = value.get("reference") if isinstance(value, dict) else None
        rel = index.relative(literal) if isinstance(literal, str) else None
        if rel and rel in index.by_ref and rel.split("/")[0] in types:
            reached[rel] = index.by_ref[rel]
    if not reached:
        return None
    ttype = next(iter(reached.values()))["resourceType"]
    tparam = get_param(ttype, terminal)
    if tparam is None:
        return None

    def tvalues(ix: _Index) -> list[Any]:
        return [v for res in ix.by_type.get(ttype, []) for v in extract_values(res, tparam)]

    if tparam.type == "token":
        return _or_list(pair.groups(lambda ix: _token_values(tparam, tvalues(ix)))).map(_pair(chain))
    if tparam.type == "string":
        return _or_list(pair.groups(lambda ix: _string_values(tvalues(ix))[None])).map(_pair(chain))
    if tparam.type == "date":
        # no ne: whether a target without a value matches ne is left open (match.left_open), and the
        # oracle cannot see through a chain to leave it unjudged
        prefixes = tuple(p for p in DATE_PREFIXES if p != "ne")
        prefixed = st.tuples(st.sampled_from(prefixes), _one(pair.groups(lambda ix: _date_values(tvalues(ix))))).map("".join)
        return prefixed.map(_pair(chain))
    return None


# --- a whole query ----------------------------------------------------------------------------------

def _sort_keys(index: _Index, rtype: str, names: Iterable[str]) -> list[str]:
    """Keys whose order R4 leaves no doubt about: dates and bound codes (no collation, no reference
    order), and only where every resource has at most one plain value (no Period, no several values:
    which bound or which value places a resource is the server's choice)."""
    keys = []
    for name in names:
        param = get_param(rtype, name)
        if param is None or not (param.type == "date" or (param.type == "token" and param.code_system)):
            continue
        per_resource = [extract_values(res, param) for res in index.by_type.get(rtype, [])]
        if all(len(vals) <= 1 and all(isinstance(v, str) for v in vals) for vals in per_resource):
            keys.append(name)
    return keys


def _sort_value(keys: list[str]) -> SearchStrategy[str]:
    key = st.tuples(st.sampled_from(("", "-")), _choice(keys)).map("".join)
    return st.lists(key, min_size=1, max_size=3, unique_by=lambda k: k.lstrip("-")).map(",".join)


def _opaque(strategy: SearchStrategy[Pairs]) -> SearchStrategy[Pairs]:
    """The same strategy behind a short repr (Hypothesis may render a strategy; ours are hundreds deep)."""
    return st.deferred(lambda: strategy)


def _first(one: tuple[Pairs]) -> Pairs:
    return one[0]


def _param_rank(rtype: str, name: str) -> tuple[int, bool, str]:
    """Type group, then the type's own parameters before the common ``_`` ones (simplest first when shrinking)."""
    if "." in name:
        return 9, False, name
    param = get_param(rtype, name)
    return (_TYPE_RANK.get(param.type, 8) if param else 10), name.startswith("_"), name


def _branch(options: list[SearchStrategy[Pairs]]) -> SearchStrategy[Pairs]:
    """One choice among `options`, kept one branch of an enclosing choice (st.one_of flattens nested
    one_of, even through .map; st.tuples does not) and behind a short repr."""
    return st.tuples(_opaque(st.one_of(options))).map(_first)


def _chain_options(pair: _Pair, rtype: str, chains: list[str]) -> list[SearchStrategy[Pairs]]:
    """The chains of one reference parameter: those ending in ``identifier`` (the chain IHE MHD ITI-67
    names: patient.identifier) as one option, every other chain as the other."""
    by_identifier: dict[bool, list[SearchStrategy[Pairs]]] = {}
    for chain in chains:
        strategy = _chain_criterion(pair, rtype, chain)
        if strategy is not None:
            by_identifier.setdefault(not chain.endswith(".identifier"), []).append(strategy)
    return [_branch(options) for _, options in sorted(by_identifier.items())]


def _criterion_count(draw: st.DrawFn, crit: SearchStrategy[Pairs]) -> list[Pairs]:
    # ~5 % none, 50 % one, 30 % two, 10 % three, 5 % four: one criterion shows an ignored or mismatched
    # parameter (more criteria mostly find nothing, whatever the server does with the one under test).
    # Sorted: Hypothesis shrinks a count toward the start, to fewer criteria.
    n = draw(st.sampled_from(_CRITERIA_COUNTS))
    return [draw(crit) for _ in range(n)]


def _type_queries(pair: _Pair, plan: FuzzPlan, rtype: str) -> SearchStrategy[FuzzQuery]:
    allowed = plan.params.get(rtype, ())
    index = pair.canon  # what exists (a parameter with values, sort keys): the same in every run
    # Each criterion: first a parameter, every declared one as likely as another (the chains of one
    # reference parameter count as one; the parameters no fixture has a value for share one choice: their
    # values can only be made up), then one of its ways (modifier x value group, :missing).
    slots: list[tuple[tuple[int, bool, str], SearchStrategy[Pairs]]] = []
    chains: dict[str, list[str]] = {}
    no_value: list[SearchStrategy[Pairs]] = []
    for name in sorted((n for n in allowed if not n.startswith(("_sort", "_count", "_include"))),
                       key=lambda n: _param_rank(rtype, n)):
        if "." in name:
            chains.setdefault(name.partition(".")[0].partition(":")[0], []).append(name)
            continue
        param = get_param(rtype, name)
        options = _criterion_options(pair, rtype, param) if param is not None else []
        if param is None or not options:
            continue
        if not index.values(rtype, param):
            no_value.append(_branch(options))
        else:
            slots.append((_param_rank(rtype, name), _branch(options)))
    for head, names in chains.items():
        chain_options = _chain_options(pair, rtype, names)
        if chain_options:
            slots.append(((9, False, head), _branch(chain_options)))
    criteria = [strategy for _, strategy in sorted(slots, key=lambda slot: slot[0])]
    if no_value:
        criteria.append(_branch(no_value))
    crit = st.one_of(criteria) if criteria else st.nothing()
    sort_keys = _sort_keys(index, rtype, allowed) if "_sort" in allowed else []
    includes = list(plan.includes.get(rtype, ())) if "_include" in allowed else []
    patients = (pair.ids("Patient")
                if plan.compartment and compartment_params("Patient", rtype) and rtype != "Patient" else [])

    # Every part is built once here (building strategies per draw costs more than drawing them).
    criteria_s = st.composite(_criterion_count)(crit)
    sort_s: SearchStrategy[str | None] = (st.none() | _sort_value(sort_keys)) if sort_keys else st.none()
    count_s: SearchStrategy[int | None] = (st.none() | st.integers(min_value=1, max_value=5)) \
        if "_count" in allowed else st.none()
    include_s = st.lists(_choice(includes), max_size=2, unique=True) if includes else st.just([])
    # a compartment narrows the answer to one patient's (where an ignored criterion shows less): 1 in 4
    patient_s: SearchStrategy[str | None] = st.one_of(st.none(), st.none(), st.none(), _choice(patients)) \
        if patients else st.none()
    method_s: SearchStrategy[Literal["GET", "POST"]] = st.sampled_from(("GET", "POST"))

    def build(parts: tuple[list[Pairs], str | None, int | None, list[str], str | None, Literal["GET", "POST"]]
              ) -> FuzzQuery:
        groups, sort, count, included, patient, method = parts
        pairs = [pair for group in groups for pair in group]
        if sort:
            pairs.append(("_sort", sort))
        if count is not None:
            pairs.append(("_count", str(count)))
        pairs += [("_include", v) for v in included]
        if patient:  # Patient/[id]/[type] is a GET (no POST form of a compartment search here)
            return FuzzQuery(rtype, tuple(pairs), ("Patient", patient), "GET")
        return FuzzQuery(rtype, tuple(pairs), None, method)

    return st.tuples(criteria_s, sort_s, count_s, include_s, patient_s, method_s).map(build)


def search_queries(universe: Universe, plan: FuzzPlan, *, canonical: bool = False) -> SearchStrategy[FuzzQuery]:
    """R4 searches of the plan's types over the universe's resources, simplest first.

    What a seed draws (the shapes, and which candidate: "slot") depends on the plan and the fixtures'
    canonical form only, not on server ids or per-run UIDs (module ``canonical``); ``canonical`` renders
    those slots (the canonical values) instead of the values sent."""
    pair = _pair_of(universe, canonical)
    per_type = [_type_queries(pair, plan, t) for t in plan.resource_types]
    if not per_type:
        return st.nothing()
    queries = st.one_of(per_type)
    # deferred: a short repr (Hypothesis would otherwise render every candidate value, tens of kB)
    return st.deferred(lambda: queries)


def criterion_values(universe: Universe, resource_type: str, name: str, *, canonical: bool = False
                     ) -> Mapping[str, list[str]]:
    """The candidate values the generator draws for one parameter (by modifier), for tests and reports."""
    pair = _pair_of(universe, canonical)
    param = get_param(resource_type, name)
    if param is None:
        return {}
    p: SearchParam = param

    def values(ix: _Index) -> list[Any]:
        return ix.values(resource_type, p)

    if p.type == "token":
        return {"": _flat(pair.groups(lambda ix: _token_values(p, values(ix)))),
                "of-type": _flat(pair.groups(lambda ix: _of_type_values(values(ix))))}
    if p.type == "date":
        return {"": _flat(pair.groups(lambda ix: _date_values(values(ix))))}
    if p.type == "string":
        return {mod or "": _flat(pair.groups(lambda ix, m=mod: _string_values(values(ix))[m]))  # type: ignore[misc]
                for mod in (None, "exact", "contains")}
    if p.type == "uri":
        return {"": _flat(pair.groups(lambda ix: _uri_values(values(ix))))}
    if p.type == "reference":
        plain, typed, identifiers = pair.references(resource_type, p)
        return {"": _flat(plain), "identifier": _flat(identifiers), **typed}
    if p.type == "composite":
        return {"": _flat(pair.groups(lambda ix: _composite_values(ix, p, values(ix))))}
    return {}

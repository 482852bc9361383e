"""Does a resource satisfy a criterion? R4 search semantics per parameter type (§B.6–B.9)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import dates
from .extract import evaluate, values as extract_values
from .profiles import hidden_by_profile
from .query import Criterion, SearchQuery
from .registry import SearchParam, get_param
from .text import exact_form, fold, split_unescaped, unescape

Resolver = Callable[[str], "dict[str, Any] | None"]

_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_REST_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$")


def resource_matches(
    resource: dict[str, Any], query: SearchQuery, *, resolver: Resolver | None = None,
    base_url: str | None = None,
) -> bool:
    """All criteria hold (repeated parameters are AND)."""
    if resource.get("resourceType") != query.resource_type:
        return False
    if hidden_by_profile(resource, query) is not None:  # MHD: entered-in-error is not a document
        return False
    return all(matches(resource, c, resolver=resolver, base_url=base_url) for c in query.criteria)


def left_open(resource: dict[str, Any], criterion: Criterion) -> bool:
    """R4 leaves this resource's match open: a date ``ne`` criterion on a resource without a value.

    ``ne`` is defined on the target's range ("does not fully contain the range of the target
    value"); a resource with no value has no range, so a server may return it or not. The oracle
    judges such a resource neither way (the reference server leaves it out)."""
    if criterion.modifier or criterion.chain:
        return False
    param = criterion.param or get_param(resource.get("resourceType", ""), criterion.name)
    if param is None or param.type != "date" or not criterion.values:
        return False
    if any(dates.split_prefix(v)[0] != "ne" for v in criterion.values):
        return False
    return not any(dates.target_range(v) is not None for v in extract_values(resource, param))


def matches(
    resource: dict[str, Any], criterion: Criterion, *, resolver: Resolver | None = None,
    base_url: str | None = None,
) -> bool:
    param = criterion.param or get_param(resource.get("resourceType", ""), criterion.name)
    if param is None or param.resource_type != resource.get("resourceType"):
        return False
    raw = criterion.raw_values or criterion.values
    base = base_url.rstrip("/") if base_url else None
    items = extract_values(resource, param)
    if param.type == "reference":
        refs = _filter_refs(param, criterion.modifier, [r for v in items for r in _ref_items(v, base)])
        if criterion.chain:
            return _match_chain(refs, criterion, resolver, base)
        if criterion.modifier == "missing":
            return (not refs) == (criterion.values[0] == "true")
        return any(_ref_match(param, criterion.modifier, r, v, base) for r in refs for v in raw)
    if criterion.modifier == "missing":
        return (not items) == (criterion.values[0] == "true")
    if param.type == "token":
        return _token(items, raw, criterion.modifier, param.code_system or None)
    if param.type == "string":
        return _string(items, criterion.values, criterion.modifier)
    if param.type == "date":
        ranges = [r for v in items if (r := dates.target_range(v)) is not None]
        searches = [dates.parse_search(v) for v in criterion.values]
        return any(dates.compare(p, s, t) for p, s in searches for t in ranges)
    if param.type == "uri":
        return _uri(items, criterion.values, criterion.modifier)
    if param.type == "number":
        return any(_number(v, it) for v in criterion.values for it in items)
    if param.type == "quantity":
        return any(_quantity(v, it) for v in raw for it in items if isinstance(it, dict))
    if param.type == "composite":
        return any(_composite(param, el, v, base) for el in items for v in raw)
    return False


# --- token ------------------------------------------------------------------------------------

@dataclass
class TokenItem:
    system: str | None
    code: str | None
    texts: list[str] = field(default_factory=list)
    id_types: list[tuple[str | None, str | None]] = field(default_factory=list)  # Identifier.type


def token_items(value: Any, code_system: str | None = None) -> list[TokenItem]:
    """Coding, CodeableConcept, Identifier, ContactPoint or a primitive.

    Per the R4 token table a `code` has the implicit system of its binding (`code_system`);
    id, string, uri, boolean and ContactPoint.value have none (the boolean system is "never
    actually used").
    """
    if isinstance(value, bool):
        return [TokenItem(None, "true" if value else "false")]
    if isinstance(value, str):
        return [TokenItem(code_system, value)]
    if isinstance(value, (int, float, Decimal)):
        return [TokenItem(None, str(value))]
    if not isinstance(value, dict):
        return []
    if "coding" in value or ("text" in value and "code" not in value and "value" not in value):
        concept_text = [value["text"]] if value.get("text") else []
        out = [
            TokenItem(c.get("system"), c.get("code"), concept_text + ([c["display"]] if c.get("display") else []))
            for c in value.get("coding", []) if isinstance(c, dict)
        ]
        return out or [TokenItem(None, None, concept_text)]
    if "value" in value or "type" in value:
        if "rank" in value or value.get("system") in _CONTACT_SYSTEMS:
            return [TokenItem(None, value.get("value"))]  # ContactPoint: the value only, no system
        itype = value.get("type") or {}
        types = [(c.get("system"), c.get("code")) for c in itype.get("coding", []) if isinstance(c, dict)]
        return [TokenItem(value.get("system"), value.get("value"), [itype["text"]] if itype.get("text") else [], types)]
    if "code" in value or "system" in value:
        return [TokenItem(value.get("system"), value.get("code"), [value["display"]] if value.get("display") else [])]
    return []


def parse_token(raw: str) -> tuple[str | None, str]:
    """(system, code): system None = any system, "" = no system; code "" = any code."""
    parts = split_unescaped(raw, "|")
    if len(parts) == 1:
        return None, unescape(parts[0])
    return unescape(parts[0]), unescape("|".join(parts[1:]))


def token_match(item: TokenItem, raw: str) -> bool:
    system, code = parse_token(raw)
    if system is None:
        return item.code is not None and item.code == code
    if system == "":
        return not item.system and item.code == code
    if code == "":
        return item.system == system
    return item.system == system and item.code == code


def _token(values: list[Any], raw_values: list[str], modifier: str | None, code_system: str | None = None) -> bool:
    items = [t for v in values for t in token_items(v, code_system)]
    if modifier == "not":  # also true when the element is absent (R4 :not)
        return not any(token_match(i, r) for i in items for r in raw_values)
    if modifier == "text":
        wanted = [fold(unescape(r)) for r in raw_values]
        return any(fold(t).startswith(w) for i in items for t in i.texts for w in wanted)
    if modifier == "of-type":
        for r in raw_values:
            tsys, tcode, val = (unescape(p) for p in split_unescaped(r, "|"))
            if any(i.code == val and (tsys, tcode) in i.id_types for i in items):
                return True
        return False
    return any(token_match(i, r) for i in items for r in raw_values)


# --- reference --------------------------------------------------------------------------------

@dataclass
class RefItem:
    type: str | None
    id: str | None
    version: str | None = None
    absolute: str | None = None  # set when the reference points outside this server
    identifier: dict[str, Any] | None = None
    resource: dict[str, Any] | None = None  # an embedded resource (Bundle.entry[0].resource)


def _strip_base(literal: str, base: str | None) -> str:
    if base and literal.startswith(base + "/"):
        return literal[len(base) + 1:]
    return literal


def _ref_items(value: Any, base: str | None) -> list[RefItem]:
    if isinstance(value, dict) and "resourceType" in value:
        return [RefItem(value["resourceType"], value.get("id"), resource=value)]
    if isinstance(value, str):
        value = {"reference": value}
    if not isinstance(value, dict):
        return []
    ident = value.get("identifier") if isinstance(value.get("identifier"), dict) else None
    literal = value.get("reference")
    if not isinstance(literal, str) or not literal:
        return [RefItem(value.get("type"), None, identifier=ident)] if ident or value.get("type") else []
    if literal.startswith("#"):
        return [RefItem(value.get("type"), None, identifier=ident)]
    literal = _strip_base(literal, base)
    m = _REST_TAIL.search(literal)
    if _ABSOLUTE.match(literal):
        absolute = literal[: m.start(3) - len("/_history/")] if m and m.group(3) else literal
        return [RefItem(m.group(1) if m else value.get("type"), m.group(2) if m else None,
                        m.group(3) if m else None, absolute, ident)]
    if m and m.start() == 0:
        return [RefItem(m.group(1), m.group(2), m.group(3), None, ident)]
    return [RefItem(value.get("type"), None, identifier=ident)]


def _filter_refs(param: SearchParam, modifier: str | None, refs: list[RefItem]) -> list[RefItem]:
    if modifier and modifier[0].isupper():
        refs = [r for r in refs if r.type == modifier]
    if param.restricts_target:  # e.g. patient = subject.where(resolve() is Patient)
        refs = [r for r in refs if r.type in param.targets]
    return refs


def _ref_match(param: SearchParam, modifier: str | None, ref: RefItem, raw: str, base: str | None) -> bool:
    if modifier == "identifier":
        return ref.identifier is not None and any(token_match(t, raw) for t in token_items(ref.identifier))
    value = _strip_base(unescape(raw), base)
    if _ABSOLUTE.match(value):  # another server's URL (or a URN): compare literally
        m = _REST_TAIL.search(value)
        if m and m.group(3):
            return ref.absolute == value[: m.start(3) - len("/_history/")] and ref.version == m.group(3)
        return ref.absolute == value
    if ref.absolute is not None or ref.id is None:
        return False
    parts = value.split("/")
    if len(parts) == 1:  # bare id: any permitted target type
        if modifier and modifier[0].isupper():
            return ref.type == modifier and ref.id == value
        return ref.id == value and (not param.targets or ref.type in param.targets)
    if len(parts) == 2:
        return ref.type == parts[0] and ref.id == parts[1]
    if len(parts) == 4 and parts[2] == "_history":
        return ref.type == parts[0] and ref.id == parts[1] and ref.version == parts[3]
    return False


def _match_chain(refs: list[RefItem], crit: Criterion, resolver: Resolver | None, base: str | None) -> bool:
    step, rest = crit.chain[0], crit.chain[1:]
    name, _, mod = step.partition(":")
    for ref in refs:
        target = ref.resource
        if target is None and resolver is not None:
            if ref.absolute is not None:
                target = resolver(ref.absolute)
            elif ref.type and ref.id:
                target = resolver(f"{ref.type}/{ref.id}")
        if not target:
            continue
        sub_param = get_param(target.get("resourceType", ""), name)
        if sub_param is None:
            continue
        sub = Criterion(name, mod or None, crit.values, sub_param, rest, crit.raw_values, step, crit.raw_value)
        if matches(target, sub, resolver=resolver, base_url=base):
            return True
    return False


# --- string, uri ------------------------------------------------------------------------------

_NAME_PARTS = ("family", "given", "text", "prefix", "suffix")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def string_parts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    keys = _ADDRESS_PARTS if any(k in value for k in ("line", "city", "postalCode", "country", "district", "state")) \
        else _NAME_PARTS
    out: list[str] = []
    for k in keys:
        v = value.get(k)
        out += [x for x in v if isinstance(x, str)] if isinstance(v, list) else [v] if isinstance(v, str) else []
    return out


def _string(values: list[Any], wanted: list[str], modifier: str | None) -> bool:
    parts = [p for v in values for p in string_parts(v)]
    if modifier == "exact":
        exact = {exact_form(w) for w in wanted}
        return any(exact_form(p) in exact for p in parts)
    folded = [fold(w) for w in wanted]
    if modifier == "contains":
        return any(w in fold(p) for p in parts for w in folded)
    return any(fold(p).startswith(w) for p in parts for w in folded)


def _uri(values: list[Any], wanted: list[str], modifier: str | None) -> bool:
    items = [v for v in values if isinstance(v, str)]
    if modifier == "below":
        return any(i.startswith(w) for i in items for w in wanted)
    if modifier == "above":
        return any(w.startswith(i) for i in items for w in wanted)
    return any(i == w for i in items for w in wanted)


# --- number, quantity, composite ----------------------------------------------------------------

def _number(search: str, target: Any) -> bool:
    prefix, text = (search[:2], search[2:]) if search[:2] in dates.PREFIXES else ("eq", search)
    try:
        value = Decimal(text)
        actual = Decimal(str(target))
    except (InvalidOperation, ValueError):
        return False
    exponent = value.as_tuple().exponent
    half = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0) / 2  # implicit precision
    low, high = value - half, value + half
    return {
        "eq": low <= actual < high, "ne": not (low <= actual < high),
        "gt": actual > value, "lt": actual < value, "ge": actual >= value, "le": actual <= value,
        "sa": actual > value, "eb": actual < value,
        "ap": abs(actual - value) <= abs(value) / 10,
    }[prefix]


def _quantity(raw: str, target: dict[str, Any]) -> bool:
    parts = [unescape(p) for p in split_unescaped(raw, "|")]
    if "value" not in target or not _number(parts[0], target["value"]):
        return False
    if len(parts) == 3:
        system, code = parts[1], parts[2]
        if system and target.get("system") != system:
            return False
        if code and code not in (target.get("code"), target.get("unit")):
            return False
    return True


def _composite(param: SearchParam, element: Any, raw: str, base: str | None) -> bool:
    pieces = split_unescaped(raw, "$")
    if not isinstance(element, dict) or len(pieces) != len(param.components):
        return False
    for (ctype, expr), piece in zip(param.components, pieces, strict=True):
        vals = evaluate(element, expr, typed=False)
        if ctype == "token" and not _token(vals, [piece], None):
            return False
        if ctype == "reference" and not any(
            _ref_match(param, None, r, piece, base) for v in vals for r in _ref_items(v, base)
        ):
            return False
    return True


def local_references(resource: dict[str, Any], param: SearchParam, base_url: str | None = None) -> list[str]:
    """`Type/id` of every reference of `param` that points into this server (for _include)."""
    base = base_url.rstrip("/") if base_url else None
    refs = _filter_refs(param, None, [r for v in extract_values(resource, param) for r in _ref_items(v, base)])
    return [f"{r.type}/{r.id}" for r in refs if r.absolute is None and r.resource is None and r.type and r.id]

"""Parse decoded query pairs into criteria and result parameters (R4 search.html).

Repeated parameters are AND (one Criterion each); commas inside a value are OR. Names are
case-sensitive. Anything the module cannot honour lands in `unknown` with a reason; values that
are syntactically wrong for the parameter type also land in `invalid` so a server can answer 400
even in lenient mode (REST-033) while merely dropping unknown parameters (REST-034).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from . import dates
from .registry import SearchParam, get_param, resource_types
from .text import split_unescaped, unescape

_TYPE_MODIFIERS = {
    "token": {"missing", "not", "text", "of-type"},
    "reference": {"missing", "identifier"},  # plus a resource type, e.g. subject:Patient
    "date": {"missing"},
    "string": {"missing", "exact", "contains"},
    "uri": {"missing", "below", "above"},
    "number": {"missing"},
    "quantity": {"missing"},
    "composite": {"missing"},
    "special": {"missing"},
}
# Known in R4 but needing terminology or a different engine: recognised, reported as unsupported.
_UNSUPPORTED_MODIFIERS = {"in", "not-in", "below", "above"}
_UNSUPPORTED_SPECIAL = {
    "_text", "_content", "_list", "_has", "_type", "_query", "_filter", "_containedType",
}
RESULT_PARAMS = {
    "_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_format",
    "_contained", "_pretty",
}
SUMMARY_VALUES = {"true", "false", "text", "data", "count"}
TOTAL_VALUES = {"none", "estimate", "accurate"}
SORTABLE_TYPES = {"date", "string", "token", "uri", "number", "quantity", "reference"}


@dataclass
class Criterion:
    name: str
    modifier: str | None
    values: list[str]  # comma-split and unescaped (OR)
    param: SearchParam | None
    chain: list[str] = field(default_factory=list)  # e.g. ["identifier"]; a step may be "family:exact"
    raw_values: list[str] = field(default_factory=list)  # comma-split, escapes kept (for `|` and `$`)
    raw_name: str = ""  # as sent, e.g. "patient.identifier" or "subject:Patient"
    raw_value: str = ""


@dataclass(frozen=True)
class Include:
    source_type: str  # "*" for _include=*
    param: str  # "*" for all reference parameters
    target_type: str | None = None
    iterate: bool = False
    reverse: bool = False

    def as_pair(self) -> tuple[str, str]:
        name = "_revinclude" if self.reverse else "_include"
        if self.iterate:
            name += ":iterate"
        if self.source_type == "*":
            return name, "*"
        value = f"{self.source_type}:{self.param}"
        return name, value + (f":{self.target_type}" if self.target_type else "")


@dataclass
class SearchQuery:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (name, descending)
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    total: str | None = None
    format: str | None = None
    contained: str | None = None
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (name as sent, reason)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # subset of unknown: bad values

    def used_pairs(self) -> list[tuple[str, str]]:
        """The parameters actually applied, for the self link (REST-042); _format is left out."""
        pairs = [(c.raw_name, c.raw_value) for c in self.criteria]
        if self.sort:
            pairs.append(("_sort", ",".join(("-" if d else "") + n for n, d in self.sort)))
        pairs += [i.as_pair() for i in self.include + self.revinclude]
        for name, value in (("_summary", self.summary), ("_total", self.total), ("_contained", self.contained)):
            if value is not None:
                pairs.append((name, value))
        if self.elements:
            pairs.append(("_elements", ",".join(self.elements)))
        if self.count is not None:
            pairs.append(("_count", str(self.count)))
        return pairs


class _Reject(Exception):
    def __init__(self, reason: str, invalid: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invalid = invalid


def parse_query(resource_type: str, pairs: list[tuple[str, str]]) -> SearchQuery:
    q = SearchQuery(resource_type)
    for name, value in pairs:
        try:
            if name.split(":", 1)[0] in RESULT_PARAMS:
                _result_param(q, name, value)
            else:
                crit = _criterion(resource_type, name, value)
                if crit is not None:
                    q.criteria.append(crit)
        except _Reject as rej:
            q.unknown.append((name, rej.reason))
            if rej.invalid:
                q.invalid.append((name, rej.reason))
    return q


def parse_criterion(resource_type: str, name: str, value: str) -> Criterion | None:
    """One filter parameter, or None when it is unknown, unsupported or invalid."""
    try:
        return _criterion(resource_type, name, value)
    except _Reject:
        return None


def _criterion(resource_type: str, name: str, value: str) -> Criterion | None:
    """One filter parameter; raises _Reject (unknown/invalid). Empty values are ignored (R4)."""
    head, _, rest = name.partition(".")
    chain = rest.split(".") if rest else []
    pname, _, modifier = head.partition(":")
    if pname in _UNSUPPORTED_SPECIAL:
        raise _Reject(f"parameter {pname} is not supported")
    param = get_param(resource_type, pname)
    if param is None:
        raise _Reject(f"unknown search parameter {pname!r} for {resource_type}")
    mod = modifier or None
    if value == "":
        raise _Reject("empty value: parameter ignored")
    _check_modifier(param, mod)
    if chain:
        if param.type != "reference":
            raise _Reject(f"{pname} is not a reference parameter and cannot be chained")
        if mod is not None and not _is_type_name(mod):
            raise _Reject(f"modifier :{mod} cannot be combined with a chain")
        terminal = _chain_terminal(param, mod, chain)
        _, _, term_mod = chain[-1].partition(":")
        _check_modifier(terminal, term_mod or None)
        check_type, check_mod = terminal.type, term_mod or None
    else:
        check_type, check_mod = param.type, mod
    raw_values = split_unescaped(value, ",")
    if check_mod == "missing":
        if value not in ("true", "false"):
            raise _Reject(f":missing takes true or false, not {value!r}", invalid=True)
    else:
        for raw in raw_values:
            _check_value(check_type, check_mod, raw)
    return Criterion(
        name=pname, modifier=mod, values=[unescape(v) for v in raw_values], param=param,
        chain=chain, raw_values=raw_values, raw_name=name, raw_value=value,
    )


def _is_type_name(mod: str | None) -> bool:
    return mod is not None and mod[:1].isupper()


def _check_modifier(param: SearchParam, mod: str | None) -> None:
    if mod is None:
        return
    if param.type == "reference" and _is_type_name(mod):
        if param.targets and mod not in param.targets:
            raise _Reject(f"{param.name} cannot refer to {mod}")
        return
    if mod in _TYPE_MODIFIERS.get(param.type, set()):
        return
    if mod in _UNSUPPORTED_MODIFIERS:
        raise _Reject(f"modifier :{mod} is not supported on {param.name}")
    raise _Reject(f"modifier :{mod} is not valid on a {param.type} parameter")


def _chain_terminal(param: SearchParam, mod: str | None, chain: list[str]) -> SearchParam:
    """Walk the chain over the possible target types and return the last parameter found."""
    current = [param]
    types = [mod] if mod else list(param.targets or resource_types())
    for i, step in enumerate(chain):
        step_name, _, step_mod = step.partition(":")
        found = [p for t in types if (p := get_param(t, step_name)) is not None]
        if not found:
            raise _Reject(f"chain step {step_name!r} is not a parameter of {'/'.join(types)}")
        if i < len(chain) - 1:
            found = [p for p in found if p.type == "reference"]
            if not found or step_mod:
                raise _Reject(f"chain step {step_name!r} must be a plain reference parameter")
            types = sorted({t for p in found for t in (p.targets or resource_types())})
        current = found
    # Candidates should agree on type; the first one stands for validation.
    return current[0]


def _check_value(ptype: str, mod: str | None, raw: str) -> None:
    if raw == "":
        raise _Reject("empty value in a comma-separated list", invalid=True)
    if ptype == "date":
        try:
            dates.parse_search(unescape(raw))
        except dates.DateError as exc:
            raise _Reject(str(exc), invalid=True) from None
    elif ptype == "token" and mod == "of-type":
        if len(split_unescaped(raw, "|")) != 3:
            raise _Reject(":of-type takes type-system|type-code|value", invalid=True)
    elif ptype in ("number", "quantity"):
        num = split_unescaped(raw, "|")[0]
        if num[:2] in dates.PREFIXES:
            num = num[2:]
        try:
            Decimal(num)
        except InvalidOperation:
            raise _Reject(f"not a number: {raw!r}", invalid=True) from None
        if ptype == "quantity" and len(split_unescaped(raw, "|")) not in (1, 3):
            raise _Reject("quantity takes number or number|system|code", invalid=True)
    elif ptype == "composite" and "$" not in raw:
        raise _Reject("composite value needs the form a$b", invalid=True)


def _result_param(q: SearchQuery, name: str, value: str) -> None:
    base, _, mod = name.partition(":")
    if base in ("_include", "_revinclude"):
        if mod not in ("", "iterate"):
            raise _Reject(f"modifier :{mod} is not supported on {base} (R4 uses :iterate)")
        inc = _parse_include(q.resource_type, value, iterate=mod == "iterate", reverse=base == "_revinclude")
        (q.revinclude if inc.reverse else q.include).append(inc)
        return
    if mod:
        raise _Reject(f"{base} takes no modifier")
    if base == "_count":
        if not value.isdigit():
            raise _Reject(f"_count must be a non-negative integer, not {value!r}", invalid=True)
        q.count = int(value)
    elif base == "_sort":
        for item in value.split(","):
            desc = item.startswith("-")
            key = item[1:] if desc else item
            p = get_param(q.resource_type, key)
            if p is None or p.type not in SORTABLE_TYPES:
                q.unknown.append(("_sort", f"cannot sort by {key!r}"))
                continue
            q.sort.append((key, desc))
    elif base == "_summary":
        if value not in SUMMARY_VALUES:
            raise _Reject(f"_summary must be one of {sorted(SUMMARY_VALUES)}", invalid=True)
        q.summary = value
    elif base == "_elements":
        q.elements = [e for e in (v.strip() for v in value.split(",")) if e]
    elif base == "_total":
        if value not in TOTAL_VALUES:
            raise _Reject(f"_total must be one of {sorted(TOTAL_VALUES)}", invalid=True)
        q.total = value
    elif base == "_contained":
        if value not in ("true", "false", "both"):
            raise _Reject("_contained must be true, false or both", invalid=True)
        if value != "false":
            raise _Reject("contained resources are not returned as matches by this server")
        q.contained = value
    elif base == "_format":
        q.format = value
    # _pretty is accepted and has no effect on meaning.


def _parse_include(rtype: str, value: str, *, iterate: bool, reverse: bool) -> Include:
    if value == "*":
        return Include("*", "*", None, iterate, reverse)
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise _Reject(f"include value must be Type:param[:target], not {value!r}", invalid=True)
    src, pname = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not reverse and src != rtype and not iterate:
        raise _Reject(f"_include source {src} is not the searched type {rtype}")
    if pname != "*":
        p = get_param(src, pname)
        if p is None or p.type != "reference":
            raise _Reject(f"{src}:{pname} is not a reference parameter")
        if target and p.targets and target not in p.targets:
            raise _Reject(f"{src}:{pname} cannot refer to {target}")
    return Include(src, pname, target, iterate, reverse)

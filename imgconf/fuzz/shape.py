"""The shape of a generated query (the fuzz baseline key) and the cause of a defect (the dedupe key).

A shape keeps names, modifiers, prefixes and value kinds and drops concrete values:
``ImagingStudy?modality:not=<token:code>&started=ge<date:day>&_sort=-started``. Parameters are
sorted, so the same question asked in another order has the same shape; ids and dates of a run
never appear, so a shape is stable across runs, seeds and servers.
"""

from __future__ import annotations

import re

from imgconf.fuzz.model import Defect, FuzzQuery
from imgconf.searchparams import dates as search_dates, get_param
from imgconf.searchparams.query import parse_criterion
from imgconf.searchparams.text import split_unescaped

_PRECISION = (
    (re.compile(r"^\d{4}$"), "year"),
    (re.compile(r"^\d{4}-\d{2}$"), "month"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "day"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?$"), "minute"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?$"), "second"),
)
# Parameters whose value is itself a name list: kept as sent (no ids, no dates in them).
LITERAL_PARAMS = {"_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained", "_format"}


def _date_kind(value: str) -> str:
    prefix, rest = search_dates.split_prefix(value)
    explicit = value[:2] if prefix != "eq" or value.startswith("eq") else ""
    precision = next((name for pattern, name in _PRECISION if pattern.match(rest)), "fraction" if "." in rest else "?")
    return f"{explicit}<date:{precision}>"


def _token_kind(value: str, modifier: str | None) -> str:
    if modifier == "of-type":
        return "<token:type|value>"
    parts = split_unescaped(value, "|")
    if len(parts) == 1:
        return "<token:code>"
    system, code = parts[0], "|".join(parts[1:])
    if not system:
        return "<token:|code>"
    if not code:
        return "<token:system|>"
    return "<token:system|code>"


def _reference_kind(value: str) -> str:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", value):
        return "<ref:absolute>"
    parts = value.split("/")
    if len(parts) == 1:
        return "<ref:id>"
    if len(parts) == 2:
        return "<ref:Type/id>"
    return "<ref:versioned>" if "_history" in parts else "<ref:?>"


def _value_kind(ptype: str | None, modifier: str | None, value: str) -> str:
    if modifier == "missing":
        return "<bool>"
    if ptype == "token" or (ptype == "reference" and modifier == "identifier"):
        return _token_kind(value, modifier)
    if ptype == "date":
        return _date_kind(value)
    if ptype == "reference":
        return _reference_kind(value)
    if ptype in ("string", "uri", "composite", "number", "quantity"):
        return f"<{ptype}>"
    return "<value>"


def _criterion_shape(resource_type: str, name: str, value: str) -> str:
    if name.split(":", 1)[0] in LITERAL_PARAMS:
        return f"{name}={value}"
    if name == "_count":
        return "_count=<n>"
    crit = parse_criterion(resource_type, name, value)
    if crit is None or crit.param is None:
        return f"{name}=<value>"
    ptype: str | None = crit.param.type
    modifier = crit.modifier
    if crit.chain:  # the terminal parameter decides the kind
        step, _, step_mod = crit.chain[-1].partition(":")
        targets = [modifier] if modifier and modifier[:1].isupper() else list(crit.param.targets)
        terminal = next((p for t in targets if (p := get_param(t, step)) is not None), None)
        ptype, modifier = (terminal.type if terminal else None), (step_mod or None)
    kinds = sorted({_value_kind(ptype, modifier, v) for v in crit.raw_values})
    return f"{name}={','.join(kinds)}"


def query_shape(query: FuzzQuery) -> str:
    """Names, modifiers, prefixes and value kinds, parameters sorted; no concrete values."""
    where = "POST " if query.method == "POST" and not query.compartment else ""
    path = f"Patient/<id>/{query.resource_type}" if query.compartment else query.resource_type
    parts = sorted(_criterion_shape(query.resource_type, n, v) for n, v in query.params)
    return f"{where}{path}?{'&'.join(parts)}" if parts else f"{where}{path}"


def _prefixes(resource_type: str, name: str, values: list[str]) -> str:
    crit = parse_criterion(resource_type, name, ",".join(values))
    ptype = crit.param.type if crit and crit.param else None
    if crit is not None and crit.chain:
        step = crit.chain[-1].partition(":")[0]
        mod = crit.modifier
        targets = [mod] if mod and mod[:1].isupper() else list(crit.param.targets if crit.param else ())
        terminal = next((p for t in targets if (p := get_param(t, step)) is not None), None)
        ptype = terminal.type if terminal else None
    if ptype != "date" or crit is None or crit.modifier == "missing":
        return ""
    found = sorted({search_dates.split_prefix(v)[0] for v in crit.raw_values})
    return ":" + ",".join(found)


def cause_key(query: FuzzQuery, defect: Defect, culprit: str | None) -> str:
    """``<type> <param[:modifier]>[:<prefix>] <defect.kind>``: one finding per cause.

    `culprit` is the parameter the failing check names, as ``name`` or ``name=value`` (the oracle's
    wording); without one, the cause is the query's only criterion, ``_sort`` for an order defect,
    ``_include`` for an include defect, the compartment or POST for their defects, else ``*``."""
    criteria = [(n, v) for n, v in query.params if n.split(":", 1)[0] not in LITERAL_PARAMS and n != "_count"]
    name: str
    values: list[str]
    if culprit:
        name, sep, value = culprit.partition("=")
        name, value = name.strip(), value.split(" (", 1)[0]  # the oracle appends "(left open by R4)" and such
        values = [value] if sep else [v for n, v in criteria if n == name]
    elif defect.kind == "order" and any(n == "_sort" for n, _ in query.params):
        name, values = "_sort", []
    elif defect.kind == "include" and any(n.startswith("_include") for n, _ in query.params):
        name, values = "_include", []
    elif len({n for n, _ in criteria}) == 1:
        name, values = criteria[0][0], [v for n, v in criteria if n == criteria[0][0]]
    elif query.compartment:
        name, values = "compartment", []
    elif query.method == "POST":
        name, values = "_search", []
    else:
        name, values = "*", []
    prefix = _prefixes(query.resource_type, name, values) if values and not name.startswith("_sort") else ""
    return f"{query.resource_type} {name}{prefix} {defect.kind}"

"""A fast structural path with the findings of ``validate_resource`` (issue 15, item 1).

``validate_resource`` reads every resource with the ``fhir.resources`` R4B models: about 2 ms for a
20-instance ImagingStudy, almost all of it pydantic building model objects. ``fast_validate`` runs
the same type rules (``rule_findings``) and decides the structural part in tiers, each of which
answers only when it is sure and otherwise passes the resource on:

1. the draft-4 JSON Schema derived from the R4B models (:mod:`imgconf.validators.fastschema`,
   compiled by jsonschema-rs, ~20 µs for the 20-instance study): "clean";
2. a walk over the plain JSON with tables compiled once per model class from the definitions the
   model path reads (the element table of :mod:`imgconf.validators.jsonform`, the pydantic field
   annotations, ``get_required_fields`` / ``get_one_of_many_fields``): "clean" for what the schema
   is too narrow for (leap days, non-ASCII codes, other contained types); a primitive value its
   fast test does not accept asks the model's own pydantic validator for that type (cached);
3. for broken resources (``dirty_structural_findings``): when the only problems are JSON-form
   ones (REST-102, unknown elements) the JSON-form check's findings; when the only problems are
   primitive values of the right JSON type that the models reject, those values' errors from the
   model's validator, worded by ``structure.error_finding``;
4. otherwise the model path itself (``structural_findings``).

So the findings are those of the model path by construction; tests/test_fast_path.py checks each
tier on every example and on mutants.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from imgconf.validators import rule_findings, validate_resource
from imgconf.validators.fastschema import schema_validator
from imgconf.validators.findings import Finding
from imgconf.validators.jsonform import Element, elements, json_form_findings, json_kind_ok, unwrap_annotation
from imgconf.validators.nesting import within_reach
from imgconf.validators.structure import error_finding, model_class, structural_findings

FAST_TYPES = frozenset({"ImagingStudy", "DocumentReference", "Patient", "Endpoint", "Bundle", "Composition",
                        "DiagnosticReport"})

# Element kinds of a compiled table entry.
_PRIMITIVE, _COMPLEX, _RESOURCE = 0, 1, 2

Check = Callable[[Any], bool]
Spec = tuple[bool, int, Any]  # (repeats, kind, primitive check | model class | None)


class _Table(typing.NamedTuple):
    fields: dict[str, Spec]  # JSON name -> spec (the JSON-form element table: no `_x` twins)
    required: tuple[str, ...]  # elements the model requires (cardinality 1..)
    choices: tuple[tuple[tuple[str, ...], bool], ...]  # choice groups value[x]: (names, one required)
    primitives: dict[str, tuple[str, int]]  # JSON name -> (JSON kind, adapter index) of primitive elements
    known: frozenset[str]  # every name the JSON-form table knows, `_x` included
    field_names: frozenset[str]  # pydantic field names (the models also accept them in place of JSON names)


# --- primitives: a fast sufficient test, else the model's own validator --------------------------

_ID = re.compile(r"[A-Za-z0-9\-.]{1,255}")
_CODE = re.compile(r"[^\s]+(?: [^\s]+)*")
_OID = re.compile(r"urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+")
_INT_RANGES = {"integer": (-2147483648, 2147483647), "unsignedInt": (0, 2147483647),
               "positiveInt": (1, 2147483647)}


def _always(value: str) -> bool:
    return True


def _not_blank(value: str) -> bool:
    # R4B string pattern [ \r\n\t\S]+ (searched): any character that is not white space matches.
    return not value.isspace()


# Tests that accept only values the R4B type accepts (tests/test_fast_path.py checks them against
# the model's validator); None: always ask the model (dates, times, base64, uuid, ...).
_FAST_STRING_TESTS: dict[str, Callable[[str], bool] | None] = {
    "string": _not_blank,
    "code": lambda v: _CODE.fullmatch(v) is not None,
    "id": lambda v: _ID.fullmatch(v) is not None,
    "oid": lambda v: _OID.fullmatch(v) is not None,
    "uri": _always, "canonical": _always, "url": _always, "markdown": _always,
}

_ADAPTERS: list[TypeAdapter[Any]] = []
_ADAPTER_INDEX: dict[Any, int] = {}
_CACHED_LENGTH = 200  # longer values (narrative, attachments) are judged without caching them


def _adapter_index(annotation: Any) -> int:
    index = _ADAPTER_INDEX.get(annotation)
    if index is None:
        index = _ADAPTER_INDEX[annotation] = len(_ADAPTERS)
        _ADAPTERS.append(TypeAdapter(annotation))
    return index


def _model_accepts(index: int, value: Any) -> bool:
    try:
        _ADAPTERS[index].validate_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


@lru_cache(maxsize=1 << 16)
def _model_accepts_cached(index: int, kind: str, value: Any) -> bool:
    return _model_accepts(index, value)


def model_accepts(index: int, value: Any) -> bool:
    """The R4B model's validator for one primitive type (adapter ``index``) accepts ``value``."""
    if isinstance(value, str) and len(value) > _CACHED_LENGTH:
        return _model_accepts(index, value)
    return _model_accepts_cached(index, type(value).__name__, value)  # the type too: 1 == 1.0 == True as keys


def _primitive_check(element: Element, annotation: Any) -> Check:
    """True only for a value both the JSON-form check and the model accept."""
    kind = element.json_kind
    if kind == "boolean":
        return lambda v: type(v) is bool
    index = _adapter_index(annotation)
    if kind == "integer":
        low, high = _INT_RANGES.get(element.primitive or "", (1, 0))
        return lambda v: type(v) is int and (low <= v <= high or model_accepts(index, v))
    if kind == "number":
        return lambda v: type(v) in (int, float) and model_accepts(index, v)
    fast = _FAST_STRING_TESTS.get(element.primitive or "")
    if fast is None:
        return lambda v: type(v) is str and v != "" and model_accepts(index, v)
    test = fast
    return lambda v: type(v) is str and v != "" and (test(v) or model_accepts(index, v))


# --- compiled tables --------------------------------------------------------------------------

_TABLES: dict[type[BaseModel], _Table] = {}


def model_table(model: type[BaseModel]) -> _Table:
    """The compiled table of one model class (built once)."""
    table = _TABLES.get(model)
    if table is None:
        table = _TABLES[model] = _compile(model)
    return table


def _compile(model: type[BaseModel]) -> _Table:
    annotations = {f.alias: f.annotation for f in model.model_fields.values() if f.alias}
    fields: dict[str, Spec] = {}
    primitives: dict[str, tuple[str, int]] = {}
    for name, element in elements(model).items():
        if name.startswith("_"):
            continue  # primitive extensions `_x`: rare; the model path judges them
        if element.primitive is not None:
            annotation = unwrap_annotation(annotations[name])[0]
            fields[name] = (element.many, _PRIMITIVE, _primitive_check(element, annotation))
            primitives[name] = (element.json_kind or "string", _adapter_index(annotation))
        elif element.is_resource:
            fields[name] = (element.many, _RESOURCE, None)
        elif element.model is not None:
            fields[name] = (element.many, _COMPLEX, element.model())
        # an element without a model is left out of the table: "not sure", the model path judges it
    blank = model.model_construct()
    required = {f.alias for f in model.model_fields.values() if f.is_required() and f.alias}
    aliases = {n: f.alias or n for n, f in model.model_fields.items()}
    get_required = getattr(blank, "get_required_fields", None)
    if get_required is not None:
        required |= {name for name, _ in get_required()}
    choices: list[tuple[tuple[str, ...], bool]] = []
    get_choices = getattr(blank, "get_one_of_many_fields", None)
    for names in (get_choices() if get_choices is not None else {}).values():
        extra = model.model_fields[names[0]].json_schema_extra
        one_required = isinstance(extra, dict) and extra.get("one_of_many_required") is True
        choices.append((tuple(aliases[n] for n in names), one_required))
    return _Table(fields, tuple(sorted(required)), tuple(choices), primitives, frozenset(elements(model)),
                  frozenset(model.model_fields))


# --- the certifying walk ----------------------------------------------------------------------

def _object_clean(data: dict[str, Any], table: _Table, root: bool) -> bool:
    fields = table.fields
    for key, value in data.items():
        spec = fields.get(key)
        if spec is None:
            if root and key == "resourceType":
                continue
            return False
        many, kind, payload = spec
        if many:
            if type(value) is not list or not value:
                return False
            if kind == _PRIMITIVE:
                for item in value:
                    if not payload(item):
                        return False
            else:
                for item in value:
                    if not _value_clean(kind, payload, item):
                        return False
        elif kind == _PRIMITIVE:
            if not payload(value):
                return False
        elif not _value_clean(kind, payload, value):
            return False
    for name in table.required:
        if name not in data:
            return False
    for names, one_required in table.choices:
        present = 0
        for name in names:
            if name in data:
                present += 1
        if present > 1 or (one_required and not present):
            return False
    return True


def _value_clean(kind: int, model: Any, value: Any) -> bool:
    if type(value) is not dict or not value:
        return False
    if kind == _COMPLEX:
        return _object_clean(value, model_table(model), False)
    return resource_clean(value)


def resource_clean(resource: Any) -> bool:
    """True when the model path has no structural finding for ``resource`` (proved by the walk);
    False when it may have one (then ask ``structural_findings``)."""
    if type(resource) is not dict or len(resource) < 2:
        return False
    model = model_class(resource.get("resourceType"))
    if model is None:
        return False
    return _object_clean(resource, model_table(model), True)


# --- resources with findings: the JSON-form findings, or the primitive errors, without the models --

class _Unsure(Exception):
    """The walk cannot tell the model path's findings: ask the models."""


class _Dirty:
    """A walk mirroring ``jsonform._Walk``: it stops where the JSON-form check reports a finding
    (the models' errors at or below that location are dropped as covered by structure.py), and
    records the primitive values the models reject whose JSON form is right. Anything else the
    models could report (a missing required element, a choice given twice, a null in an array, a
    `_x` extension, an odd contained resource) makes it unsure."""

    def __init__(self) -> None:
        self.json_form = 0  # places where the JSON-form check reports
        self.rejected: list[tuple[tuple[str | int, ...], int, Any]] = []  # (path, adapter, value)

    def object(self, data: dict[str, Any], table: _Table, path: tuple[str | int, ...], root: bool) -> None:
        fields = table.fields
        for key, value in data.items():
            spec = fields.get(key)
            if spec is None:
                if root and key == "resourceType":
                    continue
                if key.startswith("_") or key == "resourceType" or key in table.known or key in table.field_names:
                    raise _Unsure
                self.json_form += 1  # an unknown element: reported by the JSON-form check, ignored in the models
                continue
            many, kind, payload = spec
            if value is None:
                self.json_form += 1
                continue
            if many:
                if not isinstance(value, list) or not value:
                    self.json_form += 1
                    continue
                for i, item in enumerate(value):
                    if item is None:
                        raise _Unsure  # the models report the whole array (above the JSON-form location)
                    self.value(table, key, kind, payload, item, path, i)
            elif isinstance(value, list):
                self.json_form += 1
            else:
                self.value(table, key, kind, payload, value, path, None)
        for name in table.required:
            if data.get(name) is None and name not in data:
                raise _Unsure
        for names, one_required in table.choices:
            present = sum(1 for name in names if data.get(name) is not None)
            if present > 1 or (one_required and not present):
                raise _Unsure

    def value(self, table: _Table, key: str, kind: int, payload: Any, value: Any, parent: tuple[str | int, ...],
              index: int | None) -> None:
        """``value`` of element ``key`` (item ``index`` of it when it repeats) in the object at ``parent``."""
        if kind == _PRIMITIVE:
            json_kind, adapter = table.primitives[key]
            if not json_kind_ok(json_kind, value) or (json_kind == "string" and value == ""):
                self.json_form += 1
            elif not payload(value):
                path = (*parent, key) if index is None else (*parent, key, index)
                self.rejected.append((path, adapter, value))
            return
        path = (*parent, key) if index is None else (*parent, key, index)
        if kind == _RESOURCE:
            model = model_class(value.get("resourceType")) if isinstance(value, dict) else None
            if model is None or len(value) < 2:
                raise _Unsure
            self.object(value, model_table(model), path, True)
        elif not isinstance(value, dict) or not value:
            self.json_form += 1
        else:
            self.object(value, model_table(payload), path, False)


def _primitive_findings(resource: dict[str, Any], rtype: str, path: tuple[str | int, ...], adapter: int,
                        value: Any) -> list[Finding] | None:
    """The model's errors for one rejected primitive value at ``path``, as structure.py words them."""
    try:
        _ADAPTERS[adapter].validate_python(value)
    except ValidationError as exc:
        return [error_finding(resource, rtype, {**err, "loc": (*path, *err.get("loc", ()))})
                for err in exc.errors(include_url=False) if err.get("type") != "extra_forbidden"]
    return None


def dirty_structural_findings(resource: dict[str, Any]) -> list[Finding] | None:
    """``structural_findings(resource)`` for the two common kinds of broken resources, without the
    models: only JSON-form findings (REST-102, unknown elements), or only primitive values of the
    right JSON type that the models reject (a dateTime without time zone, a code with two spaces).
    None when the walk cannot tell (then the model path must be asked)."""
    rtype = resource.get("resourceType")
    model = model_class(rtype)
    if model is None or len(resource) < 2:
        return None
    walk = _Dirty()
    try:
        walk.object(resource, model_table(model), (), True)
    except _Unsure:
        return None
    if walk.json_form and walk.rejected:
        return None  # both kinds: which of the models' errors survive is not worth guessing
    if walk.json_form:
        return json_form_findings(resource, model, model_class) or None
    if not walk.rejected:
        return None  # nothing wrong here: the clean tiers were too narrow, the models decide
    # The walk stops and counts exactly where the JSON-form check reports (or gives up): with no
    # count, that check has nothing to say and the models' errors are these values' own.
    found: list[Finding] = []
    for path, adapter, value in walk.rejected:
        errors = _primitive_findings(resource, str(rtype), path, adapter, value)
        if not errors:
            return None
        found.extend(errors)
    return found


def schema_accepts(resource: dict[str, Any]) -> bool:
    """The first tier: the compiled draft-4 schema (imgconf.validators.fastschema) accepts it."""
    try:
        return schema_validator()(resource)
    except (ValueError, TypeError, OverflowError):  # a value JSON cannot hold (NaN, a huge number...)
        return False


@within_reach  # nested deeper than the validators can read: JsonTooDeep, an input error (as validate_resource)
def fast_validate(resource: dict[str, Any], *, profile: str | None = None) -> list[Finding]:
    """The findings of ``validate_resource(resource, profile=profile)``, fast for clean resources of
    the types in ``FAST_TYPES``; other types go to ``validate_resource`` itself."""
    rtype = resource.get("resourceType") if type(resource) is dict else None
    if type(rtype) is not str or rtype not in FAST_TYPES:
        return validate_resource(resource, profile=profile)
    findings = rule_findings(resource, profile=profile)
    if schema_accepts(resource) or resource_clean(resource):
        return findings
    structure = dirty_structural_findings(resource)
    if structure is None:
        structure = structural_findings(resource)
    seen = {(f.requirement, f.location) for f in findings}
    findings.extend(f for f in structure if (f.requirement, f.location) not in seen)
    return findings


__all__ = ["FAST_TYPES", "dirty_structural_findings", "fast_validate", "model_accepts", "model_table",
           "resource_clean", "schema_accepts"]

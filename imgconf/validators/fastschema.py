"""A JSON Schema (draft 4) of the R4 JSON the model path accepts, derived from the R4B models.

Derived from the definitions the model path itself reads (the JSON-form element table of
:mod:`imgconf.validators.jsonform`, the pydantic annotations, required elements and choice groups
of ``fhir.resources`` R4B), committed as ``fast_r4_schema.json`` (tools/build_fast_schema.py) and
compiled by ``jsonschema-rs``. It is a *sufficient* condition: every resource it accepts has no
structural finding on the model path (tests/test_fast_path.py checks that on every example and on
mutants). It is deliberately narrower than R4 where the model's acceptance is hard to state as a
JSON Schema (the ``_x`` extensions of a repeating primitive, leap days, non-ASCII codes, resources
outside ``DISPATCHED``); such resources are judged by the next, slower tier
(``faststructure.resource_clean``) and, if still in doubt, by the models.

Draft 4 because there ``1.0`` is not an integer (later drafts accept it; R4 JSON and the model
path's JSON-form check do not).
"""

from __future__ import annotations

import json
import typing
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from pydantic import BaseModel

from imgconf.validators.jsonform import Element, elements
from imgconf.validators.structure import model_class

# Resource types a contained resource or Bundle entry may have on the schema tier (others: next tier).
DISPATCHED = ("ImagingStudy", "DocumentReference", "Patient", "Endpoint", "Bundle", "Composition",
              "DiagnosticReport", "Practitioner", "PractitionerRole", "Organization", "Device", "ServiceRequest",
              "Encounter", "Observation", "Binary", "Location", "Procedure", "Provenance", "OperationOutcome")

SCHEMA_FILE = Path(__file__).with_name("fast_r4_schema.json")
_NEVER: dict[str, Any] = {"not": {}}
_YEAR = "[12][0-9]{3}"
# Days valid in every year: 01-28 any month, 29-30 except February, 31 in the long months.
_MONTH_DAY = "((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
_ZONE = "(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)"
_DATE = f"{_YEAR}-{_MONTH_DAY}"

# Primitive type -> a schema accepting only values the R4B type accepts (ASCII patterns: the
# model's regex engine and JSON Schema's may differ on Unicode classes, never on these).
_STRING_PATTERNS: dict[str, str | None] = {
    "string": "[!-~]",  # some visible ASCII character: not blank for any regex engine
    "code": "^[!-~]+( [!-~]+)*$",
    "id": "^[A-Za-z0-9.\\-]{1,255}$",
    "oid": "^urn:oid:[0-2](\\.(0|[1-9][0-9]*))+$",
    "uri": None, "canonical": None, "url": None, "markdown": None, "xhtml": None,
    "date": f"^{_YEAR}(-(0[1-9]|1[0-2]))?$|^{_DATE}$",
    "dateTime": f"^{_YEAR}(-(0[1-9]|1[0-2]))?$|^{_DATE}(T{_TIME}{_ZONE})?$",
    "instant": f"^{_DATE}T{_TIME}{_ZONE}$",
    "time": f"^{_TIME}$",
    "base64Binary": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
}
_INTEGERS = {"integer": (-2147483648, 2147483647), "unsignedInt": (0, 2147483647), "positiveInt": (1, 2147483647)}


def primitive_schema(element: Element) -> dict[str, Any]:
    kind, name = element.json_kind, element.primitive or ""
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "integer":
        bounds = _INTEGERS.get(name)
        return {"type": "integer", "minimum": bounds[0], "maximum": bounds[1]} if bounds else _NEVER
    if kind == "number":
        return {"type": "number"}  # decimal: any finite JSON number (NaN is not a JSON number)
    if name not in _STRING_PATTERNS:
        return _NEVER
    pattern = _STRING_PATTERNS[name]
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def _definition_name(model: type[BaseModel]) -> str:
    return model.__name__


def _required_and_choices(model: type[BaseModel]) -> tuple[list[str], list[tuple[list[str], bool]]]:
    from imgconf.validators.faststructure import model_table  # one derivation of both tiers

    table = model_table(model)
    return list(table.required), [(list(names), one) for names, one in table.choices]


def _object_schema(model: type[BaseModel], root_type: str | None, pending: list[type[BaseModel]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, element in elements(model).items():
        if name.startswith("_") and element.many:
            continue  # the extensions of a repeating primitive, aligned by nulls: the next tier judges them
        if element.primitive is not None:
            item = primitive_schema(element)
        elif element.is_resource:
            item = {"$ref": "#/definitions/AnyResource"}
        elif element.model is not None:
            inner = element.model()
            pending.append(inner)
            item = {"$ref": f"#/definitions/{_definition_name(inner)}"}
        else:
            item = _NEVER
        properties[name] = {"type": "array", "minItems": 1, "items": item} if element.many else item
    if root_type is not None:
        properties["resourceType"] = {"enum": [root_type]}
    required, choices = _required_and_choices(model)
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties,
                              "minProperties": 2 if root_type is not None else 1}
    if required:
        schema["required"] = required
    dependencies: dict[str, Any] = {}
    any_required: list[dict[str, Any]] = []
    for names, one_required in choices:
        for name in names:
            dependencies[name] = {"properties": {other: _NEVER for other in names if other != name}}
        if one_required:
            any_required.append({"anyOf": [{"required": [n]} for n in names]})
    if dependencies:
        schema["dependencies"] = dependencies
    if any_required:
        schema["allOf"] = any_required
    return schema


def build_schema() -> dict[str, Any]:
    """The draft-4 schema of a resource of one of the ``DISPATCHED`` types (also for contained
    resources and Bundle entries)."""
    definitions: dict[str, Any] = {}
    pending: list[type[BaseModel]] = []
    for rtype in DISPATCHED:
        resource_model = model_class(rtype)
        if resource_model is not None:
            definitions[f"R_{rtype}"] = _object_schema(resource_model, rtype, pending)
    definitions["AnyResource"] = {"anyOf": [
        {"allOf": [{"properties": {"resourceType": {"enum": [rtype]}}, "required": ["resourceType"]},
                   {"$ref": f"#/definitions/R_{rtype}"}]} for rtype in DISPATCHED]}
    done: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in done:
            continue
        done.add(model)
        name = _definition_name(model)
        if name in definitions:
            raise ValueError(f"two R4B models named {name}")  # never in R4B; guards the naming
        definitions[name] = _object_schema(model, None, pending)
    return {"$schema": "http://json-schema.org/draft-04/schema#", "definitions": definitions,
            "$ref": "#/definitions/AnyResource"}


def schema_text() -> str:
    """The schema as committed in ``SCHEMA_FILE`` (tools/build_fast_schema.py writes it)."""
    return json.dumps(build_schema(), indent=1) + "\n"


@cache
def schema_validator() -> typing.Callable[[Any], bool]:
    """``is_valid`` of the compiled schema. Read from ``SCHEMA_FILE`` (deriving it imports ~100 R4B
    model modules, seconds per process; tests/test_fast_path.py keeps the file equal to a fresh
    derivation); derived here only when the file is missing."""
    try:
        schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        schema = build_schema()
    validator = jsonschema_rs.Draft4Validator(schema, validate_formats=False)
    return validator.is_valid

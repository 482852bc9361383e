"""The R4 JSON representation, checked strictly (REST-102, R4 json.html), and unknown elements.

The pydantic models of ``fhir.resources`` accept ``"numberOfSeries": "1"`` (lax coercion) and
say nothing about empty arrays; R4 JSON does not allow either. This walker reads the element
definitions from the same models (name, FHIR type, repeating or not) and judges the JSON as
received: the JSON type of every primitive, no empty object / array / string, ``null`` only in a
primitive array whose ``_name`` twin carries an extension at that index, arrays exactly for
repeating elements, and no element the type does not define (reported in the project's words).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

from imgconf.validators.findings import Finding, short

REST_102 = "REST-102"
STRUCTURE = "FHIR-R4-STRUCTURE"  # same pseudo id as imgconf.validators.structure

# fhir_core annotation class name -> (FHIR primitive type name, JSON kind)
_PRIMITIVES: dict[str, tuple[str, str]] = {
    "Integer": ("integer", "integer"), "UnsignedInt": ("unsignedInt", "integer"),
    "PositiveInt": ("positiveInt", "integer"), "Integer64": ("integer64", "string"),
    "Decimal": ("decimal", "number"), "Boolean": ("boolean", "boolean"),
    "String": ("string", "string"), "Code": ("code", "string"), "Id": ("id", "string"),
    "Uri": ("uri", "string"), "Url": ("url", "string"), "Canonical": ("canonical", "string"),
    "Oid": ("oid", "string"), "Uuid": ("uuid", "string"), "Markdown": ("markdown", "string"),
    "Base64Binary": ("base64Binary", "string"), "Instant": ("instant", "string"),
    "Date": ("date", "string"), "DateTime": ("dateTime", "string"), "Time": ("time", "string"),
    "Xhtml": ("xhtml", "string"),
}
_JSON_KIND_WORDS = {"integer": "a JSON number without a fraction", "number": "a JSON number",
                    "boolean": "JSON true or false", "string": "a JSON string"}

# IS-011: R5 shapes of ImagingStudy, as element paths without indices.
R5_IMAGINGSTUDY = {
    ("reason",): "R4 uses reasonCode / reasonReference",
    ("procedure",): "R4 uses procedureReference / procedureCode",
    ("partOf",): "R4 has no partOf",
    ("series", "bodySite", "concept"): "series.bodySite is a Coding in R4, not a CodeableReference",
    ("series", "bodySite", "reference"): "series.bodySite is a Coding in R4, not a CodeableReference",
    ("series", "laterality", "coding"): "series.laterality is a Coding in R4, not a CodeableConcept",
    ("series", "modality", "coding"): "series.modality is a Coding in R4, not a CodeableConcept",
    ("modality", "coding"): "ImagingStudy.modality is a Coding in R4, not a CodeableConcept",
}


@dataclass(frozen=True)
class Element:
    name: str
    many: bool
    primitive: str | None  # FHIR primitive type name, e.g. "unsignedInt"; None for complex
    json_kind: str | None  # "integer" | "number" | "boolean" | "string" for primitives
    model: Callable[[], Any] | None  # complex: returns the model class; None for a Resource slot
    is_resource: bool = False


def unwrap_annotation(annotation: Any) -> tuple[Any, bool]:
    """Strip Optional / List; return (inner type, repeating)."""
    many = False
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Union or (origin is not None and type(None) in args and origin is not list):
            annotation = next(a for a in args if a is not type(None))
        elif origin is list:
            many, annotation = True, args[0]
        else:
            return annotation, many


@cache
def elements(model: type[BaseModel]) -> dict[str, Element]:
    """JSON name -> Element for a fhir.resources model (cached: built once per type)."""
    out: dict[str, Element] = {}
    for field in model.model_fields.values():
        name = field.alias
        if not name or name == "fhir_comments":
            continue
        inner, many = unwrap_annotation(field.annotation)
        if typing.get_origin(inner) is typing.Annotated:
            base, *meta = typing.get_args(inner)
            kind = next((_PRIMITIVES[type(m).__name__] for m in meta if type(m).__name__ in _PRIMITIVES), None)
            if kind is None:
                kind = ("string", "string") if base is str else ("unknown", "string")
            out[name] = Element(name, many, kind[0], kind[1], None)
        elif name == "resourceType":
            continue
        elif inner is bool:  # fhir.resources types boolean elements as plain bool
            out[name] = Element(name, many, "boolean", "boolean", None)
        elif inner is str:
            out[name] = Element(name, many, "string", "string", None)
        else:
            type_name = getattr(inner, "__name__", "")
            getter = getattr(inner, "get_model_klass", None)
            out[name] = Element(name, many, None, None, getter, is_resource=type_name == "ResourceType")
    return out


class _Walk:
    def __init__(self, root_type: str, resolve: Callable[[Any], type[BaseModel] | None]) -> None:
        self.root_type = root_type
        self.resolve = resolve  # resourceType -> model (contained resources, Bundle entries)
        self.out: list[Finding] = []

    def add(self, req: str, loc: str, message: str, value: Any = None) -> None:
        level = "SHALL NOT" if req == "IS-011" else "SHALL"
        self.out.append(Finding(req, level, loc, message, short(value)))

    def resource(self, data: dict[str, Any], model: type[BaseModel], loc: str, names: tuple[str, ...], rtype: str) -> None:
        if not data.keys() - {"resourceType"}:
            self.add(REST_102, loc, "an empty resource (R4 JSON never has empty objects)")
        self.obj(data, model, loc, names, rtype)

    def obj(self, data: dict[str, Any], model: type[BaseModel], loc: str, names: tuple[str, ...], rtype: str) -> None:
        table = elements(model)
        for key, value in data.items():
            if key == "resourceType" and not names:
                continue
            element = table.get(key)
            where = f"{loc}.{key.lstrip('_')}" if key.startswith("_") else f"{loc}.{key}"
            if element is None:
                self.unknown(key, where, names + (key,), rtype, model)
                continue
            self.value(element, data, key, value, where, names + (key.lstrip("_"),), rtype)

    def unknown(self, key: str, where: str, names: tuple[str, ...], rtype: str, model: type[BaseModel]) -> None:
        if key.startswith("_") and key[1:] in elements(model):
            self.add(STRUCTURE, where, f"`{key[1:]}` is not a primitive element: `{key}` (extensions of a "
                     "primitive) does not apply; put extensions inside the element")
            return
        if rtype == "ImagingStudy":
            r5 = R5_IMAGINGSTUDY.get(names)
            if r5 is not None:
                self.add("IS-011", where, f"`{key}` is an R5 element ({r5}); an R4 payload must not use it")
                return
            self.add(STRUCTURE, where, f"unknown element `{key}` (not in R4 ImagingStudy; IS-011 lists the R5 names); "
                     "remove it or carry the data in an extension")
            return
        where_type = rtype if model.__name__ == rtype else f"{model.__name__} ({rtype})"
        self.add(STRUCTURE, where, f"unknown element `{key}` (not in R4 {where_type}); "
                 "remove it or carry the data in an extension")

    def value(self, element: Element, parent: dict[str, Any], key: str, value: Any, loc: str,
              names: tuple[str, ...], rtype: str) -> None:
        if value is None:
            self.add(REST_102, loc, f"`{key}` is null; leave the element out instead (null appears only inside "
                     "a primitive array whose extensions need the position)")
            return
        if element.many:
            if not isinstance(value, list):
                self.add(REST_102, loc, f"`{key}` repeats (0..*) so R4 JSON carries it as an array, even with one value",
                         value)
                return
            if not value:
                self.add(REST_102, loc, f"`{key}` is an empty array; leave the element out when it has no values")
                return
            twin = parent.get("_" + key) if not key.startswith("_") else parent.get(key[1:])
            for i, item in enumerate(value):
                here = f"{loc}[{i}]"
                if item is None:
                    if not (isinstance(twin, list) and i < len(twin) and twin[i] is not None):
                        self.add(REST_102, here, f"null at {key}[{i}] without an extension at the same position "
                                 f"of `_{key.lstrip('_')}`; null only keeps primitive arrays and their extensions aligned")
                    continue
                self.single(element, key, item, here, names, rtype)
            return
        if isinstance(value, list):
            self.add(STRUCTURE, loc, f"`{key}` is 0..1 in R4 {rtype}: give one value, not an array")
            return
        self.single(element, key, value, loc, names, rtype)

    def single(self, element: Element, key: str, value: Any, loc: str, names: tuple[str, ...], rtype: str) -> None:
        if element.primitive is not None:
            self.primitive(element, key, value, loc)
            return
        if not isinstance(value, dict):
            what = "a resource" if element.is_resource else "an object"
            self.add(REST_102, loc, f"`{key.lstrip('_')}` is {what} in R4 JSON, not {_json_name(value)}", value)
            return
        if not value:
            self.add(REST_102, loc, f"`{key}` is an empty object; leave the element out when it has no content")
            return
        if element.is_resource:
            inner_type = value.get("resourceType")
            model = self.resolve(inner_type)
            if model is None:
                self.add(STRUCTURE, f"{loc}.resourceType", "not an R4 resource type", inner_type)
                return
            self.resource(value, model, loc, (), str(inner_type))
            return
        if element.model is not None:
            self.obj(value, element.model(), loc, names, rtype)

    def primitive(self, element: Element, key: str, value: Any, loc: str) -> None:
        kind = element.json_kind or "string"
        if json_kind_ok(kind, value):
            if kind == "string" and value == "":
                self.add(REST_102, loc, f"`{key}` is an empty string; leave the element out when it has no value")
            return
        self.add(REST_102, loc, f"`{key}` is an R4 {element.primitive}, written as {_JSON_KIND_WORDS[kind]} "
                 f"(found {_json_name(value)}); R4 JSON does not convert types", value)


def json_kind_ok(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    return isinstance(value, str)


def _json_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"the JSON boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the JSON number {value!r}"
    if isinstance(value, str):
        return f"the JSON string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def json_form_findings(resource: dict[str, Any], model: type[BaseModel],
                       resolve: Callable[[Any], type[BaseModel] | None]) -> list[Finding]:
    """REST-102 and unknown-element findings for one resource of ``model``."""
    rtype = str(resource.get("resourceType"))
    walk = _Walk(rtype, resolve)
    walk.resource(resource, model, rtype, (), rtype)
    return walk.out

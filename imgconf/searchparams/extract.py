"""Evaluate search-parameter expressions: a plain walk for element paths, fhirpathpy for the rest.

Most R4 search parameters are a path of element names (``ImagingStudy.series.modality``). On JSON
such a path is the walk FHIRPath does: each step takes the element from every node and flattens
arrays. ``values`` walks those itself — 30–50× faster than fhirpathpy, which dominated the search
oracle's cost — and hands fhirpathpy everything else: functions, unions, indexes, a choice element
anywhere on the path (``DiagnosticReport.effective`` is ``effectiveDateTime`` in JSON), an element the
R4 model does not know, and any resource whose shape is not the plain one (a step into something that
is not an object, an array inside an array, an element with a ``_x`` twin). What fhirpathpy makes of the
values it returns (floats as Decimal, extension-only objects dropped) is done to the walk's too.
tests/test_search_extract.py compares both on every parameter over the project's resources and
generated odd ones.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from .registry import SearchParam

_MODEL = models["r4"]  # needed for choice types such as extension(...).value
_cache: dict[tuple[str, bool], Callable[..., list[Any]]] = {}
_lock = threading.Lock()
_ELEMENT_PATH = re.compile(r"[A-Z][A-Za-z]*(\.[a-z][A-Za-z0-9]*)+")


class _NotPlain(Exception):
    """The resource's shape is not one the plain walk is sure to read as fhirpathpy does."""


def compiled(expression: str, *, typed: bool = True) -> Callable[..., list[Any]]:
    key = (expression, typed)
    fn = _cache.get(key)
    if fn is None:
        with _lock:
            fn = _cache.get(key)
            if fn is None:
                fn = fhirpathpy.compile(expression, _MODEL if typed else None)
                _cache[key] = fn
    return fn


def evaluate(element: dict[str, Any], expression: str, *, typed: bool = True) -> list[Any]:
    """Values of `expression` on `element`; an evaluation error counts as no value."""
    try:
        return [v for v in compiled(expression, typed=typed)(element, {}) if v is not None]
    except Exception:  # noqa: BLE001 - malformed stored data must not break a search
        return []


@functools.cache
def element_path(expression: str) -> tuple[str, ...] | None:
    """The element names after the type when ``expression`` is a plain path of elements the R4 model
    knows, with no choice element on it; None otherwise (fhirpathpy evaluates it)."""
    if not _ELEMENT_PATH.fullmatch(expression):
        return None
    base, *names = expression.split(".")
    types, choices, elsewhere = _MODEL["path2Type"], _MODEL["choiceTypePaths"], _MODEL["pathsDefinedElsewhere"]
    for position, name in enumerate(names):
        path = _declared_path(base, name)
        if path is None or path in choices:
            return None
        path = elsewhere.get(path, path)
        kind = types.get(path)
        if kind is None:  # a backbone element: its children are declared under its own path
            base = path
        elif kind[:1].isupper() and not kind.startswith("System."):  # a complex type: Coding, HumanName…
            base = kind
        elif position != len(names) - 1:  # a primitive has no child elements
            return None
    return tuple(names)


def _declared_path(base: str, name: str) -> str | None:
    """Where the model declares element ``name`` of ``base``: on the type itself or a parent
    (``ImagingStudy.meta`` is Resource.meta)."""
    declared, parents = _declared_paths(), _MODEL["type2Parent"]
    owner: str | None = base
    while owner is not None:
        if (path := f"{owner}.{name}") in declared:
            return path
        owner = parents.get(owner)
    return None


@functools.cache
def _declared_paths() -> frozenset[str]:
    """Every element path the model names, and every backbone element above one (declared only by its children)."""
    keys = (*_MODEL["path2Type"], *_MODEL["choiceTypePaths"])
    return frozenset(key.rsplit(".", depth)[0] for key in keys for depth in range(key.count(".")))


def _walk(resource: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    nodes: list[Any] = [resource]
    last = len(names) - 1
    for position, name in enumerate(names):
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict) or "_" + name in node:  # fhirpathpy adds the twin's content
                raise _NotPlain
            value = node.get(name)
            if isinstance(value, list):
                if any(isinstance(v, list) for v in value):
                    raise _NotPlain
                found.extend(v for v in value if v is not None)
            elif value is not None:
                found.append(value)
        if position != last and any(not isinstance(v, dict) for v in found):
            raise _NotPlain
        nodes = found
    return nodes


def _as_fhirpathpy_gives(data: Any) -> Any:
    """What fhirpathpy makes of a value it returns: floats as Decimal (at any depth), and no object
    that holds only ``extension`` in an array (its form of a primitive's ``_x`` twin)."""
    if isinstance(data, float):
        return Decimal(str(data))
    if isinstance(data, list):
        return [v for v in map(_as_fhirpathpy_gives, data) if not (isinstance(v, dict) and list(v) == ["extension"])]
    if isinstance(data, dict):
        return {key: _as_fhirpathpy_gives(value) for key, value in data.items()}
    return data


def values(resource: dict[str, Any], param: SearchParam) -> list[Any]:
    if resource.get("resourceType") != param.resource_type:
        return []
    names = element_path(param.expression)
    if names is not None:
        try:
            found = _walk(resource, names)
        except _NotPlain:
            pass
        else:
            return [v for v in _as_fhirpathpy_gives(found) if v is not None]
    return evaluate(resource, param.expression)

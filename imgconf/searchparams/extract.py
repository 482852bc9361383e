"""Evaluate search-parameter expressions with fhirpathpy (compiled once per expression)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from .registry import SearchParam

_MODEL = models["r4"]  # needed for choice types such as extension(...).value
_cache: dict[tuple[str, bool], Callable[..., list[Any]]] = {}
_lock = threading.Lock()


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


def values(resource: dict[str, Any], param: SearchParam) -> list[Any]:
    if resource.get("resourceType") != param.resource_type:
        return []
    return evaluate(resource, param.expression)

"""A resource nested deeper than the validators can walk is an input error, never an R4 verdict.

R4 JSON sets no depth limit, but the R4B models (and the recursive walks of the rules) stop at
Python's recursion limit — about 130 nested extensions, ~260 JSON levels. What they cannot read they
cannot judge: the validators raise ``JsonTooDeep`` (imgconf.jsonsafe: the harness's "not usable
JSON", a ValueError) saying how deep the resource nests, and the readers of input turn it into their
input-error finding (INPUT-READ in ``imgconf validate`` / ``survey``), not a FHIR-R4-STRUCTURE finding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from imgconf.jsonsafe import JsonTooDeep

P = ParamSpec("P")
R = TypeVar("R")


def nesting_depth(value: object) -> int:
    """The deepest array/object nesting of a parsed JSON value (0 for a scalar), without recursing."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def too_deep(resource: object) -> JsonTooDeep:
    return JsonTooDeep(f"nesting {nesting_depth(resource)} levels deep: deeper than the validators can read "
                       "(Python's recursion limit); not judged — an input error, not an R4 finding (R4 sets no depth limit)")


def within_reach(validate: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """``validate(resource, …)``, with a RecursionError raised as ``too_deep(resource)``."""
    @functools.wraps(validate)
    def guarded(resource: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return validate(resource, *args, **kwargs)
        except RecursionError:
            raise too_deep(resource) from None
    return guarded

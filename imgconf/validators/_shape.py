"""Defensive access to JSON that may be any shape: server responses are not trusted input."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any

_LITERAL_REF = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


def items(obj: Any, key: str) -> Sequence[tuple[int, dict[str, Any]]]:
    """(index, element) of the object elements of ``obj[key]``; a lone object counts as index 0.
    A list, not a generator: the rules call this for every element that may repeat, most often
    absent or short, and a generator costs more to start than the list costs to build."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return ()
    if isinstance(value, dict):
        return ((0, value),)
    if isinstance(value, list):
        return [(i, element) for i, element in enumerate(value) if isinstance(element, dict)]
    return ()


def obj(parent: Any, key: str) -> dict[str, Any] | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else None


def text(parent: Any, key: str) -> str | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, str) else None


def codings(concept: Any) -> Iterator[dict[str, Any]]:
    """The codings of a CodeableConcept (or the Coding itself if given a Coding)."""
    if not isinstance(concept, dict):
        return
    if "coding" in concept:
        for _, coding in items(concept, "coding"):
            yield coding
    elif "code" in concept or "system" in concept:
        yield concept


def reference_type(reference: dict[str, Any], contained: dict[str, str]) -> str | None:
    """The target resource type a Reference names, when it can be told statically.

    ``contained`` maps local ids (``"#x"``) to their resourceType. ``urn:uuid:`` and logical
    references only tell via ``Reference.type``.
    """
    ref = text(reference, "reference")
    if ref is not None:
        if ref.startswith("#"):
            return contained.get(ref)
        literal = _literal_type(ref)
        if literal is not None:
            return literal
    return text(reference, "type")


@functools.lru_cache(maxsize=4096)  # the same practitioners, patients and endpoints recur across a bulk input
def _literal_type(ref: str) -> str | None:
    match = _LITERAL_REF.search(ref)
    return match.group("type") if match else None


def contained_types(resource: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for _, c in items(resource, "contained"):
        cid, ctype = text(c, "id"), text(c, "resourceType")
        if cid and ctype:
            out["#" + cid] = ctype
    return out

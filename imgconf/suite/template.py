"""``${name}`` placeholders in suite requests and fixture files.

Names are looked up in one flat namespace, for example ``patient_id`` (saved by an earlier case),
``fixture.imagingstudy/ct-chest.id``, ``uid.ct-chest-study`` (a DICOM UID generated once per run),
``base`` (the target base URL) or ``run.tag``. A string that is exactly one placeholder keeps the
value's type; otherwise values are joined as text. ``$${`` escapes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

PLACEHOLDER = re.compile(r"(?<!\$)\$\{\s*([^}\s]+)\s*\}")


class MissingVariable(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"variable ${{{self.name}}} is not defined"


Lookup = Callable[[str], Any]


def _lookup_in(values: Mapping[str, Any] | Lookup) -> Lookup:
    if callable(values):
        return values

    def lookup(name: str) -> Any:
        if name not in values:
            raise MissingVariable(name)
        return values[name]

    return lookup


def render(value: Any, values: Mapping[str, Any] | Lookup) -> Any:
    """Replace placeholders in strings, recursively through lists and dicts."""
    lookup = _lookup_in(values)
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip()) if value.strip() == value else None
        if whole:
            return lookup(whole.group(1))
        rendered = PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), value)
        return rendered.replace("$${", "${")
    if isinstance(value, list):
        return [render(v, lookup) for v in value]
    if isinstance(value, tuple):
        return tuple(render(v, lookup) for v in value)
    if isinstance(value, dict):
        return {render(k, lookup): render(v, lookup) for k, v in value.items()}
    return value


def names_in(value: Any) -> set[str]:
    """Every placeholder name used in a nested value."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(m.group(1) for m in PLACEHOLDER.finditer(value))
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= names_in(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            found |= names_in(k) | names_in(v)
    return found


def variables_in(obj: Any) -> set[str]:
    """Placeholder names in a dataclass (e.g. a Request) and everything it holds."""
    if is_dataclass(obj):
        found: set[str] = set()
        for f in fields(obj):
            found |= variables_in(getattr(obj, f.name))
        return found
    return names_in(obj)

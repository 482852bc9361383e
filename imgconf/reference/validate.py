"""Structural validation of request bodies with the fhir.resources R4B models.

Pydantic checks structure and primitive syntax; fhir.resources does not check codes against
required bindings, so the closed code lists it records (`enum_values`) are checked here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from .fhirhttp import issue


def _path(rtype: str, loc: tuple[Any, ...]) -> str:
    out = rtype
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def structure_issues(rtype: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """OperationOutcome issues for `body` as an R4 `rtype`; empty when it is valid."""
    try:
        model = get_fhir_model_class(rtype).model_validate(body)
    except ValidationError as exc:
        return [issue("error", "structure", err["msg"], [_path(rtype, err["loc"])]) for err in exc.errors()]
    return list(_binding_issues(model, rtype))


def _binding_issues(model: BaseModel, path: str) -> Iterator[dict[str, Any]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = field.alias or name
        allowed = extra.get("enum_values")
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{path}.{key}" + (f"[{i}]" if isinstance(value, list) else "")
            if allowed and isinstance(item, str) and item not in allowed:
                yield issue("error", "code-invalid",
                            f"{item!r} is not in the required value set ({', '.join(allowed)})", [where])
            elif isinstance(item, BaseModel):
                yield from _binding_issues(item, where)

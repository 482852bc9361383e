"""`_summary` and `_elements` (R4 search.html#summary, #elements): top-level subsetting.

Summary membership and mandatory elements come from the fhir.resources R4B model metadata.
Subsetting is applied to top-level elements only (nested summary flags are not followed).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from .fhirhttp import SUBSETTED

_ALWAYS = {"resourceType", "id", "meta"}


@cache
def _fields(rtype: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary element names, mandatory element names) for a resource type."""
    cls = get_fhir_model_class(rtype)
    summary: set[str] = set()
    mandatory: set[str] = set()
    for name, f in cls.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        key = f.alias or name
        if extra.get("summary_element_property"):
            summary.add(key)
        if extra.get("element_required") or f.is_required():
            mandatory.add(key)
    return frozenset(summary), frozenset(mandatory)


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = tags + [dict(SUBSETTED)]
    resource["meta"] = meta
    return resource


def _keep(resource: dict[str, Any], names: set[str]) -> dict[str, Any]:
    # Primitive extensions ("_status") travel with their element.
    return {k: v for k, v in resource.items() if k in names or (k.startswith("_") and k[1:] in names)}


def summarize(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    rtype = resource.get("resourceType", "")
    if mode == "false":
        return resource
    summary, mandatory = _fields(rtype)
    if mode == "true":
        return _tagged(_keep(resource, set(summary) | set(mandatory) | _ALWAYS))
    if mode == "text":
        return _tagged(_keep(resource, {"text"} | set(mandatory) | _ALWAYS))
    if mode == "data":
        return _tagged({k: v for k, v in resource.items() if k != "text"})
    return resource


def elements(resource: dict[str, Any], names: list[str]) -> dict[str, Any]:
    _, mandatory = _fields(resource.get("resourceType", ""))
    prefix = resource.get("resourceType", "") + "."
    wanted = {n.removeprefix(prefix).split(".")[0] for n in names}
    return _tagged(_keep(resource, wanted | set(mandatory) | _ALWAYS))

"""Structural validation with the ``fhir.resources.R4B`` models, errors mapped to catalogue ids.

R4B is used for R4 content: the ImagingStudy and Endpoint definitions are the same in both.
``FHIR-R4-STRUCTURE`` is a pseudo requirement id, used only where no catalogue id fits.
"""

from __future__ import annotations

from typing import Any

import fhir.resources.R4B.resource as _r4b_resource
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from imgconf.validators.findings import Finding, short

STRUCTURE = "FHIR-R4-STRUCTURE"
_ABSTRACT = frozenset({"Resource", "DomainResource"})

# (resourceType, element path without indices) -> requirement. A missing element of these paths
# is the cardinality rule; any other error on them the datatype rule (second entry).
_ELEMENT_RULES: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("ImagingStudy", ("status",)): ("IS-001", "IS-002"),
    ("ImagingStudy", ("subject",)): ("IS-003", "IS-003"),
    ("ImagingStudy", ("started",)): ("IS-014", "IS-014"),
    ("ImagingStudy", ("series", "uid")): ("IS-004", "IS-024"),
    ("ImagingStudy", ("series", "modality")): ("IS-005", "IS-005"),
    ("ImagingStudy", ("series", "started")): ("IS-014", "IS-014"),
    ("ImagingStudy", ("series", "instance", "uid")): ("IS-006", "IS-024"),
    ("ImagingStudy", ("series", "instance", "sopClass")): ("IS-007", "IS-007"),
    ("ImagingStudy", ("series", "performer", "actor")): ("IS-008", "IS-008"),
    ("Endpoint", ("status",)): ("IS-049", "IS-049"),
    ("Endpoint", ("connectionType",)): ("IS-049", "IS-049"),
    ("Endpoint", ("payloadType",)): ("IS-049", "IS-049"),
    ("Endpoint", ("address",)): ("IS-049", "IS-049"),
}
# Fallback per type: unknown element, anything else.
_TYPE_RULES: dict[str, tuple[str, str, str]] = {
    "ImagingStudy": ("IS-011", "SHALL NOT", "IS-010"),
}


def model_class(resource_type: Any) -> type[_r4b_resource.Resource] | None:
    if not isinstance(resource_type, str) or resource_type in _ABSTRACT:
        return None
    try:
        klass = get_fhir_model_class(resource_type)  # lru_cached by fhir.resources
    except ValueError:
        return None
    return klass if issubclass(klass, _r4b_resource.Resource) else None


def structural_findings(resource: dict[str, Any]) -> list[Finding]:
    """Validate ``resource`` against the R4B model of its resourceType."""
    if not isinstance(resource, dict):
        return [Finding(STRUCTURE, "SHALL", "", "a resource is a JSON object", short(resource))]
    rtype = resource.get("resourceType")
    klass = model_class(rtype)
    if klass is None:
        what = "missing resourceType" if rtype is None else "not an R4 resource type"
        return [Finding(STRUCTURE, "SHALL", "Resource.resourceType", what, short(rtype))]
    try:
        klass.model_validate(resource)
    except ValidationError as exc:
        return [_finding(resource, str(rtype), err) for err in exc.errors(include_url=False)]
    except Exception as exc:  # noqa: BLE001
        # fhir.resources/fhir_core raise bare KeyError / AttributeError on some odd shapes (an
        # unknown contained resourceType, a number where a url goes); still a structural failure.
        return [Finding(STRUCTURE, "SHALL", str(rtype), f"resource could not be parsed: {exc!r}")]
    return []


def _finding(resource: dict[str, Any], rtype: str, err: Any) -> Finding:
    # fhir_core appends its ROOT_KEY "root" for whole-value errors; no R4 element has that name.
    loc = tuple(p for p in err.get("loc", ()) if p != "root")
    kind = str(err.get("type", ""))
    location = _fhirpath(rtype, loc)
    req, level = _requirement(resource, rtype, loc, kind)
    return Finding(req, level, location, str(err.get("msg", "invalid")), short(err.get("input")))


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "resource_type":
            out += ".resourceType"
        else:
            name = str(part)
            out += "." + (name[1:] if name.startswith("_") else name)  # _status -> status (its extension)
    return out


def _requirement(resource: dict[str, Any], rtype: str, loc: tuple[Any, ...], kind: str) -> tuple[str, str]:
    # An error inside a contained resource or a Bundle entry is judged by that resource's type.
    nested = _nested(resource, rtype, loc)
    if nested is not None:
        inner, rest = nested
        return _requirement(inner, str(inner.get("resourceType")), rest, kind)
    names = tuple(str(p) for p in loc if not isinstance(p, int))
    if kind == "extra_forbidden":
        fallback = _TYPE_RULES.get(rtype)
        return (fallback[0], fallback[1]) if fallback else (STRUCTURE, "SHALL")
    if not any(n.startswith("_") for n in names):
        for depth in range(len(names), 0, -1):
            rule = _ELEMENT_RULES.get((rtype, names[:depth]))
            if rule is not None:
                missing = depth == len(names) and "missing" in kind
                return (rule[0] if missing else rule[1]), "SHALL"
    fallback = _TYPE_RULES.get(rtype)
    return (fallback[2] if fallback else STRUCTURE), "SHALL"


def _nested(resource: dict[str, Any], rtype: str,
            loc: tuple[Any, ...]) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
    if len(loc) >= 2 and loc[0] == "contained" and isinstance(loc[1], int):
        key, rest = "contained", loc[2:]
    elif rtype == "Bundle" and len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int) and loc[2] == "resource":
        key, rest = "entry", loc[3:]
    else:
        return None
    elements = resource.get(key)
    element = elements[loc[1]] if isinstance(elements, list) and loc[1] < len(elements) else None
    if key == "entry":
        element = element.get("resource") if isinstance(element, dict) else None
    return (element, rest) if isinstance(element, dict) else ({}, rest)

"""Structural validation with the ``fhir.resources.R4B`` models, errors mapped to catalogue ids.

R4B is used for R4 content: the ImagingStudy and Endpoint definitions are the same in both.
``FHIR-R4-STRUCTURE`` is a pseudo requirement id, used only where no catalogue id fits (a
structural error of R4 itself: SHALL by definition, no catalogue row to take a level from).
The JSON form (types as received, empty values, unknown elements) is judged first by
``imgconf.validators.jsonform`` (REST-102); pydantic then adds what only the model knows
(required elements, value ranges, formats), its messages rewritten in the project's words.
"""

from __future__ import annotations

from typing import Any

import fhir.resources.R4B.resource as _r4b_resource
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from imgconf.validators.findings import Finding, short
from imgconf.validators.jsonform import json_form_findings
from imgconf.validators.nesting import within_reach

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


def model_class(resource_type: Any) -> type[_r4b_resource.Resource] | None:
    if not isinstance(resource_type, str) or resource_type in _ABSTRACT:
        return None
    try:
        klass = get_fhir_model_class(resource_type)  # lru_cached by fhir.resources
    except ValueError:
        return None
    return klass if issubclass(klass, _r4b_resource.Resource) else None


@within_reach
def structural_findings(resource: object) -> list[Finding]:
    """Validate ``resource`` (any JSON value) against the R4B model of its resourceType. Nested deeper
    than the models can read: JsonTooDeep (imgconf.validators.nesting), never a finding."""
    if not isinstance(resource, dict):
        return [Finding(STRUCTURE, "SHALL", "", "a resource is a JSON object", short(resource))]
    rtype = resource.get("resourceType")
    klass = model_class(rtype)
    if klass is None:
        what = "missing resourceType" if rtype is None else "not an R4 resource type"
        return [Finding(STRUCTURE, "SHALL", "Resource.resourceType", what, short(rtype))]
    found = json_form_findings(resource, klass, model_class)
    judged = {f.location for f in found}
    try:
        klass.model_validate(resource)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if err.get("type") == "extra_forbidden":
                continue  # the JSON-form walker reports unknown elements, with R5 names as IS-011
            finding = error_finding(resource, str(rtype), err)
            if not _covered(finding.location, judged):
                found.append(finding)
    except RecursionError:
        raise  # the depth of the input, not its structure: within_reach makes it an input error
    except Exception:  # noqa: BLE001
        # fhir.resources/fhir_core raise bare KeyError / AttributeError on some odd shapes (an
        # unknown contained resourceType, a number where a url goes); still a structural failure.
        if not found:
            found.append(Finding(STRUCTURE, "SHALL", str(rtype),
                                 "the resource does not have the R4 structure of its type (it could not be read "
                                 "as one); check contained resources and element types"))
    return found


def _covered(location: str, judged: set[str]) -> bool:
    """True when the JSON-form check already reported this element or one that contains it."""
    while True:
        if location in judged:
            return True
        cut = max(location.rfind("."), location.rfind("["))
        if cut <= 0:
            return False
        location = location[:cut]


def error_finding(resource: dict[str, Any], rtype: str, err: Any) -> Finding:
    """One pydantic error of the R4B models as a finding (also used by the fast path, faststructure)."""
    # fhir_core appends its ROOT_KEY "root" for whole-value errors; no R4 element has that name.
    loc = tuple(p for p in err.get("loc", ()) if p != "root")
    kind = str(err.get("type", ""))
    location = _fhirpath(rtype, loc)
    req, level = _requirement(resource, rtype, loc, kind)
    return Finding(req, level, location, _message(loc, kind, err), short(err.get("input")))


def _message(loc: tuple[Any, ...], kind: str, err: Any) -> str:
    """What is wrong and how to fix it, in the project's words (never pydantic's own text)."""
    names = [str(p) for p in loc if not isinstance(p, int)]
    name = (names[-1] if names else "value").lstrip("_")
    ctx = err.get("ctx") or {}
    if "missing" in kind:
        return f"`{name}` is required here (cardinality 1..1 in R4); add it"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "?")
        words = {"greater_than_equal": "at least", "greater_than": "more than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]
        return f"`{name}` must be {words} {bound} (R4 datatype range)"
    if kind == "string_pattern_mismatch":
        return f"`{name}` does not match the format of its R4 datatype ({ctx.get('pattern', '')})"
    if kind in ("string_too_long", "too_long"):
        return f"`{name}` is longer than its R4 datatype allows"
    if kind.startswith("base64"):
        return f"`{name}` is not valid base64 (R4 base64Binary)"
    if kind == "model_validation_format":
        model = ctx.get("model_class", "an object")
        return f"`{name}` is one {model} object in R4 (0..1), not {_kind_name(ctx.get('type'))}"
    if kind.startswith(("int_", "float_", "bool_", "string_", "dict_", "list_", "model_")) or kind.endswith("_type"):
        return f"`{name}` has the wrong JSON type for its R4 datatype"
    if kind in ("json_invalid", "json_type"):
        return f"`{name}` is an object in R4 JSON (e.g. a Reference is {{\"reference\": \"Patient/1\"}}), not a string"
    if kind == "value_error":
        detail = str(ctx.get("error", "")).rstrip(".")
        if "regex" in detail or "does not match" in detail:
            return f"`{name}` is not a valid value of its R4 datatype (check the format, e.g. dateTime with time zone)"
        if "one of" in detail.lower() or "choice" in detail.lower():
            return f"`{name}`: only one of the choice elements `{name}[x]` may be present"
        return f"`{name}` is not a valid R4 value ({detail[:120]})" if detail else f"`{name}` is not a valid R4 value"
    return f"`{name}` is not valid R4 content ({kind})"


def _kind_name(value: Any) -> str:
    return {list: "an array", dict: "an object", str: "a string", int: "a number"}.get(value, "another JSON type")


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "resource_type":
            out += ".resourceType"
        else:
            name = str(part)
            out += "." + (name.removeprefix("_"))  # _status -> status (its extension)
    return out


def _requirement(resource: dict[str, Any], rtype: str, loc: tuple[Any, ...], kind: str) -> tuple[str, str]:
    # An error inside a contained resource or a Bundle entry is judged by that resource's type.
    nested = _nested(resource, rtype, loc)
    if nested is not None:
        inner, rest = nested
        return _requirement(inner, str(inner.get("resourceType")), rest, kind)
    names = tuple(str(p) for p in loc if not isinstance(p, int))
    if not any(n.startswith("_") for n in names):
        for depth in range(len(names), 0, -1):
            rule = _ELEMENT_RULES.get((rtype, names[:depth]))
            if rule is not None:
                missing = depth == len(names) and "missing" in kind
                return (rule[0] if missing else rule[1]), "SHALL"
    # IS-010 (the other cardinalities) is an INFO row of the catalogue: a structural error of R4
    # itself is cited with the pseudo id, at SHALL, not as IS-010 made stricter.
    return STRUCTURE, "SHALL"


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

"""Structural validation of request bodies with the fhir.resources R4B models.

Pydantic checks structure and primitive syntax; fhir.resources does not check codes against
required bindings, so the closed code lists it records (`enum_values`) are checked here.
"""

from __future__ import annotations

import re
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


# What an imaging document Bundle holds besides the types the server serves (its entries are validated too).
_DOCUMENT_CONTENT = ("Composition", "DiagnosticReport", "Observation")


def warm_up(served: tuple[str, ...]) -> None:
    """Load the R4 model of every type the server serves or finds in a document Bundle. The models are
    imported on first use: the first document Bundle created costs ~0.3 s instead of ~10 ms, and holds
    every other request of the process back meanwhile (one GIL). A server that says it is ready is warm."""
    for rtype in (*served, *_DOCUMENT_CONTENT):
        get_fhir_model_class(rtype)


def structure_issues(rtype: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """OperationOutcome issues for `body` as an R4 `rtype`; empty when it is valid."""
    try:
        model = get_fhir_model_class(rtype).model_validate(body)
    except ValidationError as exc:
        return [issue("error", "structure", err["msg"], [_path(rtype, err["loc"])]) for err in exc.errors()]
    return list(_binding_issues(model, rtype)) + datatype_issues(rtype, body)


def _binding_issues(model: BaseModel, path: str) -> Iterator[dict[str, Any]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = field.alias or name
        enum_values = extra.get("enum_values")
        allowed = [str(v) for v in enum_values] if isinstance(enum_values, list) else []
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{path}.{key}" + (f"[{i}]" if isinstance(value, list) else "")
            if allowed and isinstance(item, str) and item not in allowed:
                yield issue("error", "code-invalid",
                            f"{item!r} is not in the required value set ({', '.join(allowed)})", [where])
            elif isinstance(item, BaseModel):
                yield from _binding_issues(item, where)


# R4 rules fhir.resources does not enforce: the `id` datatype's 64-character limit (IS-024) and
# the allowed target types of ImagingStudy.subject (IS-003). Both make a resource invalid FHIR.
_ID_MAX = 64
_SUBJECT_TARGETS = {"ImagingStudy": ("Patient", "Device", "Group")}
_REF_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$")


def _long_ids(rtype: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if rtype != "ImagingStudy":
        return
    for i, series in enumerate(body.get("series") or []):
        if not isinstance(series, dict):
            continue
        where = f"ImagingStudy.series[{i}]"
        uids = [(f"{where}.uid", series.get("uid"))] + [
            (f"{where}.instance[{j}].uid", inst.get("uid"))
            for j, inst in enumerate(series.get("instance") or []) if isinstance(inst, dict)
        ]
        for path, uid in uids:
            if isinstance(uid, str) and len(uid) > _ID_MAX:
                yield issue("error", "structure", f"{len(uid)} characters: an id is at most {_ID_MAX}", [path])


def _subject_type(rtype: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    allowed = _SUBJECT_TARGETS.get(rtype)
    subject = body.get("subject")
    if not allowed or not isinstance(subject, dict):
        return
    literal = subject.get("reference")
    found = _REF_TYPE.search(literal) if isinstance(literal, str) else None
    target = subject.get("type") or (found.group(1) if found else None)
    if target and target not in allowed:
        yield issue("error", "structure", f"subject cannot refer to {target} (allowed: {', '.join(allowed)})",
                    [f"{rtype}.subject"])


def datatype_issues(rtype: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    return [*_long_ids(rtype, body), *_subject_type(rtype, body)]

"""The one record every rule returns: a violation (or an INFO observation) at a location."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

# Level words exactly as the requirements catalogue uses them.
LEVELS = ("SHALL", "SHALL NOT", "SHOULD", "MAY", "INFO")
MANDATORY = frozenset({"SHALL", "SHALL NOT"})


@dataclass(frozen=True)
class Finding:
    requirement: str  # catalogue id, e.g. "IS-023"
    level: str  # "SHALL" | "SHALL NOT" | "SHOULD" | "MAY" | "INFO"
    location: str  # FHIRPath-style, e.g. "ImagingStudy.series[0].instance[2].sopClass.code"
    message: str
    value: str | None = None  # the offending value, when there is a short one
    findings: tuple[str, ...] = ()  # §H cross-specification findings (FIND-xx) this is an instance of

    @property
    def is_mandatory(self) -> bool:
        return self.level in MANDATORY

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.findings:
            out["findings"] = list(self.findings)
        else:
            out.pop("findings")
        return out

    def rerooted(self, old_root: str, new_root: str) -> Finding:
        """Move the finding under another path, e.g. ``Endpoint.`` -> ``ImagingStudy.contained[0].``."""
        loc = self.location
        if loc == old_root:
            return replace(self, location=new_root)
        if loc.startswith(old_root + "."):
            return replace(self, location=new_root + loc[len(old_root) :])
        return self


def short(value: Any, limit: int = 200) -> str | None:
    """A printable form of a scalar offending value; containers are not echoed back."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resource_name(resource: dict[str, Any] | None) -> str:
    """``Type/id`` of a resource in a report (``Type`` without an id, ``unreadable`` for none)."""
    if resource is None:
        return "unreadable"
    rtype = resource.get("resourceType", "?")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) else str(rtype)

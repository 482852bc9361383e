"""SMART scope grammar (catalogue §D.3): v2 ``cruds`` scopes, v1 ``read|write|*`` scopes, and the rest.

Pure functions, no HTTP: the harness uses them on discovery documents, CapabilityStatements and
token responses; the reference server uses them to grant and enforce scopes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from imgconf.validators.findings import Finding

# SMART-020: context/(Type|*).<in-order non-empty subset of cruds>[?param=value&…]
V2_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(?=[cruds])(c?r?u?d?s?)(\?.+)?$")
# SMART-021: context/(Type|*).(read|write|*)
V1_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")
# Anything shaped like a resource scope, valid or not (used to pick scopes out of free text).
SCOPE_LIKE_RE = re.compile(r"\b(?:patient|user|system)/(?:\*|[A-Za-z]+)\.[A-Za-z*]+(?:\?[^\s,;\"')]+)?")
# Scopes that are not about resources (launch context, identity, refresh); valid SMART, never flagged.
NON_RESOURCE_SCOPES = frozenset({
    "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
    "offline_access", "online_access",
})
V1_TO_V2 = {"read": "rs", "write": "cud", "*": "cruds"}
ALL_PERMISSIONS = "cruds"

Kind = Literal["v2", "v1", "non-resource", "invalid"]


@dataclass(frozen=True)
class Scope:
    """One parsed resource scope; ``permissions`` in v2 letters whatever syntax was used."""

    text: str
    context: str  # patient | user | system
    resource_type: str  # a type or "*"
    permissions: str  # subset of "cruds", in order
    version: Literal["v1", "v2"]
    constraint: str | None = None  # the ``?param=value`` part of a granular v2 scope

    def allows(self, resource_type: str, permission: str) -> bool:
        return self.resource_type in ("*", resource_type) and permission in self.permissions


def classify(text: str) -> Kind:
    if text in NON_RESOURCE_SCOPES or text.startswith("launch/"):
        return "non-resource"
    if V2_RE.match(text):
        return "v2"
    if V1_RE.match(text):
        return "v1"
    return "invalid"


def parse(text: str) -> Scope | None:
    """The scope as v1 or v2 (v1 wins for ``.read``-style names, which v2 cannot spell); None if neither."""
    if m := V1_RE.match(text):
        return Scope(text, m.group(1), m.group(2), V1_TO_V2[m.group(3)], "v1")
    if m := V2_RE.match(text):
        return Scope(text, m.group(1), m.group(2), m.group(3), "v2", (m.group(4) or "")[1:] or None)
    return None


def split(scope_string: str | None) -> list[str]:
    return [s for s in (scope_string or "").split() if s]


def why_invalid(text: str) -> str:
    """A short explanation for a scope that is neither v1 nor v2 (FIND-05 examples first)."""
    head, _, perms = text.partition(".")
    perms = perms.split("?", 1)[0]
    if "/" not in head:
        return "not a SMART scope (expected context/Type.permissions)"
    context = head.split("/", 1)[0]
    if context not in ("patient", "user", "system"):
        return f"unknown context {context!r} (patient, user or system)"
    if perms in ("search", "create", "update", "delete"):
        return f"'.{perms}' is neither v1 (read|write|*) nor v2 (cruds letters) — FIND-05"
    if perms and set(perms) <= set(ALL_PERMISSIONS):
        return f"'.{perms}' is not an in-order subset of 'cruds'"
    return f"'.{perms}' is neither v1 (read|write|*) nor v2 (cruds letters)"


def to_v1(text: str) -> str:
    """v1 spelling of a v2 scope (SMART-024 fallback): r/s only → read, c/u/d only → write, else *."""
    scope = parse(text)
    if scope is None or scope.version == "v1" or scope.constraint:
        return text
    perms = set(scope.permissions)
    verb = "read" if perms <= set("rs") else "write" if perms <= set("cud") else "*"
    return f"{scope.context}/{scope.resource_type}.{verb}"


def v1_exact(text: str) -> bool:
    """True when the v1 spelling grants exactly the same as ``text`` (``.s`` alone has no v1 form)."""
    scope = parse(text)
    return scope is None or scope.version == "v1" or (scope.constraint is None and scope.permissions in ("rs", "cud", "cruds"))


def covered(scope: Scope, by: list[Scope]) -> bool:
    """True when every permission of ``scope`` is granted by some scope in ``by`` (SMART-016)."""
    if scope.constraint:
        return any(s.text == scope.text for s in by) or all(
            any(b.constraint is None and b.context == scope.context and b.allows(scope.resource_type, p) for b in by)
            for p in scope.permissions
        )
    return all(
        any(b.context == scope.context and b.constraint is None and b.allows(scope.resource_type, p) for b in by)
        for p in scope.permissions
    )


def scope_findings(scopes: list[str], location: str) -> list[Finding]:
    """SMART-020/021/022 findings for scope strings (a list of whole scope strings)."""
    findings: list[Finding] = []
    for i, text in enumerate(scopes):
        if classify(text) == "invalid":
            findings.append(Finding("SMART-022", "SHALL", f"{location}[{i}]", why_invalid(text), value=text))
    return findings


def scopes_in_text(text: str) -> list[str]:
    """Scope-shaped words in free text (a CapabilityStatement's documentation), valid or not."""
    return SCOPE_LIKE_RE.findall(text or "")

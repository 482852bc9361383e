"""What the target says it supports (CapabilityStatement) versus what a case needs.

A case that uses a search parameter the server does not declare still runs when the case is
SHALL (the requirement does not depend on the declaration) and is skipped with a reason when it is
SHOULD or MAY. The run records, per resource type, what was declared and what was tested.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from imgconf.searchparams.query import RESULT_PARAMS

# Parameters every server has by definition of the search framework.
_ALWAYS = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_text", "_content", "_list", "_has", "_type", "_query", "_filter"}
_SEARCH_PATH = re.compile(r"^(?:(?P<ctype>[A-Z][A-Za-z]+)/[^/]+/)?(?P<type>[A-Z][A-Za-z]+)(?:/_search)?/?$")


def search_parameter_names(path: str, pairs: list[tuple[str, str]]) -> tuple[str, set[str]] | None:
    """(resource type, parameter names) for a search request path; None when it is no search."""
    match = _SEARCH_PATH.match(path.split("?")[0].strip("/"))
    if not match:
        return None
    names = set()
    for name, _ in pairs:
        base = name.split(":", 1)[0].split(".", 1)[0]
        if base not in RESULT_PARAMS:
            names.add(base)
    return match.group("type"), names


class Capabilities:
    def __init__(self, statement: dict[str, Any] | None) -> None:
        self.statement = statement
        self.declared: dict[str, set[str]] = {}
        self.resources: set[str] = set()
        for rest in (statement or {}).get("rest") or []:
            if rest.get("mode") != "server":
                continue
            common = {p.get("name") for p in rest.get("searchParam") or [] if p.get("name")}
            for resource in rest.get("resource") or []:
                rtype = resource.get("type")
                if not rtype:
                    continue
                self.resources.add(rtype)
                self.declared[rtype] = common | {p.get("name") for p in resource.get("searchParam") or [] if p.get("name")}
        self.tested: dict[str, set[str]] = defaultdict(set)

    @property
    def known(self) -> bool:
        return self.statement is not None

    def undeclared(self, resource_type: str, names: set[str]) -> set[str]:
        """Names the statement does not declare for the type (empty when there is no statement)."""
        if not self.known:
            return set()
        declared = self.declared.get(resource_type, set())
        return {n for n in names if n not in declared and n not in _ALWAYS}

    def record(self, resource_type: str, names: set[str]) -> None:
        self.tested[resource_type] |= names

    def report(self) -> dict[str, Any]:
        """Per resource type: declared, tested, tested but undeclared, declared but untested."""
        out: dict[str, Any] = {}
        for rtype in sorted(set(self.tested) | {t for t in self.declared if t in self.tested}):
            declared = self.declared.get(rtype, set())
            tested = self.tested.get(rtype, set())
            out[rtype] = {
                "declared": sorted(declared),
                "tested": sorted(tested),
                "tested_not_declared": sorted(tested - declared - _ALWAYS),
                "declared_not_tested": sorted(declared - tested),
            }
        return out

"""REST-083: ``_include`` completeness — every resource a match refers to through an asked ``_include`` is in the
searchset with ``search.mode = include`` (or is itself a match).

Judged only where the answer is certain:
- the include is one the server claims to apply: declared in the CapabilityStatement's ``searchInclude`` for the
  type, or echoed in the self link (a server may ignore an include it does not support and leave it out of the
  self link, R4 search.html#errors);
- a named include (``Type:param[:Target]``): wildcards (``*``) R4 lets a server interpret, and ``:iterate`` beyond
  the first level is not judged;
- the target is a resource the harness loaded on that server (the fixtures and their dependencies): a reference to
  anything else may point at nothing, and a server cannot include what it does not hold;
- the pages were read to the end (an include may sit on the page of its match).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from imgconf import catalogue
from imgconf.checks.base import CheckContext
from imgconf.checks.search_target import SearchTarget, entry_roles, self_link_pairs
from imgconf.results import CheckResult
from imgconf.searchparams import get_param
from imgconf.searchparams.match import local_references
from imgconf.searchparams.query import Include


def _key(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _entries_by_mode(pages: list[dict[str, Any]], rtype: str) -> tuple[list[dict[str, Any]], set[str]]:
    """(matches, Type/id of every match or include entry) over the pages read."""
    matches: list[dict[str, Any]] = []
    present: set[str] = set()
    for page in pages:
        for role, resource in entry_roles(page, rtype):
            if role == "match":
                matches.append(resource)
            if role in ("match", "include"):
                present.add(_key(resource))
    return matches, present


def declared_includes(statement: dict[str, Any] | None, rtype: str) -> set[str]:
    """The ``searchInclude`` values a CapabilityStatement declares for a type."""
    found: set[str] = set()
    for rest in (statement or {}).get("rest") or []:
        if not isinstance(rest, dict) or rest.get("mode") != "server":
            continue
        for resource in rest.get("resource") or []:
            if isinstance(resource, dict) and resource.get("type") == rtype:
                found |= {v for v in resource.get("searchInclude") or [] if isinstance(v, str)}
    return found


def _claimed(inc: Include, declared: Collection[str], echoed: Collection[str]) -> bool:
    value = inc.as_pair()[1]
    return value in declared or value in echoed or f"{inc.source_type}:{inc.param}" in declared


def check_included_targets(ctx: CheckContext, target: SearchTarget, pages: list[dict[str, Any]],
                           complete: bool) -> list[CheckResult]:
    session = ctx.session
    wanted = [inc for inc in target.query.include
              if not inc.reverse and inc.source_type == target.resource_type and inc.param != "*"]
    if not wanted or session is None or not pages:
        return []
    requirement = ("REST-083",)
    if not complete:
        return [ctx.result("search", True, "_include completeness not judged: paging stopped before the last page",
                           detail="include", requirement=requirement)]
    echoed = [v for n, v in self_link_pairs(pages[0]) or [] if n.startswith("_include")]
    declared = declared_includes(session.capabilities(), target.resource_type)
    judged = [inc for inc in wanted if _claimed(inc, declared, echoed)]
    if not judged:
        return []
    on_server = {_key(r) for r in session.fixtures.loaded.values()}
    matches, present = _entries_by_mode(pages, target.resource_type)
    missing: list[str] = []
    expected = 0
    for inc in judged:
        param = get_param(target.resource_type, inc.param)
        if param is None:
            continue
        for match in matches:
            for ref in local_references(match, param, session.base_url):
                if ref not in on_server or (inc.target_type and not ref.startswith(inc.target_type + "/")):
                    continue
                expected += 1
                if ref not in present:
                    missing.append(f"{ref} (from {_key(match)} via {inc.as_pair()[1]})")
    level = catalogue.requirements()["REST-083"].level
    values = ", ".join(inc.as_pair()[1] for inc in judged)
    return [ctx.result(
        "search", not missing,
        (f"every one of the {expected} resources the matches refer to through _include={values} is in the Bundle"
         if not missing else
         f"_include={values}: {len(missing)} referenced resources held by the server are not in the Bundle "
         f"(search.mode=include): {'; '.join(sorted(set(missing))[:5])}"),
        detail="include", requirement=requirement, level=level,
    )]

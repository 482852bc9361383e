"""Type and compartment search: filter with imgconf.searchparams, page, include, summarise."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from ..searchparams import (
    Include,
    SearchQuery,
    get_param,
    local_references,
    matches,
    params_for,
    parse_query,
    resource_matches,
    sort_resources,
)
from ..searchparams.compartments import compartment_params
from ..searchparams.profiles import has_identifier_domain, identifier_domains, restrict_identifiers
from ..searchparams.query import parse_criterion
from .capability import SUPPORTED_TYPES
from .fhirhttp import FhirError, issue, outcome
from .store import Store
from .subset import elements as subset_elements, summarize

DEFAULT_COUNT = 50
MAX_COUNT = 1000
PAGE_PARAM = "_offset"  # opaque to clients: they follow the links
_MAX_ITERATE = 10

def _compartment_match(resolve: Callable[[str], Any], resource: dict[str, Any], patient_id: str, base: str) -> bool:
    """Any of the type's Patient-compartment parameters refers to the patient (OR)."""
    for name in compartment_params("Patient", resource["resourceType"]):
        crit = parse_criterion(resource["resourceType"], name, f"Patient/{patient_id}")
        if crit is not None and matches(resource, crit, resolver=resolve, base_url=base):
            return True
    return False


def parse(rtype: str, pairs: list[tuple[str, str]], *, strict: bool) -> tuple[SearchQuery, int]:
    """Parse the query; raise 400 for invalid values (always) and unknown ones (strict)."""
    offset = 0
    kept = []
    for name, value in pairs:
        if name == PAGE_PARAM:
            if not value.isdigit():
                raise FhirError(400, "invalid", f"bad paging offset {value!r}")
            offset = int(value)
        else:
            kept.append((name, value))
    query = parse_query(rtype, kept)
    if query.invalid:
        raise FhirError(400, "invalid", "invalid search parameter value",
                        issues=[issue("error", "invalid", f"{n}: {r}") for n, r in query.invalid])
    if strict and query.unknown:
        raise FhirError(400, "not-supported", "unknown or unsupported search parameters (Prefer: handling=strict)",
                        issues=[issue("error", "not-supported", f"{n}: {r}") for n, r in query.unknown])
    return query, offset


def find(store: Store, query: SearchQuery, base: str, patient_id: str | None = None) -> list[dict[str, Any]]:
    resolve = lru_cache(maxsize=4096)(store.get)  # chains hit the same targets; cache per search
    out = []
    for res in store.all_current(query.resource_type):
        if patient_id is not None and not _compartment_match(resolve, res, patient_id, base):
            continue
        if resource_matches(res, query, resolver=resolve, base_url=base):
            out.append(res)
    return sort_resources(out, query.sort) if query.sort else out


def _include_refs(resource: dict[str, Any], inc: Include, base: str) -> list[str]:
    rtype = resource["resourceType"]
    if inc.source_type not in ("*", rtype):
        return []
    names = [p.name for p in params_for(rtype).values() if p.type == "reference"] if inc.param == "*" \
        else [inc.param]
    refs = []
    for name in names:
        param = get_param(rtype, name)
        if param is not None:
            refs += [r for r in local_references(resource, param, base)
                     if inc.target_type is None or r.startswith(inc.target_type + "/")]
    return refs


def _rev_matches(store: Store, inc: Include, targets: set[str], base: str) -> list[dict[str, Any]]:
    types = [inc.source_type] if inc.source_type != "*" else list(SUPPORTED_TYPES)
    found = []
    for rtype in types:
        for res in store.all_current(rtype):
            refs = _include_refs(res, Include(rtype, inc.param, None), base)
            if any(r in targets for r in refs):
                found.append(res)
    return found


def includes(store: Store, query: SearchQuery, page: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Resources added by _include/_revinclude (search.mode = include), excluding the matches."""
    key = lambda r: f"{r['resourceType']}/{r['id']}"  # noqa: E731
    seen = {key(r) for r in page}
    added: list[dict[str, Any]] = []

    def run(specs: list[Include], pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
        new: list[dict[str, Any]] = []
        pool_keys = {key(r) for r in pool}
        for inc in specs:
            if inc.reverse:
                candidates = _rev_matches(store, inc, pool_keys, base)
            else:
                candidates = [t for r in pool for ref in _include_refs(r, inc, base) if (t := store.get(ref))]
            for res in candidates:
                if key(res) not in seen:
                    seen.add(key(res))
                    new.append(res)
        return new

    specs = query.include + query.revinclude
    added += run(specs, page)
    iterating = [i for i in specs if i.iterate]
    frontier = added
    for _ in range(_MAX_ITERATE):
        if not iterating or not frontier:
            break
        frontier = run(iterating, frontier)
        added += frontier
    return added


def _link(relation: str, url: str) -> dict[str, str]:
    return {"relation": relation, "url": url}


def bundle(
    store: Store, query: SearchQuery, offset: int, *, base: str, path: str, patient_id: str | None = None,
) -> dict[str, Any]:
    matched = find(store, query, base, patient_id)
    domains = identifier_domains(query)
    if domains is not None:  # PDQm domain filter (PDQ-006); an unknown domain is Case 4 (PDQ-007)
        if not any(has_identifier_domain(p, domains) for p in store.all_current("Patient")):
            raise FhirError(404, "not-found", "targetSystem not found",
                            issues=[issue("warning", "not-found", "targetSystem not found")])
        matched = [restrict_identifiers(p, domains) for p in matched]
    total = len(matched)
    if query.count is not None and query.count > MAX_COUNT:
        query.count = MAX_COUNT  # the self link shows the page size actually used
    count = query.count if query.count is not None else DEFAULT_COUNT
    used = query.used_pairs()

    def url(off: int | None) -> str:
        pairs = used + ([(PAGE_PARAM, str(off))] if off else [])
        return f"{base}/{path}" + (f"?{urlencode(pairs)}" if pairs else "")

    result: dict[str, Any] = {
        "resourceType": "Bundle", "id": uuid.uuid4().hex, "type": "searchset", "total": total,
        "link": [_link("self", url(offset))],
    }
    if query.summary == "count" or count == 0:
        return result
    page = matched[offset: offset + count]
    if total > count:
        last = ((total - 1) // count) * count
        result["link"].append(_link("first", url(0)))
        if offset > 0:
            result["link"].append(_link("previous", url(max(0, offset - count))))
        if offset + count < total:
            result["link"].append(_link("next", url(offset + count)))
        result["link"].append(_link("last", url(last)))
    entries = [_entry(base, _shape(r, query), "match") for r in page]
    entries += [_entry(base, r, "include") for r in includes(store, query, page, base)]
    if query.unknown:
        warn = outcome([issue("warning", "not-supported", f"ignored {n}: {r}") for n, r in query.unknown])
        entries.append({"fullUrl": f"urn:uuid:{warn['id']}", "resource": warn, "search": {"mode": "outcome"}})
    if entries:
        result["entry"] = entries
    return result


def _shape(resource: dict[str, Any], query: SearchQuery) -> dict[str, Any]:
    if query.elements:
        return subset_elements(resource, query.elements)
    if query.summary:
        return summarize(resource, query.summary)
    return resource


def _entry(base: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }

"""The search oracle: judge a search response by R4 search semantics, over every page.

Precision: every ``match`` entry satisfies every criterion the harness sent (judged by
``imgconf.searchparams``, the module the reference server also searches with).
Recall: every fixture of the searched type that satisfies the criteria is returned, and every
fixture the suite names in ``includes`` is returned; none named in ``excludes`` is.
Other data on a shared server never makes a case fail: only fixtures count for recall.
"""

from __future__ import annotations

from typing import Any

from imgconf.checks.base import CheckContext, describe
from imgconf.checks.body import is_not_fhir_json, not_json_result
from imgconf.checks.registry import CheckKind, ParseContext, SpecError, register, waits_for
from imgconf.checks.search_results import (
    check_changed_criteria,
    judge_shape,
    reported_changed,
    reported_ignored,
    tagged_subsetted,
)
from imgconf.checks.search_target import SearchExpectation, SearchTarget, entry_roles, parse_search_request
from imgconf.results import CheckResult, Level

PAGING_BYTES_FACTOR = 3


def _entries(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [resource for role, resource in entry_roles(bundle, rtype) if role == "match"]


def _unmarked(bundle: dict[str, Any], rtype: str) -> list[str]:
    """Entries of the searched type without search.mode: with _include/_revinclude a match cannot be told
    from an included resource of the same type (REST-045)."""
    return [f"{rtype}/{entry['resource'].get('id')}" for entry in bundle.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            and entry["resource"].get("resourceType") == rtype and not (entry.get("search") or {}).get("mode")]


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _cut_short(last_page: dict[str, Any], target: SearchTarget, total: object = None, returned: int = 0) -> str | None:
    """Why the pages may have ended early: the last page is full (``_count`` matches) and has no next link.

    Not when the server's own Bundle.total (``total``) counts no more matches than the ``returned`` ones:
    it found nothing more, so nothing was left unreachable (a missing fixture is a matching defect)."""
    wanted = target.query.count
    if wanted is None or wanted <= 0 or _next_link(last_page) is not None:
        return None
    if isinstance(total, int) and not isinstance(total, bool) and total <= returned:
        return None
    if len(_entries(last_page, target.resource_type)) < wanted:
        return None
    return f"the last page read holds _count={wanted} matches and has no next link, so later pages were unreachable (REST-043)"


def check_search(spec: SearchExpectation, ctx: CheckContext) -> list[CheckResult]:
    from imgconf.client import TargetUnreachable  # httpx: only when judged (kind modules are imported to load suites)

    session = ctx.session
    assert session is not None, "the search oracle needs a target session"
    bundle = ctx.response.resource
    if ctx.response.status != 200 or not bundle or bundle.get("resourceType") != "Bundle":
        why = ctx.response.json_error or f"status {ctx.response.status}, body {describe(ctx.response.json)}"
        if is_not_fhir_json(ctx):  # a 200 that is not JSON at all: REST-001's deviation, not REST-040's
            return [not_json_result(ctx, f"no searchset Bundle to judge: {why}", "", check="search")]
        return [ctx.result("search", False, f"no searchset Bundle to judge: {why}", requirement=("REST-040",))]
    target = parse_search_request(session.base_url, ctx.response.url, ctx.sent_form)
    if target is None:
        return [ctx.result("search", False, f"cannot tell which resource type {ctx.response.url} searches", requirement=("REST-046",))]

    results: list[CheckResult] = []
    if bundle.get("type") != "searchset":
        results.append(ctx.result("search", False, f"Bundle.type is {bundle.get('type')!r}, not 'searchset'", requirement=("REST-040",)))

    # -- collect every page -------------------------------------------------------------
    matched: dict[tuple[str, str], dict[str, Any]] = {}
    pages_read: list[dict[str, Any]] = []  # for page size, order and total (search_results)
    ordered: list[dict[str, Any]] = []
    duplicates: list[str] = []
    seen_urls = {ctx.response.url}
    page, complete, paging_problem = bundle, True, None
    # Memory stays bounded whatever the server pages: at most PAGING_BYTES_FACTOR x --max-response-mb per case.
    budget = PAGING_BYTES_FACTOR * session.client.max_response_bytes
    read_bytes, bounded_by = len(ctx.response.content), None
    unmarked: list[str] = []  # with includes asked for, these may be matches or includes: judged once (REST-045)
    including = bool(target.query.include or target.query.revinclude)
    for _ in range(spec.pages):
        pages_read.append(page)
        if including:
            unmarked += _unmarked(page, target.resource_type)
        for resource in _entries(page, target.resource_type):
            key = (str(resource.get("resourceType")), str(resource.get("id")))
            if key in matched:
                duplicates.append(f"{key[0]}/{key[1]}")
            else:
                ordered.append(resource)
            matched[key] = resource
        url = _next_link(page)
        if url is None:
            break
        if read_bytes >= budget:
            bounded_by = (f"stopped following next after {len(pages_read)} pages / {read_bytes / 1048576:.1f} MB "
                          f"(the harness reads at most {PAGING_BYTES_FACTOR} x --max-response-mb of pages per case)")
            complete = False
            break
        if url in seen_urls:
            paging_problem = f"the next link loops back to a page already read ({url})"
            break
        seen_urls.add(url)
        try:
            nxt = session.client.send("GET", url)
        except TargetUnreachable as exc:
            ctx.extra_exchanges.append(exc.exchange)
            paging_problem = f"following the next link failed: {exc}"
            complete = False
            break
        ctx.extra_exchanges.append(nxt.exchange)
        read_bytes += len(nxt.content)
        if nxt.status != 200 or not nxt.resource or nxt.resource.get("resourceType") != "Bundle":
            paging_problem = f"the next page answered {nxt.status} without a Bundle"
            complete = False
            break
        page = nxt.resource
    else:
        complete = _next_link(page) is None
    if bounded_by:  # the harness's own bound, not the server's fault: said, never judged
        results.append(ctx.result("search", True, bounded_by, detail="paging", level=Level.INFO))
    if unmarked:
        duplicates = [key for key in duplicates if key not in unmarked]  # an include on one page, a match on the next
        results.append(ctx.result(
            "search", False, f"{len(unmarked)} entries of the searched type carry no search.mode, so matches cannot be "
            f"told from _include/_revinclude results: {', '.join(unmarked[:5])}", detail="search mode",
            requirement=("REST-045",)))
    if paging_problem or duplicates:
        problem = paging_problem or f"the same match appears on more than one page: {', '.join(duplicates[:5])}"
        results.append(ctx.result("search", False, problem, requirement=("REST-043",), level=Level.SHOULD))
        complete = complete and not paging_problem

    # A full last page without a next link: whatever is missing was unreachable, a paging defect
    # (REST-043, SHOULD), not a wrong match set or a wrong total — unless the self link shows a criterion
    # replaced by another (modality:not=CT answered as modality=CT): that explains what is missing.
    changed = reported_changed(target, bundle)

    # -- precision ---------------------------------------------------------------------
    cache: dict[str, dict[str, Any] | None] = ctx.resolved if ctx.resolved is not None else {}

    def resolver(reference: str) -> dict[str, Any] | None:
        if reference not in cache:
            try:
                found = session.client.send("GET", reference)
            except TargetUnreachable:
                return None  # not kept: a later reading may get through
            cache[reference] = found.resource if found.status == 200 else None
        return cache[reference]

    base = session.base_url
    judged = ", ".join(f"{c.raw_name or c.name}={c.raw_value}" for c in target.query.criteria) or "no criteria"
    not_judged = [name for name, _ in target.query.unknown]
    note = f" (not judged: {', '.join(not_judged)})" if not_judged else ""
    skip: set[str] = set()
    if spec.lenient_ignored:
        skip = reported_ignored(target, bundle, session.capability.declared.get(target.resource_type, set())) - spec.required
        if skip:
            note += f" (reported not applied, not judged: {', '.join(sorted(skip))})"
        if changed:  # judged once, as a changed criterion (check_changed_criteria)
            skip |= set(changed)
            note += f" (reported changed, judged as such: {', '.join(sorted(changed))})"
    failing: list[tuple[dict[str, Any], str]] = []  # (match, the criterion it fails), for ctx.observations
    offenders: list[str] = []
    if spec.precision:
        for (rtype, rid), resource in matched.items():
            if f"{rtype}/{rid}" in unmarked:  # maybe an included resource: not judged as a match (REST-045 above)
                continue
            if tagged_subsetted(resource):  # a subset may leave out what the criteria test: judge the stored resource
                resource = resolver(f"{rtype}/{rid}") or resource
            failed = target.failing_criterion(resource, resolver, base, skip=skip)
            if failed:
                offenders.append(f"{rtype}/{rid} fails {failed}")
                failing.append((resource, failed))
        results.append(
            ctx.result(
                "search",
                not offenders,
                (f"all {len(matched)} matches satisfy {judged}{note}" if not offenders
                 else f"{len(offenders)} of {len(matched)} matches do not satisfy the search: " + "; ".join(offenders[:5])),
                detail=f"precision over {len(seen_urls)} page(s)",
            )
        )

    # Nor when the server's own total says it found no more than it returned (the comma read as the first
    # value only): what is missing was never found, a matching defect judged as recall of the criterion.
    cut_short = _cut_short(page, target, bundle.get("total"), len(ordered)) if complete and not changed else None

    # -- recall and exclusions ------------------------------------------------------------
    returned_ids = {rid for (rtype, rid) in matched if rtype == target.resource_type}
    loaded = session.fixtures.loaded
    expected: dict[str, str] = {}
    if spec.recall:
        for fixture, resource in loaded.items():
            if (resource.get("resourceType") == target.resource_type
                    and target.failing_criterion(resource, resolver, base, open_matches=False) is None):
                expected[fixture] = resource["id"]
    for fixture in spec.includes:
        if fixture in loaded:
            expected[fixture] = loaded[fixture]["id"]
    missing = sorted(fixture for fixture, rid in expected.items() if rid not in returned_ids)
    # What was returned and expected, for callers that show it (imgconf fuzz findings); judges nothing.
    ctx.observations["search"] = {"returned": [f"{t}/{i}" for t, i in matched], "expected": dict(expected),
                                  "not_applied": sorted(skip), "complete": complete, "failing": failing,
                                  "changed": dict(changed)}
    if spec.lenient_ignored:
        results += check_changed_criteria(ctx, changed)
    if expected or spec.includes:
        if missing and not complete:
            results.append(
                ctx.result("search", True, f"recall not judged: paging stopped before the last page; missing so far: {', '.join(missing)}",
                           detail="recall")
            )
        elif missing and changed and spec.lenient_ignored:
            results.append(
                ctx.result("search", True, f"recall not judged: the server answered another search than the one sent "
                           f"({', '.join(sorted(changed))} changed); missing: {', '.join(missing)}", detail="recall")
            )
        elif missing and cut_short and not offenders:  # wrong matches took the places of the missing: one cause
            results.append(
                ctx.result("search", False, f"matching fixtures not returned: {', '.join(missing)}; {cut_short}",
                           detail="recall over all pages", requirement=("REST-043",), level=Level.SHOULD)
            )
        else:
            results.append(
                ctx.result(
                    "search",
                    not missing,
                    (f"all {len(expected)} matching fixtures returned ({', '.join(sorted(expected))})" if not missing
                     else f"matching fixtures not returned: {', '.join(missing)}"),
                    detail="recall over all pages",
                )
            )
    results += judge_shape(spec, ctx, target, pages_read, ordered, complete, resolver, base, cut_short=cut_short,
                           unmarked=set(unmarked))
    wrongly = sorted(key for key in spec.excludes if key in loaded and loaded[key]["id"] in returned_ids)
    if spec.excludes:
        results.append(
            ctx.result(
                "search",
                not wrongly,
                ("none of the excluded fixtures returned" if not wrongly
                 else f"fixtures that must not match were returned: {', '.join(wrongly)}"),
                detail="excludes: " + ", ".join(spec.excludes),
            )
        )
    return results


def _parse_spec(raw: dict[str, Any] | None, ctx: ParseContext) -> SearchExpectation:
    spec = raw or {}
    for kind in ("includes", "excludes"):
        for j, key in enumerate(spec.get(kind, [])):
            if key not in ctx.fixtures:
                raise SpecError(
                    f"search {kind}: {key!r} is not among the suite's fixtures ({', '.join(sorted(ctx.fixtures)) or 'none'})",
                    (kind, j),
                )
    # the schema admits exactly the fields; defaults live in the dataclass
    fields: dict[str, Any] = {**spec, **{kind: tuple(spec[kind]) for kind in ("includes", "excludes") if kind in spec}}
    return SearchExpectation(**fields)


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "includes": {"type": "array", "items": {"$ref": "#/$defs/fixtureKey"}},
        "excludes": {"type": "array", "items": {"$ref": "#/$defs/fixtureKey"}},
        "precision": {"type": "boolean"},
        "recall": {"type": "boolean"},
        "pages": {"type": "integer", "minimum": 1, "maximum": 1000},
        "self_link": {"type": "boolean", "description": "Judge Bundle.link[self]: every echoed criterion holds for every match, "
                      "and no parameter the harness cannot see applied (unknown, unsupported) is echoed unless an "
                      "OperationOutcome reports it ignored (REST-042, REST-034)."},
        "order": {"type": "boolean", "description": "The matches, read across all pages, are in the order the _sort parameter "
                  "asks for (REST-086)."},
        "total": {"type": "boolean", "description": "Bundle.total, when present, equals the number of distinct matches over all "
                  "pages (REST-041)."},
        "subsetted": {"type": "boolean", "description": "Every match that leaves out a top-level element its fixture (as stored) "
                      "has carries meta.tag SUBSETTED (REST-087/088). A full resource is not judged: R4 does not oblige a "
                      "server to honour _summary/_elements."},
    },
}

SEARCH = register(CheckKind[SearchExpectation](
    key="search",
    schema=_SCHEMA,
    parse=_parse_spec,
    run=check_search,
    order=50,
    awaiting=waits_for("search", "search oracle"),
))

"""Search-oracle checks on how a searchset is shaped rather than what it matches.

Page size (`_count`, REST-085) is always judged when the harness sent `_count`; the self link
(REST-042/REST-034), `_sort` order across pages (REST-086) and `Bundle.total` (REST-041) are
judged when the suite asks for them (``search: {self_link: true, order: true, total: true}``).
Every judgement reuses ``imgconf.searchparams`` (the module the reference server searches with).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from imgconf.checks.base import CheckContext
from imgconf.checks.search_fullurl import check_full_urls
from imgconf.checks.search_include import check_included_targets
from imgconf.checks.search_target import SearchExpectation, SearchTarget, entry_roles, self_link_pairs
from imgconf.results import CheckResult, Level
from imgconf.searchparams import matches, parse_query
from imgconf.searchparams.query import RESULT_PARAMS
from imgconf.searchparams.sort import lacks_sort_value, order_violations

Resolver = Any


def _match_count(page: dict[str, Any], rtype: str) -> int:
    return sum(1 for role, _resource in entry_roles(page, rtype) if role == "match")


def check_page_sizes(ctx: CheckContext, target: SearchTarget, pages: list[dict[str, Any]]) -> list[CheckResult]:
    """REST-085: at most `_count` match entries on every page the oracle read."""
    wanted = target.query.count
    if wanted is None:
        return []
    sizes = [_match_count(p, target.resource_type) for p in pages]
    too_big = [f"page {i + 1} has {n}" for i, n in enumerate(sizes) if n > wanted]
    return [ctx.result(
        "search", not too_big,
        (f"every page holds at most _count={wanted} matches (pages: {sizes})" if not too_big
         else f"_count={wanted} not honoured: " + ", ".join(too_big)),
        detail="page size", requirement=("REST-085",),
    )]


def check_total(
    ctx: CheckContext, bundle: dict[str, Any], matched: int, complete: bool, cut_short: str | None = None
) -> list[CheckResult]:
    """REST-041: total counts the matches over all pages (not the page, not the includes)."""
    total = bundle.get("total")
    if total is None:
        return [ctx.result("search", True, "Bundle.total absent (allowed)", detail="total", requirement=("REST-041",))]
    if not complete:
        return [ctx.result("search", True, f"total={total} not judged: paging stopped early", detail="total",
                           requirement=("REST-041",))]
    if cut_short and isinstance(total, int) and not isinstance(total, bool) and total > matched:
        # More matches announced than reachable: the missing next link is the defect, not the total.
        return [ctx.result("search", False, f"Bundle.total={total} but only {matched} matches were reachable: {cut_short}",
                           detail="total", requirement=("REST-043",), level=Level.SHOULD)]
    ok = isinstance(total, int) and not isinstance(total, bool) and total == matched
    return [ctx.result(
        "search", ok,
        (f"Bundle.total={total} equals the {matched} matches over all pages" if ok
         else f"Bundle.total={total!r} but {matched} distinct matches were returned over all pages"),
        detail="total", requirement=("REST-041",),
    )]


def check_order(ctx: CheckContext, target: SearchTarget, ordered: list[dict[str, Any]]) -> list[CheckResult]:
    """REST-086: the matches, page after page, are already in the `_sort` order."""
    sort = target.query.sort
    if not sort:
        return [ctx.result("search", False, "order requested but the request has no usable _sort", detail="order",
                           requirement=("REST-086",))]
    label = ",".join(("-" if d else "") + n for n, d in sort)

    def key(r: dict[str, Any]) -> str:
        return f"{r.get('resourceType')}/{r.get('id')}"

    # R4 leaves open where resources without a sort value go: only the order the keys decide is judged.
    violations = order_violations(ordered, sort)
    unkeyed = [key(r) for r in ordered if lacks_sort_value(r, sort)]
    note = (f"; {len(unkeyed)} without a value for a sort key ({', '.join(unkeyed[:5])}): their position is not judged"
            if unkeyed else "")
    wrong = "; ".join(f"{key(ordered[j])} should come before {key(ordered[i])}" for i, j in violations[:5])
    return [ctx.result(
        "search", not violations,
        (f"{len(ordered)} matches are in _sort={label} order across pages{note}" if not violations
         else f"matches are not in _sort={label} order: {wrong} (got {', '.join(key(r) for r in ordered[:8])}){note}"),
        detail="order over all pages", requirement=("REST-086",),
    )]


def _outcome_mentions(bundle: dict[str, Any], name: str) -> bool:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
            for issue in resource.get("issue") or []:
                text = " ".join(str(issue.get(k) or "") for k in ("diagnostics",)) + " " + str(
                    (issue.get("details") or {}).get("text") or "")
                if name in text:
                    return True
    return False


def _type_modifier(name: str) -> bool:
    """``subject:Patient``: a resource-type modifier a server may fold into the value (``subject=Patient/1``)."""
    _, _, modifier = name.partition(":")
    return modifier[:1].isupper()


def reported_changed(target: SearchTarget, bundle: dict[str, Any]) -> dict[str, str]:
    """Criteria (names as sent) the self link shows REPLACED, each with what was echoed instead.

    A criterion is changed when its name is not echoed but its parameter is, under a name the client never
    sent: ``modality:not=CT`` echoed as ``modality=CT`` — the server dropped the modifier and searched the
    value with another meaning (neither refused nor ignored, REST-082). Chains and resource-type modifiers
    are not compared: a server may legitimately rewrite them (``subject:Patient=1`` as ``subject=Patient/1``)."""
    echoed = self_link_pairs(bundle)
    if not echoed:
        return {}
    sent = {crit.raw_name or crit.name for crit in target.query.criteria}
    changed: dict[str, str] = {}
    for crit in target.query.criteria:
        name = crit.raw_name or crit.name
        if crit.chain or name in changed or _type_modifier(name) or any(n == name for n, _ in echoed):
            continue
        instead = [f"{n}={v}" for n, v in echoed
                   if n.split(":", 1)[0] == crit.name and n not in sent and not _type_modifier(n)]
        if instead:
            changed[name] = "&".join(instead)
    return changed


def reported_ignored(target: SearchTarget, bundle: dict[str, Any], declared: Collection[str]) -> set[str]:
    """Criteria (names as sent) the server says it did not apply: absent from a self link that shows
    the parameters used, or named in an OperationOutcome of the Bundle (R4 lenient handling, REST-034/082).

    Plain use (no modifier, no chain) of a parameter in ``declared`` (the CapabilityStatement's names for
    the type) is never counted: declaring a parameter claims support for it. A criterion the self link shows
    replaced by another (``reported_changed``) was not ignored: it was answered with another meaning."""
    pairs = self_link_pairs(bundle)
    echoed = {name for name, _ in pairs} if pairs is not None else None
    changed = reported_changed(target, bundle)
    ignored = set()
    for crit in target.query.criteria:
        name = crit.raw_name or crit.name
        if (crit.modifier is None and not crit.chain and crit.name in declared) or name in changed:
            continue
        if (echoed is not None and name not in echoed) or _outcome_mentions(bundle, name):
            ignored.add(name)
    return ignored


def check_changed_criteria(ctx: CheckContext, changed: dict[str, str]) -> list[CheckResult]:
    """REST-082 (SHOULD): an unsupported modifier is refused (400) or ignored and left out of the self link.

    A self link that shows the criterion replaced by another (``modality:not=CT`` answered as ``modality=CT``)
    is neither: the client gets the opposite of what it asked for. One verdict for the cause: the criterion
    is not judged again for precision, and recall is not judged (the server answered another question)."""
    if not changed:
        return []
    what = "; ".join(f"{name} answered as {instead}" for name, instead in sorted(changed.items()))
    return [ctx.result(
        "search", False,
        f"the self link shows criteria replaced by others the client never sent ({what}): an unsupported modifier "
        "is refused or ignored and left out of the self link, not searched with another meaning",
        detail="self link: changed criteria", requirement=("REST-082",), level=Level.SHOULD,
    )]


def check_self_link(
    ctx: CheckContext, target: SearchTarget, bundle: dict[str, Any], matched: list[dict[str, Any]],
    resolver: Resolver, base: str,
) -> list[CheckResult]:
    """REST-042/046: the self link states what was applied, and the matches satisfy it.

    A parameter the harness cannot see applied (unknown, unsupported modifier, wrong case) that is
    echoed in the self link with no OperationOutcome saying it was ignored is the silent wrong
    result of FIND-03: the client believes it filtered and it did not.
    """
    echoed_or_none = self_link_pairs(bundle)
    if echoed_or_none is None:
        return [ctx.result("search", False, "no Bundle.link[self] to judge", detail="self link", requirement=("REST-042",))]
    echoed = echoed_or_none
    echoed_names = {name for name, _ in echoed}
    results: list[CheckResult] = []

    # Parameters sent that cannot have been applied: echoed without an outcome = a lie.
    sent_unknown = [name for name, _ in target.query.unknown if name.split(":")[0] not in RESULT_PARAMS]
    lied = [n for n in sent_unknown if n in echoed_names and not _outcome_mentions(bundle, n)]
    reported = [n for n in sent_unknown if n not in lied]
    if sent_unknown:
        results.append(ctx.result(
            "search", not lied,
            (f"parameter(s) {', '.join(reported)} not applied and reported (left out of the self link or named "
             "in an OperationOutcome)" if not lied
             else f"self link echoes {', '.join(lied)}, which the server cannot have applied, and no "
                  "OperationOutcome says it was ignored: the client is told it filtered when it did not"),
            detail="self link: ignored parameters", requirement=("REST-042", "REST-034"),
        ))

    # Every criterion echoed holds for every match (REST-046 over the self link).
    echo_query = parse_query(target.resource_type, echoed)
    offenders = []
    for crit in echo_query.criteria:
        for resource in matched:
            if not matches(resource, crit, resolver=resolver, base_url=base):
                offenders.append(f"{resource.get('resourceType')}/{resource.get('id')} fails {crit.raw_name}={crit.raw_value}")
    dropped = sorted({c.raw_name for c in target.query.criteria} - echoed_names)
    note = f"; sent but not echoed (not applied): {', '.join(dropped)}" if dropped else ""
    results.append(ctx.result(
        "search", not offenders,
        (f"every match satisfies the {len(echo_query.criteria)} criteria echoed in the self link{note}" if not offenders
         else f"matches do not satisfy the criteria the self link claims: {'; '.join(offenders[:5])}"),
        detail="self link: echoed criteria", requirement=("REST-042", "REST-046"),
    ))
    return results


SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
_NOT_COMPARED = {"id", "meta", "text"}  # bookkeeping and narrative a server may rewrite on any read


def _left_out(returned: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Top-level elements the stored resource has and the returned one does not."""
    return sorted(k for k in stored if k not in _NOT_COMPARED and not k.startswith("_") and k not in returned)


def tagged_subsetted(resource: dict[str, Any]) -> bool:
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(isinstance(t, dict) and t.get("code") == "SUBSETTED" and t.get("system") == SUBSETTED_SYSTEM for t in tags)


def check_subsetted(ctx: CheckContext, target: SearchTarget, matched: list[dict[str, Any]]) -> list[CheckResult]:
    """REST-087/088: a match that is a subset of what the server stores carries the SUBSETTED tag.

    R4 does not oblige a server to honour _summary or _elements, so a full resource needs no tag:
    only matches that leave out a top-level element their fixture (as the server stored it) has are
    judged; data that is not the harness's own is never judged.
    """
    requirement = ("REST-088",) if target.query.elements else ("REST-087",)
    session = ctx.session
    stored = {(r.get("resourceType"), r.get("id")): r for r in (session.fixtures.loaded.values() if session else [])}
    subsets, untagged = [], []
    for resource in matched:
        key = (resource.get("resourceType"), resource.get("id"))
        if key not in stored:
            continue
        left_out = _left_out(resource, stored[key])
        if left_out:
            subsets.append(f"{key[0]}/{key[1]}")
            if not tagged_subsetted(resource):
                untagged.append(f"{key[0]}/{key[1]} (leaves out {', '.join(left_out[:4])})")
    if not subsets:
        return [ctx.result("search", True, "no match is a subset of the stored resource: no SUBSETTED tag needed "
                           "(R4 does not oblige a server to subset)", detail="SUBSETTED", requirement=requirement)]
    return [ctx.result(
        "search", not untagged,
        (f"all {len(subsets)} subsetted matches carry meta.tag SUBSETTED" if not untagged
         else f"subsetted matches without meta.tag {SUBSETTED_SYSTEM}|SUBSETTED: {'; '.join(untagged[:5])}"),
        detail="SUBSETTED", requirement=requirement,
    )]


def judge_shape(
    spec: SearchExpectation, ctx: CheckContext, target: SearchTarget, pages: list[dict[str, Any]],
    ordered: list[dict[str, Any]], complete: bool, resolver: Resolver, base: str, cut_short: str | None = None,
    unmarked: Collection[str] = (),
) -> list[CheckResult]:
    """``unmarked``: entries without search.mode next to _include results (one REST-045 defect, judged by the
    caller): the matches are unknown, so their count per page (_count), total and order are not judged again."""
    results: list[CheckResult] = []
    if unmarked:
        results.append(ctx.result("search", True, "page size, total and order not judged: matches cannot be told from "
                                  "included resources without search.mode", detail="total", level=Level.INFO))
    else:
        results += check_page_sizes(ctx, target, pages)
        if spec.total:
            results += check_total(ctx, pages[0], len(ordered), complete, cut_short)
        if spec.order:
            results += check_order(ctx, target, ordered)
    # the entries that may be includes are no matches to judge against the criteria again
    marked = [r for r in ordered if f"{r.get('resourceType')}/{r.get('id')}" not in unmarked] if unmarked else ordered
    if spec.self_link:
        results += check_self_link(ctx, target, pages[0], marked, resolver, base)
    if spec.subsetted:
        results += check_subsetted(ctx, target, marked)
    if spec.include_targets and not unmarked:  # which entries are the includes is the REST-045 defect itself
        results += check_included_targets(ctx, target, pages, complete)
    if spec.full_urls:
        results += check_full_urls(ctx, pages)
    return results


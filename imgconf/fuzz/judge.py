"""Send one generated search and judge it with the search oracle (``imgconf.checks.search``).

There is no second oracle here: the response goes through ``check_search`` exactly as a suite's
``search:`` expectation would (precision and recall over every page, page size, self link, order,
total), with ``lenient_ignored`` so that a criterion the server reports it did not apply (R4 lenient
handling) is not held against it. This module only decides which requirement a failure cites and
turns failing SHALL/SHOULD results into ``Defect``s.

- 4xx: R4 lets a server refuse a search it cannot perform: not judged (counted).
- 5xx: REST-033 (SHOULD): a search with valid values answers 200, an invalid value 400.
- 200 without a searchset Bundle: the oracle's own REST-040 failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imgconf import catalogue
from imgconf.checks.base import CheckContext
from imgconf.checks.search import check_search
from imgconf.checks.search_target import SearchExpectation, SearchTarget, parse_search_request, self_link_pairs
from imgconf.client import TargetUnreachable
from imgconf.fuzz.actors import MHD_RESPONDER, PDQM_SUPPLIER, ihe_requirements
from imgconf.fuzz.model import Defect, FuzzQuery
from imgconf.results import CheckResult, Level, Verdict
from imgconf.searchparams import Criterion
from imgconf.searchparams.extract import values as extract_values
from imgconf.searchparams.match import parse_token, token_items
from imgconf.suite.model import Request

if TYPE_CHECKING:
    from imgconf.session import TargetSession

FINDING_LEVELS = (Level.SHALL, Level.SHALL_NOT, Level.SHOULD, Level.SHOULD_NOT)
STRENGTH = {Level.SHALL: 4, Level.SHALL_NOT: 4, Level.SHOULD: 3, Level.SHOULD_NOT: 3, Level.MAY: 2, Level.INFO: 1}

# Parameters whose meaning an imaging requirement pins down (cited with the type's R4 rule).
_SPECIFIC: dict[tuple[str, str], tuple[str, ...]] = {
    ("ImagingStudy", "modality"): ("IS-053",),
    ("ImagingStudy", "identifier"): ("IS-051",),
    ("ImagingStudy", "series"): ("IS-052",),
    ("ImagingStudy", "instance"): ("IS-052",),
    ("ImagingStudy", "patient"): ("IS-055",),
    ("ImagingStudy", "subject"): ("IS-055",),
}
# IHE parameters outside R4 core: an actor the target is judged as must process them (a server without them answers
# with the R4 rule of their type, or :missing, failing; the IHE requirement is what it breaks). A target judged as
# plain R4 may not know them: for it they are unknown parameters (REST-034, SHOULD), as the extension ones below.
_IHE_PARAMS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("DocumentReference", "creation"): (MHD_RESPONDER, ("MHD-003",)),
    ("Patient", "mothersMaidenName"): (PDQM_SUPPLIER, ("PDQ-002",)),
}
# Parameters outside R4 core that no catalogued actor duty makes every server process (EU Imaging's DocumentReference
# modality, EUIMG-055: SHOULD in its CapabilityStatements). R4 search.html#errors: a server that does not know one
# "SHOULD ignore unknown or unsupported parameters" (REST-034): answering wrongly is never more than a SHOULD.
_EXTENSION_PARAMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("DocumentReference", "modality"): ("REST-034",),
}
# R4 modifiers a server may or may not support (REST-056, REST-063: MAY): a wrong answer is no finding.
_OPTIONAL_MODIFIERS = {"not": "REST-056", "text": "REST-056", "of-type": "REST-056", "above": "REST-056",
                       "below": "REST-056", "in": "REST-056", "not-in": "REST-056", "identifier": "REST-063"}


# Defects of the whole answer whatever the criteria (fullUrl, _include completeness): one cause per type, named so
# (without a name every combination of parameters would be a cause of its own, each shrunk apart).
_RUN_WIDE = {"full-url": "fullUrl", "include": "_include", "search-mode": "search.mode"}


@dataclass(frozen=True)
class Failure:
    """One failing oracle result of a query, as a defect, with the criterion it names (if one)."""

    defect: Defect
    culprit: str | None  # the criterion (name as sent) the failure is about; None when the check cannot say
    strongest: Level  # the strongest level any candidate culprit could give (shrinking keeps such failures)


@dataclass
class JudgedQuery:
    query: FuzzQuery
    status: int | None = None
    judged: bool = False
    not_judged: str | None = None  # why not (a 4xx, a transport error)
    unreachable: bool = False
    failures: list[Failure] = field(default_factory=list)
    expected_ids: list[str] = field(default_factory=list)  # Type/id of fixtures the oracle expects
    actual_ids: list[str] = field(default_factory=list)  # Type/id returned as matches, all pages
    exchanges: list[dict[str, Any]] = field(default_factory=list)  # redacted evidence

    @property
    def defects(self) -> list[Defect]:
        """Findings: failures at SHALL or SHOULD."""
        return [f.defect for f in self.failures if Level(f.defect.level) in FINDING_LEVELS]


def _level_of(requirements: tuple[str, ...]) -> Level:
    """The weakest catalogue level among the cited ids (never stricter than any of them)."""
    known = catalogue.requirements()
    levels = [known[r].level for r in requirements if r in known]
    return min(levels, key=lambda lvl: STRENGTH[lvl]) if levels else Level.INFO


def _token_form(raw: str) -> str:
    system, code = parse_token(raw)
    if system is None:
        return "REST-050"
    if system == "":
        return "REST-052"
    return "REST-053" if code == "" else "REST-051"


def _outside_core(rtype: str, name: str, actors: frozenset[str]) -> tuple[str, ...]:
    """What a wrong answer to a parameter outside R4 core breaks: its IHE requirement for the actor that must process
    it, else (plain R4, or an extension parameter) REST-034; () for an R4 core parameter."""
    if (rtype, name) in _IHE_PARAMS:
        actor, reqs = _IHE_PARAMS[(rtype, name)]
        return reqs if actor in actors else ("REST-034",)
    return _EXTENSION_PARAMS.get((rtype, name), ())


def criterion_requirements(rtype: str, crit: Criterion, actors: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The catalogue ids a wrong answer to this one criterion breaks (``actors``: the IHE actors judged as)."""
    alternatives = ("REST-057",) if len(crit.values) > 1 else ()  # comma = OR
    if crit.chain:  # the catalogue names one chain (MHD's patient.identifier); others only as echoed (REST-046)
        chained = crit.raw_name.split(":")[0] if crit.raw_name else crit.name
        return ("REST-062", *alternatives) if (rtype, chained) == ("DocumentReference", "patient.identifier") else ()
    mod = crit.modifier
    if mod == "missing":
        return ("REST-080", *_outside_core(rtype, crit.name, actors))
    if mod in _OPTIONAL_MODIFIERS:
        return (_OPTIONAL_MODIFIERS[mod],)
    if mod and mod[:1].isupper():  # subject:Patient=123: the type modifier (REST-061, MAY) is what the server may lack
        return ("REST-061", *alternatives)
    ptype = crit.param.type if crit.param else ""
    reqs: list[str] = [*_SPECIFIC.get((rtype, crit.name), ()), *_outside_core(rtype, crit.name, actors)]
    if ptype == "token":
        reqs += sorted({_token_form(v) for v in crit.raw_values or crit.values})
        if crit.name == "identifier":
            reqs.append("REST-054")
    elif ptype == "date":
        reqs += ["REST-071", "REST-072"]
    elif ptype == "string":
        reqs.append("REST-081")
    elif ptype == "reference":
        reqs.append("REST-060")
    if not reqs:  # a type the catalogue gives no matching rule (uri, number, …): a comma alone is no accusation
        return ()
    return tuple(dict.fromkeys([*reqs, *alternatives]))


def _case_variant_only(resource: dict[str, Any], crit: Criterion) -> bool:
    """A token criterion that differs from the resource's code only in letter case (REST-055 is SHOULD)."""
    if crit.param is None or crit.param.type != "token" or crit.modifier:
        return False
    items = [t for v in extract_values(resource, crit.param) for t in token_items(v, crit.param.code_system or None)]
    for raw in crit.raw_values:
        _system, code = parse_token(raw)
        if any(i.code and code and i.code != code and i.code.casefold() == code.casefold() for i in items):
            return True
    return False


def _kind(result: CheckResult) -> str:
    detail, reqs = result.detail, set(result.requirement)
    if "REST-043" in reqs or detail == "page size":
        return "paging"
    if detail.startswith("precision"):
        return "precision"
    if detail.startswith("recall"):
        return "recall"
    if detail.startswith("order"):
        return "order"
    if detail == "total":
        return "total"
    if detail.startswith("self link"):
        return "self-link"
    if detail == "include":
        return "include"
    if detail == "full url":
        return "full-url"
    if detail == "search mode":
        return "search-mode"
    if result.reason.startswith("no searchset Bundle"):
        return "status"
    return "shape"


class _Culprits:
    """Who a failure is about: the oracle's criteria and what each one cites."""

    def __init__(self, target: SearchTarget | None, query: FuzzQuery, bundle: dict[str, Any] | None,
                 actors: frozenset[str] = frozenset()) -> None:
        self.target = target
        self.echoed = _self_link_names(bundle)
        self.rtype = query.resource_type
        self.by_name: dict[str, tuple[str, ...]] = {}
        self.ihe: dict[str, tuple[str, ...]] = {}  # criteria an IHE actor the target is judged as must apply
        for crit in target.query.criteria if target else []:
            name = crit.raw_name or crit.name
            # a name sent twice (AND: started=lt..,le..&started=le..) cites what each occurrence breaks, not the last
            ihe = tuple(dict.fromkeys([*self.ihe.get(name, ()), *ihe_requirements(actors, self.rtype, crit)]))
            self.ihe[name] = ihe
            reqs = (*self.by_name.get(name, ()), *criterion_requirements(self.rtype, crit, actors))
            self.by_name[name] = tuple(dict.fromkeys([*reqs, *ihe]))
        self.compartment = ("IS-056",) if self.rtype == "ImagingStudy" else ("REST-100",)

    def candidates(self) -> dict[str, tuple[str, ...]]:
        out = dict(self.by_name)
        if self.target is not None and self.target.compartment:
            out["(compartment)"] = self.compartment
        return out


def _failure(result: CheckResult, culprits: _Culprits, observed: dict[str, Any], query: FuzzQuery) -> Failure:
    kind = _kind(result)
    if result.requirement and kind not in ("precision", "recall"):  # the check cites its own requirement
        reqs = tuple(result.requirement)
        # never stricter than the catalogue: an order check runs at the search's level but cites REST-086 (SHOULD)
        level = min((Level(result.level), _level_of(reqs)), key=lambda lvl: STRENGTH[lvl])
        # a criterion the self link shows replaced: the cause is that criterion (one finding per parameter)
        changed = sorted(observed.get("changed") or {}) if result.detail == "self link: changed criteria" else []
        if changed and (ihe := culprits.ihe.get(changed[0])):
            # an actor that must apply it (PDQ-004: :exact on a PDQm string) has no REST-082 way out
            reqs, level = ihe, _level_of(ihe)
        named = changed[0] if changed else _RUN_WIDE.get(kind)
        return Failure(Defect(kind, reqs, level.value, result.reason), named, level)
    candidates = culprits.candidates()
    culprit: str | None = None
    reqs = ()
    if kind == "precision":
        failing: list[tuple[dict[str, Any], str]] = observed.get("failing", [])
        named = [name for _res, failed in failing if (name := failed.split("=", 1)[0]) in candidates]
        if any(failed.startswith("not in the ") for _res, failed in failing):
            named.append("(compartment)")
        if named:
            # the first failing criterion in query order, not in the server's answer order (which may follow its
            # random ids): the same query gives the same cause on every run
            order = list(candidates)
            culprit = min(named, key=order.index)
            reqs = candidates[culprit]
            if culprit in culprits.by_name and culprits.target is not None:
                # the criterion each offender failed, by its text: a repeated name (AND) has several
                by_text = {f"{c.raw_name or c.name}={c.raw_value or ','.join(c.values)}": c
                           for c in culprits.target.query.criteria}
                offenders = [(res, by_text.get(failed)) for res, failed in failing if failed.split("=", 1)[0] == culprit]
                if offenders and all(crit is not None and _case_variant_only(r, crit) for r, crit in offenders):
                    reqs = ("REST-055",)  # token case sensitivity is a SHOULD (the code system may say otherwise)
                elif culprit in culprits.echoed:
                    reqs = (*reqs, "REST-046")  # the self link claims the criterion was applied
    elif len(candidates) == 1:
        culprit = next(iter(candidates))
        reqs = candidates[culprit]
    if culprit is None:
        pool = [r for rs in candidates.values() for r in rs]
        if not pool and candidates:  # criteria that cite nothing (chains the catalogue does not name): R4 leaves
            return Failure(Defect(kind, (), Level.INFO.value, result.reason), None, Level.INFO)  # them to the server
        if not pool:  # a search with no criteria: it must return every match (paging, REST-043, is its own check)
            pool = ["REST-046"]
        strongest = max((_level_of((r,)) for r in pool), key=lambda lvl: STRENGTH[lvl])
        reqs = tuple(dict.fromkeys(pool))
        level = _level_of(reqs)
        return Failure(Defect(kind, reqs, level.value, result.reason), None, strongest)
    level = _level_of(reqs)
    return Failure(Defect(kind, tuple(reqs), level.value, result.reason), culprit, level)


def _self_link_names(bundle: dict[str, Any] | None) -> set[str]:
    return {name for name, _ in self_link_pairs(bundle) or []}


def _spec_for(query: FuzzQuery, target: SearchTarget | None, bundle: dict[str, Any] | None,
              required: frozenset[str] = frozenset()) -> SearchExpectation:
    names = {name.split(":", 1)[0] for name, _ in query.params}
    values = dict(query.params)
    summary = "_summary" in names  # a summary is no set of whole matches (REST-087 is not fuzzed)
    # REST-086: an unsupported sort is ignored and left out of the self link: order is judged when echoed.
    sort_echoed = target is not None and bool(target.query.sort) and "_sort" in _self_link_names(bundle)
    return SearchExpectation(
        precision=not summary,
        recall=not summary,
        self_link=True,
        order=sort_echoed,
        total=not summary and values.get("_total") not in ("estimate", "none"),
        lenient_ignored=True,
        required=required,
        include_targets=not summary,
        full_urls=True,
    )


def send(session: TargetSession, query: FuzzQuery) -> Any:
    """The HTTP exchange of one query (GET, POST _search with a form, or a compartment path)."""
    if query.method == "POST" and not query.compartment:
        return session.client.send("POST", query.path, form=list(query.params))
    return session.client.send("GET", query.path, params=list(query.params))


def judge_query(session: TargetSession, query: FuzzQuery, resolved: dict[str, Any] | None = None,
                actors: frozenset[str] = frozenset()) -> JudgedQuery:
    """Send ``query``, judge the answer with the search oracle; defects, ids and evidence.

    ``resolved``: references already read, shared across the queries of a run (the data does not change
    while it runs); None reads them again for this query. ``actors``: the IHE actors the target is judged as
    (``imgconf.fuzz.actors``): the criteria they must process are never taken as leniently ignored."""
    judged = JudgedQuery(query)
    try:
        response = send(session, query)
    except TargetUnreachable as exc:
        judged.not_judged, judged.unreachable = str(exc), True
        judged.exchanges.append(exc.exchange.to_dict())
        return judged
    judged.status = response.status
    judged.exchanges.append(response.exchange.to_dict())
    if 400 <= response.status < 500:
        judged.not_judged = f"refused with {response.status} (R4: a server may reject a search it cannot perform)"
        return judged
    judged.judged = True
    if response.status >= 500:
        reqs = ("REST-033",)
        judged.failures.append(Failure(Defect(
            "status", reqs, _level_of(reqs).value,
            f"HTTP {response.status} to a search: a search answers 200 (an invalid value 400); "
            "a server error is no answer"), None, _level_of(reqs)))
        return judged
    form = list(query.params) if query.method == "POST" and not query.compartment else []
    target = parse_search_request(session.base_url, response.url, form)
    bundle = response.resource if response.resource and response.resource.get("resourceType") == "Bundle" else None
    culprits = _Culprits(target, query, bundle, actors)
    reqs_all = tuple(dict.fromkeys(r for rs in culprits.candidates().values() for r in rs)) or ("REST-046",)
    ctx = CheckContext(
        response=response,
        request=Request(method=query.method, path=query.path, params=query.params),
        exchange=0,
        requirements=reqs_all,
        level=_level_of(reqs_all),
        variables={},
        session=session,
        sent_form=form,
        resolved=resolved,
    )
    try:
        required = frozenset(name for name, reqs in culprits.ihe.items() if reqs)
        results = check_search(_spec_for(query, target, bundle, required), ctx)
    except TargetUnreachable as exc:  # following a next link or resolving a reference
        judged.exchanges += [e.to_dict() for e in ctx.extra_exchanges] + [exc.exchange.to_dict()]
        judged.judged, judged.not_judged, judged.unreachable = False, str(exc), True
        return judged
    judged.exchanges += [e.to_dict() for e in ctx.extra_exchanges]
    observed = ctx.observations.get("search", {})
    judged.actual_ids = list(observed.get("returned", []))
    expected = observed.get("expected", {})
    loaded = session.fixtures.loaded
    judged.expected_ids = sorted(f"{loaded[k]['resourceType']}/{rid}" for k, rid in expected.items() if k in loaded)
    for result in results:
        if result.verdict in (Verdict.PASS, Verdict.NOT_JUDGED):
            continue
        judged.failures.append(_failure(result, culprits, observed, query))
    return judged

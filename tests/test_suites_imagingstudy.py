"""The ImagingStudy suites catch the server bugs they are written for.

Each misbehaving server is the reference server behind the fault-injecting proxy with one named
fault from imgconf/faults/imagingstudy.py; the suite case meant to catch it must fail (or warn, for a
SHOULD) with the named check kind. Cases run in-process through the engine (the same code path as
`imgconf run`) so the whole table stays fast; test_plugin_e2e.py covers the pytest front end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from case_support import load_bundled

from imgconf.catalogue import is_known
from imgconf.engine import run_case
from imgconf.faults import BY_NAME, Fault, FaultProxy, ProxyCall, ProxyResponse
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from imgconf.results import CaseResult, Verdict
from imgconf.session import SessionOptions, TargetSession
from imgconf.suite.loader import discover
from imgconf.suite.model import Case, Suite

SUITES = suites_dir() / "imagingstudy"


def _suite(stem: str) -> Suite:
    return load_bundled(SUITES / f"{stem}.yaml")


def _needed(suite: Suite, target: Case) -> list[Case]:
    """The case alone in a read-only suite; in a suite that saves variables or changes server state
    (conditional create relies on the study the case before it created), every case up to it."""
    index = suite.cases.index(target)
    if any(case.saves() or case.writes for case in suite.cases[:index]):
        return list(suite.cases[: index + 1])
    return [target]


def run_cases(session: TargetSession, stem: str, case_name: str) -> CaseResult:
    suite = _suite(stem)
    target = next(c for c in suite.cases if c.name == case_name)
    result = None
    for case in _needed(suite, target):
        result = run_case(case, suite, session)
    assert result is not None
    return result


def run_one(base_url: str, stem: str, case_name: str) -> CaseResult:
    """A fresh session (own run tag, own fixtures), closed afterwards: for cases that write."""
    session = TargetSession(SessionOptions(target=base_url))
    try:
        return run_cases(session, stem, case_name)
    finally:
        session.close()


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def shared(server: EmbeddedServer) -> Iterator[tuple[FaultProxy, TargetSession]]:
    """One proxy and one session for read-only cases: fixtures are loaded once, with no fault active."""
    with FaultProxy(server.base_url, []) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            for stem in READ_ONLY:
                session.fixtures.ensure(_suite(stem).fixtures)
            yield proxy, session
        finally:
            session.close()


READ_ONLY = ("identifiers", "search-tokens", "search-references", "search-dates", "search-modifiers",
             "search-results", "unknown-params", "codings")


# (fault, suite file stem, case, check kind that must fail)
CAUGHT = [
    ("study-uid-prefix-tolerant", "identifiers", "the bare study UID with the urn:dicom:uid system must not match", "search"),
    ("series-uid-prefix-tolerant", "identifiers", "series with a urn:oid prefix must not match", "search"),
    ("series-uid-prefix-tolerant", "identifiers", "instance with a urn:oid prefix must not match", "search"),
    ("echoes-ignored-params", "unknown-params", "lenient handling ignores an unknown parameter and leaves it out of the self link", "search"),
    ("echoes-ignored-params", "search-modifiers", ":exact on a token is not applied silently under lenient handling", "search"),
    ("ignores-strict-handling", "unknown-params", "strict handling rejects an unknown parameter with 400", "status"),
    ("lastupdated-case-insensitive", "unknown-params", "_lastupdated (wrong case) is not _lastUpdated", "search"),
    ("ignores-sort", "search-results", "_sort=started ascending across pages", "search"),
    ("ignores-count", "search-results", "_count=2 pages through every match", "search"),
    ("includes-as-matches", "search-results", "_include=ImagingStudy:subject adds the patient as an include", "search"),
    ("total-counts-includes", "search-results", "_include=ImagingStudy:subject adds the patient as an include", "search"),
    ("ignores-summary", "search-results", "_summary=count returns the total and no entries", "fhirpath"),
    ("subset-without-subsetted-tag", "search-results", "_elements returns the asked elements and tags a subset SUBSETTED", "search"),
    ("subset-without-subsetted-tag", "search-results", "_summary=text tags the text-only resources SUBSETTED", "search"),
    ("study-identifier-ignores-case", "identifiers", "an accession number that differs only in case does not match", "search"),
    ("study-identifier-ignores-case", "identifiers", "an identifier system that differs only in case does not match", "search"),
    ("ignores-if-match", "rest-semantics", "update with a stale If-Match gives 412", "status"),
    ("ignores-if-none-exist", "rest-semantics", "conditional create with one match returns it (200) and creates nothing", "status"),
    ("ignores-unsupported-accept", "rest-semantics", "an unsupported Accept gives 406", "status"),
    ("accepts-invalid-resources", "rest-semantics", "a 65-character series UID is rejected", "status"),
    ("date-sa-eb-as-gt-lt", "search-dates", "sa excludes an overlapping year-precision target", "search"),
    ("date-eq-overlap", "search-dates", "eq a day inside a month-precision target does not match", "search"),
    ("ignores-started", "search-dates", "ne a year excludes the year-precision target", "search"),
    ("ignores-missing", "search-modifiers", "started:missing=true finds the study without a start time", "search"),
    ("patient-matches-any-subject", "search-references", "patient does not match a Device subject", "search"),
    ("endpoint-study-level-only", "search-references", "endpoint referenced only by a series", "search"),
    ("ignores-modality", "search-tokens", "modality finds a key-object series (KO)", "search"),
    ("drops-first-match", "search-tokens", "_id with a comma list is OR", "search"),
    ("endpoint-trailing-slash", "codings", "read endpoint wado-rs and apply the endpoint rules", "rule"),
    ("sop-class-bare-oid", "codings", "read ct-chest and apply the imaging rules", "rule"),
    ("sop-class-transfer-syntax", "codings", "read mr-brain and apply the imaging rules", "rule"),
    ("study-uid-without-prefix", "codings", "the Study Instance UID identifier is urn:dicom:uid with urn:oid and a valid UID", "fhirpath"),
    ("series-uid-urn-oid", "codings", "read mg-screening and apply the imaging rules", "structure"),
    ("legacy-modality-system", "codings", "modality codings use the DCM system and upper-case codes", "fhirpath"),
    ("endpoint-trailing-slash", "codings", "retrieval URLs from a study with study- and series-level endpoints", "image-url"),
    ("series-uid-urn-oid", "codings", "retrieval URLs from a study with a WADO-URI series endpoint", "image-url"),
    ("started-without-timezone", "codings", "read ct-chest and apply the imaging rules", "rule"),
]


@pytest.mark.parametrize(("fault", "stem", "case", "check"), CAUGHT, ids=[f"{f}->{s}" for f, s, _, _ in CAUGHT])
def test_fault_is_caught_by_its_case(
    server: EmbeddedServer, shared: tuple[FaultProxy, TargetSession], fault: str, stem: str, case: str, check: str
) -> None:
    if stem in READ_ONLY:
        proxy, session = shared
        proxy.set_faults([BY_NAME[fault]])
        try:
            result = run_cases(session, stem, case)
        finally:
            proxy.set_faults([])
    else:
        with FaultProxy(server.base_url, [BY_NAME[fault]]) as own:
            result = run_one(own.base_url, stem, case)
    assert result.error is None, result.error
    failed = [c for c in result.checks if c.verdict in (Verdict.FAIL, Verdict.WARN)]
    assert result.verdict in (Verdict.FAIL, Verdict.WARN), f"{fault}: {case!r} gave {result.verdict}"
    kinds = {c.check for c in failed}
    assert check in kinds, f"{fault}: failed checks were {kinds}: {[c.reason for c in failed]}"
    assert all(c.reason for c in failed)


@pytest.mark.parametrize(("stem", "case"), sorted({(s, c) for _, s, c, _ in CAUGHT}))
def test_the_same_cases_pass_without_a_fault(
    server: EmbeddedServer, shared: tuple[FaultProxy, TargetSession], stem: str, case: str
) -> None:
    result = run_cases(shared[1], stem, case) if stem in READ_ONLY else run_one(server.base_url, stem, case)
    assert result.verdict in (Verdict.PASS, Verdict.INFO), [c.reason for c in result.checks if c.verdict is not Verdict.PASS]


def test_every_new_fault_is_tied_to_known_requirements() -> None:
    for name, *_ in CAUGHT:
        assert all(is_known(r) for r in BY_NAME[name].requirements), name


def test_the_imagingstudy_suites_hold_at_least_150_cases_each_citing_requirements() -> None:
    paths = discover([SUITES])
    suites = [load_bundled(p) for p in paths]
    cases = [c for s in suites for c in s.cases]
    assert len(cases) >= 150
    assert all(c.requirements and all(is_known(r) for r in c.requirements) for c in cases)
    assert len({(s.id, c.name) for s in suites for c in s.cases}) == len(cases)


def test_every_r4_search_parameter_has_a_positive_and_a_negative_case() -> None:
    """Positive: a search case that names fixtures in includes; negative: one with excludes."""
    from imgconf.searchparams import params_for

    wanted = set(params_for("ImagingStudy")) & ({
        "basedon", "bodysite", "dicom-class", "encounter", "endpoint", "identifier", "instance", "interpreter",
        "modality", "patient", "performer", "reason", "referrer", "series", "started", "status", "subject",
    } | {"_id", "_lastUpdated"})
    assert len(wanted) == 19
    positive: set[str] = set()
    negative: set[str] = set()
    for path in discover([SUITES]):
        for case in load_bundled(path).cases:
            for step in case.steps:
                # the oracle of an on_status branch (200 when a modifier may also be refused) counts too
                searches = [step.expect.spec("search")] + [branch.spec("search") for _, branch in step.expect.on_status]
                for search in searches:
                    if search is None or not step.request.path.startswith("ImagingStudy"):
                        continue
                    names = {k.split(":")[0].split(".")[0] for k, _ in step.request.params + step.request.form}
                    if search.includes:
                        positive |= names
                    if search.excludes:
                        negative |= names
    assert wanted - positive == set(), "no positive case"
    assert wanted - negative == set(), "no negative case"


def test_suite_files_are_the_documented_themes() -> None:
    names = {p.stem for p in SUITES.glob("*.yaml")}
    assert {"identifiers", "search-tokens", "search-references", "search-dates", "search-modifiers",
            "search-results", "rest-semantics", "unknown-params", "codings"} <= names
    assert all(Path(p).read_text(encoding="utf-8").startswith("suite:") for p in SUITES.glob("*.yaml"))


# -- optional modifiers: 400 + OperationOutcome is a legal answer (REST-082) ------------------------

OPTIONAL_MODIFIER_CASES = [
    ("search-modifiers", "status:not excludes that status"),
    ("search-modifiers", "modality:not also returns studies without any series"),
    ("search-modifiers", "status:not with a comma list excludes both codes"),
    ("search-modifiers", "reason:text on the CodeableConcept text"),
    ("search-modifiers", "subject type modifier selects the Device subject"),
    ("search-modifiers", ":exact on a token is not applied silently under lenient handling"),
    ("identifiers", "accession number with the ACSN identifier type"),
    ("identifiers", "accession number in basedOn by basedon:identifier"),
    ("search-references", "basedon with the ServiceRequest type modifier and a bare id"),
    ("search-references", "performer device with a type modifier"),
    ("search-references", "subject Group with a type modifier"),
]


def _refuse_type_modifiers(call: ProxyCall) -> ProxyResponse | None:
    """Type modifiers (subject:Device) refused like the catalogue fault refuses the other optional ones."""
    if call.is_search and any(k.partition(":")[2][:1].isupper() for k, _ in call.query if not k.startswith("_")):
        body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported"}]}
        return ProxyResponse(400, {"content-type": "application/fhir+json"}, json.dumps(body).encode())
    return None


REFUSES_TYPE_MODIFIERS = Fault("refuses-type-modifiers", "type modifiers refused with 400", ("REST-082",),
                               on_request=_refuse_type_modifiers, benign=True)


@pytest.mark.parametrize(("stem", "case"), OPTIONAL_MODIFIER_CASES)
def test_a_server_that_refuses_an_optional_modifier_with_400_passes(
    shared: tuple[FaultProxy, TargetSession], stem: str, case: str
) -> None:
    proxy, session = shared
    proxy.set_faults([BY_NAME["refuses-optional-modifiers"], REFUSES_TYPE_MODIFIERS])
    try:
        result = run_cases(session, stem, case)
    finally:
        proxy.set_faults([])
    assert result.exchanges[-1].status == 400, "the fault did not refuse the modifier"
    assert result.verdict is Verdict.PASS, [c.reason for c in result.checks if c.verdict is not Verdict.PASS]
    assert {c.check for c in result.checks} >= {"status", "resource"}  # the 400 branch was judged
    assert "search" not in {c.check for c in result.checks}  # the 200 branch was not


def test_a_refusal_without_an_operationoutcome_is_not_the_legal_branch(shared: tuple[FaultProxy, TargetSession]) -> None:
    def bare_400(call: ProxyCall) -> ProxyResponse | None:
        return ProxyResponse(400, {"content-type": "text/plain"}, b"no") if call.is_search else None

    proxy, session = shared
    proxy.set_faults([Fault("bare-400", "400 without a body", ("REST-082",), on_request=bare_400)])
    try:
        result = run_cases(session, "search-modifiers", ":exact on a token is not applied silently under lenient handling")
    finally:
        proxy.set_faults([])
    assert result.verdict is Verdict.WARN  # SHOULD case: REST-082 asks for the OperationOutcome
    assert [c.check for c in result.checks if c.verdict is Verdict.WARN] == ["resource"]


def test_a_server_that_answers_200_and_drops_not_is_still_judged(shared: tuple[FaultProxy, TargetSession]) -> None:
    proxy, session = shared
    proxy.set_faults([BY_NAME["not-modifier-ignored"]])
    try:
        result = run_cases(session, "search-modifiers", "status:not excludes that status")
    finally:
        proxy.set_faults([])
    assert result.exchanges[-1].status == 200
    # REST-056 is MAY: the wrong result is reported at the catalogue level (info), by the oracle
    assert result.verdict is Verdict.INFO
    assert any(c.check == "search" and c.verdict is Verdict.INFO and "do not satisfy" in c.reason for c in result.checks)


# -- legal variations R4 leaves open: the cases that touch them pass ------------------------------

LEGAL_VARIATIONS = [
    ("ignores-elements", "search-results", "_elements returns the asked elements and tags a subset SUBSETTED"),
    # not benign as a whole (_summary=count must count), but full resources for _summary=text are legal
    ("ignores-summary", "search-results", "_summary=text tags the text-only resources SUBSETTED"),
    ("sort-missing-first", "search-results", "_sort=started orders the dated studies when one has no start time"),
    ("sort-missing-first", "search-results", "_sort by two keys"),
]


@pytest.mark.parametrize(("fault", "stem", "case"), LEGAL_VARIATIONS)
def test_a_legal_variation_passes(shared: tuple[FaultProxy, TargetSession], fault: str, stem: str, case: str) -> None:
    proxy, session = shared
    proxy.set_faults([BY_NAME[fault]])
    try:
        result = run_cases(session, stem, case)
    finally:
        proxy.set_faults([])
    assert result.verdict in (Verdict.PASS, Verdict.INFO), [c.reason for c in result.checks if c.verdict is not Verdict.PASS]


def test_full_resources_for_elements_need_no_subsetted_tag_and_subsets_do(shared: tuple[FaultProxy, TargetSession]) -> None:
    proxy, session = shared
    case = "_elements returns the asked elements and tags a subset SUBSETTED"
    result = run_cases(session, "search-results", case)  # the reference server subsets and tags
    tag = [c for c in result.checks if c.detail == "SUBSETTED"]
    assert [c.verdict for c in tag] == [Verdict.PASS] and "subsetted matches carry" in tag[0].reason
    proxy.set_faults([BY_NAME["ignores-elements"]])
    try:
        full = run_cases(session, "search-results", case)
    finally:
        proxy.set_faults([])
    tag = [c for c in full.checks if c.detail == "SUBSETTED"]
    assert [c.verdict for c in tag] == [Verdict.PASS] and "no match is a subset" in tag[0].reason
    assert full.verdict is Verdict.PASS, [c.reason for c in full.checks if c.verdict is not Verdict.PASS]


def _one_page(call: ProxyCall) -> None:
    call.query = [(k, v) for k, v in call.query if k != "_count"]


def _reversed_around_the_unkeyed(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """Dated studies in reverse order, the undated one placed between them."""
    from imgconf.searchparams.sort import lacks_sort_value

    body = response.json()
    if call.is_search and isinstance(body, dict) and body.get("entry"):
        keyed = [e for e in body["entry"] if not lacks_sort_value(e["resource"], [("started", False)])][::-1]
        unkeyed = [e for e in body["entry"] if lacks_sort_value(e["resource"], [("started", False)])]
        body["entry"] = keyed[:1] + unkeyed + keyed[1:]
        response.set_json(body)
    return response


def test_a_study_without_the_sort_key_never_hides_a_wrong_order(shared: tuple[FaultProxy, TargetSession]) -> None:
    proxy, session = shared
    proxy.set_faults([Fault("sort-reversed", "dated studies in reverse order around an undated one", ("REST-086",),
                            on_request=_one_page, on_response=_reversed_around_the_unkeyed)])
    try:
        result = run_cases(session, "search-results", "_sort=started orders the dated studies when one has no start time")
    finally:
        proxy.set_faults([])
    order = [c for c in result.checks if c.detail == "order over all pages"]
    assert order and order[0].verdict is Verdict.WARN and "should come before" in order[0].reason

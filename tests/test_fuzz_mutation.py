"""The search faults (Fault.search) and `imgconf mutate --fuzz`: which search faults the generative search
tester (imgconf fuzz) catches, besides the suites."""

from __future__ import annotations

from imgconf.faults import MUTATION_FAULTS

# Every fault whose breakage is search semantics (R4 search.html): matching, modifiers, prefixes, chains,
# compartments, POST _search, paging, order, total, _include, the searchset's shape, refusals. A change here
# is deliberate: a new search fault is tagged where it is declared (Fault(..., search=True)).
SEARCH_FAULTS = {
    # imagingstudy.py
    "bundle-type-collection", "no-self-link", "relative-full-urls", "drops-first-match", "next-link-loops",
    "truncates-paging", "html-error-page", "ignores-modality", "ignores-status", "ignores-patient", "ignores-started",
    "tokens-case-insensitive", "date-eq-overlap", "modality-study-level", "invalid-date-accepted",
    "study-uid-prefix-tolerant", "series-uid-prefix-tolerant", "echoes-ignored-params", "ignores-strict-handling",
    "ignores-sort", "ignores-count", "includes-as-matches", "total-counts-includes", "date-sa-eb-as-gt-lt",
    "ignores-missing", "lastupdated-case-insensitive", "patient-matches-any-subject", "endpoint-study-level-only",
    "ignores-summary", "ignores-elements",
    # documents.py
    "ignores-setting", "ignores-patient-identifier-chain", "mhd-returns-entered-in-error",
    "ignores-mothers-maiden-name", "ignores-exact",
    # matching.py
    "string-matches-anywhere", "exact-ignores-case", "patient-identifier-ignores-case", "study-identifier-ignores-case",
    "related-identifier-as-reference", "ignores-type-text",
    # rest.py
    "compartment-unfiltered", "post-search-ignores-body", "ignores-include", "ignores-revinclude", "identifier-bare-uid",
    "ignores-series", "comma-is-not-or", "missing-inverted", "refuses-optional-modifiers", "not-modifier-ignored",
    "sort-missing-first", "subset-without-subsetted-tag", "total-is-page-size", "no-bundle-type", "no-search-mode",
}

# Catalogue sections of search semantics: a search fault is tied to at least one requirement there.
SEARCH_SECTIONS = ("A.5", "B.4", "B.5", "B.6", "B.7", "B.8", "B.9", "B.10", "C.1", "C.4")


def test_the_search_faults_are_tagged_where_they_are_declared() -> None:
    assert {f.name for f in MUTATION_FAULTS if f.search} == SEARCH_FAULTS


def test_every_search_fault_is_tied_to_a_search_requirement() -> None:
    from imgconf.catalogue import get

    for fault in MUTATION_FAULTS:
        sections = {found.section.split()[0] for r in fault.requirements if (found := get(r)) is not None}
        if fault.search:
            assert sections & set(SEARCH_SECTIONS), fault.name
    # the format, history, CRUD, representation and CapabilityStatement faults are not search faults
    for name in ("xml-ignored", "history-oldest-first", "create-returns-200", "searchset-entry-request",
                 "metadata-hides-modality", "accepts-request-without-token"):
        assert name not in SEARCH_FAULTS

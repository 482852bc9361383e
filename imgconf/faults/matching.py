"""Faults in how a server matches search values (R4 search.html string and token rules, MHD ITI-67).

Servers that get a match rule wrong are emulated around the reference server
(``rewrite.match_by_own_rule``): the upstream is asked without the criterion, and the proxy keeps
only the matches the faulty rule would accept. Every case that catches one of these sends another
criterion too, so the upstream answer stays small.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from imgconf.faults.model import Fault
from imgconf.faults.rewrite import (
    JsonObject,
    Keep,
    drop_params,
    match_by_own_rule,
    named,
    rename_param,
)
from imgconf.searchparams import get_param
from imgconf.searchparams.extract import values as extract_values
from imgconf.searchparams.match import string_parts, token_items


def _values(resource: JsonObject, name: str) -> list[Any]:
    param = get_param(str(resource.get("resourceType", "")), name)
    return extract_values(resource, param) if param is not None else []


def _exact_ignoring_case(name: str) -> Keep:
    """`:exact` compared without case (accents still count): 'garcía núñez' finds 'García Núñez'."""
    def keep(resource: JsonObject, value: str) -> bool:
        wanted = unicodedata.normalize("NFC", value).casefold()
        return any(unicodedata.normalize("NFC", p).casefold() == wanted
                   for v in _values(resource, name) for p in string_parts(v))
    return keep


def _token_ignoring_case(name: str) -> Keep:
    """Token system and code compared without case (REST-055 asks for case-sensitive matching)."""
    def keep(resource: JsonObject, value: str) -> bool:
        system, bar, code = value.rpartition("|")
        for v in _values(resource, name):
            for item in token_items(v):
                if (code or not bar) and (item.code or "").casefold() != code.casefold():  # system| : any code
                    continue
                if not bar or (item.system or "").casefold() == system.casefold():
                    return True
        return False
    return keep


MATCHING_FAULTS: tuple[Fault, ...] = (
    Fault("string-matches-anywhere", "family= matches inside the name (contains), not from its start", ("REST-081",),
          on_request=rename_param("family", "family:contains"), search=True, search_types=("Patient",),
          suites=("pdqm-iti78",)),
    Fault("exact-ignores-case", "family:exact compares without case (accents still count)", ("REST-081", "PDQ-004"),
          **match_by_own_rule("family:exact", _exact_ignoring_case("family")), search=True, search_types=("Patient",),
          suites=("pdqm-iti78",)),
    # One type each, as named: both once rewrote every type's identifier searches, so each was the other too.
    Fault("patient-identifier-ignores-case", "Patient identifier matching ignores case", ("REST-055",),
          **match_by_own_rule("identifier", _token_ignoring_case("identifier"), resource_type="Patient"),
          search=True, search_types=("Patient",),
          suites=("pdqm-iti78",)),
    Fault("study-identifier-ignores-case", "ImagingStudy identifier matching ignores case", ("REST-055",),
          **match_by_own_rule("identifier", _token_ignoring_case("identifier"), resource_type="ImagingStudy"),
          search=True, search_types=("ImagingStudy",),
          suites=("imagingstudy-identifiers",)),
    Fault("related-identifier-as-reference", "related:identifier is searched as a literal reference: finds nothing",
          ("REST-063", "MHD-003"), on_request=rename_param("related:identifier", "related"),
          search=True, search_types=("DocumentReference",),
          suites=("mhd-iti67",)),
    Fault("ignores-type-text", "type:text is ignored: every type comes back", ("REST-056", "MHD-003"),
          on_request=drop_params(named("type:text")), search=True, search_types=("DocumentReference",),
          not_fuzzable="the generator never sends :text (R4 leaves its matching to the server)", suites=("mhd-iti67",)),
)

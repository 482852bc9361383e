"""Faults in how a server matches search values (R4 search.html string and token rules, MHD ITI-67).

Servers that get a match rule wrong are emulated around the reference server: the upstream is asked
without the criterion, and the proxy keeps only the matches the faulty rule would accept. Every
case that catches one of these sends another criterion too, so the upstream answer stays small.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.searchparams import get_param
from imgconf.searchparams.extract import values as extract_values
from imgconf.searchparams.match import string_parts, token_items

Keep = Callable[[dict[str, Any], str], bool]

# Criteria a fault took out of a request, by call, until its response comes back.
_taken: dict[int, list[str]] = {}


def _post_filtered(name: str, keep: Keep) -> dict[str, Any]:
    """on_request/on_response of a server that applies parameter ``name`` by the rule ``keep``."""
    def on_request(call: ProxyCall) -> None:
        if not call.is_search:
            return
        wanted = [v for k, v in call.query if k == name]
        if wanted:
            call.query = [(k, v) for k, v in call.query if k != name]
            _taken[id(call)] = wanted

    def on_response(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        wanted = _taken.pop(id(call), None)
        body = response.json()
        if wanted is None or not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            return response
        body["entry"] = [
            e for e in body.get("entry") or []
            if (e.get("search") or {}).get("mode", "match") != "match"
            or all(any(keep(e.get("resource") or {}, v) for v in value.split(",")) for value in wanted)
        ]
        response.set_json(body)
        return response

    return {"on_request": on_request, "on_response": on_response}


def _values(resource: dict[str, Any], name: str) -> list[Any]:
    param = get_param(str(resource.get("resourceType", "")), name)
    return extract_values(resource, param) if param is not None else []


def _exact_ignoring_case(name: str) -> Keep:
    """`:exact` compared without case (accents still count): 'garcía núñez' finds 'García Núñez'."""
    def keep(resource: dict[str, Any], value: str) -> bool:
        wanted = unicodedata.normalize("NFC", value).casefold()
        return any(unicodedata.normalize("NFC", p).casefold() == wanted
                   for v in _values(resource, name) for p in string_parts(v))
    return keep


def _token_ignoring_case(name: str) -> Keep:
    """Token system and code compared without case (REST-055 asks for case-sensitive matching)."""
    def keep(resource: dict[str, Any], value: str) -> bool:
        system, bar, code = value.rpartition("|")
        for v in _values(resource, name):
            for item in token_items(v):
                if (item.code or "").casefold() != code.casefold():
                    continue
                if not bar or (item.system or "").casefold() == system.casefold():
                    return True
        return False
    return keep


def _rename(old: str, new: str) -> Callable[[ProxyCall], None]:
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            call.query = [(new if k == old else k, v) for k, v in call.query]
    return hook


def _drop(name: str) -> Callable[[ProxyCall], None]:
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            call.query = [(k, v) for k, v in call.query if k != name]
    return hook


MATCHING_FAULTS: tuple[Fault, ...] = (
    Fault("string-matches-anywhere", "family= matches inside the name (contains), not from its start", ("REST-081",),
          on_request=_rename("family", "family:contains"), suites=("pdqm-iti78",)),
    Fault("exact-ignores-case", "family:exact compares without case (accents still count)", ("REST-081", "PDQ-004"),
          **_post_filtered("family:exact", _exact_ignoring_case("family")), suites=("pdqm-iti78",)),
    Fault("patient-identifier-ignores-case", "Patient identifier matching ignores case", ("REST-055",),
          **_post_filtered("identifier", _token_ignoring_case("identifier")), suites=("pdqm-iti78",)),
    Fault("study-identifier-ignores-case", "ImagingStudy identifier matching ignores case", ("REST-055",),
          **_post_filtered("identifier", _token_ignoring_case("identifier")), suites=("imagingstudy-identifiers",)),
    Fault("related-identifier-as-reference", "related:identifier is searched as a literal reference: finds nothing",
          ("REST-063", "MHD-003"), on_request=_rename("related:identifier", "related"), suites=("mhd-iti67",)),
    Fault("ignores-type-text", "type:text is ignored: every type comes back", ("REST-056", "MHD-003"),
          on_request=_drop("type:text"), suites=("mhd-iti67",)),
)

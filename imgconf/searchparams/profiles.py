"""IHE profile rules layered on R4 search, shared by the reference server and the search oracle.

- MHD ITI-67 (MHD-033, FIND-21): a Document Responder's DocumentReference status is only
  ``current`` or ``superseded``; the reference server does not return an ``entered-in-error``
  DocumentReference to a query without status (it does when the query asks for that status, plain
  R4). MHD does not make that filtering a responder rule (an ITI-67 consumer always sends status,
  MHD-002), so the oracle neither requires nor forbids such a document in the answer.
- PDQm ITI-78 (PDQ-006, PDQ-007): ``identifier=<domain>|`` with an empty value is a domain filter:
  the Patients returned carry only identifiers of the requested domains.
"""

from __future__ import annotations

from typing import Any

from .query import SearchQuery

ENTERED_IN_ERROR = "entered-in-error"


def hidden_by_profile(resource: dict[str, Any], query: SearchQuery) -> str | None:
    """Why a resource that meets every criterion is still not a match under MHD; None if it is."""
    if resource.get("resourceType") != "DocumentReference" or resource.get("status") != ENTERED_IN_ERROR:
        return None
    asked = {v.split("|")[-1] for c in query.criteria if c.name == "status" and c.modifier is None for v in c.values}
    if ENTERED_IN_ERROR in asked:
        return None
    return "status entered-in-error is not an MHD document status (MHD-033) and the query did not ask for it"


def identifier_domains(query: SearchQuery) -> list[str] | None:
    """The requested identifier domains when every Patient ``identifier`` criterion is a domain filter
    (``system|`` with no value), else None."""
    if query.resource_type != "Patient":
        return None
    crits = [c for c in query.criteria if c.name == "identifier" and c.modifier is None and not c.chain]
    if not crits:
        return None
    domains: list[str] = []
    for crit in crits:
        for raw in crit.raw_values or crit.values:
            system, bar, value = raw.partition("|")
            if not bar or value or not system:
                return None
            domains.append(system.replace("\\|", "|").replace("\\,", ","))
    return domains


def restrict_identifiers(patient: dict[str, Any], domains: list[str]) -> dict[str, Any]:
    """A copy of the Patient whose identifiers are only those of the requested domains (PDQ-006)."""
    kept = [i for i in patient.get("identifier") or [] if isinstance(i, dict) and i.get("system") in domains]
    return {**patient, "identifier": kept} if kept else {k: v for k, v in patient.items() if k != "identifier"}


def has_identifier_domain(patient: dict[str, Any], domains: list[str]) -> bool:
    return any(isinstance(i, dict) and i.get("system") in domains for i in patient.get("identifier") or [])

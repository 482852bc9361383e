"""The IHE actors a fuzz run judges the target as, and the parameters those actors must process.

Plain R4 lets a server ignore a parameter or modifier it does not support (search.html#errors, REST-034/082),
so the fuzz judge does not hold a criterion the server reports it did not apply against it. An IHE actor has no
such freedom for the parameters its profile lists: a PDQm Supplier supports ``:exact`` on every string parameter
(PDQ-004) and processes the PDQ-002 list; an MHD Document Responder processes every MHD-003 parameter, the
``patient.identifier`` chain included. For a target judged as one of them those criteria are applied or refused,
never silently dropped, and a wrong answer cites the IHE requirement.

Which actors: those the CapabilityStatement claims in ``instantiates`` (the IHE actor CapabilityStatements,
matched by their id so any version of the canonical counts), unless the run names them (``FuzzSettings.actors``,
``imgconf fuzz --actor``). A plain R4 server claims none and is judged by R4 alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imgconf.searchparams import Criterion

MHD_RESPONDER = "mhd-responder"
PDQM_SUPPLIER = "pdqm-supplier"
ACTORS: dict[str, str] = {
    MHD_RESPONDER: "MHD Document Responder",
    PDQM_SUPPLIER: "PDQm Patient Demographics Supplier",
}
# The id of each actor's CapabilityStatement in its IHE IG (canonical .../CapabilityStatement/<id>[|version]).
_INSTANTIATES_IDS: dict[str, str] = {
    "IHE.MHD.DocumentResponder": MHD_RESPONDER,
    "IHE.PDQm.Supplier": PDQM_SUPPLIER,
}
# MHD-003: the Responder can process all of these (names as sent, chains written out).
MHD_PARAMETERS = frozenset({
    "author.given", "author.family", "category", "creation", "date", "event", "facility", "format", "identifier",
    "patient", "patient.identifier", "period", "related", "security-label", "setting", "status", "type",
})
# PDQ-002: the Supplier can process these; PDQ-004: `:exact` on every one of them that is a string parameter.
PDQM_PARAMETERS = frozenset({
    "_id", "active", "family", "given", "identifier", "telecom", "birthdate", "address", "address-city",
    "address-country", "address-postalcode", "address-state", "gender", "mothersMaidenName",
})


def claimed_actors(statement: dict[str, Any] | None) -> frozenset[str]:
    """The IHE actors a CapabilityStatement claims through ``instantiates``."""
    found = set()
    raw = (statement or {}).get("instantiates")
    for canonical in raw if isinstance(raw, list) else []:
        if isinstance(canonical, str):
            actor_id = canonical.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            if actor_id in _INSTANTIATES_IDS:
                found.add(_INSTANTIATES_IDS[actor_id])
    return frozenset(found)


def unknown_actors(names: Iterable[str]) -> list[str]:
    return [n for n in names if n not in ACTORS]


def ihe_requirements(actors: frozenset[str], resource_type: str, crit: Criterion) -> tuple[str, ...]:
    """The IHE requirement that obliges an actor in ``actors`` to apply this criterion; () when none does."""
    if PDQM_SUPPLIER in actors and resource_type == "Patient" and not crit.chain and crit.name in PDQM_PARAMETERS:
        if crit.modifier == "exact" and crit.param is not None and crit.param.type == "string":
            return ("PDQ-004",)
        if crit.modifier is None:
            return ("PDQ-002",)
    if MHD_RESPONDER in actors and resource_type == "DocumentReference" and crit.modifier is None:
        name = ".".join([crit.name, *crit.chain])
        if name in MHD_PARAMETERS:
            return ("MHD-003",)
    return ()

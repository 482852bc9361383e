"""The server's CapabilityStatement (REST-092), generated from the search-parameter registry."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..searchparams import params_for

SUPPORTED_TYPES = (
    "Patient", "ImagingStudy", "Endpoint", "Practitioner", "PractitionerRole", "Organization",
    "DocumentReference", "Binary", "Bundle", "ServiceRequest", "Encounter", "Device", "Group", "Provenance",
)
_INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "create", "search-type")


def _resource(rtype: str) -> dict[str, Any]:
    params = params_for(rtype)
    refs = sorted(n for n, p in params.items() if p.type == "reference")
    entry: dict[str, Any] = {
        "type": rtype,
        "interaction": [{"code": c} for c in _INTERACTIONS],
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": ["*"] + [f"{rtype}:{n}" for n in refs],
        "searchParam": [
            {"name": p.name, "definition": p.url, "type": p.type} for p in sorted(params.values(), key=lambda p: p.name)
        ],
    }
    rev = sorted(
        f"{src}:{n}" for src in SUPPORTED_TYPES for n, p in params_for(src).items()
        if p.type == "reference" and (not p.targets or rtype in p.targets)
    )
    if rev:
        entry["searchRevInclude"] = rev
    return entry


def capability_statement(base: str, started: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": started,
        "publisher": "imgconf",
        "kind": "instance",
        "software": {"name": "imgconf reference server", "version": __version__},
        "implementation": {"description": "imgconf embedded reference FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        # The IHE actors it implements (the mhd-iti67 and pdqm-iti78 suites pass): imgconf fuzz judges a target
        # that claims them by their parameter lists (MHD-003, PDQ-002/004), a plain R4 server by R4 alone.
        "instantiates": [
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder",
            "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.Supplier",
        ],
        "rest": [{
            "mode": "server",
            "documentation": (
                "JSON and XML (answers: _format over Accept; request bodies in either). Search is lenient unless Prefer: handling=strict. "
                "Dates with a time and no zone are read as UTC. DELETE answers 204; deleting an unknown "
                "id answers 404. Update-as-create is allowed (201)."
            ),
            "resource": [_resource(t) for t in SUPPORTED_TYPES],
            "interaction": [],
            "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
        }],
    }

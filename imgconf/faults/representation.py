"""Named faults of the JSON representation and of Bundles (REST-102, REST-103): what servers that
store converter output as received, or build Bundles by hand, really send."""

from __future__ import annotations

from typing import Any

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse


def _resources(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    if body.get("resourceType") != "Bundle":
        return [body]
    return [e["resource"] for e in body.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def _counts_as_strings(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """Counts stored as the converter's strings: "numberOfSeries": "3" (R4 JSON has numbers)."""
    body = response.json()
    changed = False
    for resource in _resources(body):
        if resource.get("resourceType") != "ImagingStudy":
            continue
        for key in ("numberOfSeries", "numberOfInstances"):
            if isinstance(resource.get(key), int):
                resource[key] = str(resource[key])
                changed = True
        if "note" not in resource:
            resource["note"] = []  # and an empty array the converter never filled
            changed = True
    if changed:
        response.set_json(body)
    return response


def _searchset_entry_request(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """Every search entry carries the request that would read it (bdl-3: only batch/transaction/history)."""
    body = response.json()
    if call.is_search and isinstance(body, dict) and body.get("type") == "searchset":
        for entry in body.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("id"):
                entry["request"] = {"method": "GET", "url": f"{resource.get('resourceType')}/{resource['id']}"}
        response.set_json(body)
    return response


REPRESENTATION_FAULTS: tuple[Fault, ...] = (
    Fault("counts-as-strings", "ImagingStudy counts served as JSON strings and an empty note array", ("REST-102",),
          on_response=_counts_as_strings, suites=("imagingstudy-codings", "imagingstudy-crud")),
    Fault("searchset-entry-request", "searchset entries carry entry.request (bdl-3)", ("REST-103",),
          on_response=_searchset_entry_request, suites=("mhd-iti67", "manifests-imaging")),
)

"""Named faults of the JSON representation and of Bundles (REST-102, REST-103): what servers that
store converter output as received, or build Bundles by hand, really send."""

from __future__ import annotations

from imgconf.faults.model import Fault
from imgconf.faults.rewrite import (
    JsonObject,
    bundles,
    edit_json,
    edit_resources,
    searches,
)


def _counts_as_strings(study: JsonObject) -> None:
    """Counts stored as the converter's strings: "numberOfSeries": "3" (R4 JSON has numbers)."""
    for key in ("numberOfSeries", "numberOfInstances"):
        if isinstance(study.get(key), int):
            study[key] = str(study[key])
    study.setdefault("note", [])  # and an empty array the converter never filled


def _searchset_entry_request(bundle: JsonObject) -> None:
    """Every search entry carries the request that would read it (bdl-3: only batch/transaction/history)."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("id"):
            entry["request"] = {"method": "GET", "url": f"{resource.get('resourceType')}/{resource['id']}"}


_searchsets = bundles("searchset")

REPRESENTATION_FAULTS: tuple[Fault, ...] = (
    Fault("counts-as-strings", "ImagingStudy counts served as JSON strings and an empty note array", ("REST-102",),
          on_response=edit_resources("ImagingStudy", _counts_as_strings),
          suites=("documents-eu-imaging-report", "imagingstudy-codings", "imagingstudy-crud")),
    Fault("searchset-entry-request", "searchset entries carry entry.request (bdl-3)", ("REST-103",),
          on_response=edit_json(_searchset_entry_request, calls=searches, body=_searchsets),
          suites=("imagingstudy-codings", "manifests-imaging", "mhd-iti67", "workflow-imaging-report")),
)

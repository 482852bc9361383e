"""Imaging rules usable offline and on live server responses.

``validate_resource`` = structure (``fhir.resources.R4B``) + the rules registered for the
resource type. To add rules for another type, append to ``RULES`` (or call ``register_rules``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from imgconf.validators.bundle import validate_bundle_invariants
from imgconf.validators.documentreference import validate_document_reference
from imgconf.validators.endpoint import validate_endpoint
from imgconf.validators.findings import Finding
from imgconf.validators.imagingreport import validate_imaging_report_bundle
from imgconf.validators.imagingstudy import validate_imaging_study
from imgconf.validators.nesting import within_reach
from imgconf.validators.structure import STRUCTURE, structural_findings

RuleFn = Callable[[dict[str, Any]], list[Finding]]

RULES: dict[str, list[RuleFn]] = {
    "ImagingStudy": [validate_imaging_study],
    "Endpoint": [validate_endpoint],
}


def register_rules(resource_type: str, rules: RuleFn) -> None:
    RULES.setdefault(resource_type, []).append(rules)


# Imaging documents: MHD/EU DocumentReferences and manifests, the EU imaging report Bundle.
register_rules("DocumentReference", validate_document_reference)
register_rules("Bundle", validate_bundle_invariants)  # REST-103, every Bundle.type
register_rules("Bundle", validate_imaging_report_bundle)


def rule_findings(resource: object, *, profile: str | None = None) -> list[Finding]:
    """The registered rules of the resource's type only, without the structural check.
    ``profile`` ("mhd" | "eu-imaging-report"): the context a DocumentReference is judged in,
    passed to the rules that take it (see validate_document_reference)."""
    if not isinstance(resource, dict):
        return []
    findings: list[Finding] = []
    for rules in RULES.get(str(resource.get("resourceType")), ()):
        takes = getattr(rules, "takes_profile", False)
        findings.extend(rules(resource, profile=profile) if takes else rules(resource))  # type: ignore[call-arg]
    return findings


@within_reach  # nested deeper than the validators can read: JsonTooDeep, an input error
def validate_resource(resource: dict[str, Any], *, profile: str | None = None) -> list[Finding]:
    """Structure plus type rules; a rule finding replaces a structure finding with the same
    requirement and location (the rule's message is more specific)."""
    structure = structural_findings(resource)
    findings = rule_findings(resource, profile=profile)
    seen = {(f.requirement, f.location) for f in findings}
    findings.extend(f for f in structure if (f.requirement, f.location) not in seen)
    return findings


def _root_length(location: str) -> int:
    """Length of the first path segment (the resource type) of a FHIRPath-style location."""
    for i, ch in enumerate(location):
        if ch in ".[":
            return i
    return len(location)


def relocate(finding: Finding, prefix: str) -> Finding:
    """``ImagingStudy.series[0]`` -> ``{prefix}.series[0]``."""
    return replace(finding, location=prefix + finding.location[_root_length(finding.location):])


def validate_bundle(bundle: object, *,
                    profile: str | None = None) -> Iterator[tuple[int | None, Any, list[Finding]]]:
    """Yield ``(entry_index, resource, findings)`` for every entry that has a resource, locations
    prefixed ``Bundle.entry[i].resource``. Problems of the Bundle itself (not of its entries)
    come first, with entry_index None, and only when there are any."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        yield None, bundle, [Finding(STRUCTURE, "SHALL", "Bundle", "not a Bundle resource")]
        return
    own = bundle_own_findings(bundle)
    if own:
        yield None, bundle, own
    entries = bundle.get("entry")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue
        prefix = f"Bundle.entry[{i}].resource"
        yield i, resource, [relocate(f, prefix) for f in validate_resource(resource, profile=profile)]


@within_reach
def bundle_own_findings(bundle: dict[str, Any]) -> list[Finding]:
    """The Bundle as a Bundle, whatever its type: its structure without the entries' resources,
    REST-103 invariants, and the document rules (EU imaging report) that see the whole Bundle."""
    entries = bundle.get("entry")
    entries = entries if isinstance(entries, list) else []
    shell = dict(bundle)
    shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                      for e in entries]
    if not entries:
        shell.pop("entry")
    # An entry emptied of its resource above is not an empty object of the input.
    emptied = {f"Bundle.entry[{i}]" for i, e in enumerate(entries) if isinstance(e, dict) and e.keys() == {"resource"}}
    own = [f for f in structural_findings(shell) if f.location not in emptied]
    own += rule_findings(bundle)  # Bundle rules see the whole document
    return own


__all__ = [
    "RULES",
    "Finding",
    "bundle_own_findings",
    "register_rules",
    "relocate",
    "rule_findings",
    "structural_findings",
    "validate_bundle",
    "validate_bundle_invariants",
    "validate_document_reference",
    "validate_endpoint",
    "validate_imaging_report_bundle",
    "validate_imaging_study",
    "validate_resource",
]

"""Structural validity of response resources against the FHIR R4 models (fhir.resources R4B)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgconf.checks.findings import findings_to_results, resources_in
from imgconf.checks.registry import CheckKind, parse_flag, register, waits_for
from imgconf.results import CheckResult

if TYPE_CHECKING:
    from imgconf.checks.base import CheckContext


def check_structure(ctx: CheckContext) -> list[CheckResult]:
    from imgconf.jsonsafe import JsonTooDeep
    from imgconf.validators.structure import structural_findings  # fhir.resources: only when judged

    if ctx.response.json_error:
        return [ctx.result("structure", False, f"cannot validate: {ctx.response.json_error}")]
    body = ctx.response.json
    resources = resources_in(body)
    if not resources:
        return [ctx.result("structure", False, "the response body is not a FHIR resource (no resourceType)")]
    if body.get("resourceType") == "Bundle":
        resources = [("", body)]  # the Bundle model validates its entries as well
    try:
        found = [(prefix, f) for prefix, resource in resources for f in structural_findings(resource)]
    except JsonTooDeep as exc:  # deeper than the models can read: the body is unusable, not non-conformant
        return [ctx.result("structure", False, f"cannot validate: {exc}")]
    return findings_to_results("structure", found, ctx, scope="R4 structure")


STRUCTURE = register(CheckKind[bool](
    key="structure",
    schema={"type": "boolean", "description": "Validate response resources with the R4 (fhir.resources R4B) models."},
    parse=parse_flag,
    run=lambda _spec, ctx: check_structure(ctx),
    order=10,
    awaiting=waits_for("structure", "R4 structure"),
))

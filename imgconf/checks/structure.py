"""Structural validity of response resources against the FHIR R4 models (fhir.resources R4B)."""

from __future__ import annotations

from imgconf.checks.base import CheckContext
from imgconf.checks.findings import findings_to_results, resources_in
from imgconf.results import CheckResult
from imgconf.validators.structure import structural_findings


def check_structure(ctx: CheckContext) -> list[CheckResult]:
    if ctx.response.json_error:
        return [ctx.result("structure", False, f"cannot validate: {ctx.response.json_error}")]
    body = ctx.response.json
    resources = resources_in(body)
    if not resources:
        return [ctx.result("structure", False, "the response body is not a FHIR resource (no resourceType)")]
    if body.get("resourceType") == "Bundle":
        resources = [("", body)]  # the Bundle model validates its entries as well
    found = [(prefix, f) for prefix, resource in resources for f in structural_findings(resource)]
    return findings_to_results("structure", found, ctx, scope="R4 structure")

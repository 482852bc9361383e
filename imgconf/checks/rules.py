"""The imaging rules of imgconf.validators, applied to every resource in a live response."""

from __future__ import annotations

from imgconf.checks.base import CheckContext
from imgconf.checks.findings import findings_to_results, resources_in
from imgconf.results import CheckResult
from imgconf.validators import rule_findings


def check_rules(ctx: CheckContext) -> list[CheckResult]:
    if ctx.response.json_error:
        return [ctx.result("rule", False, f"cannot validate: {ctx.response.json_error}")]
    resources = resources_in(ctx.response.json)
    found = [(prefix, f) for prefix, resource in resources for f in rule_findings(resource)]
    return findings_to_results("rule", found, ctx, scope=f"imaging rules on {len(resources)} resource(s)")

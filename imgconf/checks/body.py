"""The response body is a FHIR JSON resource of the expected type."""

from __future__ import annotations

from imgconf.checks.base import CheckContext
from imgconf.results import CheckResult


def check_resource_type(expected: str | None, ctx: CheckContext) -> list[CheckResult]:
    if not expected:
        return []
    body = ctx.response.json
    if ctx.response.json_error:
        return [ctx.result("resource", False, f"expected a {expected}: {ctx.response.json_error}", detail=f"resourceType = {expected}")]
    got = body.get("resourceType") if isinstance(body, dict) else None
    ok = got == expected
    reason = f"resourceType {got}" if ok else f"resourceType is {got!r}, expected {expected!r}"
    return [ctx.result("resource", ok, reason, detail=f"resourceType = {expected}")]

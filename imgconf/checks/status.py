"""HTTP status code expectations."""

from __future__ import annotations

from imgconf.checks.base import CheckContext
from imgconf.results import CheckResult


def check_status(expected: tuple[int, ...], ctx: CheckContext) -> list[CheckResult]:
    if not expected:
        return []
    got = ctx.response.status
    wanted = " or ".join(str(s) for s in expected)
    ok = got in expected
    reason = f"status {got}" + ("" if ok else f", expected {wanted}")
    return [ctx.result("status", ok, reason, detail=f"expected {wanted}")]

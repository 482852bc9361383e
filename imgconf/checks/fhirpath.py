"""FHIRPath assertions on the response body (expressions compiled once, see imgconf.fhirpath)."""

from __future__ import annotations

import dataclasses
from typing import Any

from imgconf.checks.base import CheckContext, describe, short
from imgconf.fhirpath import EvaluationLimitExceeded, evaluate, evaluate_in_bundle
from imgconf.results import CheckResult, Verdict
from imgconf.suite.model import FhirPathExpectation
from imgconf.suite.template import MissingVariable


def _verdict(spec: FhirPathExpectation, values: list[Any]) -> tuple[bool, str]:
    if spec.has_equals:
        expected = spec.equals if isinstance(spec.equals, list) else [spec.equals]
        return values == expected, f"expected {short(expected)}"
    if not values:
        return False, "expected true, got no value"
    if all(v is True for v in values):
        return True, "true"
    return False, "expected true"


def check_fhirpath(specs: tuple[FhirPathExpectation, ...], ctx: CheckContext) -> list[CheckResult]:
    results: list[CheckResult] = []
    body = ctx.response.json
    for spec in specs:
        label = spec.message or spec.expr
        if ctx.response.json_error:
            results.append(
                ctx.result("fhirpath", False, f"{label}: {ctx.response.json_error}", detail=spec.expr,
                           requirement=spec.requirement, level=spec.level)
            )
            continue
        try:
            env = ctx.fhirpath_env(spec.expr)
            if isinstance(body, dict) and body.get("resourceType") == "Bundle" and body.get("type") in ("document", "collection"):
                values = evaluate_in_bundle(spec.expr, body, body, env)  # resolve() finds the document's entries
            else:
                values = evaluate(spec.expr, body, env)
        except MissingVariable as exc:  # an earlier step saved nothing (its answer was already judged): no basis here
            failed = ctx.result("fhirpath", False, f"{label}: not judged: {exc} was not saved by an earlier step",
                                detail=spec.expr, requirement=spec.requirement, level=spec.level)
            results.append(dataclasses.replace(failed, verdict=Verdict.NOT_JUDGED))
            continue
        except EvaluationLimitExceeded as exc:  # the expression ran away, not the server: an error, no accusation
            failed = ctx.result("fhirpath", False, f"{label}: {exc}", detail=spec.expr, requirement=spec.requirement, level=spec.level)
            results.append(dataclasses.replace(failed, verdict=Verdict.ERROR))
            continue
        except Exception as exc:  # an evaluation error on server data is the server's data problem, not a crash
            ok, why = False, f"evaluation failed: {exc}"
            values = []
        else:
            ok, why = _verdict(spec, values)
        reason = f"{label}: " + ("holds" if ok else f"{why}; {spec.expr!r} gave {short(values)} on {describe(body)}")
        results.append(ctx.result("fhirpath", ok, reason, detail=spec.expr, requirement=spec.requirement, level=spec.level))
    return results

"""FHIRPath assertions on the response body (expressions compiled once, see imgconf.fhirpath)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from imgconf.checks.base import CheckContext, describe, short
from imgconf.checks.registry import Awaiting, CheckKind, OwnLevel, ParseContext, compile_fhirpath, register
from imgconf.fhirpath import EvaluationLimitExceeded, evaluate, evaluate_in_bundle
from imgconf.results import CheckResult, Level, Verdict
from imgconf.suite.template import MissingVariable


@dataclass(frozen=True)
class FhirPathExpectation:
    expr: str
    equals: Any = None
    has_equals: bool = False
    message: str | None = None
    requirement: tuple[str, ...] = ()
    level: Level | None = None
    # Judged on whatever the server answered, also when the status check failed: "no data for an
    # invalid token" is the accusation itself when a server answers 200 where 401 was expected.
    any_status: bool = False


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
        except Exception as exc:  # noqa: BLE001 - an evaluation error on server data is the server's data problem, not a crash
            ok, why = False, f"evaluation failed: {exc}"
            values = []
        else:
            ok, why = _verdict(spec, values)
        reason = f"{label}: " + ("holds" if ok else f"{why}; {spec.expr!r} gave {short(values)} on {describe(body)}")
        results.append(ctx.result("fhirpath", ok, reason, detail=spec.expr, requirement=spec.requirement, level=spec.level))
    return results


FhirPathSpecs = tuple[FhirPathExpectation, ...]


def _parse_spec(raw: list[Any], _ctx: ParseContext) -> FhirPathSpecs | None:
    checks: list[FhirPathExpectation] = []
    for i, item in enumerate(raw or []):
        spec = {"expr": item} if isinstance(item, str) else item
        compile_fhirpath(spec["expr"], (i,))
        checks.append(
            FhirPathExpectation(
                expr=spec["expr"],
                equals=spec.get("equals"),
                has_equals="equals" in spec,
                message=spec.get("message"),
                requirement=tuple(spec.get("requirement", ())),
                level=Level(spec["level"]) if spec.get("level") else None,
                any_status=bool(spec.get("any_status", False)),
            )
        )
    return tuple(checks) or None


_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "oneOf": [
            {"type": "string", "minLength": 1},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["expr"],
                "properties": {
                    "expr": {"type": "string", "minLength": 1},
                    "equals": {},
                    "message": {"type": "string"},
                    "requirement": {"$ref": "#/$defs/requirements"},
                    "level": {"$ref": "#/$defs/level"},
                    "any_status": {"type": "boolean", "description": "Judge the body whatever status came back (e.g. no data "
                                   "leaked on a 200 where 401 was expected); other body checks are not judged after a failed status."},
                },
            },
        ]
    },
}

FHIRPATH = register(CheckKind[FhirPathSpecs](
    key="fhirpath",
    schema=_SCHEMA,
    parse=_parse_spec,
    run=check_fhirpath,
    order=40,
    awaiting=lambda specs: [Awaiting("fhirpath", s.expr, s.requirement, s.level, s.any_status) for s in specs],
    any_status=lambda specs: tuple(s for s in specs if s.any_status) or None,
    own_levels=lambda specs: [OwnLevel(f"fhirpath check `{s.expr}`", (i,), s.requirement, s.level) for i, s in enumerate(specs)],
))

"""Run one suite case against a target session and judge every expectation.

The engine knows nothing about pytest: the plugin and any other front end call ``run_case`` and
get a CaseResult with verdicts and evidence.
"""

from __future__ import annotations

import time
from typing import Any

from imgconf.auth.steps import auth_gate, token_step
from imgconf.capabilities import search_parameter_names
from imgconf.checks.base import CheckContext
from imgconf.checks.body import NOT_FHIR_JSON, check_resource_type, not_json_result
from imgconf.checks.headers import check_headers
from imgconf.checks.registry import CheckKind, kinds
from imgconf.checks.status import check_status
from imgconf.client import HttpResult, TargetUnreachable
from imgconf.fhirpath import evaluate
from imgconf.fixtures import FixtureError, add_tag, id_from_response
from imgconf.results import CaseResult, CheckResult, Level, Verdict
from imgconf.searchparams import get_param
from imgconf.session import TargetSession
from imgconf.suite.model import Case, Expect, Request, Save, Step, Suite
from imgconf.suite.template import MissingVariable, render


def lookup_for(session: TargetSession, suite: Suite) -> Any:
    """The suite file's variables and saved values, then the session's (run, fixture, smart, …)."""
    scope = {**suite.variables, **session.saved.setdefault(suite.id, {})}
    return lambda name: session.lookup(name, scope)


def _send(session: TargetSession, request: Request, lookup: Any) -> tuple[HttpResult, list[tuple[str, str]]]:
    path = render(request.path, lookup)
    params = [(k, str(render(v, lookup))) for k, v in request.params]
    headers = [(k, str(render(v, lookup))) for k, v in request.headers]
    json_body = None
    if request.has_json:
        json_body = render(request.json, lookup)
        if request.tag and isinstance(json_body, dict) and "resourceType" in json_body:
            json_body = add_tag(json_body, session.run_tag)
    form = [(k, str(render(v, lookup))) for k, v in request.form] if request.form else None
    content = render(request.body, lookup) if request.body is not None else None
    if content is not None and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/fhir+json"))
    with session.request_auth.override(request.auth, lambda v: render(v, lookup)):  # SMART negatives: no token, other scopes, invalid
        result = session.client.send(
            request.method, path, params=params, headers=headers, json_body=json_body, form=form, content=content
        )
    return result, form or []


def _send_token(session: TargetSession, step: Step, lookup: Any, outcome: CaseResult) -> tuple[HttpResult, list[tuple[str, str]]] | None:
    """A token-endpoint step (imgconf.auth); None when the harness cannot build it (skip reason set)."""
    assert step.request.token is not None
    sent = token_step(session, step.request.token, lookup)
    if sent.skip or sent.result is None:
        outcome.skipped_reason = f"step {step.name!r} not run: {sent.skip}"
        return None
    outcome.exchanges.extend(sent.before)
    if sent.problem:
        outcome.checks.append(CheckResult(check="token-request", requirement=list(outcome.requirement), level=outcome.level,
                                          verdict=Verdict.for_failure(outcome.level), reason=sent.problem,
                                          exchange=len(outcome.exchanges) - 1))
    return sent.result, sent.form


def _track_created(session: TargetSession, request: Request, result: HttpResult) -> None:
    """Anything a case creates is deleted at the end of the run, whatever the case expected."""
    if request.method in ("POST", "PUT") and result.status == 201:
        ident = id_from_response(result)
        if ident:
            session.fixtures.track(*ident)
            session.touched_types.add(ident[0])
    body = request.json if isinstance(request.json, dict) else None
    if body and isinstance(body.get("resourceType"), str):
        session.touched_types.add(body["resourceType"])


def _save(save: Save, result: HttpResult, variables: dict[str, Any], ctx: CheckContext) -> CheckResult | None:
    value: Any = None
    if save.header:
        value = result.header(save.header)
    elif save.location_id:
        ident = id_from_response(result)
        value = ident[1] if ident else None
    elif save.fhirpath and result.json_error:  # a body that is not JSON at all may be REST-001's deviation
        return not_json_result(ctx, f"could not save {save.name}: {result.json_error}", save.fhirpath, check="save")
    elif save.fhirpath:
        try:
            env = ctx.fhirpath_env(save.fhirpath)
            found = evaluate(save.fhirpath, result.json, env)
        except Exception:  # noqa: BLE001 - bad server data of any shape: reported below as a failed save
            found = []
        value = found[0] if found else None
    if value is None or value == "":
        what = save.header or save.fhirpath or "Location id"
        return ctx.result("save", False, f"could not save {save.name}: {what} has no value in the response", detail=what)
    variables[save.name] = value
    return None


def _status_class(status: int | None) -> str:
    if status is None:
        return "none"
    return "error" if status >= 400 else f"{status // 100}xx"


def _kinds_in(e: Expect) -> list[tuple[CheckKind[Any], Any]]:
    """The check kinds this expectation asks for, with their specs, in the order they run."""
    return [(kind, e.checks[kind.key]) for kind in kinds() if kind.key in e.checks]


# (check, requirement, level, detail, needs JSON): a judgement that needs the expected response.
Dependent = tuple[str, tuple[str, ...], Level | None, str, bool]


def _body_dependents(e: Expect, any_status: bool = True) -> list[Dependent]:
    """(check, requirement, level, detail, needs JSON) of every check kind that reads the response body;
    ``any_status=False`` leaves out the judgements made on any answer (FHIRPath ``any_status``)."""
    return [
        (wait.check, wait.requirement, wait.level, wait.detail, kind.needs_json)
        for kind, spec in _kinds_in(e)
        for wait in kind.awaiting(spec)
        if any_status or not wait.any_status
    ]


def _not_judged(dependents: list[Dependent], ctx: CheckContext, why: str) -> list[CheckResult]:
    """One cause, one verdict: the checks that needed the expected response are recorded, not failed."""
    results = []
    for check, requirement, level, detail, _json in dependents:
        result = ctx.result(check, False, f"not judged: {why}", detail=detail, requirement=requirement, level=level)
        result.verdict = Verdict.NOT_JUDGED
        results.append(result)
    return results


def _unless_said(result: CheckResult, earlier: list[CheckResult]) -> CheckResult:
    """A body that is not FHIR JSON after a Content-Type check of the same answer failed on REST-001 is the
    same cause (an HTML page, say): not judged, not a second REST-001 verdict."""
    if result.verdict in (Verdict.PASS, Verdict.NOT_JUDGED) or result.requirement != [NOT_FHIR_JSON]:
        return result
    said = next((r for r in earlier if r.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED) and NOT_FHIR_JSON in r.requirement), None)
    if said is not None:
        result.verdict, result.reason = Verdict.NOT_JUDGED, f"not judged: {said.check} already failed on it ({result.reason})"
    return result


def _failed(results: list[CheckResult]) -> CheckResult | None:
    return next((r for r in results if r.verdict not in (Verdict.PASS, Verdict.NOT_JUDGED)), None)


def _judge(step: Step, ctx: CheckContext) -> list[CheckResult]:
    e = step.expect
    results = check_status(e.status, ctx)
    results += check_headers(e.headers, ctx)  # headers mean something on any response, a 400 too
    got = ctx.response.status
    dependents = _body_dependents(e)
    if (branch := e.branch(got)) is not None:  # on_status: its checks depend on the body as much
        branch_resource: list[Dependent] = [("resource", (), None, f"resourceType = {branch.resource}", True)] if branch.resource else []
        dependents += branch_resource + _body_dependents(branch)
    # A response of another kind than expected (400 for 200, 200 for 400): the body checks would only
    # repeat the status failure under other requirement ids, so they are not judged. A 410 for a 404
    # still carries an error body, a 200 for a 201 a success body: those are judged.
    if e.status and got not in e.status and _status_class(got) not in {_status_class(s) for s in e.status}:
        wanted = " or ".join(str(s) for s in e.status)
        why = f"status check failed: expected {wanted}, got {got}"
        blocked = _body_dependents(e, any_status=False)  # no on_status branch: its keys are expected statuses
        for kind, spec in _kinds_in(e):  # judged on any answer: a leak is its own accusation
            if kind.any_status is not None and (part := kind.any_status(spec)) is not None:
                results += kind.run(part, ctx)
        return results + _not_judged(
            ([("resource", (), None, f"resourceType = {e.resource}", True)] if e.resource else []) + blocked, ctx, why)
    resource = [_unless_said(r, results) for r in check_resource_type(e.resource, ctx)]
    results += resource
    if (wrong := next((r for r in resource if r.verdict is not Verdict.PASS), None)) is not None:
        return results + _not_judged(dependents, ctx, f"the body is not the expected resource ({wrong.reason})")
    # Only when every check needs JSON (an OAuth endpoint is not FHIR: its checks say themselves that
    # an error body is not JSON, RFC 6749 §5.2; XML and documents are judged as they are).
    if ctx.response.json_error and dependents and all(needs_json for *_, needs_json in dependents):
        problem = _unless_said(not_json_result(ctx, f"expected a FHIR JSON body: {ctx.response.json_error}", "JSON body"), results)
        return results + [problem] + _not_judged(dependents, ctx, "the body is not JSON")
    for kind, spec in _kinds_in(e):
        results += kind.run(spec, ctx)
    if (branch := e.branch(ctx.response.status)) is not None:  # on_status: the alternative the server chose
        results += _judge(Step(name=step.name, request=step.request, expect=branch), ctx)
    return results


PROBES_UNKNOWN = "probes-unknown-parameters"  # case tag: sends parameters R4 does not define on purpose


def _capability_gate(case: Case, suite: Suite, session: TargetSession, outcome: CaseResult) -> str | None:
    """Skip an optional case that needs undeclared search parameters; note it on a mandatory one."""
    lookup = lookup_for(session, suite)
    for step in case.steps:
        if step.request.method not in ("GET", "POST"):
            continue
        try:
            path = str(render(step.request.path, lookup))
        except MissingVariable:
            continue
        path = path.removeprefix(session.base_url)
        found = search_parameter_names(path, list(step.request.params) + list(step.request.form))
        if found is None:
            continue
        rtype, names = found
        if PROBES_UNKNOWN in case.tags:  # names meant to be unknown are no capability to declare
            names = {n for n in names if get_param(rtype, n) is not None}
        capability = session.capability
        capability.record(rtype, names)
        missing = capability.undeclared(rtype, names)
        if not missing:
            continue
        listed = ", ".join(sorted(missing))
        if not case.level.is_mandatory:
            return f"{rtype} search parameter(s) {listed} not declared in the CapabilityStatement ({case.level.value} case)"
        outcome.checks.append(
            CheckResult(
                check="capability",
                requirement=["REST-092"],
                level=Level.INFO,
                verdict=Verdict.PASS,  # an observation; the run report lists undeclared parameters
                reason=f"{rtype} search parameter(s) {listed} not declared in the CapabilityStatement; tested anyway (SHALL)",
            )
        )
    return None


def run_case(case: Case, suite: Suite, session: TargetSession, nodeid: str = "") -> CaseResult:
    outcome = CaseResult(
        suite_id=suite.id,
        suite=suite.title,
        case=case.name,
        case_id=case.id,
        nodeid=nodeid,
        area=suite.area,
        requirement=list(case.requirements),
        level=case.level,
        level_reason=case.level_reason,
    )
    started = time.perf_counter()
    try:
        session.fixtures.ensure(suite.fixtures)
    except FixtureError as exc:
        outcome.error = f"setup: {exc}"
        if exc.exchange:
            outcome.exchanges.append(exc.exchange)
        outcome.duration_s = time.perf_counter() - started
        return outcome

    saved = session.saved.setdefault(suite.id, {})
    if (reason := auth_gate(case, suite, session) or _capability_gate(case, suite, session, outcome)) is not None:
        outcome.skipped_reason = reason
        outcome.duration_s = time.perf_counter() - started
        return outcome
    for step in case.steps:
        lookup = lookup_for(session, suite)
        try:
            if step.request.token is not None:
                if (sent := _send_token(session, step, lookup, outcome)) is None:
                    break
                result, sent_form = sent
            else:
                result, sent_form = _send(session, step.request, lookup)
        except MissingVariable as exc:
            outcome.skipped_reason = f"step {step.name!r} not run: {exc} (an earlier case that saves it did not run or failed)"
            break
        except TargetUnreachable as exc:
            outcome.exchanges.append(exc.exchange)
            outcome.error = str(exc)
            break
        outcome.exchanges.append(result.exchange)
        _track_created(session, step.request, result)
        ctx = CheckContext(
            response=result,
            request=step.request,
            exchange=len(outcome.exchanges) - 1,
            requirements=case.requirements,
            level=case.level,
            variables={},
            lookup=lookup,
            session=session,
            sent_form=sent_form,
        )
        try:
            outcome.checks += _judge(step, ctx)
        except TargetUnreachable as exc:  # the oracle fetching more pages
            outcome.exchanges.append(exc.exchange)
            outcome.error = str(exc)
            break
        finally:
            outcome.exchanges.extend(ctx.extra_exchanges)
        blocked = any(c.verdict is Verdict.NOT_JUDGED for c in outcome.checks)
        for save in step.save:
            failed = _save(save, result, saved, ctx)
            if failed:
                if blocked:  # the response was not the expected one: already reported once
                    failed.verdict, failed.reason = Verdict.NOT_JUDGED, f"not judged: {failed.reason}"
                outcome.checks.append(_unless_said(failed, outcome.checks))
        if any(c.verdict is Verdict.FAIL for c in outcome.checks) and len(case.steps) > 1:
            remaining = case.steps[case.steps.index(step) + 1 :]
            if remaining:
                outcome.skipped_reason = f"steps after {step.name!r} not run: it failed"
                break
    outcome.duration_s = time.perf_counter() - started
    return outcome

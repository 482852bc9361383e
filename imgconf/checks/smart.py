"""SMART/OAuth check kinds: ``oauth_error`` (RFC 6749 §5.2, SMART-014), ``token_response``
(SMART-015/016) and ``scopes`` (SMART-020..022, FIND-05)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imgconf.checks.base import CheckContext, short
from imgconf.checks.registry import Awaiting, CheckKind, ParseContext, compile_fhirpath, parse_flag, register, waits_for
from imgconf.fhirpath import evaluate
from imgconf.results import CheckResult, Level

MAX_EXPIRES_IN = 300


@dataclass(frozen=True)
class ScopesExpectation:
    source: str  # FHIRPath giving the scope strings
    text: bool = False
    present: bool = True


def _json_object(ctx: CheckContext) -> tuple[dict[str, Any] | None, str]:
    if ctx.response.json_error:
        return None, ctx.response.json_error
    body = ctx.response.json
    if not isinstance(body, dict):
        return None, "the response body is not a JSON object"
    return body, ""


def _is_json(ctx: CheckContext) -> bool:
    ctype = (ctx.response.header("content-type") or "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def check_oauth_error(codes: tuple[str, ...], ctx: CheckContext) -> list[CheckResult]:
    if not codes:
        return []
    req = ("SMART-014",)
    body, why = _json_object(ctx)
    wanted = " or ".join(codes)
    if body is None:
        return [ctx.result("oauth-error", False, f"expected a JSON error {wanted}: {why}", requirement=req)]
    error = body.get("error")
    results = [ctx.result(
        "oauth-error", error in codes,
        f"error {error!r}" + ("" if error in codes else f", expected {wanted}"), detail=f"error: {wanted}", requirement=req,
    )]
    results.append(ctx.result(
        "oauth-error", _is_json(ctx),
        f"Content-Type {ctx.response.header('content-type')!r}" + ("" if _is_json(ctx) else ", expected application/json"),
        detail="Content-Type: application/json", requirement=req,
    ))
    described = any(isinstance(body.get(k), str) and body.get(k) for k in ("error_description", "error_uri"))
    results.append(ctx.result(
        "oauth-error", described,
        "error_description or error_uri present" if described else "no error_description or error_uri",
        requirement=req, level=Level.SHOULD,
    ))
    if "access_token" in body:
        results.append(ctx.result("oauth-error", False, "an error response carries an access_token", requirement=req))
    return results


def check_token_response(enabled: bool, ctx: CheckContext) -> list[CheckResult]:
    if not enabled:
        return []
    body, why = _json_object(ctx)
    if body is None:
        return [ctx.result("token-response", False, f"no token response: {why}", requirement=("SMART-015",))]
    out: list[CheckResult] = []

    def add(ok: bool, reason: str, req: str = "SMART-015", level: Level | None = None) -> None:
        out.append(ctx.result("token-response", ok, reason, requirement=(req,), level=level))

    token = body.get("access_token")
    add(isinstance(token, str) and bool(token), "access_token present" if token else "no access_token")
    token_type = body.get("token_type")
    add(isinstance(token_type, str) and token_type.lower() == "bearer", f"token_type {token_type!r}" + (
        "" if isinstance(token_type, str) and token_type.lower() == "bearer" else ", expected bearer (any case)"))
    add(_is_json(ctx), f"Content-Type {ctx.response.header('content-type')!r}")
    expires = body.get("expires_in")
    has_expiry = isinstance(expires, (int, float)) and not isinstance(expires, bool) and expires > 0
    add(has_expiry, f"expires_in {expires!r}" + ("" if has_expiry else ", expected a positive number"))
    if has_expiry and isinstance(expires, (int, float)):
        within = expires <= MAX_EXPIRES_IN
        add(within, f"expires_in {expires} s" + ("" if within else f", more than {MAX_EXPIRES_IN}"), level=Level.SHOULD)
    add("refresh_token" not in body,
        "no refresh_token" if "refresh_token" not in body else "a refresh_token was issued to a backend client",
        level=Level.SHOULD_NOT)
    granted = body.get("scope")
    add(isinstance(granted, str) and bool(granted.strip()), f"scope {short(granted)}" if granted else "no scope in the token response")
    requested = next((v for k, v in ctx.sent_form if k == "scope"), None)
    from imgconf.validators.smart import covered, parse, split  # imgconf.validators is heavy: only when judged

    if isinstance(granted, str) and requested is not None:
        asked = [s for s in (parse(t) for t in split(requested)) if s is not None]
        beyond = [t for t in split(granted) if (g := parse(t)) is None or not covered(g, asked)]
        add(not beyond, "granted scope within the requested scope" if not beyond
            else f"granted beyond the request: {' '.join(beyond)} (requested {requested})", req="SMART-016")
    return out


def _scope_values(spec: ScopesExpectation, body: Any, ctx: CheckContext) -> list[str]:
    from imgconf.validators.smart import scopes_in_text, split

    env = ctx.fhirpath_env(spec.source)
    values = evaluate(spec.source, body, env)
    found: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        found.extend(scopes_in_text(value) if spec.text else split(value))
    return found


def check_scopes(spec: ScopesExpectation | None, ctx: CheckContext) -> list[CheckResult]:
    if spec is None:
        return []
    from imgconf.validators.smart import classify, why_invalid

    req = ("SMART-020", "SMART-021", "SMART-022")
    body, why = _json_object(ctx)
    if body is None:
        return [ctx.result("scopes", False, f"no scopes to check: {why}", requirement=req)]
    try:
        scopes = _scope_values(spec, body, ctx)
    except Exception as exc:  # noqa: BLE001 - bad server data must not crash the check
        return [ctx.result("scopes", False, f"{spec.source}: evaluation failed: {exc}", requirement=req)]
    if not scopes:
        return [ctx.result("scopes", not spec.present, f"no scopes found in {spec.source}", detail=spec.source, requirement=req)]
    bad = [s for s in dict.fromkeys(scopes) if classify(s) == "invalid"]
    if bad:
        lines = "; ".join(f"{s}: {why_invalid(s)}" for s in bad[:6]) + (" …" if len(bad) > 6 else "")
        return [ctx.result("scopes", False, f"{len(bad)} non-SMART scope(s) in {spec.source}: {lines}",
                           detail=spec.source, requirement=("SMART-022", "FIND-05"))]
    kinds = sorted({classify(s) for s in scopes})
    return [ctx.result("scopes", True, f"{len(set(scopes))} scope(s), all valid SMART ({', '.join(kinds)})",
                       detail=spec.source, requirement=req)]


# OAuth endpoints are not FHIR: these kinds say themselves that a body is not JSON (RFC 6749 §5.2),
# so they run whatever the body is (needs_json=False).
OAUTH_ERROR = register(CheckKind[tuple[str, ...]](
    key="oauth_error",
    schema={
        "description": "RFC 6749 §5.2 error response (JSON with error = one of these codes); SMART-014.",
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
    },
    parse=lambda raw, _ctx: tuple([raw] if isinstance(raw, str) else raw) or None,
    run=check_oauth_error,
    order=70,
    awaiting=lambda codes: [Awaiting("oauth-error", " or ".join(codes))],
    needs_json=False,
))

TOKEN_RESPONSE = register(CheckKind[bool](
    key="token_response",
    schema={"type": "boolean", "description": "SMART-015/016: a successful token response (bearer, expires_in, scope within the request)."},
    parse=parse_flag,
    run=check_token_response,
    order=80,
    awaiting=waits_for("token-response", "token response"),
    needs_json=False,
))


def _parse_scopes(raw: dict[str, Any], _ctx: ParseContext) -> ScopesExpectation:
    compile_fhirpath(raw["from"])  # the line of `scopes:`, as before
    return ScopesExpectation(source=raw["from"], text=raw.get("text", False), present=raw.get("present", True))


SCOPES = register(CheckKind[ScopesExpectation](
    key="scopes",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["from"],
        "description": "SMART-020..022: every scope found is valid SMART v1 or v2.",
        "properties": {
            "from": {"type": "string", "minLength": 1, "description": "FHIRPath giving scope strings (space-separated lists are split)."},
            "text": {"type": "boolean", "description": "The values are free text: check every scope-shaped word in them."},
            "present": {"type": "boolean", "description": "At least one scope must be found (default true)."},
        },
    },
    parse=_parse_scopes,
    run=check_scopes,
    order=90,
    awaiting=lambda spec: [Awaiting("scopes", spec.source)],
))

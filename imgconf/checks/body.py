"""The response body is a FHIR JSON resource of the expected type."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

from imgconf import catalogue
from imgconf.checks.base import CheckContext
from imgconf.results import CheckResult, Exchange

NOT_FHIR_JSON = "REST-001"  # a response to a request for FHIR JSON is application/fhir+json
SEARCHSET = "REST-040"  # a search's answer is a searchset Bundle
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})  # REST-002's JSON spellings


def check_resource_type(expected: str | None, ctx: CheckContext) -> list[CheckResult]:
    if not expected:
        return []
    body = ctx.response.json
    if ctx.response.json_error:
        return [not_json_result(ctx, f"expected a {expected}: {ctx.response.json_error}", detail=f"resourceType = {expected}")]
    got = body.get("resourceType") if isinstance(body, dict) else None
    ok = got == expected
    reason = f"resourceType {got}" if ok else f"resourceType is {got!r}, expected {expected!r}"
    if not ok and expected == "Bundle" and 200 <= ctx.response.status < 300 and is_search(ctx):
        # a search answered with success and no Bundle: R4's searchset requirement, whatever the search is for
        return [_failure_citing(SEARCHSET, ctx, "resource", reason, f"resourceType = {expected}")]
    return [ctx.result("resource", ok, reason, detail=f"resourceType = {expected}")]


def is_search(ctx: CheckContext) -> bool:
    """The request was a search: GET on a type or a compartment (``Patient/[id]/[type]``), or POST ``_search``;
    not a read, history, an operation or the CapabilityStatement."""
    from imgconf.checks.search_target import parse_search_request  # the search model: only when a Bundle is missing

    if ctx.session is None:
        return False
    exchange = ctx.response.exchange
    target = parse_search_request(ctx.session.base_url, exchange.url, ctx.sent_form)
    if target is None:
        return False
    return exchange.method == "GET" or (exchange.method == "POST" and urlsplit(exchange.url).path.rstrip("/").endswith("/_search"))


def not_json_result(ctx: CheckContext, reason: str, detail: str, check: str = "resource") -> CheckResult:
    """The failure of a body that should have been FHIR JSON and is not.

    A success answer to a request for FHIR JSON whose body is not JSON at all (an HTML page, text) deviates
    from REST-001, whatever the case is about: it cites REST-001 at the catalogue's level, not the case's
    requirements. An error answer's body, an empty body or JSON nested beyond the harness's bound stay the
    case's (what an error carries, or whether an interaction returns a body, is what the case judges).
    """
    if is_not_fhir_json(ctx):
        return _failure_citing(NOT_FHIR_JSON, ctx, check, reason, detail)
    return ctx.result(check, False, reason, detail=detail)


def _failure_citing(requirement: str, ctx: CheckContext, check: str, reason: str, detail: str) -> CheckResult:
    """A failure of a protocol requirement other than the case's, at that requirement's catalogue level."""
    level = catalogue.requirements()[requirement].level
    return ctx.result(check, False, reason, detail=detail, requirement=(requirement,), level=level)


def is_not_fhir_json(ctx: CheckContext) -> bool:
    """A success answer to a request for JSON whose body is there and is not JSON at all (REST-001)."""
    response = ctx.response
    return response.not_json and 200 <= response.status < 300 and asked_for_json(response.exchange, ctx.sent_form)


def asked_for_json(exchange: Exchange, form: Sequence[tuple[str, str]] = ()) -> bool:
    """The request asked for JSON: ``_format`` (in the URL or a POST ``_search`` form) names it (``_format``
    overrides Accept, REST-002), or, without ``_format``, the Accept header does."""
    pairs = parse_qsl(urlsplit(exchange.url).query) + list(form)
    formats = [value for name, value in pairs if name == "_format"]
    if formats:
        return formats[-1].split(";")[0].strip().lower() in JSON_FORMATS
    accept = next((value for name, value in exchange.request_headers.items() if name.lower() == "accept"), "")
    return "json" in accept.lower()

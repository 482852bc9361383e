"""The imaging rules of imgconf.validators, applied to every resource in a live response."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from imgconf.checks.findings import findings_to_results, resources_in
from imgconf.checks.registry import CheckKind, parse_flag, register, waits_for
from imgconf.results import CheckResult

if TYPE_CHECKING:
    from imgconf.checks.base import CheckContext

# An ITI-67 Find Document References request: GET [base]/DocumentReference?… or POST …/_search.
_ITI67_PATH = re.compile(r"^(?:.*/)?DocumentReference(?:/_search)?/?$")
# A case citing these requirements exercises an MHD Document Responder (ITI-67/68, manifests, the
# EU document API): the DocumentReferences it reads are judged as MHD serves them.
_MHD_CONTEXT_PREFIXES = ("MHD-", "MAN-", "EUIMG-", "EUAPI-")


def document_profile(ctx: CheckContext) -> str | None:
    """"mhd" when the response answers an ITI-67 search or an MHD case; else None (a
    DocumentReference is then judged by R4 alone unless it claims a profile in meta.profile)."""
    path = ctx.request.path.split("?", 1)[0]
    if _ITI67_PATH.match(path):
        return "mhd"
    if any(r.startswith(_MHD_CONTEXT_PREFIXES) for r in ctx.requirements):
        return "mhd"
    return None


def check_rules(ctx: CheckContext) -> list[CheckResult]:
    from imgconf.validators import rule_findings, validate_bundle_invariants  # heavy: only when judged

    if ctx.response.json_error:
        return [ctx.result("rule", False, f"cannot validate: {ctx.response.json_error}")]
    body = ctx.response.json
    resources = resources_in(body)
    profile = document_profile(ctx)
    found = [(prefix, f) for prefix, resource in resources for f in rule_findings(resource, profile=profile)]
    is_bundle = isinstance(body, dict) and body.get("resourceType") == "Bundle"
    if is_bundle and not any(prefix == "" for prefix, _ in resources):
        # a searchset / history / batch answer is still a Bundle: REST-103 on the Bundle itself
        found += [("", f) for f in validate_bundle_invariants(body)]
    return findings_to_results("rule", found, ctx, scope=f"imaging rules on {len(resources)} resource(s)")


RULES = register(CheckKind[bool](
    key="rules",
    schema={"type": "boolean", "description": "Run the imaging validators on every resource in the response."},
    parse=parse_flag,
    run=lambda _spec, ctx: check_rules(ctx),
    order=20,
    awaiting=waits_for("rule", "imaging rules"),
))

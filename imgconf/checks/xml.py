"""FHIR XML answers: an XML request gets FHIR XML, or (where XML is optional) a 406 refusal.

A body labelled ``application/fhir+xml`` is parsed, not trusted: well-formed XML whose root is the
expected resource in the FHIR namespace (a search: a Bundle of the expected type; a read: the
same id). Levels follow what the actor owes:

- core R4 (``may_refuse``): XML is optional; 406 + OperationOutcome is the legal refusal (REST-003,
  SHOULD). Answering JSON instead of refusing falls short of that SHOULD only, unless the server's
  CapabilityStatement declares XML and the request used ``_format``: then it ignored a format it
  has (REST-002, SHALL).
- MHD Document Responder (MHD-008) and PDQm Supplier (PDQ-009): XML is mandatory; a 406 or a
  JSON answer fails at the case level.

Whatever the actor, a body that says it is FHIR XML and is not is a REST-001 deviation (SHALL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lxml import etree

from imgconf.checks.base import CheckContext
from imgconf.checks.registry import CheckKind, ParseContext, register, waits_for
from imgconf.results import CheckResult, Level
from imgconf.suite.template import MissingVariable, render


@dataclass(frozen=True)
class XmlExpectation:
    """An XML request's answer is FHIR XML; MHD-008/PDQ-009 make it mandatory."""

    resource: str  # local name of the root element (the resourceType)
    id: str | None = None  # ${…} template: the id a read must carry
    bundle_type: str | None = None  # Bundle <type value=…/>
    may_refuse: bool = False  # XML optional for this actor: 406 + OperationOutcome is legal (REST-003)

FHIR_NS = "http://hl7.org/fhir"
FHIR_XML = "application/fhir+xml"
XML_TYPES = {FHIR_XML, "application/xml", "text/xml"}
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
CHECK = "xml"

# No DTDs, no entities, no network: a server's body is data, never instructions to the parser.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _looks_like_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _child_value(root: Any, name: str) -> str | None:
    """The ``value`` attribute of a direct FHIR child element (``<id value="…"/>``)."""
    child = root.find(f"{{{FHIR_NS}}}{name}")
    return child.get("value") if child is not None else None


def _refusal(spec: XmlExpectation, ctx: CheckContext) -> list[CheckResult]:
    if not spec.may_refuse:
        return [ctx.result(CHECK, False, "406 to an XML request: this actor must serve FHIR XML", detail="FHIR XML")]
    results = [ctx.result(CHECK, True, "406: XML refused, a legal answer where XML is optional (REST-003)",
                          detail="FHIR XML or 406", requirement=("REST-003",), level=Level.SHOULD)]
    content = ctx.response.content
    if _media_type(ctx.response.header("content-type")) in XML_TYPES:
        root = _parse(content)
        is_outcome = root is not None and root.tag == f"{{{FHIR_NS}}}OperationOutcome"
    else:
        body = ctx.response.json
        is_outcome = isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"
    results.append(ctx.result(CHECK, is_outcome,
                              "the 406 carries an OperationOutcome" if is_outcome else "the 406 carries no OperationOutcome",
                              detail="406 + OperationOutcome", requirement=("REST-003",), level=Level.SHOULD))
    return results


def _parse(content: bytes) -> Any:
    try:
        return etree.fromstring(content, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _format_param(ctx: CheckContext) -> str | None:
    """The `_format` the request sent (query or POST _search form), if any."""
    pairs = list(ctx.request.params) + list(ctx.sent_form)
    return next((str(v) for k, v in pairs if k == "_format"), None)


def _declares_xml(ctx: CheckContext) -> bool:
    """The target's CapabilityStatement lists an XML format (CapabilityStatement.format)."""
    statement = ctx.session.capability.statement if ctx.session is not None else None
    formats = statement.get("format") if isinstance(statement, dict) else None
    return isinstance(formats, list) and any(_media_type(str(f)) in XML_TYPES | {"xml"} for f in formats)


def _not_xml(spec: XmlExpectation, ctx: CheckContext, media_type: str) -> CheckResult:
    """2xx in another format: JSON served to an XML request, or something that is not FHIR at all."""
    if media_type in JSON_TYPES or _looks_like_json(ctx.response.content):
        reason = f"an XML request was answered with JSON ({media_type or 'no Content-Type'})"
        if spec.may_refuse and _format_param(ctx) and _declares_xml(ctx):
            # The server says it supports XML, so `_format` names a format it has: REST-002 (SHALL).
            return ctx.result(CHECK, False, reason + f"; the CapabilityStatement declares XML, so _format={_format_param(ctx)} "
                              "must be honoured", detail="FHIR XML", requirement=("REST-002",), level=Level.SHALL)
        if spec.may_refuse:  # XML optional here: the deviation is not refusing with 406 (REST-003 SHOULD)
            return ctx.result(CHECK, False, reason + "; a server without XML should answer 406",
                              detail="FHIR XML or 406", requirement=("REST-003",), level=Level.SHOULD)
        return ctx.result(CHECK, False, reason + "; this actor must serve FHIR XML", detail="FHIR XML")
    return ctx.result(CHECK, False, f"an XML request was answered with Content-Type {media_type or '(none)'}, "
                      f"expected {FHIR_XML}", detail=FHIR_XML, requirement=("REST-001",), level=Level.SHALL)


def _content(spec: XmlExpectation, ctx: CheckContext, media_type: str) -> list[CheckResult]:
    results = []
    labelled = media_type == FHIR_XML
    results.append(ctx.result(CHECK, labelled, f"Content-Type {media_type}" + ("" if labelled else f", expected {FHIR_XML}"),
                              detail=f"Content-Type {FHIR_XML}", requirement=("REST-001",), level=Level.SHALL))
    root = _parse(ctx.response.content)
    if root is None:
        what = "JSON" if _looks_like_json(ctx.response.content) else "not well-formed XML"
        results.append(ctx.result(CHECK, False, f"the body labelled {media_type} is {what}", detail="well-formed FHIR XML",
                                  requirement=("REST-001",), level=Level.SHALL))
        return results
    name = etree.QName(root)
    if name.namespace != FHIR_NS:
        results.append(ctx.result(CHECK, False, f"root element <{name.localname}> is in namespace {name.namespace!r}, "
                                  f"not {FHIR_NS}", detail="FHIR namespace", requirement=("REST-001",), level=Level.SHALL))
        return results
    ok = name.localname == spec.resource
    results.append(ctx.result(CHECK, ok, f"root element <{name.localname}>" + ("" if ok else f", expected <{spec.resource}>"),
                              detail=f"resourceType = {spec.resource}"))
    if not ok:
        return results
    if spec.bundle_type:
        got = _child_value(root, "type")
        results.append(ctx.result(CHECK, got == spec.bundle_type, f"Bundle type {got!r}"
                                  + ("" if got == spec.bundle_type else f", expected {spec.bundle_type!r}"),
                                  detail=f"Bundle.type = {spec.bundle_type}"))
    if spec.id is not None:
        try:
            wanted = str(render(spec.id, ctx.lookup or ctx.variables))
        except MissingVariable as exc:
            results.append(ctx.result(CHECK, True, f"id not judged: {exc}", detail="id", level=Level.INFO))
            return results
        got = _child_value(root, "id")
        results.append(ctx.result(CHECK, got == wanted, f"id {got!r}" + ("" if got == wanted else f", expected {wanted!r}"),
                                  detail=f"id = {wanted}"))
    return results


def check_xml(spec: XmlExpectation | None, ctx: CheckContext) -> list[CheckResult]:
    if spec is None:
        return []
    status = ctx.response.status
    if status == 406:
        return _refusal(spec, ctx)
    if not 200 <= status < 300:
        reason = f"status {status} to an XML request"
        if spec.may_refuse:  # XML optional: the expected refusal is 406 (REST-003 SHOULD)
            return [ctx.result(CHECK, False, reason + ", expected FHIR XML or 406", detail="FHIR XML or 406",
                               requirement=("REST-003",), level=Level.SHOULD)]
        return [ctx.result(CHECK, False, reason + ", expected 200 with FHIR XML", detail="FHIR XML")]
    media_type = _media_type(ctx.response.header("content-type"))
    if media_type not in XML_TYPES:
        return [_not_xml(spec, ctx, media_type)]
    return _content(spec, ctx, media_type)


def _parse_spec(raw: dict[str, Any], _ctx: ParseContext) -> XmlExpectation:
    return XmlExpectation(**raw)


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["resource"],
    "description": "The answer to an XML request (Accept/_format) is FHIR XML: application/fhir+xml, well-formed, root element "
                   "in http://hl7.org/fhir named `resource` (imgconf.checks.xml). The check owns the status: 406 + "
                   "OperationOutcome is legal only with may_refuse (REST-003: XML optional); MHD-008/PDQ-009 actors must serve XML.",
    "properties": {
        "resource": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
        "id": {"type": "string", "minLength": 1, "description": "The id a read must carry (${variables} allowed)."},
        "bundle_type": {"type": "string", "enum": ["searchset", "history", "document", "collection", "batch-response",
                                                   "transaction-response"]},
        "may_refuse": {"type": "boolean", "description": "XML is optional for this actor: 406 + OperationOutcome passes "
                       "(REST-003); a JSON answer warns (SHOULD)."},
    },
}

XML = register(CheckKind[XmlExpectation](
    key="xml",
    schema=_SCHEMA,
    parse=_parse_spec,
    run=check_xml,
    order=100,
    awaiting=waits_for("xml", "FHIR XML"),
    needs_json=False,  # the body is XML, or a 406 refusal
))

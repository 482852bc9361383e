"""FHIR XML for the reference server: the stored JSON resource serialised through the R4B models.

MHD-008 (Document Responder) and PDQ-009 (Patient Demographics Supplier) make XML mandatory, so
the product's conformant example serves it for every read, vread, history and search. The models
of fhir.resources write the R4 XML rules (namespace, `value` attributes, XHTML narrative,
primitive extensions); nothing is hand-built here.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
FHIR_XML = "application/fhir+xml"
XML_BODY_TYPES = {FHIR_XML, "application/xml", "text/xml"}
# A request body is data: no DTD, no entities, no network.
_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
XML_CONTENT_TYPE = f"{FHIR_XML}; charset=utf-8"


def resource_to_xml(resource: dict[str, Any]) -> bytes:
    """The FHIR XML of one JSON resource; raises ValueError when it is not a valid R4 resource."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise ValueError("the body has no resourceType")
    model = get_fhir_model_class(rtype)
    xml: object = model.model_validate(resource).model_dump_xml()  # annotated str; its lxml path returns bytes
    return xml if isinstance(xml, bytes) else str(xml).encode("utf-8")


def resource_from_xml(content: bytes) -> dict[str, Any]:
    """The JSON form of a FHIR XML request body; raises ValueError for anything else (answered 400)."""
    try:
        root = etree.fromstring(content, _SAFE)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise ValueError("a DOCTYPE is not allowed in FHIR XML")
    name = etree.QName(root)
    if name.namespace != FHIR_NS:
        raise ValueError(f"root element <{name.localname}> is not in the FHIR namespace {FHIR_NS}")
    model = get_fhir_model_class(name.localname)  # ValueError for an unknown resource type
    try:
        resource = model.model_validate_xml(content)
    except Exception as exc:  # noqa: BLE001 - the models raise several kinds for bad content
        raise ValueError(f"not a valid {name.localname}: {exc}") from None
    return json.loads(resource.model_dump_json())

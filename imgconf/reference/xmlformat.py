"""FHIR XML for the reference server: the stored JSON resource serialised through the R4B models.

MHD-008 (Document Responder) and PDQ-009 (Patient Demographics Supplier) make XML mandatory, so
the product's conformant example serves it for every read, vread, history and search. The models
of fhir.resources write the R4 XML rules (namespace, `value` attributes, XHTML narrative,
primitive extensions); nothing is hand-built here.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

FHIR_XML = "application/fhir+xml"
XML_CONTENT_TYPE = f"{FHIR_XML}; charset=utf-8"


def resource_to_xml(resource: dict[str, Any]) -> bytes:
    """The FHIR XML of one JSON resource; raises ValueError when it is not a valid R4 resource."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise ValueError("the body has no resourceType")
    model = get_fhir_model_class(rtype)
    return model.model_validate(resource).model_dump_xml()

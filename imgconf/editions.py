"""Document-code editions (catalogue §H FIND-01..04): a light module, so option tables can name them
without importing the target session."""

from __future__ import annotations

EDITIONS: dict[str, dict[str, str]] = {
    # catalogue §H FIND-01..04: the codes that changed between the EU API draft and its current text
    "draft-2026-01": {
        "report_type": "68604-8",
        "report_category_system": "urn:oid:1.3.6.1.4.1.19376.1.2.6.1",
        "report_category": "REPORTS",
        "practice_setting": "394914008",
        "manifest_type": "18748-4",
    },
    "eu-api-current": {
        "report_type": "85430-7",
        "report_category_system": "http://hl7.eu/fhir/health-data-api/CodeSystem/eehrxf-document-priority-category-cs",
        "report_category": "Medical-Imaging",
        "practice_setting": "394914008",
        "manifest_type": "18748-4",
    },
}
DEFAULT_EDITION = "draft-2026-01"

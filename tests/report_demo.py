"""A small, realistic run used by the report tests and to eyeball the HTML layout.

    .venv/bin/python tests/report_demo.py OUT_DIR   → OUT_DIR/summary.json and OUT_DIR/report.html
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from imgconf.results import CaseResult, CheckResult, Exchange, Level, RunInfo, Verdict

BASE = "https://pacs.example.org/fhir"


def demo_run(tls_verify: bool = True) -> RunInfo:
    return RunInfo(
        target_url=BASE,
        embedded=False,
        server_software="ExamplePACS FHIR Gateway",
        server_version="5.2.1",
        fhir_version="4.0.1",
        harness_version="0.1.0",
        edition="EU imaging",
        started_at="2026-07-14T09:30:12Z",
        finished_at="2026-07-14T09:31:47Z",
        duration_s=95.3,
        tls_verify=tls_verify,
        options={"suites": ["imagingstudy-search", "smart-backend"], "workers": 4},
    )


def _search_exchange(query: str, entries: list[dict], status: int = 200) -> Exchange:
    bundle = {
        "resourceType": "Bundle", "type": "searchset", "total": len(entries),
        "link": [{"relation": "self", "url": f"{BASE}/ImagingStudy?{query}"}],
        "entry": [{"fullUrl": f"{BASE}/ImagingStudy/{e['id']}", "resource": e,
                   "search": {"mode": "match"}} for e in entries],
    }
    return Exchange(
        method="GET",
        url=f"{BASE}/ImagingStudy?{query}",
        request_headers={"Accept": "application/fhir+json", "Authorization": "Bearer demo-token-0001"},
        request_body=None,
        status=status,
        response_headers={"Content-Type": "application/fhir+json;charset=utf-8"},
        response_body=json.dumps(bundle),
        elapsed_ms=42.7,
    )


def demo_cases() -> list[CaseResult]:
    study = {"resourceType": "ImagingStudy", "id": "ct-1", "status": "available",
             "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3.4"}],
             "subject": {"reference": "Patient/123"}}
    uid_search = CaseResult(
        suite_id="imagingstudy-search", suite="ImagingStudy search", case="Study UID token search",
        nodeid="suites/imagingstudy-search.yaml::study-uid-token", area="search",
        requirement=["IS-051"], level=Level.SHALL,
        checks=[
            CheckResult("status", ["IS-051"], Level.SHALL, Verdict.PASS, "HTTP 200", "expected 200", 0),
            CheckResult("search", ["IS-051", "FIND-14"], Level.SHALL, Verdict.FAIL,
                        "bare UID matched a study encoded with urn:oid:",
                        "identifier=urn:dicom:uid|1.2.3.4 returned ImagingStudy/ct-1", 1),
        ],
        exchanges=[
            _search_exchange("identifier=urn:dicom:uid%7Curn:oid:1.2.3.4", [study]),
            _search_exchange("identifier=urn:dicom:uid%7C1.2.3.4", [study]),
        ],
        duration_s=0.31,
    )
    modality = CaseResult(
        suite_id="imagingstudy-search", suite="ImagingStudy search", case="modality searches series.modality",
        nodeid="suites/imagingstudy-search.yaml::modality-series", area="search",
        requirement=["IS-053"], level=Level.SHALL,
        checks=[CheckResult("search", ["IS-053"], Level.SHALL, Verdict.PASS, "1 match, as expected",
                            "modality=http://dicom.nema.org/resources/ontology/DCM|CT", 0)],
        exchanges=[_search_exchange("modality=http://dicom.nema.org/resources/ontology/DCM%7CCT", [study])],
        duration_s=0.12,
    )
    etag = CaseResult(
        suite_id="rest-read", suite="REST read", case="read returns ETag",
        nodeid="suites/rest-read.yaml::etag", area="rest", requirement=["REST-011"], level=Level.SHOULD,
        checks=[CheckResult("status", ["REST-010"], Level.SHALL, Verdict.PASS, "HTTP 200"),
                CheckResult("header", ["REST-011"], Level.SHOULD, Verdict.WARN, "no ETag header",
                            "expected ETag: W/\"<versionId>\"")],
        duration_s=0.05,
    )
    token = CaseResult(
        suite_id="smart-backend", suite="SMART Backend Services", case="token request with replayed jti",
        nodeid="suites/smart-backend.yaml::replay-jti", area="smart", requirement=["SMART-013"],
        level=Level.SHALL, error="ConnectError: connection refused (auth.example.org:443)",
        exchanges=[Exchange("POST", "https://auth.example.org/token", {}, None, None, {}, None, 3.0,
                            error="connection refused")],
        duration_s=3.0,
    )
    compartment = CaseResult(
        suite_id="rest-read", suite="REST read", case="Patient compartment search",
        nodeid="suites/rest-read.yaml::compartment", area="rest", requirement=["IS-056"],
        level=Level.SHALL, skipped_reason="server does not declare the Patient compartment",
    )
    scopes = CaseResult(
        suite_id="smart-backend", suite="SMART Backend Services", case="declared scopes are SMART",
        nodeid="suites/smart-backend.yaml::scopes", area="smart", requirement=["SMART-022"],
        level=Level.SHALL,
        checks=[CheckResult("rule", ["SMART-022", "FIND-05"], Level.SHALL, Verdict.INFO,
                            "CapabilityStatement lists system/DocumentReference.search (not SMART v1 or v2)")],
    )
    return [uid_search, modality, etag, token, compartment, scopes]


def main(argv: list[str]) -> int:
    from imgconf.report import write_html, write_summary

    out = Path(argv[0] if argv else "reports/demo")
    tls = "--no-tls-verify" not in argv
    write_summary(out / "summary.json", demo_run(tls), demo_cases())
    write_html(out / "report.html", demo_run(tls), demo_cases())
    print(out / "report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The document suites (PDQm, MHD, documents, manifests, workflow) as a user runs them: real
pytest processes, real HTTP, the reference server; misbehaving servers are the reference server
behind the fault proxy, and each fault is caught by the right case with the right check kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imgconf.faults import BY_NAME, Fault, FaultProxy, ProxyCall
from imgconf.fixtures import attachment_facts
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer

SUITES = suites_dir()
PDQM = str(SUITES / "pdqm" / "iti78-patient-query.yaml")
ITI67 = str(SUITES / "mhd" / "iti67-find-documents.yaml")
ITI68 = str(SUITES / "mhd" / "iti68-retrieve-document.yaml")
DOCUMENTS = str(SUITES / "documents" / "eu-imaging-report.yaml")
MANIFESTS = str(SUITES / "manifests" / "imaging-manifests.yaml")
WORKFLOW = str(SUITES / "workflow" / "imaging-report-exchange.yaml")
DOCUMENT_SUITES = [str(SUITES / area) for area in ("pdqm", "mhd", "documents", "manifests", "workflow")]

pytestmark = pytest.mark.slow


def summary(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / "summary.json").read_text())


def verdict(data: dict[str, Any], case: str) -> str:
    return next(c["verdict"] for c in data["cases"] if c["case"] == case)


def failed_kinds(data: dict[str, Any], case: str) -> set[str]:
    return {c["check"] for c in data["checks"] if c["case"] == case and c["verdict"] in ("fail", "warn")}


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.mark.parametrize("edition", ["draft-2026-01", "eu-api-current"])
def test_document_suites_are_green_in_both_editions(pytester: pytest.Pytester, edition: str) -> None:
    result = pytester.runpytest_subprocess(*DOCUMENT_SUITES, "--edition", edition, "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    data = summary(pytester)
    assert data["outcome"] == "pass" and data["run"]["edition"] == edition
    assert len(data["cases"]) >= 80
    assert data["run"]["options"]["teardown_remaining"] == 0
    # §H findings the reference server trips over are reported with their FIND id.
    info = {r for c in data["checks"] if c["verdict"] == "info" for r in c["requirement"]}
    assert "FIND-03" in info  # it ignores context.practiceSetting (lenient handling)
    assert ("FIND-01" in info) == (edition == "draft-2026-01")  # the draft report type is legacy


@pytest.mark.parametrize(
    ("fault", "suite", "case", "kinds"),
    [
        ("report-type-18782-3", ITI67, "imaging reports by type and status", {"search"}),
        ("ignores-setting", ITI67, "setting filters to radiology", {"search", "fhirpath"}),
        ("ignores-patient-identifier-chain", ITI67, "patient.identifier chain instead of a patient lookup", {"search"}),
        ("mhd-returns-entered-in-error", ITI67, "entered-in-error is not returned by an MHD query without status",
         {"search", "fhirpath", "rule"}),
        ("ignores-status", ITI67, "status superseded finds the replaced version", {"search"}),
        ("echoes-ignored-params", ITI67, "the dotted name context.practiceSetting is rejected or visibly ignored", {"fhirpath"}),
        ("attachment-hash-hex", ITI68, "the PDF report is retrieved as application/pdf", {"attachment"}),
        ("attachment-size-base64", ITI68, "the PDF report is retrieved as application/pdf", {"attachment"}),
        ("binary-octet-stream", ITI68, "the PDF report is retrieved as application/pdf", {"attachment", "header"}),
        ("binary-truncated", ITI68, "the KOS is retrieved as application/dicom", {"attachment"}),
        ("document-wrapped-in-binary", ITI68, "the FHIR report is a document Bundle, not wrapped in Binary", {"attachment"}),
        ("deleted-read-404", ITI68, "a removed document is 410 (or 404 by policy)", set()),  # 404 is allowed by policy
        ("kos-french-format-code", MANIFESTS, "the KOS DocumentReference is application/dicom with the KOS format", {"rule", "fhirpath"}),
        ("manifest-type-19005-8", MANIFESTS, "manifests by type 18748-4", {"search", "rule"}),
        ("composition-not-first", DOCUMENTS, "the Composition is the first entry", {"fhirpath"}),
        ("composition-not-first", DOCUMENTS, "the report document validates against the EU imaging rules", {"rule"}),
        ("document-dangling-reference", DOCUMENTS, "every Composition reference resolves inside the Bundle", {"fhirpath"}),
        ("ignores-mothers-maiden-name", PDQM, "mothersMaidenName extension search", {"search"}),
        ("ignores-exact", PDQM, "family exact does not match a different spelling", {"search"}),
        ("drops-first-match", WORKFLOW, "PDF imaging report found by identifier, type and status, then retrieved", {"search"}),
    ],
)
def test_a_misbehaving_document_server_fails_the_right_case(
    pytester: pytest.Pytester, server: EmbeddedServer, fault: str, suite: str, case: str, kinds: set[str]
) -> None:
    with FaultProxy(server.base_url, [BY_NAME[fault]]) as proxy:
        pytester.runpytest_subprocess(suite, "--target", proxy.base_url, "-p", "no:cacheprovider")
    data = summary(pytester)
    if not kinds:  # a tolerated variant: the case still passes
        assert verdict(data, case) == "pass"
        return
    assert verdict(data, case) == "fail", f"{fault}: {case} was {verdict(data, case)}"
    assert kinds <= failed_kinds(data, case), f"{fault}: failed checks were {failed_kinds(data, case)}"


def _strict(call: ProxyCall) -> None:
    if call.is_search:
        call.headers["prefer"] = "handling=strict"


def test_practice_setting_finding_disappears_when_the_server_rejects_the_dotted_name(
    pytester: pytest.Pytester, server: EmbeddedServer
) -> None:
    pytester.runpytest_subprocess(ITI67, "--target", server.base_url, "-p", "no:cacheprovider")
    lenient = summary(pytester)
    name = "what a server does with context.practiceSetting (safety finding)"
    assert verdict(lenient, name) == "info"
    assert any("FIND-03" in c["requirement"] and c["verdict"] == "info" for c in lenient["checks"] if c["case"] == name)
    strict = Fault("strict-unknown-parameters", "every search is sent with Prefer: handling=strict", ("MHD-014",), on_request=_strict)
    with FaultProxy(server.base_url, [strict]) as proxy:
        pytester.runpytest_subprocess(ITI67, "--target", proxy.base_url, "-k", "practiceSetting", "-p", "no:cacheprovider")
    data = summary(pytester)
    assert verdict(data, name) == "pass"
    assert verdict(data, "the dotted name context.practiceSetting is rejected or visibly ignored") == "pass"


# -- reference-server behaviour the suites rely on ----------------------------------------------------

def test_reference_server_document_semantics(server: EmbeddedServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        pdf = b"%PDF-1.4\n%%EOF\n"
        binary = client.post("/Binary", json={"resourceType": "Binary", "contentType": "application/pdf",
                                              "data": "JVBERi0xLjQKJSVFT0YK"}).json()["id"]
        raw = client.get(f"/Binary/{binary}", headers={"Accept": "application/pdf"})
        assert raw.status_code == 200 and raw.content == pdf and raw.headers["content-type"].startswith("application/pdf")
        assert client.get(f"/Binary/{binary}", headers={"Accept": "image/png"}).status_code == 406  # MHD-022
        assert client.get(f"/Binary/{binary}", headers={"Accept": "application/fhir+json"}).json()["resourceType"] == "Binary"
        patient = client.post("/Patient", json={"resourceType": "Patient", "identifier": [
            {"system": "urn:oid:1.2.3.1", "value": "a"}, {"system": "urn:oid:1.2.3.2", "value": "b"}]}).json()["id"]
        only = client.get("/Patient", params={"identifier": "urn:oid:1.2.3.2|"}).json()  # PDQ-006
        assert [i["system"] for e in only["entry"] for i in e["resource"]["identifier"]] == ["urn:oid:1.2.3.2"]
        unknown = client.get("/Patient", params={"identifier": "urn:oid:9.9.9.9|"})  # PDQ-007
        assert unknown.status_code == 404 and unknown.json()["issue"][0]["severity"] == "warning"
        doc = {"resourceType": "DocumentReference", "status": "entered-in-error", "subject": {"reference": f"Patient/{patient}"},
               "content": [{"attachment": {"contentType": "application/pdf", "url": f"{server.base_url}/Binary/{binary}"}}]}
        eie = client.post("/DocumentReference", json=doc).json()["id"]
        found = lambda params: {e["resource"]["id"] for e in client.get("/DocumentReference", params=params).json().get("entry", [])}  # noqa: E731
        assert eie not in found({"patient": patient})  # MHD-033: not a document an MHD query finds
        assert eie in found({"patient": patient, "status": "entered-in-error"})


def test_binary_fixture_attachment_facts() -> None:
    assert attachment_facts("") == {"size": 0, "hash": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}  # MHD-010 SHA-1 of nothing
    assert attachment_facts("JVBERi0xLjQKJSVFT0YK")["size"] == 15


def test_ignored_modality_parameter_warns_on_the_should_case(pytester: pytest.Pytester, server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [BY_NAME["ignores-modality"]]) as proxy:
        pytester.runpytest_subprocess(ITI67, "--target", proxy.base_url, "-k", "modality", "-p", "no:cacheprovider")
    data = summary(pytester)
    assert verdict(data, "modality (EU Imaging IG / MADO extension parameter)") == "warn"  # EUIMG-055 is SHOULD
    assert "search" in failed_kinds(data, "modality (EU Imaging IG / MADO extension parameter)")

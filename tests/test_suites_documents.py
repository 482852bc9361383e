"""The document suites (PDQm, MHD, documents, manifests, workflow) as a user runs them: real
pytest processes, real HTTP, the reference server; misbehaving servers are the reference server
behind the fault proxy, and each fault is caught by the right case with the right check kind (the
fault table runs its cases in process through the engine, the code path of `imgconf run`, so that
twenty faults do not cost twenty pytest processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from case_support import load_bundled

from imgconf.faults import BY_NAME, Fault, FaultProxy, ProxyCall
from imgconf.fixtures import attachment_facts
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer
from suite_roots import BUNDLED

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
    result = pytester.runpytest_subprocess(*BUNDLED, *DOCUMENT_SUITES, "--imgconf-edition", edition, "-p", "no:cacheprovider")
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
        # legal (benign): an ITI-67 consumer always sends status, so the case sends it and passes
        ("mhd-returns-entered-in-error", ITI67, "the MHD statuses current and superseded leave out entered-in-error", set()),
        ("ignores-status", ITI67, "status superseded finds the replaced version", {"search"}),
        ("echoes-ignored-params", ITI67, "the dotted name context.practiceSetting is rejected or visibly ignored", {"fhirpath"}),
        ("attachment-hash-hex", ITI68, "the PDF report is retrieved as application/pdf", {"attachment"}),
        ("attachment-size-base64", ITI68, "the PDF report is retrieved as application/pdf", {"attachment"}),
        ("binary-octet-stream", ITI68, "the PDF report is retrieved as application/pdf", {"attachment", "header"}),
        ("binary-truncated", ITI68, "the KOS is retrieved as application/dicom", {"attachment"}),
        # one cause, one verdict: the Binary fails the resource check (MHD-025); the attachment is then not judged
        ("document-wrapped-in-binary", ITI68, "the FHIR report is a document Bundle, not wrapped in Binary", {"resource"}),
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
    server: EmbeddedServer, fault: str, suite: str, case: str, kinds: set[str]
) -> None:
    # in process through the engine (the code path of `imgconf run`), the fault active from the first request;
    # the pytest front end over these suites is what the green-in-both-editions test runs
    result = _run_suite_through(server, suite, case, [BY_NAME[fault]])
    found = result.verdict.value
    failed = {c.check for c in result.checks if c.verdict.value in ("fail", "warn")}
    if not kinds:  # a tolerated variant: the case still passes
        assert found == "pass"
        return
    assert found == "fail", f"{fault}: {case} was {found}"
    assert kinds <= failed, f"{fault}: failed checks were {failed}"


def _strict(call: ProxyCall) -> None:
    if call.is_search:
        call.headers["prefer"] = "handling=strict"


def test_practice_setting_finding_disappears_when_the_server_rejects_the_dotted_name(
    pytester: pytest.Pytester, server: EmbeddedServer
) -> None:
    pytester.runpytest_subprocess(*BUNDLED, ITI67, "--imgconf-target", server.base_url, "-p", "no:cacheprovider")
    lenient = summary(pytester)
    name = "what a server does with context.practiceSetting (safety finding)"
    assert verdict(lenient, name) == "info"
    assert any("FIND-03" in c["requirement"] and c["verdict"] == "info" for c in lenient["checks"] if c["case"] == name)
    strict = Fault("strict-unknown-parameters", "every search is sent with Prefer: handling=strict", ("MHD-014",), on_request=_strict)
    with FaultProxy(server.base_url, [strict]) as proxy:
        pytester.runpytest_subprocess(*BUNDLED, ITI67, "--imgconf-target", proxy.base_url, "-k", "practiceSetting", "-p", "no:cacheprovider")
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
        pytester.runpytest_subprocess(*BUNDLED, ITI67, "--imgconf-target", proxy.base_url, "-k", "modality", "-p", "no:cacheprovider")
    data = summary(pytester)
    assert verdict(data, "modality (EU Imaging IG / MADO extension parameter)") == "warn"  # EUIMG-055 is SHOULD
    assert "search" in failed_kinds(data, "modality (EU Imaging IG / MADO extension parameter)")


NO_STATUS_SUITE = """\
suite: a DocumentReference query without status
area: mhd
requirements: [MHD-003]
fixtures: [documentreference/ct-chest-report, documentreference/ct-chest-report-eie]
cases:
  - name: reports of the patient, no status sent
    request: {path: DocumentReference, params: {patient: "${fixture.patient/jones.id}", type: "http://loinc.org|${edition.report_type}"}}
    expect:
      status: 200
      search: {includes: [documentreference/ct-chest-report]}
"""


def test_an_entered_in_error_document_for_a_query_without_status_is_neither_required_nor_forbidden(
    tmp_path: Path, server: EmbeddedServer
) -> None:
    """MHD-033 is a content rule and MHD-002 makes consumers send status: either answer is legal."""
    from imgconf.engine import run_case
    from imgconf.fixtures import library
    from imgconf.paths import fixtures_dir
    from imgconf.results import Verdict
    from imgconf.session import SessionOptions, TargetSession
    from imgconf.suite import load_suite

    path = tmp_path / "no-status.yaml"
    path.write_text(NO_STATUS_SUITE, encoding="utf-8")
    suite = load_suite(path, fixture_library=library(fixtures_dir()))
    for faults in ([], [BY_NAME["mhd-returns-entered-in-error"]]):
        with FaultProxy(server.base_url, faults) as proxy:
            session = TargetSession(SessionOptions(target=proxy.base_url))
            try:
                result = run_case(suite.cases[0], suite, session)
                eie = session.fixtures.loaded["documentreference/ct-chest-report-eie"]["id"]
            finally:
                session.close()
        returned = eie in (result.exchanges[0].response_body or "")
        assert returned == bool(faults)  # the reference server leaves it out, the plain-R4 variant returns it
        assert result.verdict is Verdict.PASS, [c.reason for c in result.checks if c.verdict is not Verdict.PASS]


# -- string and token matching, related:identifier, type:text (in process, like `imgconf run`) -----

def _run_case(server: EmbeddedServer, suite_path: str, case_name: str, faults: list[Fault]) -> Any:
    from imgconf.engine import run_case
    from imgconf.session import SessionOptions, TargetSession

    suite = load_bundled(suite_path)  # loaded once per process (tests/case_support.py)
    case = next(c for c in suite.cases if c.name == case_name)
    with FaultProxy(server.base_url, faults) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            return run_case(case, suite, session)
        finally:
            session.close()


def _run_suite_through(server: EmbeddedServer, suite_path: str, case_name: str, faults: list[Fault]) -> Any:
    """Every case of the suite in order up to the named one (as a run of the suite reaches it), on a fresh
    session behind the faults; the named case's result."""
    from imgconf.engine import run_case
    from imgconf.session import SessionOptions, TargetSession

    suite = load_bundled(suite_path)  # loaded once per process (tests/case_support.py)
    names = [c.name for c in suite.cases]
    with FaultProxy(server.base_url, faults) as proxy:
        session = TargetSession(SessionOptions(target=proxy.base_url))
        try:
            results = [run_case(c, suite, session) for c in suite.cases[: names.index(case_name) + 1]]
        finally:
            session.close()
    return results[-1]


MATCHING = [
    # (fault, suite, case, verdict with the fault: fail for SHALL, warn for SHOULD, info for MAY cases)
    ("string-matches-anywhere", PDQM, "family matches from the start of the name, not inside it", "fail"),
    ("exact-ignores-case", PDQM, "family exact does not match a name that differs only in case", "fail"),
    ("patient-identifier-ignores-case", PDQM, "an identifier value that differs only in case does not match", "warn"),
    ("related-identifier-as-reference", ITI67, "related:identifier finds the documents of a study by its Study Instance UID", "info"),
    ("ignores-type-text", ITI67, "type:text finds documents by the text of their type", "info"),
]


@pytest.mark.parametrize(("fault", "suite", "case", "expected"), MATCHING, ids=[m[0] for m in MATCHING])
def test_a_matching_defect_is_caught_by_its_case_and_the_reference_server_passes(
    server: EmbeddedServer, fault: str, suite: str, case: str, expected: str
) -> None:
    from imgconf.results import Verdict

    clean = _run_case(server, suite, case, [])
    assert clean.verdict is Verdict.PASS, [c.reason for c in clean.checks if c.verdict is not Verdict.PASS]
    faulty = _run_case(server, suite, case, [BY_NAME[fault]])
    assert faulty.verdict.value == expected, [c.reason for c in faulty.checks]
    assert any(c.check == "search" and c.verdict.value == expected for c in faulty.checks)


@pytest.mark.parametrize("case", [
    "related:identifier finds the documents of a study by its Study Instance UID",
    "type:text finds documents by the text of their type",
])
def test_an_mhd_responder_may_refuse_the_optional_modifiers(server: EmbeddedServer, case: str) -> None:
    from imgconf.results import Verdict

    result = _run_case(server, ITI67, case, [BY_NAME["refuses-optional-modifiers"]])
    assert result.exchanges[-1].status == 400
    assert result.verdict is Verdict.PASS, [c.reason for c in result.checks if c.verdict is not Verdict.PASS]


def _unknown_domain_as_200(diagnostics: str) -> Fault:
    """PDQm Case 4 answered 200: an empty searchset whose OperationOutcome is an entry (search.mode = outcome)."""
    from imgconf.faults.model import ProxyResponse

    def hook(call: ProxyCall) -> Any:
        if call.is_search and call.resource_type == "Patient" and any(v.startswith("urn:oid:1.2.3.999.") for _, v in call.query):
            outcome = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "warning", "code": "not-found", "diagnostics": diagnostics}]}
            bundle = {"resourceType": "Bundle", "type": "searchset", "total": 0,
                      "entry": [{"resource": outcome, "search": {"mode": "outcome"}}]}
            return ProxyResponse(200, {"content-type": "application/fhir+json"}, json.dumps(bundle).encode())
        return None

    return Fault("unknown-domain-200", "Case 4 answered 200 with an outcome entry", ("PDQ-007",), on_request=hook)


def test_pdq_007_finds_the_operationoutcome_in_a_searchset_outcome_entry(server: EmbeddedServer) -> None:
    from imgconf.results import Verdict

    case = "unknown domain answers targetSystem not found"
    accepted = _run_case(server, PDQM, case, [_unknown_domain_as_200("targetSystem not found")])
    assert accepted.verdict is Verdict.PASS, [c.reason for c in accepted.checks]
    looked = [c for c in accepted.checks if c.check == "fhirpath" and "targetSystem" in c.reason]
    assert looked and looked[0].verdict is Verdict.PASS
    wrong = _run_case(server, PDQM, case, [_unknown_domain_as_200("no such domain")])
    assert [c.check for c in wrong.checks if c.verdict is Verdict.WARN] == ["fhirpath"]  # found in the entry, and wrong
    clean = _run_case(server, PDQM, case, [])
    assert clean.verdict is Verdict.PASS, [c.reason for c in clean.checks]

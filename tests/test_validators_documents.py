"""DocumentReference (MHD 4.2.3, EU report, manifests) and EU imaging report Bundle rules, and the
ITI-68 retrieval check: each rule fires on a crafted bad resource with the right requirement id,
and stays quiet on the good fixtures."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import httpx
import pytest

from imgconf.checks.base import CheckContext
from imgconf.checks.retrieve import AttachmentExpectation, check_attachment
from imgconf.client import HttpResult
from imgconf.fhirpath import evaluate_in_bundle
from imgconf.paths import fixtures_dir
from imgconf.results import Exchange, Level, Verdict
from imgconf.suite.model import Request
from imgconf.validators import rule_findings as _rule_findings
from imgconf.validators import validate_bundle
from imgconf.validators.documentreference import KOS_FRENCH_CODE

PDF = b"%PDF-1.4\n%%EOF\n"
PDF_HASH = base64.b64encode(hashlib.sha1(PDF).digest()).decode()
PRIORITY = "http://hl7.eu/fhir/health-data-api/CodeSystem/eehrxf-document-priority-category-cs"


def rendered(key: str) -> dict[str, Any]:
    """A fixture with its placeholders replaced by plausible values (no server needed)."""
    text = (fixtures_dir() / f"{key}.json").read_text(encoding="utf-8")
    text = text.replace('"${fixture.binary/report-pdf.size}"', str(len(PDF)))
    for name in ("report-pdf", "report-pdf-v1", "discharge-pdf", "ct-chest-kos"):
        text = text.replace(f'"${{fixture.binary/{name}.size}}"', str(len(PDF))).replace(f"${{fixture.binary/{name}.hash}}", PDF_HASH)
    import re
    text = re.sub(r"\$\{fixture\.([a-z/0-9-]+)\.url\}", r"https://fhir.example.org/r4/X/\1", text)
    text = re.sub(r"\$\{fixture\.([a-z0-9-]+)/([a-z0-9-]+)\.id\}", r"\2", text)
    text = re.sub(r"\$\{uid\.[a-z0-9-]+\}", "2.25.1234", text)
    text = re.sub(r"\$\{run\.uuid\.[a-z0-9-]+\}", "0f8fad5b-d9cb-469f-a165-70867728950e", text)
    text = text.replace("${run.tag}", "t1").replace("${edition.report_type}", "85430-7")
    text = text.replace("${edition.report_category_system}", PRIORITY).replace("${edition.report_category}", "Medical-Imaging")
    text = text.replace("${edition.practice_setting}", "394914008").replace("${edition.manifest_type}", "18748-4")
    assert "${" not in text, text[text.index("${"):][:80]
    return json.loads(text)


def rule_findings(resource: Any) -> list[Any]:
    """These documents are judged as an MHD Document Responder serves them (ITI-67 context)."""
    return _rule_findings(resource, profile="mhd")


def ids(resource: dict[str, Any]) -> set[str]:
    return {f.requirement for f in rule_findings(resource)}


@pytest.mark.parametrize("key", [
    "documentreference/ct-chest-report", "documentreference/ct-chest-report-fhir", "documentreference/ct-chest-report-v1",
    "documentreference/jones-discharge", "documentreference/ct-chest-manifest-kos", "documentreference/ct-chest-manifest-fhir",
    "bundle/ct-chest-report",
])
def test_good_fixtures_have_no_findings(key: str) -> None:
    assert rule_findings(rendered(key)) == []


def test_entered_in_error_fixture_is_an_mhd_violation() -> None:
    found = rule_findings(rendered("documentreference/ct-chest-report-eie"))
    assert [(f.requirement, f.findings) for f in found] == [("MHD-033", ("FIND-21",))]


def report() -> dict[str, Any]:
    return rendered("documentreference/ct-chest-report")


def kos() -> dict[str, Any]:
    return rendered("documentreference/ct-chest-manifest-kos")


@pytest.mark.parametrize(("mutate", "requirement"), [
    (lambda d: d.pop("masterIdentifier"), "MHD-030"),
    (lambda d: d["masterIdentifier"].pop("use"), "MHD-031"),
    (lambda d: d["identifier"][0].update(value="0f8fad5b-d9cb-469f-a165-70867728950e"), "MHD-031"),
    (lambda d: d["masterIdentifier"].update(system="urn:dicom:uid", value="2.25.1"), "MHD-032"),
    (lambda d: d.update(docStatus="final"), "MHD-034"),
    (lambda d: d["content"].append(copy.deepcopy(d["content"][0])), "MHD-035"),
    (lambda d: d["content"][0]["attachment"].update(data="AAAA"), "MHD-035"),
    (lambda d: d["content"][0]["attachment"].pop("contentType"), "MHD-035"),
    (lambda d: d["content"][0]["attachment"].update(url="Binary/1"), "MHD-009"),
    (lambda d: d["content"][0]["attachment"].update(hash=hashlib.sha1(PDF).hexdigest()), "MHD-024"),
    (lambda d: d["content"][0]["attachment"].update(size=-1), "MHD-024"),
    (lambda d: d["content"][0].update(format={"system": "http://example.org/formats", "code": "pdf"}), "MHD-036"),
    (lambda d: d.pop("date"), "EUIMG-050"),
    (lambda d: d.pop("custodian"), "EUAPI-007"),
    (lambda d: d.update(category=[{"coding": [{"system": "urn:oid:1.3.6.1.4.1.19376.1.2.6.1", "code": "REPORTS"}]}]), "EUIMG-051"),
    (lambda d: d.update(extension=[]), "EUIMG-053"),
])
def test_report_rules(mutate: Any, requirement: str) -> None:
    doc = report()
    assert requirement not in ids(doc)
    mutate(doc)
    assert requirement in ids(doc)


def test_legacy_report_type_is_an_info_finding_with_find_01() -> None:
    doc = report()
    doc["type"]["coding"][0]["code"] = "68604-8"
    found = rule_findings(doc)
    assert [(f.requirement, f.level, f.findings) for f in found] == [("EUAPI-003", "INFO", ("FIND-01",))]


def test_r5_priority_category_url_warns_with_find_07() -> None:
    doc = report()
    doc["category"][0]["coding"][0]["system"] = PRIORITY.replace("/health-data-api/", "/eu-health-data-api/")
    [f] = rule_findings(doc)
    assert (f.requirement, f.level, f.findings) == ("EUIMG-051", "SHOULD", ("FIND-07",))


def test_fhir_report_needs_the_content_profile() -> None:
    doc = rendered("documentreference/ct-chest-report-fhir")
    doc["content"][0]["extension"][0]["valueCanonical"] = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/BundleReportEuImaging"
    assert {(f.requirement, f.findings) for f in rule_findings(doc)} == {("EUIMG-003", ("FIND-08",))}
    doc["content"][0].pop("extension")
    assert ids(doc) == {"EUIMG-054"}


@pytest.mark.parametrize(("mutate", "requirement", "level", "findings"), [
    (lambda d: d["content"][0].update(format={"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": KOS_FRENCH_CODE}),
     "MAN-004", "SHALL NOT", ("FIND-06",)),
    (lambda d: d["content"][0]["format"].update(system="urn:oid:1.2.840.10008.2.6.1"), "MAN-003", "SHOULD", ("FIND-06",)),
    (lambda d: d["content"][0]["format"].update(system="http://example.org/uids"), "MAN-002", "SHALL", ()),
    (lambda d: d["type"]["coding"][0].update(code="19005-8"), "MAN-006", "SHALL", ("FIND-04",)),
    (lambda d: d["content"][0]["attachment"].update(contentType="application/pdf"), "MAN-001", "SHALL", ()),
    (lambda d: d.update(identifier=d["identifier"][:1]), "MAN-009", "SHALL", ()),
    (lambda d: d["context"].pop("facilityType"), "MAN-010", "SHALL", ()),
    (lambda d: d["context"]["related"][0]["identifier"].update(system="urn:ietf:rfc:3986"), "MAN-011", "SHALL", ()),
    (lambda d: d["context"]["related"][1]["identifier"]["type"]["coding"].pop(), "MAN-011", "SHALL", ()),
    (lambda d: d.update(extension=[e for e in d["extension"] if "modality" not in e["url"]]), "MAN-012", "SHALL", ()),
])
def test_manifest_rules(mutate: Any, requirement: str, level: str, findings: tuple[str, ...]) -> None:
    doc = kos()
    mutate(doc)
    assert (requirement, level, findings) in {(f.requirement, f.level, f.findings) for f in rule_findings(doc)}


def test_mado_manifest_rules() -> None:
    doc = rendered("documentreference/ct-chest-manifest-fhir")
    doc["content"][0]["attachment"]["contentType"] = "application/json"
    doc["content"][0].pop("extension")
    assert [f.requirement for f in rule_findings(doc)] == ["MAN-005", "MAN-005"]
    doc = rendered("documentreference/ct-chest-manifest-fhir")
    doc["content"][0]["format"]["system"] = "urn:oid:1.3.6.1.4.1.19376.1.2.7.1"
    [f] = rule_findings(doc)
    assert (f.requirement, f.level, f.findings) == ("MAN-005", "INFO", ("FIND-19",))


# -- the EU imaging report Bundle ------------------------------------------------------------------

def document() -> dict[str, Any]:
    return rendered("bundle/ct-chest-report")


def entry(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


@pytest.mark.parametrize(("mutate", "requirement"), [
    (lambda b: b.update(entry=b["entry"][1:] + b["entry"][:1]), "EUIMG-042"),
    (lambda b: b.pop("timestamp"), "EUIMG-042"),
    (lambda b: b.update(total=6), "EUIMG-040"),
    (lambda b: b.update(entry=[e for e in b["entry"] if e["resource"]["resourceType"] != "ImagingStudy"]), "EUIMG-040"),
    (lambda b: b["entry"][2].update(search={"mode": "match"}), "EUIMG-040"),
    (lambda b: entry(b, "Composition").update(subject={"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}), "EUIMG-040"),
    (lambda b: entry(b, "Composition")["identifier"].update(value="other"), "EUIMG-020"),
    (lambda b: entry(b, "Composition").pop("author"), "EUIMG-021"),
    (lambda b: entry(b, "Composition")["attester"][0].pop("time"), "EUIMG-022"),
    (lambda b: entry(b, "Composition")["category"].pop(1), "EUIMG-024"),
    (lambda b: entry(b, "Composition")["section"].pop(1), "EUIMG-025"),
    (lambda b: entry(b, "Composition")["section"][1].pop("text"), "EUIMG-026"),
    (lambda b: entry(b, "DiagnosticReport").pop("extension"), "EUIMG-030"),
    (lambda b: entry(b, "DiagnosticReport")["category"].pop(0), "EUIMG-031"),
    (lambda b: entry(b, "DiagnosticReport").update(status="preliminary"), "EUIMG-033"),
    (lambda b: entry(b, "DiagnosticReport").update(imagingStudy=[{"reference": "urn:uuid:6a1c2d52-7a0e-4d3b-9c1e-0b7f5d2e9a05"}]), "EUIMG-034"),
    (lambda b: entry(b, "DiagnosticReport").update(performer=[]), "EUIMG-041"),
    (lambda b: entry(b, "ImagingStudy")["identifier"][0].pop("type"), "EUIMG-010"),
    (lambda b: entry(b, "ImagingStudy")["identifier"][0].update(value="2.25.1234"), "EUIMG-011"),
])
def test_report_bundle_rules(mutate: Any, requirement: str) -> None:
    bundle = document()
    mutate(bundle)
    assert requirement in ids(bundle)


def test_minimal_metadata_collection() -> None:
    bundle = document()
    bundle["type"] = "collection"
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] in ("DiagnosticReport", "Patient")]
    assert ids(bundle) == set()
    bundle["entry"].append(copy.deepcopy(bundle["entry"][0]))
    bundle["entry"][-1]["fullUrl"] = "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950f"  # not a bdl-7 duplicate
    assert ids(bundle) == {"EUIMG-043"}


def test_a_searchset_gets_no_report_bundle_rules_and_offline_validation_runs_them() -> None:
    bundle = document()
    bundle["entry"] = bundle["entry"][1:]
    assert "EUIMG-042" in ids(bundle)
    own = [findings for index, _, findings in validate_bundle(bundle) if index is None]
    assert own and "EUIMG-042" in {f.requirement for f in own[0]}
    bundle["type"] = "searchset"
    assert ids(bundle) == set()


def test_resolve_inside_a_bundle() -> None:
    bundle = document()
    comp = bundle["entry"][0]["resource"]
    assert evaluate_in_bundle("subject.resolve().name.family", comp, bundle) == ["Jones"]
    assert evaluate_in_bundle("subject.resolve()", comp, {"resourceType": "Bundle"}) == []
    restful = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "https://x.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}}]}
    assert evaluate_in_bundle("resolve().id", {"reference": "Patient/p1"}, restful) == ["p1"]
    assert evaluate_in_bundle("resolve().id", {"reference": "Patient/p2"}, restful) == []


# -- the ITI-68 retrieval check ---------------------------------------------------------------------

def result(body: bytes, content_type: str, status: int = 200, url: str = "https://fhir.example.org/r4/Binary/b1") -> HttpResult:
    exchange = Exchange("GET", url, {}, None, status, {"content-type": content_type}, body.decode(errors="replace"), 1.0)
    return HttpResult(status, httpx.Headers({"content-type": content_type}), body, url, exchange)


def attachment_ctx(res: HttpResult, doc: Any) -> CheckContext:
    return CheckContext(response=res, request=Request("GET", "x"), exchange=0, requirements=("MHD-020",),
                        level=Level.SHALL, variables={"doc": doc})


def docref(**attachment: Any) -> dict[str, Any]:
    base = {"contentType": "application/pdf", "url": "https://fhir.example.org/r4/Binary/b1", "size": len(PDF), "hash": PDF_HASH}
    return {"resourceType": "DocumentReference", "content": [{"attachment": {**base, **attachment}}]}


def failures(res: HttpResult, doc: Any, **spec: Any) -> list[tuple[str, str]]:
    checks = check_attachment(AttachmentExpectation(document="doc", **spec), attachment_ctx(res, doc))
    assert checks
    return [(c.detail, c.reason) for c in checks if c.verdict is Verdict.FAIL]


def test_retrieval_passes_on_the_right_bytes_raw_and_wrapped() -> None:
    assert failures(result(PDF, "application/pdf"), docref()) == []
    wrapped = json.dumps({"resourceType": "Binary", "contentType": "application/pdf", "data": base64.b64encode(PDF).decode()}).encode()
    assert failures(result(wrapped, "application/fhir+json"), docref()) == []
    assert failures(result(PDF, "application/pdf"), docref(size=None, hash=None)) == []  # on-demand: nothing to compare


@pytest.mark.parametrize(("res", "doc", "detail"), [
    (result(PDF, "application/octet-stream"), docref(), "content type"),
    (result(PDF[:-2], "application/pdf"), docref(), "size"),
    (result(PDF, "application/pdf"), docref(size=len(PDF) + 1), "size"),
    (result(PDF, "application/pdf"), docref(hash=hashlib.sha1(PDF).hexdigest()), "hash"),
    (result(PDF, "application/pdf"), docref(hash=base64.b64encode(b"x" * 20).decode()), "hash"),
])
def test_retrieval_fails_on_a_mismatch(res: HttpResult, doc: dict[str, Any], detail: str) -> None:
    assert detail in {d for d, _ in failures(res, doc)}


def test_retrieval_failures_without_a_document() -> None:
    assert failures(result(PDF, "application/pdf", status=404), docref())
    assert failures(result(PDF, "application/pdf"), "not a resource")
    not_binary = json.dumps({"resourceType": "OperationOutcome"}).encode()
    assert failures(result(not_binary, "application/fhir+json"), docref())


def test_fhir_document_must_be_a_native_document_bundle() -> None:
    fhir_doc = docref(contentType="application/fhir+json", size=None, hash=None)
    bundle = json.dumps({"resourceType": "Bundle", "type": "document"}).encode()
    assert failures(result(bundle, "application/fhir+json"), fhir_doc, fhir_document=True) == []
    wrapped = json.dumps({"resourceType": "Binary", "contentType": "application/fhir+json", "data": base64.b64encode(bundle).decode()}).encode()
    assert [d for d, _ in failures(result(wrapped, "application/fhir+json"), fhir_doc, fhir_document=True)] == ["FHIR document"]
    assert failures(result(PDF, "application/pdf"), docref(), fhir_document=True)  # PDF is not FHIR content


def test_offline_validation_runs_the_document_rules(tmp_path: Any) -> None:
    from imgconf.offline import validate_paths

    bundle = document()
    bundle["entry"] = bundle["entry"][1:] + bundle["entry"][:1]
    (tmp_path / "report.json").write_text(json.dumps(bundle))
    bad_kos = kos()
    bad_kos["content"][0]["format"] = {"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": KOS_FRENCH_CODE}
    # offline, the MHD / manifest rules apply because the DocumentReference claims the MHD profile
    bad_kos["meta"] = {"profile": ["https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.DocumentReference"]}
    (tmp_path / "kos.json").write_text(json.dumps(bad_kos))
    found = {(label.split("/")[-1], f.requirement) for label, _, findings in validate_paths([tmp_path]) for f in findings}
    assert ("report.json", "EUIMG-042") in found and ("kos.json", "MAN-004") in found
    assert ("report.json", "REST-103") in found  # bdl-11: the Composition is no longer the first entry


# -- the KOS retrieval check (MAN-001, MAN-009, MAN-015) -----------------------------------------------

def kos_bytes(evidence_study: str | None = None, lists_itself: bool = False) -> bytes:
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.59"
    meta.MediaStorageSOPInstanceUID = "2.25.3"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID, ds.SOPInstanceUID, ds.StudyInstanceUID = "1.2.840.10008.5.1.4.1.1.88.59", "2.25.3", "2.25.1"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "2.25.3" if lists_itself else "2.25.4"
    series = Dataset()
    series.SeriesInstanceUID, series.ReferencedSOPSequence = "2.25.5", [ref]
    item = Dataset()
    item.StudyInstanceUID, item.ReferencedSeriesSequence = evidence_study or "2.25.1", [series]
    ds.CurrentRequestedProcedureEvidenceSequence = [item]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def kos_failures(body: bytes, master: str = "urn:oid:2.25.3") -> set[str]:
    doc = {"resourceType": "DocumentReference", "masterIdentifier": {"value": master},
           "content": [{"attachment": {"contentType": "application/dicom", "url": "https://fhir.example.org/r4/Binary/b1"}}]}
    checks = check_attachment(AttachmentExpectation(document="doc", kos=True), attachment_ctx(result(body, "application/dicom"), doc))
    return {r for c in checks if c.verdict is Verdict.FAIL for r in c.requirement}


def test_kos_check() -> None:
    assert kos_failures(kos_bytes()) == set()
    assert "MAN-015" in kos_failures(kos_bytes(evidence_study="2.25.9"))
    assert "MAN-015" in kos_failures(kos_bytes(lists_itself=True))
    assert "MAN-009" in kos_failures(kos_bytes(), master="urn:oid:2.25.77")
    assert "MAN-001" in kos_failures(PDF)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Any:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


@pytest.mark.parametrize("key", ["documentreference/ct-chest-manifest-kos", "documentreference/ct-chest-report-fhir",
                                 # ~1,400 whole-document validations (FHIRPath over the Bundle): the costliest fast test
                                 pytest.param("bundle/ct-chest-report", marks=pytest.mark.slow)])
def test_any_shape_of_server_data_gives_findings_not_exceptions(key: str) -> None:
    """Every element replaced in turn by a value of the wrong shape: the rules never raise."""
    good = rendered(key)
    for path in list(_paths(good))[1:]:
        for odd in ("x", 7, [], {}, None, [1, "y"]):
            rule_findings(_replace(good, path, odd))


def test_a_corrupt_kos_is_a_failed_check() -> None:
    body = kos_bytes()
    assert "MAN-001" in kos_failures(body[:200])
    assert "MAN-001" in kos_failures(body[:132] + b"\xff" * 64)

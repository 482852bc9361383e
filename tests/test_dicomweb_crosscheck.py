"""The DICOMweb cross-check (imgconf/dicomweb/) against a real Orthanc: each comparison passes on the ImagingStudy
expected from the DICOM files the PACS holds, fails on a damaged copy at the catalogue level of the requirement it
cites, and lets the legal variations of R4 pass. The client sends GET and nothing else; its credentials stay on
the PACS origin.

Needs Debian's orthanc + orthanc-dicomweb (``.ci/run`` installs them); skipped with the reason otherwise."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from background_stop import running

from imgconf import secret_registry
from imgconf.dicom.expected import expected_imaging_study
from imgconf.dicom.generate import GeneratedStudy, generate_studies
from imgconf.dicom.upload import upload_studies
from imgconf.dicomweb.client import DicomWebClient, DicomWebRefused, DicomWebUnreachable, PacsAnswer, dicom_parts
from imgconf.dicomweb.crosscheck import CrossCheck, crosscheck_study
from imgconf.results import Level
from imgconf.targets.orthanc import OrthancServer

SEED = 7
OTHER_PATIENT_SEED = 8  # a second set of studies, of another patient
_WHY_NOT = OrthancServer().unavailable()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=f"Orthanc not installed: {_WHY_NOT}")


@pytest.fixture(scope="module")
def pacs() -> Iterator[tuple[OrthancServer, tuple[GeneratedStudy, ...], tuple[GeneratedStudy, ...]]]:
    with running(OrthancServer()) as orthanc:  # stopped in the background (tests/background_stop.py)
        studies, others = generate_studies(SEED), generate_studies(OTHER_PATIENT_SEED)
        with orthanc.client() as rest:
            upload_studies(rest, [*studies, *others])
        yield orthanc, studies, others


def _study(pacs: Any, key: str = "ct", *, others: bool = False) -> dict[str, Any]:
    orthanc, studies, other_studies = pacs
    chosen = next(s for s in (other_studies if others else studies) if s.key == key)
    return expected_imaging_study(chosen.datasets, dicomweb_root=orthanc.dicomweb_root)


def _check(pacs: Any, study: dict[str, Any], *, root: str | None = None, instances: int = 1,
           endpoints: dict[str, dict[str, Any]] | None = None) -> list[CrossCheck]:
    orthanc = pacs[0]
    with DicomWebClient(root or orthanc.dicomweb_root) as client:
        return crosscheck_study(study, endpoints or {}, client, instances=instances)


def _failed(results: list[CrossCheck], level: Level | None = None) -> list[CrossCheck]:
    """Disagreements that are deviations (SHALL/SHOULD), or of one level."""
    return [r for r in results if not r.ok and (r.level is level if level else r.level is not Level.INFO)]


def _only(results: list[CrossCheck], check: str, requirement: str, level: Level) -> CrossCheck:
    failed = [r for r in results if not r.ok and r.check == check]
    assert failed, f"no failed {check} among {[(r.check, r.ok, r.message) for r in results]}"
    assert all(r.requirement[0] == requirement and r.level is level for r in failed), failed
    return failed[0]


# -- the expected ImagingStudy agrees ------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["ct", "mr"])
def test_expected_study_agrees_with_the_pacs(pacs: Any, key: str) -> None:
    results = _check(pacs, _study(pacs, key), instances=2)
    assert not [r for r in results if not r.ok], [r.message for r in results if not r.ok]
    checks = {r.check for r in results}
    assert {"dicomweb.study-found", "dicomweb.series-found", "dicomweb.instance-found", "dicomweb.sop-class",
            "dicomweb.count", "dicomweb.patient", "dicomweb.accession", "dicomweb.wado-metadata",
            "dicomweb.wado-instance", "dicomweb.endpoint-address"} <= checks
    # evidence: every PACS result points at the exchange it was judged on
    assert all(r.exchange is not None for r in results if r.check.startswith("dicomweb.wado"))


def test_cross_check_time_per_study(pacs: Any) -> None:
    study = _study(pacs, "ct")
    started = time.perf_counter()
    results = _check(pacs, study)
    elapsed = time.perf_counter() - started
    assert results and elapsed < 5.0, f"cross-check of one 3-series study took {elapsed:.2f} s"


# -- damaged copies fail, at the catalogue level of what they break -----------------------------------------
def test_instance_count_smaller_than_the_pacs_breaks_is013_as_a_should(pacs: Any) -> None:
    study = _study(pacs, "ct")
    study["series"][0]["numberOfInstances"] -= 1
    study["series"][0]["instance"] = study["series"][0]["instance"][:-1]  # FHIR-internally consistent
    failed = _failed(_check(pacs, study))
    assert [(r.check, r.requirement, r.level, r.location) for r in failed] == [
        ("dicomweb.count", ("IS-013",), Level.SHOULD, "ImagingStudy.series[0].numberOfInstances")]


def test_instance_count_larger_than_the_pacs_is_reported_as_info(pacs: Any) -> None:
    """R4: numberOfInstances is the number in the study; no catalogue requirement makes a larger count than the
    PACS holds a deviation (the PACS may hold less: availability, security) -> INFO, never a failure."""
    study = _study(pacs, "ct")
    study["numberOfInstances"] += 1
    study["series"][0]["numberOfInstances"] += 1
    results = _check(pacs, study)
    assert not _failed(results)
    info = [r for r in results if not r.ok and r.check == "dicomweb.count"]
    assert len(info) == 2 and all(r.level is Level.INFO for r in info)


def test_unknown_series_uid_fails_is004_and_the_metadata_url(pacs: Any) -> None:
    study = _study(pacs, "mr")
    study["series"][1]["uid"] = "2.25.1234567890123456789"
    results = _check(pacs, study)
    found = _only(results, "dicomweb.series-found", "IS-004", Level.SHALL)
    assert found.location == "ImagingStudy.series[1].uid"
    _only(results, "dicomweb.wado-metadata", "IS-045", Level.SHALL)


def test_series_of_another_study_breaks_dicom012(pacs: Any) -> None:
    study = _study(pacs, "mr")
    study["series"][0]["uid"] = _study(pacs, "ct")["series"][0]["uid"]
    _only(_check(pacs, study), "dicomweb.series-found", "DICOM-012", Level.SHALL)


def test_study_uid_of_another_patient_fails(pacs: Any) -> None:
    study = _study(pacs, "ct")
    other = _study(pacs, "ct", others=True)
    study["identifier"][0] = other["identifier"][0]
    results = _check(pacs, study)
    _only(results, "dicomweb.patient", "DICOM-013", Level.SHOULD)
    _only(results, "dicomweb.series-found", "DICOM-012", Level.SHALL)  # its series are not in that study


def test_unknown_study_fails_is020(pacs: Any) -> None:
    study = _study(pacs, "mr")
    study["identifier"][0]["value"] = "urn:oid:2.25.99999999999999"
    results = _check(pacs, study)
    _only(results, "dicomweb.study-found", "IS-020", Level.SHALL)
    _only(results, "dicomweb.wado-metadata", "IS-045", Level.SHALL)


def test_unknown_instance_and_wrong_sop_class_fail(pacs: Any) -> None:
    study = _study(pacs, "mr")
    study["series"][0]["instance"][1]["uid"] = "2.25.424242"
    study["series"][1]["instance"][0]["sopClass"]["code"] = "urn:oid:1.2.840.10008.5.1.4.1.1.2"  # CT, not MR
    results = _check(pacs, study, instances=0)
    assert _only(results, "dicomweb.instance-found", "IS-006", Level.SHALL).location == \
        "ImagingStudy.series[0].instance[1].uid"
    assert _only(results, "dicomweb.sop-class", "IS-030", Level.SHALL).location == \
        "ImagingStudy.series[1].instance[0].sopClass"


def test_wrong_accession_fails_is028(pacs: Any) -> None:
    study = _study(pacs, "ct")
    study["basedOn"][0]["identifier"]["value"] = "NOT-THIS-ONE"
    for identifier in study["identifier"][1:]:
        identifier["value"] = "NOT-THIS-ONE"
    _only(_check(pacs, study), "dicomweb.accession", "IS-028", Level.SHALL)


def test_wrong_modality_is_reported_as_info(pacs: Any) -> None:
    """No catalogue requirement says series.modality equals DICOM Modality (0008,0060): INFO (a proposed
    addition), while the study modality that no PACS series has breaks IS-012 (SHOULD)."""
    study = _study(pacs, "mr")
    study["series"][0]["modality"]["code"] = "CT"
    study["modality"] = [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}]
    results = _check(pacs, study)
    modality = [r for r in results if not r.ok and r.check == "dicomweb.series-modality"]
    assert len(modality) == 1 and modality[0].level is Level.INFO
    _only(results, "dicomweb.study-modality", "IS-012", Level.SHOULD)


def test_endpoint_with_the_wrong_root_fails_the_wado_urls(pacs: Any) -> None:
    study = _study(pacs, "ct")
    study["contained"][0]["address"] = pacs[0].rest_root + "/not-dicom-web"
    results = _check(pacs, study)
    _only(results, "dicomweb.wado-metadata", "IS-045", Level.SHALL)
    _only(results, "dicomweb.wado-instance", "IS-044", Level.SHALL)
    assert not [r for r in _failed(results) if r.check.startswith(("dicomweb.study", "dicomweb.series"))]


def test_trailing_slash_fails_is041_though_orthanc_answers(pacs: Any) -> None:
    """Orthanc answers dicom-web//studies/… too, so the URLs work; the address still is no service base URL
    (IS-041, SHALL): a stricter PACS would answer 404 to what IS-044 builds from it."""
    study = _study(pacs, "ct")
    study["contained"][0]["address"] += "/"
    results = _check(pacs, study)
    failed = _failed(results)
    assert [(r.check, r.requirement, r.level) for r in failed] == [("dicomweb.endpoint-address", ("IS-041",), Level.SHALL)]
    assert all(r.ok for r in results if r.check.startswith("dicomweb.wado"))


def test_series_endpoint_overrides_the_study_endpoint(pacs: Any) -> None:
    """IS-048: the series' own WADO-RS endpoint is used for it (and cited); the study's (wrong) one for the rest."""
    study = _study(pacs, "mr")
    good = copy.deepcopy(study["contained"][0])
    good["id"] = "series-pacs"
    study["contained"][0]["address"] = pacs[0].rest_root + "/elsewhere"
    study["contained"].append(good)
    study["series"][0]["endpoint"] = [{"reference": "#series-pacs"}]
    metadata = [r for r in _check(pacs, study) if r.check == "dicomweb.wado-metadata"]
    assert [(r.ok, "IS-048" in r.requirement) for r in metadata] == [(True, True), (False, False)]


def test_stored_endpoint_is_resolved_by_the_caller(pacs: Any) -> None:
    study = _study(pacs, "mr")
    endpoint = study.pop("contained")[0]
    study["endpoint"] = [{"reference": "Endpoint/pacs"}]
    results = _check(pacs, study, endpoints={"Endpoint/pacs": endpoint})
    assert [r.ok for r in results if r.check == "dicomweb.wado-metadata"] == [True, True]


class _ShortListing(DicomWebClient):
    """A PACS whose QIDO-RS instance listings stop at its result limit (here: empty)."""

    def get(self, url: str, *, accept: str, params: list[tuple[str, str]] | None = None) -> PacsAnswer:
        answer = super().get(url, accept=accept, params=params)
        if url.endswith("/instances") and not params:
            return dataclasses.replace(answer, content=b"[]")
        return answer


def test_a_short_qido_listing_is_completed_by_the_series_metadata(pacs: Any) -> None:
    with _ShortListing(pacs[0].dicomweb_root) as client:
        results = crosscheck_study(_study(pacs, "mr"), {}, client)
        found = [r for r in results if r.check == "dicomweb.instance-found"]
        assert found and all(r.ok for r in found), [r.message for r in found]
        assert not [r for r in results if not r.ok]


def test_instance_results_point_at_the_series_listing(pacs: Any) -> None:
    with DicomWebClient(pacs[0].dicomweb_root) as client:
        results = crosscheck_study(_study(pacs, "ct"), {}, client, instances=2)
        urls = [client.exchanges[r.exchange].url for r in results
                if r.check in ("dicomweb.instance-found", "dicomweb.sop-class") and r.exchange is not None]
    assert len(urls) == 6 and all(u.endswith("/instances") for u in urls), urls


# -- legal variations pass ---------------------------------------------------------------------------------
def test_a_subset_of_series_with_the_full_counts_passes(pacs: Any) -> None:
    """R4: numberOfSeries may be larger than the series listed (availability, security); the unlisted PACS
    series is INFO."""
    study = _study(pacs, "ct")
    study["series"] = study["series"][:2]
    results = _check(pacs, study)
    assert not _failed(results)
    assert any(r.check == "dicomweb.unlisted-series" and r.level is Level.INFO for r in results)


def test_an_instance_subset_and_no_started_pass(pacs: Any) -> None:
    study = _study(pacs, "ct")
    del study["started"]
    study["series"][0]["instance"] = study["series"][0]["instance"][1:3]
    results = _check(pacs, study)
    assert not [r for r in results if not r.ok]
    assert not any(r.check == "dicomweb.started" for r in results)


@pytest.mark.parametrize("status", ["registered", "cancelled", "entered-in-error"])
def test_a_study_the_pacs_need_not_hold_is_not_judged(pacs: Any, status: str) -> None:
    study = _study(pacs, "mr")
    study["status"] = status
    study["identifier"][0]["value"] = "urn:oid:2.25.31337"
    results = _check(pacs, study)
    assert [(r.check, r.ok, r.level) for r in results] == [("dicomweb.status", True, Level.INFO)]


# -- the client: GET only, bounded, credentials on the PACS origin only ------------------------------------
class _Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, str(request.url), request.headers.get("authorization")))
        return super().handle_request(request)


def test_the_client_sends_only_get(pacs: Any) -> None:
    transport = _Recording()
    study = _study(pacs, "ct")
    study["series"][1]["uid"] = "2.25.777"  # also the searches for where a UID really belongs
    with DicomWebClient(pacs[0].dicomweb_root, transport=transport) as client:
        crosscheck_study(study, {}, client, instances=3)
    assert len(transport.sent) >= 10
    assert {method for method, _, _ in transport.sent} == {"GET"}
    assert [name for name in vars(DicomWebClient) if name.lower() in {"post", "put", "delete", "patch", "send"}] == []


def test_multipart_instance_is_parsed() -> None:
    body = (b"--b1\r\nContent-Type: application/dicom\r\n\r\nFIRST\r\n--b1\r\nContent-Type: application/dicom\r\n\r\n"
            b"\x00\x01\r\nSECOND\r\n--b1--\r\n")
    assert dicom_parts('multipart/related; type="application/dicom"; boundary=b1', body) == [
        b"FIRST", b"\x00\x01\r\nSECOND"]


def test_credentials_go_to_the_pacs_origin_only_and_are_redacted() -> None:
    user, password = "pacs-reader", "s3cret-pacs-pw-42"
    with OrthancServer(credentials=(user, password)) as orthanc:
        studies = generate_studies(SEED)
        with orthanc.client() as rest:
            upload_studies(rest, studies[1:])
        import base64

        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        study = expected_imaging_study(studies[1].datasets, dicomweb_root=orthanc.dicomweb_root)
        # the same server under another origin (localhost, not 127.0.0.1): an Endpoint elsewhere gets no credential
        study["contained"][0]["address"] = orthanc.dicomweb_root.replace("127.0.0.1", "localhost")
        transport = _Recording()
        with DicomWebClient(orthanc.dicomweb_root, authorization=header, transport=transport) as client:
            results = crosscheck_study(study, {}, client)
            exchanges = list(client.exchanges)
        assert any(r.ok and r.check == "dicomweb.study-found" for r in results)  # QIDO on the PACS origin: authorised
        assert all(not r.ok for r in results if r.check == "dicomweb.wado-metadata")  # 401 elsewhere
        on_pacs = [auth for _, url, auth in transport.sent if url.startswith(orthanc.dicomweb_root)]
        elsewhere = [auth for _, url, auth in transport.sent if "localhost" in url]
        assert on_pacs and all(auth == header for auth in on_pacs)
        assert elsewhere and all(auth is None for auth in elsewhere)
        assert secret_registry.contains_secret(header)
        evidence = repr([e.to_dict() for e in exchanges])
        assert password not in evidence and header not in evidence
        # wrong or missing credentials for the PACS itself: a configuration error of the run, never a verdict
        with DicomWebClient(orthanc.dicomweb_root) as anonymous, pytest.raises(DicomWebRefused, match="401"):
            crosscheck_study(study, {}, anonymous)


def test_an_unreachable_pacs_raises_for_the_caller() -> None:
    study = {"resourceType": "ImagingStudy", "status": "available",
             "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:2.25.1"}]}
    with DicomWebClient("http://127.0.0.1:9/dicom-web", timeout=2) as client, pytest.raises(DicomWebUnreachable):
        crosscheck_study(study, {}, client)

"""The ``dicomweb`` check kind and the dicomweb suites, through the engine: the reference server (behind the
fault-injecting proxy) holds the PACS fixtures, a real Orthanc holds their DICOM studies. The suites pass as
they are; a server that disagrees with its PACS fails (or warns, for a SHOULD), and a legal variation passes.

The faults here are local to these tests (imgconf/faults/dicomweb.py holds the catalogue's); they show the
kind's own verdicts. Needs Debian's orthanc + orthanc-dicomweb; skipped with the reason otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from case_support import load_bundled
from pacs_support import needs_orthanc, pacs_behind_proxy

from imgconf.checks.base import CheckContext
from imgconf.checks.dicomweb import DicomWebExpectation, check_dicomweb
from imgconf.client import HttpResult
from imgconf.dicom import IMGCONF_DICOM_SEED
from imgconf.dicom.generate import generate_studies
from imgconf.engine import run_case
from imgconf.faults import Fault, FaultProxy
from imgconf.faults.rewrite import edit_resources
from imgconf.pacs import NO_PACS_REASON
from imgconf.paths import suites_dir
from imgconf.results import CaseResult, Exchange, Level, Verdict
from imgconf.session import TargetSession
from imgconf.suite.model import Suite
from imgconf.targets.orthanc import OrthancServer


def _suite(stem: str) -> Suite:
    return load_bundled(suites_dir() / "dicomweb" / f"{stem}.yaml")


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[FaultProxy, TargetSession, OrthancServer]]:
    """Orthanc with the studies of the fixtures' seed; the reference server behind a proxy, fixtures loaded."""
    with pacs_behind_proxy(generate_studies(IMGCONF_DICOM_SEED), [_suite("crosscheck")]) as world:
        yield world


def _run(world: Any, stem: str, case_id: str, faults: list[Fault] | None = None) -> CaseResult:
    proxy, session, _ = world
    suite = _suite(stem)
    proxy.set_faults(faults or [])
    try:
        result = None
        for case in suite.cases:  # cases run in file order: a later one may need what an earlier one saved
            result = run_case(case, suite, session)
            if case.id == case_id:
                return result
    finally:
        proxy.set_faults([])
    raise AssertionError(f"no case {case_id}")


def _series(edit: Any) -> Any:
    def apply(study: dict[str, Any]) -> None:
        if study.get("series"):
            edit(study)
    return apply


def _fault(name: str, resource_type: str, edit: Any) -> Fault:
    return Fault(name=name, description=name, requirements=(), on_response=edit_resources(resource_type, edit))


UNKNOWN_SERIES = _fault("unknown-series", "ImagingStudy", _series(lambda s: s["series"][0].update(uid="2.25.4711")))
WRONG_ROOT = _fault("endpoint-wrong-root", "Endpoint", lambda e: e.update(address=e["address"] + "-wrong"))
TRAILING_SLASH = _fault("endpoint-trailing-slash", "Endpoint", lambda e: e.update(address=e["address"] + "/"))
WRONG_SOP_CLASS = _fault("sop-class", "ImagingStudy", _series(
    lambda s: s["series"][0]["instance"][0]["sopClass"].update(code="urn:oid:1.2.840.10008.5.1.4.1.1.7")))


def _count_smaller(study: dict[str, Any]) -> None:
    series = study["series"][0]
    series["numberOfInstances"] -= 1
    series["instance"] = series["instance"][:-1]  # still consistent inside FHIR (IS-013 alone cannot see it)
    study["numberOfInstances"] -= 1


COUNT_SMALLER = _fault("count-smaller", "ImagingStudy", _series(_count_smaller))
# legal: a resource that lists only its first series (R4: numberOfSeries may exceed the series listed)
SUBSET = _fault("lists-first-series-only", "ImagingStudy", _series(lambda s: s.update(series=s["series"][:1])))
NO_STARTED = _fault("no-started", "ImagingStudy", lambda s: s.pop("started", None))


def _verdicts(result: CaseResult, check: str) -> set[Verdict]:
    return {c.verdict for c in result.checks if c.check == check}


@needs_orthanc
@pytest.mark.parametrize("case_id", ["read-pacs-ct", "read-pacs-mr", "search-pacs-mr-by-study-uid",
                                     "search-run-studies-on-pacs-endpoint"])
def test_the_suite_passes_on_the_reference_server_and_orthanc(world: Any, case_id: str) -> None:
    result = _run(world, "crosscheck", case_id)
    assert result.verdict is Verdict.PASS, [(c.check, c.verdict, c.reason) for c in result.checks if c.verdict is not Verdict.PASS]
    dicomweb = [c for c in result.checks if c.check.startswith("dicomweb.")]
    assert len(dicomweb) >= 10 and any(c.check == "dicomweb.wado-instance" for c in dicomweb)
    # PACS evidence is the case's: each result points at an exchange of the case (Endpoint reads and PACS requests)
    for check in dicomweb:
        assert check.exchange is not None and 0 <= check.exchange < len(result.exchanges)
    urls = [result.exchanges[c.exchange].url for c in dicomweb if c.check == "dicomweb.wado-metadata" and c.exchange is not None]
    assert urls and all(u.endswith("/metadata") for u in urls)


@needs_orthanc
@pytest.mark.parametrize(("fault", "check", "verdict"), [
    (UNKNOWN_SERIES, "dicomweb.series-found", Verdict.FAIL),
    (WRONG_ROOT, "dicomweb.wado-metadata", Verdict.FAIL),
    (TRAILING_SLASH, "dicomweb.endpoint-address", Verdict.FAIL),
    (WRONG_SOP_CLASS, "dicomweb.sop-class", Verdict.FAIL),
    (COUNT_SMALLER, "dicomweb.count", Verdict.WARN),
], ids=lambda v: v.name if isinstance(v, Fault) else str(v))
def test_a_server_that_disagrees_with_its_pacs_is_caught(world: Any, fault: Fault, check: str, verdict: Verdict) -> None:
    result = _run(world, "crosscheck", "read-pacs-ct", [fault])
    assert verdict in _verdicts(result, check), [(c.check, c.verdict, c.reason) for c in result.checks]
    assert result.verdict is verdict


@needs_orthanc
@pytest.mark.parametrize("fault", [SUBSET, NO_STARTED], ids=lambda f: f.name)
def test_legal_variations_pass(world: Any, fault: Fault) -> None:
    result = _run(world, "crosscheck", "read-pacs-ct", [fault])
    assert result.verdict in (Verdict.PASS, Verdict.INFO), [(c.check, c.verdict, c.reason) for c in result.checks]
    assert Verdict.PASS in _verdicts(result, "dicomweb.wado-metadata")


@needs_orthanc
def test_the_read_only_case_judges_at_should_at_most(world: Any) -> None:
    clean = _run(world, "crosscheck-readonly", "server-studies-agree-with-pacs")
    assert clean.verdict in (Verdict.PASS, Verdict.INFO), [(c.check, c.verdict, c.reason) for c in clean.checks]
    assert any(c.check == "dicomweb.study-found" and c.verdict is Verdict.PASS for c in clean.checks)
    broken = _run(world, "crosscheck-readonly", "server-studies-agree-with-pacs", [UNKNOWN_SERIES])
    series = [c for c in broken.checks if c.check == "dicomweb.series-found" and c.verdict is not Verdict.PASS]
    assert series and all(c.verdict is Verdict.WARN and c.level is Level.SHOULD for c in series)
    assert broken.verdict is Verdict.WARN


def _context(body: dict[str, Any], variables: dict[str, Any]) -> CheckContext:
    exchange = Exchange(method="GET", url="http://fhir.example/ImagingStudy/x", request_headers={}, request_body=None,
                        status=200, response_headers={}, response_body=None, elapsed_ms=1.0)
    import json

    response = HttpResult(status=200, headers=httpx.Headers({"content-type": "application/fhir+json"}),
                          content=json.dumps(body).encode(), url=exchange.url, exchange=exchange)
    return CheckContext(response=response, request=None, exchange=0, requirements=("IS-044",),  # type: ignore[arg-type]
                        level=Level.SHALL, variables=variables)


def test_without_a_pacs_the_check_is_skipped_never_failed() -> None:
    results = check_dicomweb(DicomWebExpectation(), _context({"resourceType": "ImagingStudy"}, {}))
    assert [(r.verdict, r.reason) for r in results] == [(Verdict.SKIP, NO_PACS_REASON)]


def test_an_unreachable_pacs_is_an_error_of_the_case_not_a_verdict() -> None:
    study = {"resourceType": "ImagingStudy", "status": "available",
             "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:2.25.1"}],
             "contained": [{"resourceType": "Endpoint", "id": "p", "status": "active", "address": "http://127.0.0.1:9/dw",
                            "connectionType": {"code": "dicom-wado-rs"}}],
             "endpoint": [{"reference": "#p"}]}
    ctx = _context(study, {"pacs.dicomweb": "http://127.0.0.1:9/dw"})
    results = check_dicomweb(DicomWebExpectation(), ctx)
    assert [r.verdict for r in results] == [Verdict.ERROR]
    assert ctx.extra_exchanges and ctx.extra_exchanges[0].error

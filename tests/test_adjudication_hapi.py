"""Harness errors found by adjudicating the HAPI FHIR JPA 8.8.0 run (issue 10 §3), each fixed with both sides shown:
the reference server behind a benign fault that imitates what HAPI does (legal under R4) passes, and the real
defect still fails. Cases run in-process through the engine, as in test_adjudication_medplum."""

from __future__ import annotations

import json

from imgconf.faults import BY_NAME, Fault, ProxyCall, ProxyResponse
from imgconf.results import Verdict
from tests.test_adjudication_medplum import bad, shared, with_faults  # noqa: F401  (shared: the module fixture)

LASTUPDATED_CASE = ("imagingstudy/unknown-params", "_lastupdated (wrong case) is not _lastUpdated")


def _reject_unknown_names(call: ProxyCall) -> ProxyResponse | None:
    """HAPI's default: a search parameter name it does not know is a 400 (HAPI-0524); names starting with
    '_' that it does not know (here _lastupdated) are ignored. R4 search.html#errors allows either."""
    if call.is_search and any(k == "x-imgconf-unknown" for k, _ in call.query):
        body = {"resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "processing", "diagnostics": "Unknown search parameter"}]}
        return ProxyResponse(400, {"content-type": "application/fhir+json"}, json.dumps(body).encode())
    return None


REJECTS_UNKNOWN_NAMES = Fault("rejects-unknown-parameter-names", "an unknown parameter name is a 400 (HAPI)",
                              ("REST-034",), on_request=_reject_unknown_names)


def test_a_control_rejected_with_400_does_not_blame_rest_090(shared) -> None:  # noqa: F811
    result = with_faults(shared, [REJECTS_UNKNOWN_NAMES], *LASTUPDATED_CASE)
    flagged = [c for c in result.checks if c.verdict in (Verdict.FAIL, Verdict.WARN)]
    assert all("REST-090" not in c.requirement for c in flagged), bad(result)
    assert not [c for c in result.checks if c.verdict is Verdict.FAIL], bad(result)
    assert any(c.check == "status" and "REST-034" in c.requirement for c in flagged)  # the 400 itself: a REST-034 warning


def test_reading_lastupdated_as_lastupdated_still_fails_rest_090(shared) -> None:  # noqa: F811
    result = with_faults(shared, [BY_NAME["lastupdated-case-insensitive"]], *LASTUPDATED_CASE)
    failing = [c for c in result.checks if c.verdict is Verdict.FAIL]
    assert [c.check for c in failing] == ["fhirpath"] and failing[0].requirement == ["REST-090"], bad(result)


# -- _elements: a SUBSETTED match is judged for precision on the stored resource ---------------------

ELEMENTS_CASE = ("imagingstudy/search-results", "_elements returns the asked elements and tags a subset SUBSETTED")
_SUBSET_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _strict_elements(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """HAPI 8.8.0: _elements=identifier,status returns only those (and id/meta), tagged SUBSETTED, even the
    mandatory subject (R4: servers SHOULD return mandatory elements — not what the precision check judges)."""
    body = response.json()
    if call.is_search and any(k == "_elements" for k, _ in call.query) and isinstance(body, dict):
        for entry in body.get("entry") or []:
            resource = entry.get("resource") or {}
            kept = {k: v for k, v in resource.items() if k in ("resourceType", "id", "identifier", "status")}
            kept["meta"] = {"tag": [_SUBSET_TAG]}
            entry["resource"] = kept
        response.set_json(body)
    return response


STRICT_ELEMENTS = Fault("elements-drop-mandatory", "_elements returns only the listed elements (HAPI)", ("REST-088",),
                        on_response=_strict_elements)


def test_a_subset_without_the_searched_element_is_not_a_precision_failure(shared) -> None:  # noqa: F811
    result = with_faults(shared, [STRICT_ELEMENTS], *ELEMENTS_CASE)
    assert not [c for c in result.checks if c.verdict is Verdict.FAIL], bad(result)


def test_a_subset_that_does_not_match_still_fails_precision(shared) -> None:  # noqa: F811
    result = with_faults(shared, [STRICT_ELEMENTS, BY_NAME["ignores-patient"]], *ELEMENTS_CASE)
    failing = [c for c in result.checks if c.verdict is Verdict.FAIL and c.check == "search"]
    assert failing and "do not satisfy the search" in failing[0].reason, bad(result)

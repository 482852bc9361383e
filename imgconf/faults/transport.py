"""Servers that break at the HTTP level: the reliability faults (issue 5, "bad server behaviour").

Each must end as a failed check or an infrastructure error with evidence — never a crash or a
hang of the harness. They are not mutation faults (``registry.MUTATION_FAULTS``): they do not
test a conformance check, they test that the harness survives. tests/test_reliability.py runs them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.rewrite import JsonObject, edit_json, outcome_response

FHIR_JSON = "application/fhir+json"
HUGE_BUNDLE_BYTES = 50 * 1024 * 1024
SLOW_RESPONSE_S = 5.0


def _searches(call: ProxyCall) -> bool:
    """A resource search (not GET metadata, which the proxy itself uses to see it is up)."""
    return call.is_search and call.resource_type[:1].isupper()


def _malformed_json(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if call.method == "GET" and response.status == 200:
        response.body = response.body[: max(1, len(response.body) // 2)]  # cut mid-document
    return response


def _slow(call: ProxyCall) -> ProxyResponse | None:
    if not _searches(call):
        return None

    async def late() -> AsyncIterator[bytes]:
        await asyncio.sleep(SLOW_RESPONSE_S)
        yield b'{"resourceType":"Bundle","type":"searchset","entry":[]}'

    return ProxyResponse(200, {}, b"", raw=StreamingResponse(late(), media_type=FHIR_JSON))


def _reset(call: ProxyCall) -> ProxyResponse | None:
    if not _searches(call):
        return None

    async def broken() -> AsyncIterator[bytes]:
        yield b'{"resourceType":"Bundle","type":"searchset","entry":['
        raise ConnectionResetError("fault: connection reset by the server")

    return ProxyResponse(200, {}, b"", raw=StreamingResponse(broken(), media_type=FHIR_JSON))


def _redirect_loop(call: ProxyCall) -> ProxyResponse | None:
    if not _searches(call):
        return None
    return ProxyResponse(302, {"location": f"{call.base}/{call.path}"}, b"")


def _huge_bundle(call: ProxyCall) -> ProxyResponse | None:
    if not _searches(call):
        return None
    entry = json.dumps({"resource": {"resourceType": "ImagingStudy", "id": "x", "status": "available",
                                     "subject": {"reference": "Patient/x"}, "description": "x" * 4000}}).encode()

    async def flood() -> AsyncIterator[bytes]:
        yield b'{"resourceType":"Bundle","type":"searchset","entry":['
        sent = 0
        while sent < HUGE_BUNDLE_BYTES:
            yield entry + b","
            sent += len(entry) + 1
        yield entry + b"]}"

    return ProxyResponse(200, {}, b"", raw=StreamingResponse(flood(), media_type=FHIR_JSON))


def _gets(call: ProxyCall) -> bool:
    return call.method == "GET"


def _is_imaging_study(body: JsonObject) -> bool:
    return body.get("resourceType") == "ImagingStudy"


def _storm(call: ProxyCall) -> ProxyResponse:
    return outcome_response(503, "transient", "overloaded", severity="fatal", headers={"retry-after": "1"})


def _bad_gzip(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    if _searches(call):
        response.headers["content-encoding"] = "gzip"
        response.body = b"\x1f\x8b\x08\x00not really gzip" + response.body[:64]
    return response


RELIABILITY_FAULTS: tuple[Fault, ...] = (
    Fault("malformed-json", "GET responses are cut in the middle of the JSON document", ("REST-001",),
          on_response=_malformed_json),
    Fault("slow-response", f"searches answer after {SLOW_RESPONSE_S:g} s", ("REST-040",), on_request=_slow),
    Fault("connection-reset", "the connection drops in the middle of a search response", ("REST-040",), on_request=_reset),
    Fault("redirect-loop", "searches redirect to themselves forever", ("REST-040",), on_request=_redirect_loop),
    Fault("huge-bundle", "a search answers a 50 MB Bundle", ("REST-040", "REST-085"), on_request=_huge_bundle),
    Fault("wrong-resource-type", "an ImagingStudy read comes back as resourceType Observation", ("REST-010",),
          on_response=edit_json(lambda body: body.update(resourceType="Observation"), calls=_gets, body=_is_imaging_study)),
    Fault("5xx-storm", "every request answers 503", ("REST-030",), on_request=_storm),
    Fault("gzip-broken", "search responses claim gzip but do not decompress", ("REST-040",), on_response=_bad_gzip),
)

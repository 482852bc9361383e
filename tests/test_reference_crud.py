"""Reference server CRUD over real HTTP and SQLite (REST-001..027, REST-092)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import httpx
import pytest

from imgconf import __version__
from imgconf.reference import EmbeddedServer
from imgconf.searchparams import params_for

FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture()
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=FHIR_JSON, timeout=10) as c:
        yield c


def patient(family: str = "Doe", **extra: object) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def is_outcome(r: httpx.Response) -> bool:
    return r.headers["content-type"].startswith("application/fhir+json") and r.json()["resourceType"] == "OperationOutcome"


def test_metadata(client: httpx.Client) -> None:  # REST-092, IS-050
    r = client.get("/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"
    cs = r.json()
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["software"] == {"name": "imgconf reference server", "version": __version__}
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    study = next(x for x in rest["resource"] if x["type"] == "ImagingStudy")
    names = {p["name"] for p in study["searchParam"]}
    assert names == set(params_for("ImagingStudy"))
    assert {"basedon", "bodysite"} <= names and not {"based-on", "body-site"} & names
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    CapabilityStatement.model_validate(cs)


def test_create_read_ignores_client_id(client: httpx.Client, server: EmbeddedServer) -> None:  # REST-020/022
    body = patient(id="client-chosen", meta={"versionId": "7", "lastUpdated": "2000-01-01T00:00:00Z",
                                             "tag": [{"system": "urn:run", "code": "r1"}]})
    r = client.post("/Patient", json=body)
    assert r.status_code == 201
    created = r.json()
    rid = created["id"]
    assert rid != "client-chosen" and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rid)
    assert created["meta"]["versionId"] == "1" and created["meta"]["lastUpdated"] != "2000-01-01T00:00:00Z"
    assert created["meta"]["tag"] == [{"system": "urn:run", "code": "r1"}]
    assert r.headers["location"] == f"{server.base_url}/Patient/{rid}/_history/1"
    assert r.headers["etag"] == 'W/"1"' and r.headers["last-modified"].endswith("GMT")
    r = client.get(f"/Patient/{rid}")
    assert r.status_code == 200 and r.json()["id"] == rid
    assert r.headers["etag"] == 'W/"1"' and "last-modified" in r.headers


def test_prefer_return(client: httpx.Client) -> None:
    r = client.post("/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and "location" in r.headers
    r = client.post("/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"


def test_unknown_and_deleted(client: httpx.Client) -> None:  # REST-012/013
    r = client.get("/Patient/doesnotexist")
    assert r.status_code == 404 and is_outcome(r)
    rid = client.post("/Patient", json=patient()).json()["id"]
    r = client.delete(f"/Patient/{rid}")
    assert r.status_code == 204
    r = client.get(f"/Patient/{rid}")
    assert r.status_code == 410 and is_outcome(r)
    assert client.delete(f"/Patient/{rid}").status_code == 204  # idempotent
    assert client.delete("/Patient/neverexisted").status_code == 404


def test_unknown_type(client: httpx.Client) -> None:
    r = client.get("/Foo/1")
    assert r.status_code == 404 and is_outcome(r)
    r = client.get("/Foo")
    assert r.status_code == 404 and is_outcome(r)


def test_update_vread_history(client: httpx.Client, server: EmbeddedServer) -> None:  # REST-014/024/025
    rid = client.post("/Patient", json=patient("One")).json()["id"]
    r = client.put(f"/Patient/{rid}", json=patient("Two", id=rid))
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"
    r = client.put(f"/Patient/{rid}", json=patient("Three", id=rid), headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412 and is_outcome(r)
    r = client.put(f"/Patient/{rid}", json=patient("Three", id=rid), headers={"If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.headers["etag"] == 'W/"3"'
    r = client.get(f"/Patient/{rid}/_history/1")
    assert r.status_code == 200 and r.json()["name"][0]["family"] == "One"
    assert client.get(f"/Patient/{rid}/_history/9").status_code == 404
    h = client.get(f"/Patient/{rid}/_history").json()
    assert h["type"] == "history" and h["total"] == 3
    assert [e["resource"]["meta"]["versionId"] for e in h["entry"]] == ["3", "2", "1"]
    r = client.put(f"/Patient/{rid}", json=patient("X", id="other"))
    assert r.status_code == 400 and is_outcome(r)
    r = client.put("/Patient/newbyput", json=patient("New", id="newbyput"))  # update-as-create
    assert r.status_code == 201 and r.headers["location"] == f"{server.base_url}/Patient/newbyput/_history/1"


def test_conditional_create(client: httpx.Client) -> None:  # REST-026
    ident = "urn:test:cc|cc-1"
    body = patient(identifier=[{"system": "urn:test:cc", "value": "cc-1"}])
    r = client.post("/Patient", json=body, headers={"If-None-Exist": f"identifier={ident}"})
    assert r.status_code == 201
    first = r.json()["id"]
    r = client.post("/Patient", json=body, headers={"If-None-Exist": f"identifier={ident}"})
    assert r.status_code == 200 and r.json()["id"] == first
    assert client.get("/Patient", params={"identifier": ident}).json()["total"] == 1
    client.post("/Patient", json=body)  # a second one without the condition
    r = client.post("/Patient", json=body, headers={"If-None-Exist": f"identifier={ident}"})
    assert r.status_code == 412 and is_outcome(r)


def test_bad_bodies(client: httpx.Client) -> None:  # REST-023
    r = client.post("/Patient", content=b"{not json")
    assert r.status_code == 400 and r.json()["issue"][0]["code"] == "invalid"
    r = client.post("/Patient", json={"resourceType": "Observation"})
    assert r.status_code == 400 and is_outcome(r)
    r = client.post("/ImagingStudy", json={"resourceType": "ImagingStudy", "status": "available",
                                           "subject": {"reference": "Patient/1"},
                                           "series": [{"uid": "1.2", "modality": {"code": "CT"}, "bogus": 1}]})
    assert r.status_code == 400
    assert any(i.get("expression") == ["ImagingStudy.series[0].bogus"] for i in r.json()["issue"])
    r = client.post("/Patient", content=b"<Patient/>", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and is_outcome(r)
    r = client.post("/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 400 and "FHIR namespace" in r.json()["issue"][0]["diagnostics"]  # XML, but not FHIR XML
    r = client.request("PATCH", "/Patient/x")
    assert r.status_code == 405 and is_outcome(r)


def test_formats(client: httpx.Client) -> None:  # REST-001..004; XML: MHD-008, PDQ-009
    r = client.get("/metadata", params={"_format": "xml"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+xml")
    assert r.text.startswith("<?xml") and 'xmlns="http://hl7.org/fhir"' in r.text
    r = client.get("/metadata", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 200 and "<CapabilityStatement" in r.text and "<format value=\"xml\"/>" in r.text
    r = client.get("/metadata", headers={"Accept": "application/fhir+xml"}, params={"_format": "json"})
    assert r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement"  # _format overrides Accept
    r = client.get("/metadata", params={"_format": "text/turtle"})  # a format it cannot produce: 406
    assert r.status_code == 406 and r.json()["issue"][0]["code"] == "not-supported"
    r = client.get("/metadata", headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert r.status_code == 200
    for fmt in ("json", "application/json", "application/fhir+json"):
        assert client.get("/Patient", params={"_format": fmt}).status_code == 200


def test_binary(client: httpx.Client) -> None:  # MHD-020/021
    data = b"%PDF-1.4 hello"
    body = {"resourceType": "Binary", "contentType": "application/pdf", "data": base64.b64encode(data).decode()}
    rid = client.post("/Binary", json=body).json()["id"]
    r = client.get(f"/Binary/{rid}", headers={"Accept": "*/*"})
    assert r.status_code == 200 and r.content == data and r.headers["content-type"] == "application/pdf"
    r = client.get(f"/Binary/{rid}", headers={"Accept": "application/fhir+json"})
    assert r.json()["resourceType"] == "Binary" and r.json()["contentType"] == "application/pdf"


def test_two_servers_are_independent() -> None:
    with EmbeddedServer() as a, EmbeddedServer() as b:
        assert a.base_url != b.base_url
        httpx.post(f"{a.base_url}/Patient", json=patient())
        assert httpx.get(f"{b.base_url}/Patient").json()["total"] == 0


def test_required_binding_enforced(client: httpx.Client) -> None:  # REST-023, IS-002
    r = client.post("/ImagingStudy", json={"resourceType": "ImagingStudy", "status": "finished",
                                           "subject": {"reference": "Patient/1"}})
    assert r.status_code == 400 and is_outcome(r)
    assert r.json()["issue"][0]["expression"] == ["ImagingStudy.status"]
    r = client.post("/Bundle", json={"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": {"resourceType": "Patient", "gender": "f"}}]})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.gender"]
    r = client.post("/ImagingStudy", json={"resourceType": "ImagingStudy", "status": "available",
                                           "subject": {"reference": "Patient/1"},
                                           "series": [{"uid": "urn:oid:1.2.3", "modality": {"code": "CT"}}]})
    assert r.status_code == 400  # ':' is not allowed in an id (IS-022)

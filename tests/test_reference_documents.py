"""MHD ITI-67 and PDQm ITI-78 style searches against the reference server (real HTTP + SQLite)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from imgconf.searchparams.registry import MOTHERS_MAIDEN_NAME

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def create(client: httpx.Client, resource: dict) -> str:
    r = client.post(f"/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def docref(patient: str, code: str, status: str = "current", **extra: object) -> dict:
    return {
        "resourceType": "DocumentReference", "status": status,
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.3.{code.replace('-', '')}"},
        "subject": {"reference": f"Patient/{patient}"},
        "type": {"coding": [{"system": LOINC, "code": code}]},
        "date": "2026-02-20T10:00:00Z",
        "content": [{"attachment": {"contentType": "application/pdf", "url": "http://x/Binary/1",
                                    "creation": "2026-02-19T09:00:00+01:00"}}],
        **extra,
    }


@pytest.fixture(scope="module")
def data(client: httpx.Client) -> dict[str, str]:
    ids: dict[str, str] = {}
    ids["dr"] = create(client, {"resourceType": "Practitioner", "name": [{"family": "House", "given": ["Gregory"]}]})
    ids["p"] = create(client, {
        "resourceType": "Patient", "active": True, "gender": "female", "birthDate": "1970-05-17",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "A1"}],
        "name": [{"family": "Müller", "given": ["Anna"]}],
        "extension": [{"url": MOTHERS_MAIDEN_NAME, "valueString": "Schmidt"}],
    })
    ids["other"] = create(client, {"resourceType": "Patient", "gender": "male", "name": [{"family": "Muller"}],
                                   "identifier": [{"system": "urn:oid:1.2.3", "value": "B2"}],
                                   "link": [{"other": {"reference": f"Patient/{ids['p']}"}, "type": "seealso"}]})
    radiology = {"practiceSetting": {"coding": [{"system": SNOMED, "code": "394914008"}]},
                 "period": {"start": "2026-02-19T08:00:00Z"}}
    ids["report"] = create(client, docref(ids["p"], "85430-7", context=radiology,
                                          author=[{"reference": f"Practitioner/{ids['dr']}"}]))
    ids["old"] = create(client, docref(ids["p"], "85430-7", status="superseded"))
    ids["summary"] = create(client, docref(ids["p"], "60591-5"))
    # In p's compartment only through author (REST-100: subject and author).
    ids["selfauthored"] = create(client, docref(ids["other"], "11502-2") | {
        "subject": {"reference": "Group/g"}, "author": [{"reference": f"Patient/{ids['p']}"}]})
    ids["bundle"] = create(client, {"resourceType": "Bundle", "type": "document", "timestamp": "2026-02-20T10:00:00Z",
                                    "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"},
                                    "entry": [{"fullUrl": "urn:uuid:2", "resource": {
                                        "resourceType": "Composition", "id": "c", "status": "final",
                                        "type": {"coding": [{"system": LOINC, "code": "85430-7"}]},
                                        "date": "2026-02-20", "author": [{"display": "x"}], "title": "t"}}]})
    return ids


def ids(client: httpx.Client, path: str, params: object, mode: str = "match", **kw: object) -> set[str]:
    r = client.get(path, params=params, **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == mode}


def test_iti67_current_report(client: httpx.Client, data: dict) -> None:  # EUAPI-002
    p = data["p"]
    assert ids(client, "/DocumentReference", {"patient": f"Patient/{p}", "type": f"{LOINC}|85430-7",
                                              "status": "current"}) == {data["report"]}
    assert ids(client, "/DocumentReference", {"patient.identifier": "urn:oid:1.2.3|A1", "status": "current"}) == {
        data["report"], data["summary"]}
    assert ids(client, "/DocumentReference", {"patient": p, "status": "superseded,current",
                                              "type": "85430-7"}) == {data["report"], data["old"]}
    assert ids(client, "/DocumentReference", {"identifier": "urn:ietf:rfc:3986|urn:oid:1.2.3.854307"}) == {
        data["report"], data["old"]}


def test_setting_vs_dotted_name(client: httpx.Client, data: dict) -> None:  # MHD-014, FIND-03
    p = data["p"]
    assert ids(client, "/DocumentReference", {"patient": p, "setting": f"{SNOMED}|394914008"}) == {data["report"]}
    r = client.get("/DocumentReference", params={"patient": p, "context.practiceSetting": f"{SNOMED}|394914008"})
    b = r.json()
    self_url = next(x["url"] for x in b["link"] if x["relation"] == "self")
    assert parse_qsl(urlsplit(self_url).query) == [("patient", p)]
    assert b["total"] == 3  # the lenient server ignored the filter, and says so in the self link
    r = client.get("/DocumentReference", params={"patient": p, "context.practiceSetting": "x"},
                   headers={"Prefer": "handling=strict"})
    assert r.status_code == 400


def test_author_chain_dates_and_format(client: httpx.Client, data: dict) -> None:  # MHD-003
    assert ids(client, "/DocumentReference", {"author.family": "hou"}) == {data["report"]}
    assert ids(client, "/DocumentReference", {"author.given": "greg"}) == {data["report"]}
    assert ids(client, "/DocumentReference", {"period": "ge2026-02-19"}) == {data["report"]}
    assert data["report"] in ids(client, "/DocumentReference", {"creation": "2026-02-19"})
    assert ids(client, "/DocumentReference", {"creation": "lt2026-02-19T08:00:00Z"}) == set()
    assert data["report"] in ids(client, "/DocumentReference", {"date": "2026-02-20"})
    assert data["report"] in ids(client, "/DocumentReference", {"contenttype": "application/pdf"})


def test_document_compartment_uses_subject_and_author(client: httpx.Client, data: dict) -> None:  # REST-100
    comp = ids(client, f"/Patient/{data['p']}/DocumentReference", {})
    assert comp == {data["report"], data["old"], data["summary"], data["selfauthored"]}
    assert ids(client, f"/Patient/{data['p']}/DocumentReference", {"status": "superseded"}) == {data["old"]}
    r = client.get(f"/Patient/{data['p']}/Endpoint")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"


def test_include_iterate(client: httpx.Client, data: dict) -> None:  # REST-083
    params = [("_id", data["report"]), ("_include", "DocumentReference:subject"),
              ("_include", "DocumentReference:author")]
    assert ids(client, "/DocumentReference", params, "include") == {data["p"], data["dr"]}
    assert ids(client, "/DocumentReference", [("_id", data["report"]), ("_include", "DocumentReference:author:Patient")],
               "include") == set()
    # :iterate follows Patient.link from the included patients (the doc's subject is `other`).
    params = [("_id", data["selfauthored"]), ("_include", "DocumentReference:author"),
              ("_include:iterate", "Patient:link")]
    assert ids(client, "/DocumentReference", params, "include") == {data["p"]}
    params = [("_id", data["old"]), ("_include", "DocumentReference:subject"), ("_include:iterate", "Patient:link")]
    assert ids(client, "/DocumentReference", params, "include") == {data["p"]}
    rev = [("_id", data["p"]), ("_revinclude", "Patient:link"), ("_revinclude:iterate", "DocumentReference:subject")]
    assert ids(client, "/Patient", rev, "include") == {data["other"], data["report"], data["old"], data["summary"]}


def test_provenance_revinclude(client: httpx.Client, data: dict) -> None:  # REST-084
    prov = create(client, {"resourceType": "Provenance", "recorded": "2026-02-20T10:00:00Z",
                           "target": [{"reference": f"DocumentReference/{data['summary']}"}],
                           "agent": [{"who": {"reference": f"Practitioner/{data['dr']}"}}]})
    params = {"_id": data["summary"], "_revinclude": "Provenance:target"}
    assert ids(client, "/DocumentReference", params, "include") == {prov}
    r = client.get("/DocumentReference", params=params)
    assert r.json()["total"] == 1


def test_summary_modes(client: httpx.Client, data: dict) -> None:  # REST-087
    def one(mode: str) -> dict:
        r = client.get("/Patient", params={"_id": data["p"], "_summary": mode})
        return r.json()["entry"][0]["resource"]
    full = one("false")
    assert "extension" in full and "SUBSETTED" not in str(full.get("meta"))
    summ = one("true")
    assert "extension" not in summ and "name" in summ and "SUBSETTED" in str(summ["meta"])
    assert "name" in one("data") and "SUBSETTED" in str(one("data")["meta"])
    assert "name" not in one("text")


def test_bundle_search(client: httpx.Client, data: dict) -> None:
    assert ids(client, "/Bundle", {"composition.type": f"{LOINC}|85430-7"}) == {data["bundle"]}
    assert ids(client, "/Bundle", {"type": "document", "timestamp": "2026-02-20"}) == {data["bundle"]}


def test_pdqm(client: httpx.Client, data: dict) -> None:  # PDQ-002..009
    p, other = data["p"], data["other"]
    assert ids(client, "/Patient", {"family": "muller"}) == {p, other}
    assert ids(client, "/Patient", {"family:exact": "Müller"}) == {p}
    assert ids(client, "/Patient", {"family": "muller", "gender": "male"}) == {other}
    assert ids(client, "/Patient", {"birthdate": "1970-05-17", "family": "mül"}) == {p}
    assert ids(client, "/Patient", {"mothersMaidenName": "schmidt"}) == {p}
    assert ids(client, "/Patient", {"identifier": "urn:oid:1.2.3|A1"}) == {p}
    assert ids(client, "/Patient", {"identifier": "urn:oid:1.2.3|"}) == {p, other}
    r = client.get("/Patient", params={"family": "nobody"})
    assert r.json()["total"] == 0 and "entry" not in r.json()
    r = client.get("/Patient", params={"family": "muller", "_format": "text/csv"})
    assert r.status_code == 406
    assert r.json()["issue"][0]["severity"] == "error" and r.json()["issue"][0]["code"] == "not-supported"
    r = client.post("/Patient/_search", data={"family": "muller", "gender": "female"})
    assert r.status_code == 200 and {e["resource"]["id"] for e in r.json()["entry"]} == {p}


def test_last_updated_and_tag(client: httpx.Client, data: dict) -> None:
    assert data["p"] in ids(client, "/Patient", {"_lastUpdated": "gt2000-01-01"})
    assert ids(client, "/Patient", {"_lastUpdated": "lt2000-01-01"}) == set()
    tagged = create(client, {"resourceType": "Endpoint", "status": "active", "address": "https://pacs/wado-rs",
                             "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                                                "code": "dicom-wado-rs"},
                             "payloadType": [{"text": "DICOM"}], "meta": {"tag": [{"system": "urn:run", "code": "t1"}]}})
    assert ids(client, "/Endpoint", {"_tag": "urn:run|t1"}) == {tagged}
    assert ids(client, "/Endpoint", {"connection-type": "dicom-wado-rs", "status": "active"}) == {tagged}

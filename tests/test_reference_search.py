"""Reference server search over HTTP: ImagingStudy, compartments, paging, includes, summaries."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from imgconf.reference import EmbeddedServer

DCM = "http://dicom.nema.org/resources/ontology/DCM"
H = {"Accept": "application/fhir+json"}


def create(client: httpx.Client, resource: dict) -> dict:
    r = client.post(f"/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    return r.json()


def study(subject: str, modality: str, started: str, **extra: object) -> dict:
    return {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": subject},
            "started": started, "series": [{"uid": "1.2.3", "modality": {"system": DCM, "code": modality}}], **extra}


@pytest.fixture(scope="module")
def data(client: httpx.Client) -> dict[str, str]:
    p1 = create(client, {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "M1"}],
                         "name": [{"family": "Müller", "given": ["Anna"]}]})["id"]
    p2 = create(client, {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "M2"}],
                         "name": [{"family": "Smith"}]})["id"]
    grp = create(client, {"resourceType": "Group", "type": "person", "actual": True})["id"]
    ids = {"p1": p1, "p2": p2, "group": grp}
    ids["ct1"] = create(client, study(f"Patient/{p1}", "CT", "2013-01-14T10:00:00Z"))["id"]
    ids["mr1"] = create(client, study(f"Patient/{p1}", "MR", "2014-05-01T10:00:00Z", status="registered"))["id"]
    ids["ct2"] = create(client, study(f"Patient/{p2}", "CT", "2015-03-01T10:00:00Z"))["id"]
    ids["grp"] = create(client, study(f"Group/{grp}", "CT", "2016-01-01"))["id"]
    for i in range(5):  # a patient with many studies, for paging
        create(client, study("Patient/pager", "US", f"2020-01-0{i + 1}"))
    return ids


def search(client: httpx.Client, path: str, params: list[tuple[str, str]] | dict | None = None,
           **kw: object) -> dict:
    r = client.get(path, params=params, **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["resourceType"] == "Bundle" and b["type"] == "searchset"
    return b


def ids_of(bundle: dict, mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def self_params(bundle: dict) -> list[tuple[str, str]]:
    url = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_patient_reference_forms_are_equivalent(client: httpx.Client, server: EmbeddedServer, data: dict) -> None:
    p1 = data["p1"]
    expected = {data["ct1"], data["mr1"]}  # REST-060, IS-055
    for params in ({"patient": p1}, {"patient": f"Patient/{p1}"}, {"patient": f"{server.base_url}/Patient/{p1}"},
                   {"subject": f"Patient/{p1}"}, {"subject:Patient": p1}, {"subject": p1}):
        b = search(client, "/ImagingStudy", params)
        assert ids_of(b) == expected, params
        assert b["total"] == 2


def test_patient_excludes_group_subjects(client: httpx.Client, data: dict) -> None:
    assert ids_of(search(client, "/ImagingStudy", {"subject": f"Group/{data['group']}"})) == {data["grp"]}
    assert ids_of(search(client, "/ImagingStudy", {"patient": data["group"]})) == set()
    assert ids_of(search(client, "/ImagingStudy", {"patient": "doesnotexist"}))  == set()  # REST-033 logical miss


def test_modality_status_started_id(client: httpx.Client, data: dict) -> None:
    p1 = data["p1"]
    assert ids_of(search(client, "/ImagingStudy", {"patient": p1, "modality": "CT"})) == {data["ct1"]}
    assert ids_of(search(client, "/ImagingStudy", {"patient": p1, "modality": f"{DCM}|MR"})) == {data["mr1"]}
    assert ids_of(search(client, "/ImagingStudy", {"patient": p1, "modality": "ct"})) == set()
    assert ids_of(search(client, "/ImagingStudy", {"patient": p1, "status": "registered"})) == {data["mr1"]}
    assert ids_of(search(client, "/ImagingStudy", [("started", "ge2013-06-01"), ("started", "lt2015")])) == {data["mr1"]}
    assert ids_of(search(client, "/ImagingStudy", {"_id": f"{data['ct1']},{data['ct2']}"})) == {data["ct1"], data["ct2"]}


def test_chained_patient_identifier(client: httpx.Client, data: dict) -> None:  # REST-062
    assert ids_of(search(client, "/ImagingStudy", {"patient.identifier": "urn:mrn|M1"})) == {data["ct1"], data["mr1"]}
    assert ids_of(search(client, "/ImagingStudy", {"patient.identifier": "urn:other|M1"})) == set()
    assert ids_of(search(client, "/ImagingStudy", {"subject:Patient.name": "mull"})) == {data["ct1"], data["mr1"]}


def test_compartment_equals_subject_search(client: httpx.Client, data: dict) -> None:  # IS-056, REST-100
    p1 = data["p1"]
    comp = search(client, f"/Patient/{p1}/ImagingStudy")
    assert ids_of(comp) == ids_of(search(client, "/ImagingStudy", {"subject": f"Patient/{p1}"}))
    assert comp["total"] == 2
    assert ids_of(search(client, f"/Patient/{p1}/ImagingStudy", {"modality": "CT"})) == {data["ct1"]}
    assert "/Patient/" in next(x["url"] for x in comp["link"] if x["relation"] == "self")


def test_unknown_params_dropped_from_self_link(client: httpx.Client, data: dict) -> None:  # REST-034/035/042
    b = search(client, "/ImagingStudy", [("patient", data["p1"]), ("_lastupdated", "ge2000"), ("foo", "bar")])
    assert self_params(b) == [("patient", data["p1"])]
    assert b["total"] == 2
    outcomes = [e for e in b["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1 and outcomes[0]["resource"]["issue"][0]["severity"] == "warning"
    assert "_lastupdated" in str(outcomes[0]["resource"])


def test_strict_handling_rejects_unknown(client: httpx.Client, data: dict) -> None:  # REST-034
    r = client.get("/ImagingStudy", params={"patient": data["p1"], "foo": "bar"}, headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    r = client.get("/ImagingStudy", params={"patient": data["p1"]}, headers={"Prefer": "handling=strict"})
    assert r.status_code == 200


def test_invalid_value_is_400_even_lenient(client: httpx.Client) -> None:  # REST-033
    r = client.get("/ImagingStudy", params={"started": "notadate"})
    assert r.status_code == 400 and r.json()["issue"][0]["code"] == "invalid"


def test_empty_result(client: httpx.Client) -> None:  # REST-031
    b = search(client, "/ImagingStudy", {"modality": "NOPE"})
    assert b["total"] == 0 and "entry" not in b


def test_paging_collects_everything_once(client: httpx.Client, data: dict) -> None:  # REST-043/085
    b = search(client, "/ImagingStudy", {"patient": "pager", "_count": "2"})
    assert b["total"] == 5
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        match = [e for e in b.get("entry", []) if e["search"]["mode"] == "match"]
        assert len(match) <= 2
        seen += [e["resource"]["id"] for e in match]
        relations = {link["relation"]: link["url"] for link in b["link"]}
        assert b["total"] == 5
        if "next" not in relations:
            break
        r = httpx.get(relations["next"], headers=H)
        assert r.status_code == 200
        b = r.json()
    assert pages == 3 and len(seen) == 5 and len(set(seen)) == 5
    assert "previous" in relations and "first" in relations


def test_sort(client: httpx.Client, data: dict) -> None:  # REST-086
    b = search(client, "/ImagingStudy", {"patient": "pager", "_sort": "-started"})
    dates = [e["resource"]["started"] for e in b["entry"]]
    assert dates == sorted(dates, reverse=True)
    b = search(client, "/ImagingStudy", {"patient": "pager", "_sort": "started"})
    dates = [e["resource"]["started"] for e in b["entry"]]
    assert dates == sorted(dates)
    b = search(client, "/ImagingStudy", {"patient": "pager", "_sort": "nonsense"})
    assert ("_sort", "nonsense") not in self_params(b)


def test_include_not_counted(client: httpx.Client, data: dict) -> None:  # REST-083/041
    for inc in ("ImagingStudy:subject", "ImagingStudy:subject:Patient", "*"):
        b = search(client, "/ImagingStudy", {"patient": data["p1"], "_include": inc})
        assert b["total"] == 2
        assert ids_of(b, "include") == {data["p1"]}
        assert ("_include", inc) in self_params(b)
    b = search(client, "/ImagingStudy", {"_id": data["grp"], "_include": "ImagingStudy:subject:Patient"})
    assert ids_of(b, "include") == set()


def test_revinclude(client: httpx.Client, data: dict) -> None:
    b = search(client, "/Patient", {"_id": data["p2"], "_revinclude": "ImagingStudy:subject"})
    assert b["total"] == 1 and ids_of(b) == {data["p2"]} and ids_of(b, "include") == {data["ct2"]}


def test_summary_count_and_elements(client: httpx.Client, data: dict) -> None:  # REST-087/088
    b = search(client, "/ImagingStudy", {"patient": data["p1"], "_summary": "count"})
    assert b["total"] == 2 and "entry" not in b
    b = search(client, "/ImagingStudy", {"patient": data["p1"], "_elements": "started"})
    for e in b["entry"]:
        res = e["resource"]
        assert set(res) <= {"resourceType", "id", "meta", "started", "status", "subject"}
        assert "series" not in res and "status" in res  # status is mandatory and kept
        assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"} in res["meta"]["tag"]
    b = search(client, "/ImagingStudy", {"patient": data["p1"], "_summary": "true"})
    assert all("SUBSETTED" in str(e["resource"]["meta"]) for e in b["entry"])


def test_post_search_equals_get(client: httpx.Client, data: dict) -> None:  # REST-091
    params = {"patient": data["p1"], "modality": "CT,MR"}
    get = search(client, "/ImagingStudy", params)
    r = client.post("/ImagingStudy/_search", data=params)
    assert r.status_code == 200
    assert ids_of(r.json()) == ids_of(get) and r.json()["total"] == get["total"]
    r = client.post("/ImagingStudy/_search", params={"patient": data["p1"]}, data={"modality": "CT"})
    assert ids_of(r.json()) == {data["ct1"]}


def test_full_urls_absolute(client: httpx.Client, server: EmbeddedServer, data: dict) -> None:  # REST-044
    b = search(client, "/ImagingStudy", {"patient": data["p1"]})
    for e in b["entry"]:
        assert e["fullUrl"] == f"{server.base_url}/ImagingStudy/{e['resource']['id']}"

"""FHIR XML (REST-001/002/003, MHD-008, PDQ-009) and instance history (REST-104).

The reference server serves XML for every answer; the XML cases parse what comes back. Faults:
a JSON body labelled XML fails everywhere (REST-001); JSON instead of XML fails the MHD/PDQm
cases and only warns in core (REST-003 is SHOULD); a 406 refusal fails MHD/PDQm (XML mandatory)
and passes in core. History faults each fail the history case that judges them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from case_support import run_selected_cases
from lxml import etree

from imgconf.faults import BY_NAME, Fault, FaultProxy, ProxyCall, ProxyResponse
from imgconf.paths import suites_dir
from imgconf.reference.server import EmbeddedServer

FHIR = "{http://hl7.org/fhir}"
SUITES = suites_dir()
CORE = str(SUITES / "imagingstudy" / "rest-semantics.yaml")
ITI67 = str(SUITES / "mhd" / "iti67-find-documents.yaml")
PDQM = str(SUITES / "pdqm" / "iti78-patient-query.yaml")
HISTORY = str(SUITES / "rest" / "history.yaml")

CORE_XML = [
    "Accept application/fhir+xml gives FHIR XML or 406",
    "_format=xml gives FHIR XML or 406",
    "_format=text/xml gives FHIR XML or 406",
    "a search with _format=application/fhir+xml gives an XML searchset or 406",
    "a search with _format=application/xml gives an XML searchset or 406",
]
MANDATORY_XML = [
    "ITI-67 in XML by Accept application/fhir+xml",
    "ITI-67 in XML by _format=xml",
    "ITI-78 in XML by Accept application/fhir+xml",
    "ITI-78 retrieve in XML by _format=xml",
]
HISTORY_TWICE = "history lists the updated study newest first, the same way twice"
HISTORY_DELETE = "after a delete the deletion is the newest history entry"


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


def _root(r: httpx.Response) -> Any:
    assert r.headers["content-type"].startswith("application/fhir+xml"), r.headers["content-type"]
    return etree.fromstring(r.content)


def _value(root: Any, name: str) -> str | None:
    child = root.find(FHIR + name)
    return None if child is None else child.get("value")


# -- the reference server ------------------------------------------------------------------------

def test_reference_server_serves_fhir_xml(server: EmbeddedServer) -> None:
    with httpx.Client(base_url=server.base_url, headers={"Accept": "application/fhir+json"}, timeout=10) as c:
        created = c.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Xmlson"}],
                                           "birthDate": "1980-03"})
        pid = created.json()["id"]
        # _format (every REST-002 spelling) wins over the client's JSON Accept
        for fmt in ("xml", "text/xml", "application/xml", "application/fhir+xml"):
            root = _root(c.get(f"/Patient/{pid}", params={"_format": fmt}))
            assert root.tag == FHIR + "Patient" and _value(root, "id") == pid
        read = c.get(f"/Patient/{pid}", headers={"Accept": "application/fhir+xml"})
        root = _root(read)
        assert read.headers["etag"] == 'W/"1"'  # same headers as the JSON read
        assert _value(root, "birthDate") == "1980-03"  # partial dates keep their precision
        bundle = _root(c.get("/Patient", params={"family": "Xmlson", "_format": "xml"}))
        assert bundle.tag == FHIR + "Bundle" and _value(bundle, "type") == "searchset"
        assert [e.get("value") for e in bundle.iter(FHIR + "id") if e.getparent().tag == FHIR + "Patient"] == [pid]
        posted = _root(c.post("/Patient/_search", data={"family": "Xmlson", "_format": "xml"}))  # POST _search form
        assert posted.tag == FHIR + "Bundle"
        c.put(f"/Patient/{pid}", json={"resourceType": "Patient", "id": pid, "name": [{"family": "Xmlson2"}]})
        history = _root(c.get(f"/Patient/{pid}/_history", params={"_format": "xml"}))
        assert _value(history, "type") == "history" and len(history.findall(FHIR + "entry")) == 2
        missing = c.get("/Patient/not-there", params={"_format": "xml"})  # errors follow the asked format
        assert missing.status_code == 404 and _root(missing).tag == FHIR + "OperationOutcome"
        refused = c.get(f"/Patient/{pid}", params={"_format": "text/turtle"})  # truly unsupported: 406
        assert refused.status_code == 406 and refused.json()["issue"][0]["code"] == "not-supported"
        capability = _root(c.get("/metadata", params={"_format": "xml"}))
        assert {f.get("value") for f in capability.findall(FHIR + "format")} >= {"json", "xml"}


def test_reference_server_reads_fhir_xml_bodies(server: EmbeddedServer) -> None:  # optional: XML request bodies
    study = (b'<ImagingStudy xmlns="http://hl7.org/fhir"><status value="available"/>'
             b'<subject><reference value="Patient/x"/></subject><description value="sent as XML"/></ImagingStudy>')
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        created = c.post("/ImagingStudy", content=study,
                         headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        assert c.get(f"/ImagingStudy/{sid}").json()["description"] == "sent as XML"
        update = study.replace(b"<status", f'<id value="{sid}"/><status'.encode()).replace(b"as XML", b"as XML again")
        updated = c.put(f"/ImagingStudy/{sid}", content=update,
                        headers={"Content-Type": "application/fhir+xml; charset=utf-8", "Accept": "application/fhir+xml"})
        assert updated.status_code == 200 and _value(_root(updated), "description") == "sent as XML again"
        hostile = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + study.replace(b"sent as XML", b"&e;")
        refused = c.post("/ImagingStudy", content=hostile, headers={"Content-Type": "application/fhir+xml"})
        assert refused.status_code == 400 and "root:" not in refused.text  # the entity is never resolved
        invalid = c.post("/ImagingStudy", content=study.replace(b"available", b"bogus"), headers={"Content-Type": "application/fhir+xml"})
        assert invalid.status_code == 400


# -- suites through the fault proxy ----------------------------------------------------------------

def _run(target: str, *suites: str, k: tuple[str, ...]) -> dict[str, Any]:
    """The cases a ``pytest -k`` of these words selects (a word in the case's node id: every case id of the XML and
    history cases names it), in process through the engine on one session, as one pytest run of them reaches them;
    the run's summary.json. The pytest front end over the same suites: the bundled full run (tests/full_run.py)."""
    return run_selected_cases(target, list(suites), lambda c: any(word in c.key.lower() for word in k))


def _verdicts(data: dict[str, Any]) -> dict[str, str]:
    return {c["case"]: c["verdict"] for c in data["cases"]}


def _failed(data: dict[str, Any], case: str) -> list[dict[str, Any]]:
    return [c for c in data["checks"] if c["case"] == case and c["verdict"] in ("fail", "warn")]


def _xml_run(server: EmbeddedServer, faults: list[Fault]) -> tuple[dict[str, str], dict[str, Any]]:
    with FaultProxy(server.base_url, faults) as proxy:
        data = _run(proxy.base_url, CORE, ITI67, PDQM, k=("xml",))
    verdicts = _verdicts(data)
    assert set(CORE_XML + MANDATORY_XML) <= set(verdicts), sorted(verdicts)
    return verdicts, data


@pytest.mark.slow
def test_reference_server_passes_every_xml_and_history_case(server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, []) as proxy:
        data = _run(proxy.base_url, CORE, ITI67, PDQM, HISTORY, k=("xml", "history"))
    verdicts = _verdicts(data)
    assert set(CORE_XML + MANDATORY_XML + [HISTORY_TWICE, HISTORY_DELETE]) <= set(verdicts)
    assert {c: v for c, v in verdicts.items() if v != "pass"} == {}
    xml_checks = [c for c in data["checks"] if c["check"] == "xml"]
    assert len(xml_checks) >= 3 * len(CORE_XML + MANDATORY_XML)  # Content-Type, root, id or Bundle type


def _pretty_prefixed(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """Legal FHIR XML in another spelling: an `f:` namespace prefix, indentation, a comment."""
    if response.headers.get("content-type", "").startswith("application/fhir+xml"):
        root = etree.fromstring(response.body)
        out = etree.Element(root.tag, nsmap={"f": "http://hl7.org/fhir"})
        out.extend(list(root))
        out.insert(0, etree.Comment(" served by a prefix-loving server "))
        response.body = etree.tostring(out, pretty_print=True, xml_declaration=True, encoding="utf-8")
    return response


@pytest.mark.slow
def test_prefixed_pretty_printed_xml_passes(server: EmbeddedServer) -> None:
    verdicts, _ = _xml_run(server, [Fault("xml-prefixed", "legal XML spelling", (), on_response=_pretty_prefixed)])
    assert all(verdicts[c] == "pass" for c in CORE_XML + MANDATORY_XML), verdicts


@pytest.mark.slow
def test_json_labelled_xml_fails_everywhere(server: EmbeddedServer) -> None:
    verdicts, data = _xml_run(server, [BY_NAME["xml-answered-with-json"]])
    assert all(verdicts[c] == "fail" for c in CORE_XML + MANDATORY_XML), verdicts
    failed = _failed(data, CORE_XML[0])
    assert any(c["requirement"] == ["REST-001"] and c["level"] == "SHALL" and "is JSON" in c["reason"] for c in failed)


def _json_only_capability(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
    """The CapabilityStatement of a JSON-only server: no XML in CapabilityStatement.format."""
    body = response.json()
    if isinstance(body, dict) and body.get("resourceType") == "CapabilityStatement":
        body["format"] = [f for f in body.get("format") or [] if "xml" not in f]
        response.set_json(body)
    return response


@pytest.mark.slow
def test_json_for_xml_warns_in_core_and_fails_mhd_pdqm(server: EmbeddedServer) -> None:
    json_only = Fault("json-only-capability", "declares JSON only", (), on_response=_json_only_capability)
    verdicts, data = _xml_run(server, [BY_NAME["xml-ignored"], json_only])
    assert all(verdicts[c] == "warn" for c in CORE_XML), verdicts  # REST-003 SHOULD: a server without XML answers 406
    assert all(verdicts[c] == "fail" for c in MANDATORY_XML), verdicts
    core = _failed(data, CORE_XML[1])
    assert [(c["requirement"], c["level"]) for c in core] == [(["REST-003"], "SHOULD")]
    mhd = _failed(data, MANDATORY_XML[0])
    assert mhd and all("MHD-008" in c["requirement"] and c["level"] == "SHALL" for c in mhd)


@pytest.mark.slow
def test_json_for_format_xml_fails_core_when_xml_is_declared(server: EmbeddedServer) -> None:
    verdicts, data = _xml_run(server, [BY_NAME["xml-ignored"]])  # the reference CapabilityStatement lists xml
    assert verdicts[CORE_XML[0]] == "warn", verdicts  # Accept only: still the REST-003 SHOULD
    assert all(verdicts[c] == "fail" for c in CORE_XML[1:]), verdicts  # _format names a format it declares
    core = _failed(data, CORE_XML[1])
    assert [(c["requirement"], c["level"]) for c in core] == [(["REST-002"], "SHALL")]
    assert "declares XML" in core[0]["reason"]


@pytest.mark.slow
def test_406_to_xml_is_legal_in_core_and_fails_mhd_pdqm(server: EmbeddedServer) -> None:
    verdicts, data = _xml_run(server, [BY_NAME["xml-refused"]])
    assert all(verdicts[c] == "pass" for c in CORE_XML), verdicts  # benign for core R4 (REST-003)
    assert all(verdicts[c] == "fail" for c in MANDATORY_XML), verdicts
    pdqm = _failed(data, MANDATORY_XML[3])
    assert pdqm and all("PDQ-009" in c["requirement"] and "406" in c["reason"] for c in pdqm)


@pytest.mark.slow
def test_a_server_without_history_is_not_accused(server: EmbeddedServer) -> None:
    with FaultProxy(server.base_url, [BY_NAME["history-not-supported"]]) as proxy:  # 405: R4 makes history optional
        data = _run(proxy.base_url, HISTORY, k=("history",))
    assert _verdicts(data) == {HISTORY_TWICE: "pass", HISTORY_DELETE: "pass"}
    assert not [c for c in data["checks"] if c["check"] == "fhirpath" and c["verdict"] == "pass"]  # nothing judged on a 405


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "case", "message"),
    [
        ("history-oldest-first", HISTORY_TWICE, "newest version first, oldest last"),
        ("history-unstable-order", HISTORY_TWICE, "newest version first, oldest last"),
        ("history-missing-request", HISTORY_TWICE, "every entry has request.method and request.url (bdl-3)"),
        ("history-missing-response", HISTORY_TWICE, "every entry has response.status (bdl-4)"),
        ("history-omits-deletions", HISTORY_DELETE, "the deletion is listed, newest first"),
    ],
)
def test_history_faults_fail_the_history_case(
    server: EmbeddedServer, fault: str, case: str, message: str
) -> None:
    with FaultProxy(server.base_url, [BY_NAME[fault]]) as proxy:
        data = _run(proxy.base_url, HISTORY, k=("history",))
    assert _verdicts(data)[case] == "fail"
    failed = _failed(data, case)
    assert any(c["check"] == "fhirpath" and c["reason"].startswith(message) and c["requirement"] == ["REST-104"] for c in failed), failed
    if fault == "history-unstable-order":  # the first read is in order, the second (same request) is not
        order = [c["verdict"] for c in data["checks"] if c["case"] == case and c["reason"].startswith(message)]
        assert order == ["pass", "fail"], order

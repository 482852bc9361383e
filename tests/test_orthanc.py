"""Orthanc as a managed PACS (imgconf/targets/orthanc.py), generated DICOM studies (imgconf/dicom/generate.py),
their upload (imgconf/dicom/upload.py) and the ImagingStudy expected from them (imgconf/dicom/expected.py).

Fast tests need no Orthanc; the server tests (marked slow) need Debian's orthanc + orthanc-dicomweb
(``.ci/run`` installs them) and are skipped with the reason otherwise."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from imgconf import secret_registry
from imgconf.dicom.expected import (
    StudyMismatch,
    dicom_started,
    expected_imaging_study,
    wado_rs_endpoint,
)
from imgconf.dicom.generate import (
    CT_IMAGE_STORAGE,
    KEY_OBJECT_SELECTION,
    MR_IMAGE_STORAGE,
    GeneratedStudy,
    generate_studies,
    part10_bytes,
    referenced_instances,
    write_studies,
)
from imgconf.dicom.upload import StoredInstance, UploadFailed, upload_dataset, upload_studies
from imgconf.targets import PACS_REGISTRY, REGISTRY, TargetUnavailable, get_target
from imgconf.targets.orthanc import OrthancServer
from imgconf.validators import validate_resource
from imgconf.validators.uid import is_valid_uid

SEED = 7
_WHY_NOT = OrthancServer().unavailable()
needs_orthanc = pytest.mark.skipif(_WHY_NOT is not None, reason=f"Orthanc not installed: {_WHY_NOT}")
DICOM_JSON = "application/dicom+json"
NUMBER_OF_STUDY_RELATED_SERIES = "00201206"
NUMBER_OF_STUDY_RELATED_INSTANCES = "00201208"
NUMBER_OF_SERIES_RELATED_INSTANCES = "00201209"
SERIES_INSTANCE_UID = "0020000E"
MODALITY = "00080060"


def _value(attributes: dict[str, dict[str, list[object]]], tag: str) -> object:
    return attributes[tag]["Value"][0]


# -- generation (no server) ------------------------------------------------------------------------------------
def test_generation_is_deterministic_per_seed() -> None:
    first = [part10_bytes(ds) for study in generate_studies(SEED) for ds in study.datasets]
    again = [part10_bytes(ds) for study in generate_studies(SEED) for ds in study.datasets]
    other = [part10_bytes(ds) for study in generate_studies(SEED + 1) for ds in study.datasets]
    assert first == again
    assert len(other) == len(first) and not set(first) & set(other)


def test_generated_studies_series_and_instances() -> None:
    ct, mr = generate_studies(SEED)
    assert [(s.number, s.modality, len(s.instances)) for s in ct.series] == [(1, "CT", 4), (2, "CT", 3), (3, "KO", 1)]
    assert [(s.number, s.modality, len(s.instances)) for s in mr.series] == [(1, "MR", 3), (2, "MR", 3)]
    uids = [ct.uid, mr.uid] + [s.uid for st in (ct, mr) for s in st.series] + \
        [str(ds.SOPInstanceUID) for st in (ct, mr) for ds in st.datasets]
    assert len(uids) == len(set(uids)) == 2 + 5 + 14
    assert all(is_valid_uid(uid) and uid.startswith("2.25.") for uid in uids)
    classes = {(str(ds.Modality), str(ds.SOPClassUID)) for st in (ct, mr) for ds in st.datasets}
    assert classes == {("CT", CT_IMAGE_STORAGE), ("MR", MR_IMAGE_STORAGE), ("KO", KEY_OBJECT_SELECTION)}


def test_generated_instances_are_part10_files_with_the_attributes_an_imaging_study_needs(tmp_path: Path) -> None:
    studies = generate_studies(SEED)
    paths = write_studies(studies, tmp_path)
    assert len(paths) == 14
    for study in studies:
        for series in study.series:
            for number, ds in enumerate(series.instances, start=1):
                read = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
                assert read.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
                assert read.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
                assert read.StudyInstanceUID == study.uid and read.SeriesInstanceUID == series.uid
                assert read.SeriesNumber == series.number and read.InstanceNumber == number
                assert read.PatientID == study.patient_id and read.IssuerOfPatientID
                assert read.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityIDType == "ISO"
                assert read.AccessionNumber == study.accession_number and len(read.AccessionNumber) <= 16
                assert read.IssuerOfAccessionNumberSequence[0].UniversalEntityIDType == "ISO"
                assert read.StudyDate and read.StudyTime and read.TimezoneOffsetFromUTC[0] in "+-"
                if series.modality != "KO":
                    assert (read.Rows, read.Columns, read.BitsAllocated) == (16, 16, 16)
                    assert len(read.PixelData) == 16 * 16 * 2  # numpy is no dependency: no pixel_array


def test_the_kos_references_images_of_the_ct_study() -> None:
    ct, _ = generate_studies(SEED)
    kos = ct.series[-1].instances[0]
    references = referenced_instances(kos)
    images = {(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
              for series in ct.series[:-1] for ds in series.instances}
    assert len(references) == 2 and set(references) <= images
    assert [item.ValueType for item in kos.ContentSequence] == ["IMAGE", "IMAGE"]
    assert kos.ConceptNameCodeSequence[0].CodeValue == "113000"


# -- the expected ImagingStudy (no server) ----------------------------------------------------------------------
@pytest.mark.parametrize(("date", "time", "offset", "started"), [
    ("20240314", "093000", "+0100", "2024-03-14T09:30:00+01:00"),
    ("20240314", "0930", "-0500", "2024-03-14T09:30:00-05:00"),
    ("20240314", "093000.125", "+0530", "2024-03-14T09:30:00.125+05:30"),
    ("20240314", "093000", "", "2024-03-14"),  # no zone: R4 forbids a time without one
    ("20240314", "", "+0100", "2024-03-14"),
    ("2024031", "093000", "+0100", None),
])
def test_started_from_study_date_time_and_zone(date: str, time: str, offset: str, started: str | None) -> None:
    assert dicom_started(date, time, offset) == started


def test_expected_imaging_study_maps_the_datasets() -> None:
    ct, _ = generate_studies(SEED)
    first = ct.datasets[0]
    study = expected_imaging_study(ct.datasets, dicomweb_root="http://127.0.0.1:8042/dicom-web/")
    assert study["identifier"][0] == {"use": "official", "system": "urn:dicom:uid", "value": f"urn:oid:{ct.uid}"}
    accession = study["identifier"][1]
    assert accession["value"] == ct.accession_number
    assert accession["system"] == "urn:oid:" + first.IssuerOfAccessionNumberSequence[0].UniversalEntityID
    assert study["basedOn"] == [{"type": "ServiceRequest", "identifier": accession}]
    assert study["subject"]["identifier"]["value"] == ct.patient_id
    offset = str(first.TimezoneOffsetFromUTC)
    assert study["started"].endswith(f"{offset[:3]}:{offset[3:]}")
    assert (study["numberOfSeries"], study["numberOfInstances"]) == (3, 8)
    assert [m["code"] for m in study["modality"]] == ["CT"]  # KO is no acquisition modality
    assert [(s["number"], s["modality"]["code"], s["numberOfInstances"]) for s in study["series"]] == \
        [(1, "CT", 4), (2, "CT", 3), (3, "KO", 1)]
    assert study["series"][2]["instance"][0]["sopClass"] == {"system": "urn:ietf:rfc:3986",
                                                             "code": f"urn:oid:{KEY_OBJECT_SELECTION}"}
    endpoint = study["contained"][0]
    assert study["endpoint"] == [{"reference": f"#{endpoint['id']}"}]
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert endpoint["address"] == "http://127.0.0.1:8042/dicom-web"  # no trailing slash


@pytest.mark.parametrize("endpoint_reference", [None, "Endpoint/pacs"])
def test_expected_imaging_study_has_no_shall_findings(endpoint_reference: str | None) -> None:
    for generated in generate_studies(SEED):
        study = expected_imaging_study(generated.datasets, dicomweb_root="http://127.0.0.1:8042/dicom-web",
                                       endpoint_reference=endpoint_reference)
        findings = validate_resource(study)
        assert [f for f in findings if f.is_mandatory] == [], findings
        assert {f.level for f in findings} <= {"INFO"}, findings  # only IS-035: KO is a non-acquisition modality
    endpoint = wado_rs_endpoint("http://127.0.0.1:8042/dicom-web")
    assert validate_resource(endpoint) == []


def test_the_validator_does_fault_a_broken_expected_study() -> None:
    """The SHALL-clean result above means something: the same validators flag a damaged copy."""
    ct, _ = generate_studies(SEED)
    study = expected_imaging_study(ct.datasets, dicomweb_root="http://127.0.0.1:8042/dicom-web")
    study["series"][0]["uid"] = "urn:oid:" + study["series"][0]["uid"]
    study["started"] = "2024-03-14T09:30:00"
    assert {f.requirement for f in validate_resource(study) if f.is_mandatory} >= {"IS-022", "IS-014"}


def test_expected_imaging_study_refuses_instances_of_two_studies() -> None:
    ct, mr = generate_studies(SEED)
    with pytest.raises(StudyMismatch, match="StudyInstanceUID"):
        expected_imaging_study([*ct.datasets, *mr.datasets], dicomweb_root="http://pacs/dicom-web")
    with pytest.raises(StudyMismatch, match="no DICOM instance"):
        expected_imaging_study([], dicomweb_root="http://pacs/dicom-web")


# -- the target (no server needed) ------------------------------------------------------------------------------
def test_orthanc_is_a_pacs_not_a_fhir_target() -> None:
    assert "orthanc" in PACS_REGISTRY and "orthanc" not in REGISTRY
    with pytest.raises(TargetUnavailable, match="unknown target 'orthanc'"):
        get_target("orthanc")


def test_missing_orthanc_says_how_to_install_it_and_leaves_nothing_behind(tmp_path: Path) -> None:
    server = OrthancServer(executable=tmp_path / "Orthanc")
    assert "apt-get install orthanc orthanc-dicomweb" in (server.unavailable() or "")
    assert server.status().startswith("unavailable:")
    with pytest.raises(TargetUnavailable, match="is missing"):
        server.start()
    assert server.workdir is None and not server.running


def test_configuration_keeps_dicom_and_remote_access_off(tmp_path: Path) -> None:
    config = OrthancServer().configuration(8042, tmp_path)
    assert config["DicomServerEnabled"] is False and config["RemoteAccessAllowed"] is False
    assert config["AuthenticationEnabled"] is False
    assert config["DicomWeb"]["Enable"] is True and config["DicomWeb"]["Root"] == "/dicom-web/"
    with_users = OrthancServer(credentials=("pacs-user", "pacs-secret-1")).configuration(8042, tmp_path)
    assert with_users["AuthenticationEnabled"] is True and with_users["RegisteredUsers"] == {"pacs-user": "pacs-secret-1"}


# -- the running server (slow) ----------------------------------------------------------------------------------
def _listening_ports(pid: int) -> set[int]:
    """TCP ports process ``pid`` listens on: its socket inodes matched against /proc/net/tcp{,6} LISTEN rows."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # st 0A = LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def _refused(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        return sock.connect_ex((host, port)) != 0


Loaded = tuple[OrthancServer, tuple[GeneratedStudy, ...], list[StoredInstance]]


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    """One server for the module (each start + stop costs ~3 s: Orthanc 1.10 takes 2 s to stop its HTTP server)."""
    studies = generate_studies(SEED)
    with OrthancServer() as pacs, pacs.client() as client:
        yield pacs, studies, upload_studies(client, studies)


@pytest.mark.slow
@needs_orthanc
def test_orthanc_serves_http_on_loopback_only_with_dicom_and_remote_access_off(loaded: Loaded) -> None:
    pacs = loaded[0]
    port = int(pacs.rest_root.rsplit(":", 1)[1])
    assert pacs.rest_root == f"http://127.0.0.1:{port}" and pacs.dicomweb_root == pacs.rest_root + "/dicom-web"
    system = httpx.get(pacs.rest_root + "/system").json()
    assert system["Name"] == "imgconf" and system["Version"].startswith("1.10.") and system["PluginsEnabled"]
    assert system["HttpPort"] == port  # /system still names DicomPort 4242 although the DICOM server is off
    assert "dicom-web" in httpx.get(pacs.rest_root + "/plugins").json()
    assert pacs.pid is not None and _listening_ports(pacs.pid) == {port}  # no DICOM port, no other port
    assert _refused("127.0.0.1", 4242), "something listens on 4242, Orthanc's default DICOM port"
    log = pacs.output_tail(200)
    assert "The DICOM server is disabled" in log and "remote access is not allowed" in log
    address = _non_loopback_address()
    if address is not None:  # Orthanc 1.10 binds every interface; a non-loopback client must be turned away
        assert httpx.get(f"http://{address}:{port}/system").status_code in (401, 403)
    assert pacs.started_in is not None and pacs.started_in < 30


@pytest.mark.slow
@needs_orthanc
def test_orthanc_stops_and_removes_its_storage() -> None:
    pacs = OrthancServer().start()
    workdir, port = pacs.workdir, int(pacs.rest_root.rsplit(":", 1)[1])
    assert workdir is not None and (workdir / "orthanc.json").is_file()
    with pacs.client() as client:
        upload_dataset(client, generate_studies(SEED)[1].datasets[0])
    assert any((workdir / "storage").iterdir())
    pacs.stop()
    assert not pacs.running and pacs.workdir is None and not workdir.exists()
    assert _refused("127.0.0.1", port)
    pacs.stop()  # idempotent


@pytest.mark.slow
@needs_orthanc
def test_orthanc_with_basic_auth_turns_away_anonymous_requests() -> None:
    password = "orthanc-test-secret-9"
    with OrthancServer(credentials=("imgconf", password)) as pacs:
        assert httpx.get(pacs.rest_root + "/system").status_code == 401
        assert httpx.get(pacs.dicomweb_root + "/studies").status_code == 401
        with pacs.client() as client:
            assert client.get("/system").status_code == 200
    assert secret_registry.scrub(f"pw={password}") == f"pw={secret_registry.REDACTED}"


@pytest.mark.slow
@needs_orthanc
def test_generated_studies_upload(loaded: Loaded) -> None:
    pacs, studies, stored = loaded
    assert [s.sop_instance_uid for s in stored] == [str(ds.SOPInstanceUID) for st in studies for ds in st.datasets]
    assert {s.status for s in stored} == {"Success"}
    assert len(httpx.get(pacs.rest_root + "/instances").json()) == 14
    with pacs.client() as client:
        assert upload_dataset(client, studies[0].datasets[0]).status == "AlreadyStored"
        response = client.post("/instances", content=b"not dicom", headers={"Content-Type": "application/dicom"})
        assert response.status_code >= 400
        with pytest.raises(UploadFailed):
            upload_dataset(httpx.Client(base_url=pacs.rest_root + "/nowhere"), studies[0].datasets[0])


@pytest.mark.slow
@needs_orthanc
def test_qido_finds_each_study_and_the_expected_imaging_study_agrees(
        loaded: Loaded) -> None:
    pacs, studies, _ = loaded
    for generated in studies:
        response = httpx.get(f"{pacs.dicomweb_root}/studies", params={"StudyInstanceUID": generated.uid})
        assert response.status_code == 200 and response.headers["content-type"].startswith(DICOM_JSON)
        [found] = response.json()
        expected = expected_imaging_study(generated.datasets, dicomweb_root=pacs.dicomweb_root)
        assert _value(found, NUMBER_OF_STUDY_RELATED_SERIES) == expected["numberOfSeries"] == len(generated.series)
        assert _value(found, NUMBER_OF_STUDY_RELATED_INSTANCES) == expected["numberOfInstances"] == \
            generated.number_of_instances
        series = httpx.get(f"{pacs.dicomweb_root}/studies/{generated.uid}/series").json()
        in_pacs = {str(_value(s, SERIES_INSTANCE_UID)): (_value(s, MODALITY), _value(s, NUMBER_OF_SERIES_RELATED_INSTANCES))
                   for s in series}
        assert in_pacs == {s["uid"]: (s["modality"]["code"], s["numberOfInstances"]) for s in expected["series"]}
        assert expected["contained"][0]["address"] == pacs.dicomweb_root


@pytest.mark.slow
@needs_orthanc
def test_wado_rs_series_metadata_is_dicom_json(
        loaded: Loaded) -> None:
    pacs, studies, _ = loaded
    for generated in studies:
        for series in generated.series:
            response = httpx.get(f"{pacs.dicomweb_root}/studies/{generated.uid}/series/{series.uid}/metadata")
            assert response.status_code == 200 and response.headers["content-type"].startswith(DICOM_JSON)
            assert sorted(item["00080018"]["Value"][0] for item in response.json()) == \
                sorted(str(ds.SOPInstanceUID) for ds in series.instances)

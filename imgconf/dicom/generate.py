"""Deterministic, realistic DICOM studies made with pydicom: the content a PACS cross-check compares FHIR against.

``generate_studies(seed)`` returns, for one patient, a CT chest study (two CT series and a Key Object Selection
series whose KOS references CT images of the same study) and an MR brain study (two MR series). Same seed, same
bytes; another seed, other UIDs, dates, time zone and pixel values. UIDs are ``2.25.<UUID>`` (PS3.5 §B.2) from a
name-based UUID of the seed and the object's role, the way ``imgconf.session`` mints per-run UIDs. Each instance
carries what an ImagingStudy is built from: patient id + issuer, accession + issuer, StudyDate/StudyTime +
TimezoneOffsetFromUTC, modality, series/instance numbers, SOP class; images carry tiny (16 x 16) pixel data.
Nothing is read from disk or network.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import random
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
ISO = "ISO"  # Universal Entity ID Type of an OID issuer
PATIENT_ID_ISSUER = ("IMGCONF-HOSPITAL", "2.25.178330440102442405339049573826839283701")
ACCESSION_ISSUER = ("IMGCONF-RIS", "2.25.289870384633045498519617312232624961447")
MATRIX = 16  # rows = columns of every generated image: tiny, still a real image
_NAMES = ("Jones^Ann", "Garcia^Luis", "Okafor^Chidi", "Lindqvist^Maja", "Tanaka^Yui", "Moreau^Paul")
_TIME_ZONES = ("+0100", "+0200", "+0000", "-0500", "+0530", "-0800")


def dicom_uid(seed: int, role: str) -> str:
    """A valid DICOM UID, the same for the same (seed, role): ``2.25.`` + the integer of a UUIDv5."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'imgconf:dicomdata:{seed}:{role}').int}"


@dataclass(frozen=True)
class GeneratedSeries:
    uid: str
    number: int
    modality: str
    description: str
    instances: tuple[Dataset, ...]


@dataclass(frozen=True)
class GeneratedStudy:
    key: str  # "ct" | "mr" (| "xmr", another patient's): the role of the study in the generated set
    uid: str
    patient_id: str
    accession_number: str
    description: str
    series: tuple[GeneratedSeries, ...]

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        return tuple(ds for series in self.series for ds in series.instances)

    @property
    def number_of_instances(self) -> int:
        return sum(len(series.instances) for series in self.series)


@dataclass(frozen=True)
class _SeriesPlan:
    modality: str
    description: str
    count: int
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")


_CT_SERIES = (_SeriesPlan("CT", "Axial 5 mm", 4), _SeriesPlan("CT", "Coronal MPR 3 mm", 3,
                                                               ("DERIVED", "SECONDARY", "REFORMATTED")))
_MR_SERIES = (_SeriesPlan("MR", "T1 sagittal", 3), _SeriesPlan("MR", "T2 axial", 3))


def generate_studies(seed: int) -> tuple[GeneratedStudy, ...]:
    """The CT study (3 series: 4 + 3 CT images and 1 KOS) and the MR study (2 series of 3 images) of one patient."""
    rng = random.Random(seed)
    patient = _patient(seed, rng)
    day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
    tz = rng.choice(_TIME_ZONES)
    ct_time = dt.time(rng.randrange(7, 12), rng.randrange(60), rng.randrange(60))
    mr_time = dt.time(rng.randrange(13, 18), rng.randrange(60), rng.randrange(60))
    ct = _study(seed, rng, patient, "ct", "CT chest without contrast", "CHEST", day, ct_time, tz, _CT_SERIES)
    mr = _study(seed, rng, patient, "mr", "MR brain", "HEAD", day, mr_time, tz, _MR_SERIES)
    return _with_key_objects(seed, ct, _later(day, ct_time, minutes=30)), mr


_OTHER_PATIENT_SERIES = (_SeriesPlan("MR", "PD sagittal", 2),)


def generate_other_patient_study(seed: int) -> GeneratedStudy:
    """An MR knee study (1 series of 2 images) of ANOTHER patient (PatientID ``IMGCONF-<seed>-B``): the study a
    patient-identity fault points a FHIR resource at (imgconf/faults/dicomweb.py). Its own random stream and UID
    roles, so ``generate_studies(seed)`` stays byte-for-byte what it was."""
    rng = random.Random(f"imgconf-other-patient:{seed}")
    patient = _patient(seed, rng)
    patient.PatientID = f"IMGCONF-{seed}-B"
    day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(366))
    time = dt.time(rng.randrange(8, 18), rng.randrange(60), rng.randrange(60))
    return _study(seed, rng, patient, "xmr", "MR knee", "KNEE", day, time, rng.choice(_TIME_ZONES),
                  _OTHER_PATIENT_SERIES)


def pacs_studies(seed: int) -> tuple[GeneratedStudy, ...]:
    """What a PACS for the cross-check holds: ``generate_studies(seed)`` (the PACS fixtures describe them) and
    ``generate_other_patient_study(seed)`` (no fixture describes it)."""
    return (*generate_studies(seed), generate_other_patient_study(seed))


def part10_bytes(dataset: Dataset) -> bytes:
    """The DICOM Part-10 file (preamble, DICM, file meta, Explicit VR Little Endian) of a generated dataset."""
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def write_studies(studies: Iterable[GeneratedStudy], directory: Path) -> list[Path]:
    """One ``<SOP Instance UID>.dcm`` per instance under ``directory/<study key>/``."""
    paths: list[Path] = []
    for study in studies:
        folder = directory / study.key
        folder.mkdir(parents=True, exist_ok=True)
        for ds in study.datasets:
            path = folder / f"{ds.SOPInstanceUID}.dcm"
            path.write_bytes(part10_bytes(ds))
            paths.append(path)
    return paths


# -- building blocks ----------------------------------------------------------------------------------------
def _issuer_item(local: str, universal: str) -> Dataset:
    item = Dataset()
    item.LocalNamespaceEntityID = local
    item.UniversalEntityID = universal
    item.UniversalEntityIDType = ISO
    return item


def _patient(seed: int, rng: random.Random) -> Dataset:
    ds = Dataset()
    ds.PatientName = rng.choice(_NAMES)
    ds.PatientID = f"IMGCONF-{seed}"
    ds.IssuerOfPatientID = PATIENT_ID_ISSUER[0]
    qualifiers = Dataset()
    qualifiers.UniversalEntityID = PATIENT_ID_ISSUER[1]
    qualifiers.UniversalEntityIDType = ISO
    ds.IssuerOfPatientIDQualifiersSequence = Sequence([qualifiers])
    ds.PatientBirthDate = f"{rng.randrange(1940, 2000)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    ds.PatientSex = rng.choice(("F", "M"))
    return ds


def _common(seed: int, patient: Dataset, study_uid: str, key: str, description: str, day: dt.date,
            time: dt.time, tz: str) -> Dataset:
    """Patient, General Study and the time zone: identical in every instance of a study."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.update(patient)
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = day.strftime("%Y%m%d")
    ds.StudyTime = time.strftime("%H%M%S")
    ds.TimezoneOffsetFromUTC = tz
    ds.StudyID = key.upper() + "1"
    ds.StudyDescription = description
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.AccessionNumber = f"A{seed % 1_000_000:06d}{key.upper()}"  # SH: at most 16 characters
    ds.IssuerOfAccessionNumberSequence = Sequence([_issuer_item(*ACCESSION_ISSUER)])
    ds.Manufacturer = "imgconf"
    ds.InstitutionName = "imgconf test hospital"
    return ds


def _study(seed: int, rng: random.Random, patient: Dataset, key: str, description: str, body_part: str,
           day: dt.date, time: dt.time, tz: str, plans: tuple[_SeriesPlan, ...]) -> GeneratedStudy:
    study_uid = dicom_uid(seed, f"{key}/study")
    common = _common(seed, patient, study_uid, key, description, day, time, tz)
    frame_of_reference = dicom_uid(seed, f"{key}/frame-of-reference")
    series: list[GeneratedSeries] = []
    for number, plan in enumerate(plans, start=1):
        series_uid = dicom_uid(seed, f"{key}/series/{number}")
        start = _later(day, time, minutes=2 * number)
        instances = tuple(
            _image(seed, rng, common, plan, body_part, series_uid, number, index, frame_of_reference, start)
            for index in range(1, plan.count + 1))
        series.append(GeneratedSeries(series_uid, number, plan.modality, plan.description, instances))
    return GeneratedStudy(key, study_uid, str(common.PatientID), str(common.AccessionNumber), description,
                          tuple(series))


def _later(day: dt.date, time: dt.time, *, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, time) + dt.timedelta(minutes=minutes)


def _series_module(ds: Dataset, modality: str, series_uid: str, number: int, description: str,
                   start: dt.datetime) -> None:
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.SeriesDate = start.strftime("%Y%m%d")
    ds.SeriesTime = start.strftime("%H%M%S")


def _sop(ds: Dataset, sop_class: str, sop_instance: str) -> None:
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta


def _image(seed: int, rng: random.Random, common: Dataset, plan: _SeriesPlan, body_part: str, series_uid: str,
           series_number: int, index: int, frame_of_reference: str, start: dt.datetime) -> Dataset:
    ds = copy.deepcopy(common)  # no element shared between instances: one can be altered alone
    sop_class = CT_IMAGE_STORAGE if plan.modality == "CT" else MR_IMAGE_STORAGE
    _sop(ds, sop_class, dicom_uid(seed, f"{series_uid}/instance/{index}"))
    _series_module(ds, plan.modality, series_uid, series_number, plan.description, start)
    ds.BodyPartExamined = body_part
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.InstanceNumber = index
    ds.ImageType = list(plan.image_type)
    ds.AcquisitionNumber = 1
    content = start + dt.timedelta(seconds=5 * index)
    ds.ContentDate = content.strftime("%Y%m%d")
    ds.ContentTime = content.strftime("%H%M%S")
    thickness = 5.0 if plan.modality == "CT" else 4.0
    ds.SliceThickness = thickness
    ds.PixelSpacing = [0.75, 0.75]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-6.0, -6.0, round(-thickness * index, 2)]
    ds.SliceLocation = round(-thickness * index, 2)
    if plan.modality == "CT":
        ds.KVP = 120
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
    else:
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = 500.0 if "T1" in plan.description else 4000.0
        ds.EchoTime = 15.0 if "T1" in plan.description else 100.0
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = 1.5
    _pixels(ds, rng)
    return ds


def _pixels(ds: Dataset, rng: random.Random) -> None:
    """A 16 x 16 MONOCHROME2 12-bit image: a soft disc on noise (little endian, as the transfer syntax says)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = MATRIX
    ds.Columns = MATRIX
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    centre = (MATRIX - 1) / 2
    values = []
    for row in range(MATRIX):
        for column in range(MATRIX):
            inside = (row - centre) ** 2 + (column - centre) ** 2 <= (MATRIX / 3) ** 2
            values.append((1100 if inside else 24) + rng.randrange(40))
    ds.PixelData = struct.pack(f"<{len(values)}H", *values)


def _with_key_objects(seed: int, study: GeneratedStudy, start: dt.datetime) -> GeneratedStudy:
    """Add a KO series whose KOS flags the middle image of every image series as 'Of Interest' (TID 2010)."""
    first = study.datasets[0]
    chosen = [series.instances[len(series.instances) // 2] for series in study.series]
    number = len(study.series) + 1
    series_uid = dicom_uid(seed, f"{study.key}/series/{number}")
    ds = Dataset()
    for keyword in ("SpecificCharacterSet", "PatientName", "PatientID", "IssuerOfPatientID",
                    "IssuerOfPatientIDQualifiersSequence", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                    "StudyDate", "StudyTime", "TimezoneOffsetFromUTC", "StudyID", "StudyDescription",
                    "ReferringPhysicianName", "AccessionNumber", "IssuerOfAccessionNumberSequence", "Manufacturer",
                    "InstitutionName"):
        ds[keyword] = copy.deepcopy(first[keyword])
    _sop(ds, KEY_OBJECT_SELECTION, dicom_uid(seed, f"{series_uid}/instance/1"))
    _series_module(ds, "KO", series_uid, number, "Key images", start)
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.InstanceNumber = 1
    ds.ContentDate = start.strftime("%Y%m%d")
    ds.ContentTime = start.strftime("%H%M%S")
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("113000", "DCM", "Of Interest")])
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2010"
    ds.ContentTemplateSequence = Sequence([template])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([_evidence(study.uid, chosen)])
    ds.ContentSequence = Sequence([_image_item(image) for image in chosen])
    kos = GeneratedSeries(series_uid, number, "KO", "Key images", (ds,))
    return GeneratedStudy(study.key, study.uid, study.patient_id, study.accession_number, study.description,
                          (*study.series, kos))


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _sop_reference(image: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = image.SOPClassUID
    item.ReferencedSOPInstanceUID = image.SOPInstanceUID
    return item


def _evidence(study_uid: str, images: list[Dataset]) -> Dataset:
    """Current Requested Procedure Evidence: study → series → SOP instances the KOS references."""
    by_series: dict[str, list[Dataset]] = {}
    for image in images:
        by_series.setdefault(str(image.SeriesInstanceUID), []).append(image)
    study = Dataset()
    study.StudyInstanceUID = study_uid
    series_items = []
    for series_uid, members in by_series.items():
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = Sequence([_sop_reference(image) for image in members])
        series_items.append(series)
    study.ReferencedSeriesSequence = Sequence(series_items)
    return study


def _image_item(image: Dataset) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "IMAGE"
    item.ReferencedSOPSequence = Sequence([_sop_reference(image)])
    return item


def referenced_instances(kos: Dataset) -> list[tuple[str, str, str]]:
    """(study UID, series UID, SOP instance UID) of every instance a KOS's evidence sequence references."""
    found: list[tuple[str, str, str]] = []
    for study in kos.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            for sop in series.get("ReferencedSOPSequence", []):
                found.append((str(study.StudyInstanceUID), str(series.SeriesInstanceUID),
                              str(sop.ReferencedSOPInstanceUID)))
    return found

"""DICOMweb faults: a FHIR server whose ImagingStudies/Endpoints disagree with the PACS behind them (issue 13).

Each rewrites only the TARGET's answers about the PACS fixtures (``fixtures/imagingstudy/pacs-*.json``, built
from ``imgconf.dicom.generate_studies(IMGCONF_DICOM_SEED)``, and ``fixtures/endpoint/pacs-wado-rs.json``); the
PACS is untouched. Every rewrite keeps the resource consistent in itself (counts match the instances listed,
study modality matches its series, UIDs are valid UIDs), so no FHIR-only rule can see the bug: only comparing
the resource with the PACS (the ``dicomweb`` check kind, suite ``dicomweb-crosscheck``) catches it. The
patient-identity fault points at the other patient's study ``pacs_studies`` loads (``generate_other_patient_study``).

Levels (imgconf/dicomweb/crosscheck.py): a count SMALLER than the PACS's breaks IS-013 (SHOULD: warn; a larger
one is INFO only, so the count fault goes the smaller way), a study modality the PACS study lacks IS-012
(SHOULD; with the SOP classes swapped to match, IS-030 SHALL), a series the PACS lacks IS-004 (SHALL), an
address with a trailing slash IS-041 (SHALL), a wrong root IS-044/045 (SHALL: the metadata URL does not
answer), a study of another patient DICOM-013 (SHOULD). ``imgconf mutate`` counts INFO rows as catches; none of
these faults relies on one.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from imgconf.faults.model import Fault, ProxyCall
from imgconf.faults.rewrite import JsonEdit, JsonObject, edit_resources, named, rewrite_values

SUITES = ("dicomweb-crosscheck",)
PACS = ("dicomweb",)  # every fault here breaks the PACS fixtures: only a run with a PACS loads them
# The search oracle of these FHIR-only suites sees the PACS studies (the dicomweb suite loads them in the same run)
# and catches the modality fault: the proxy swaps modality and SOP class in what the server returns, while the
# upstream still matches modality/dicom-class searches on the true values (a server that stored the wrong values
# would match on them, and then only the cross-check could tell).
SEARCHED_BY_MODALITY = ("imagingstudy-search-basic", "imagingstudy-search-modifiers", "imagingstudy-search-results",
                        "imagingstudy-search-tokens", "imagingstudy-unknown-params")
DICOM_UID_SYSTEM = "urn:dicom:uid"
URN_OID = "urn:oid:"
WADO_RS = "dicom-wado-rs"


@cache
def _pacs_fixture_uids() -> dict[str, str]:
    """Study Instance UID -> study key ("ct", "mr") of the studies the PACS fixtures describe."""
    from imgconf.dicom import IMGCONF_DICOM_SEED
    from imgconf.dicom.generate import dicom_uid  # pydicom: only when a fault runs

    return {dicom_uid(IMGCONF_DICOM_SEED, f"{key}/study"): key for key in ("ct", "mr")}


@cache
def _pacs_endpoint_name() -> str:
    from imgconf.dicom.expected import wado_rs_endpoint

    return str(wado_rs_endpoint("http://pacs.invalid")["name"])


def _study_uid(study: JsonObject) -> str:
    for identifier in study.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == DICOM_UID_SYSTEM:
            return str(identifier.get("value") or "").removeprefix(URN_OID)
    return ""


def _pacs_studies(edit: JsonEdit, *, keys: tuple[str, ...] = ("ct", "mr")) -> JsonEdit:
    """``edit`` only the ImagingStudies of the PACS fixtures (of these study keys)."""
    def apply(study: JsonObject) -> None:
        if _pacs_fixture_uids().get(_study_uid(study)) in keys and study.get("series"):
            edit(study)
    return apply


def _pacs_endpoint(edit: JsonEdit) -> JsonEdit:
    """``edit`` only the WADO-RS Endpoint of the PACS fixtures."""
    def apply(endpoint: JsonObject) -> None:
        ctype = endpoint.get("connectionType")
        code = ctype.get("code") if isinstance(ctype, dict) else None
        if code == WADO_RS and endpoint.get("name") == _pacs_endpoint_name() and isinstance(endpoint.get("address"), str):
            edit(endpoint)
    return apply


# -- counts ---------------------------------------------------------------------------------------

def _one_instance_fewer(study: JsonObject) -> None:
    """The first series loses its last instance, and both counts say so: consistent inside FHIR, one short of
    the PACS (IS-013: a count smaller than the study's content)."""
    series = study["series"][0]
    instances = series.get("instance") or []
    if len(instances) < 2:
        return
    series["instance"] = instances[:-1]
    series["numberOfInstances"] = len(series["instance"])
    study["numberOfInstances"] = int(study.get("numberOfInstances") or 0) - 1


# -- series ---------------------------------------------------------------------------------------

def _unknown_series_uid(study: JsonObject) -> None:
    """The first series carries a valid UID of a series the PACS never held (e.g. re-minted by the FHIR server)."""
    from imgconf.dicom import IMGCONF_DICOM_SEED
    from imgconf.dicom.generate import dicom_uid

    study["series"][0]["uid"] = dicom_uid(IMGCONF_DICOM_SEED, f"fault/unknown-series/{_study_uid(study)}")


# -- modality -------------------------------------------------------------------------------------

_OTHER_MODALITY = {"CT": "MR", "MR": "CT"}
_CT_IMAGE, _MR_IMAGE = "urn:oid:1.2.840.10008.5.1.4.1.1.2", "urn:oid:1.2.840.10008.5.1.4.1.1.4"
_OTHER_SOP_CLASS = {_CT_IMAGE: _MR_IMAGE, _MR_IMAGE: _CT_IMAGE}


def _modality_swapped(study: JsonObject) -> None:
    """CT <-> MR in the study's modality, its series' modality AND their image SOP classes: consistent in FHIR (the
    study modality is the union of its series', IS-012; each SOP class fits its series modality, DICOM-011),
    so only the PACS can tell: its ModalitiesInStudy lacks the code (IS-012) and its instances are of the other
    SOP class (IS-030). Changing the modality alone would be seen FHIR-only (DICOM-011: CT Image Storage in an
    MR series)."""
    for coding in study.get("modality") or []:
        if isinstance(coding, dict) and coding.get("code") in _OTHER_MODALITY:
            coding["code"] = _OTHER_MODALITY[coding["code"]]
    for series in study.get("series") or []:
        modality = series.get("modality") if isinstance(series, dict) else None
        if not isinstance(modality, dict) or modality.get("code") not in _OTHER_MODALITY:
            continue
        modality["code"] = _OTHER_MODALITY[modality["code"]]
        for instance in series.get("instance") or []:
            sop_class = instance.get("sopClass") if isinstance(instance, dict) else None
            if isinstance(sop_class, dict) and sop_class.get("code") in _OTHER_SOP_CLASS:
                sop_class["code"] = _OTHER_SOP_CLASS[sop_class["code"]]


# -- endpoint -------------------------------------------------------------------------------------

def _trailing_slash(endpoint: JsonObject) -> None:
    endpoint["address"] = endpoint["address"].rstrip("/") + "/"


def _wrong_root(endpoint: JsonObject) -> None:
    """The PACS's web root instead of its DICOMweb root (``http://pacs:8042`` for ``http://pacs:8042/dicom-web``):
    the WADO-RS URLs built from it (IS-044/045) do not answer."""
    address = endpoint["address"].rstrip("/")
    scheme, _, rest = address.partition("://")
    host, slash, path = rest.partition("/")
    endpoint["address"] = f"{scheme}://{host}" if slash and path else address + "/wado"


# -- patient identity -----------------------------------------------------------------------------

@cache
def _other_patient_study() -> dict[str, Any]:
    """The ImagingStudy of the other patient's study in the PACS (as ``imgconf.dicom.expected`` builds it)."""
    from imgconf.dicom import IMGCONF_DICOM_SEED
    from imgconf.dicom.expected import expected_imaging_study
    from imgconf.dicom.generate import generate_other_patient_study

    other = generate_other_patient_study(IMGCONF_DICOM_SEED)
    return expected_imaging_study(other.datasets, dicomweb_root="http://pacs.invalid", endpoint_reference="Endpoint/x")


_COPIED = ("identifier", "modality", "started", "basedOn", "numberOfSeries", "numberOfInstances", "description")


def _another_patients_study(study: JsonObject) -> None:
    """The MR resource (subject: the fixtures' patient) carries the UIDs, accession, counts and series of another
    patient's study in the PACS: a patient-identity mix-up. Subject and endpoints stay; all else agrees with
    the PACS, so only the patient comparison (DICOM-013) can tell."""
    other = _other_patient_study()
    endpoints = study["series"][0].get("endpoint")
    for key in _COPIED:
        if key in other:
            study[key] = [dict(v) for v in other[key]] if isinstance(other[key], list) else other[key]
    study["series"] = [dict(s) for s in other["series"]]
    for series in study["series"]:
        series.pop("endpoint", None)
        if endpoints:
            series["endpoint"] = endpoints


def _search_by_other_uid_finds_mr(call: ProxyCall) -> None:
    """The faulty server stores the other study's UID: searching by it finds the MR resource (and the read
    and the search keep telling one story)."""
    other = _study_uid(_other_patient_study())
    mr = next(uid for uid, key in _pacs_fixture_uids().items() if key == "mr")
    rewrite_values(named("identifier"), lambda value: value.replace(other, mr))(call)


DICOMWEB_FAULTS: tuple[Fault, ...] = (
    Fault("pacs-instance-count-smaller", "a PACS study's first series lists one instance fewer than the PACS holds, "
          "numberOfInstances (series and study) one smaller to match", ("IS-013",),
          on_response=edit_resources("ImagingStudy", _pacs_studies(_one_instance_fewer)), suites=SUITES, requires=PACS),
    Fault("pacs-series-uid-unknown", "a PACS study's first series carries a valid Series Instance UID the PACS "
          "does not hold", ("IS-004",),
          on_response=edit_resources("ImagingStudy", _pacs_studies(_unknown_series_uid)), suites=SUITES, requires=PACS),
    Fault("pacs-study-modality-disagrees", "a PACS study's modality, its series' modality and their image SOP "
          "classes are MR for CT (and CT for MR): consistent in FHIR, not what the PACS holds", ("IS-012", "IS-030"),
          on_response=edit_resources("ImagingStudy", _pacs_studies(_modality_swapped)),
          suites=(*SUITES, *SEARCHED_BY_MODALITY), requires=PACS),
    Fault("pacs-endpoint-trailing-slash", "the PACS's WADO-RS Endpoint.address gains a trailing slash",
          ("IS-041",), on_response=edit_resources("Endpoint", _pacs_endpoint(_trailing_slash)), suites=SUITES, requires=PACS),
    Fault("pacs-endpoint-wrong-root", "the PACS's WADO-RS Endpoint.address is the PACS's web root, not its "
          "DICOMweb root", ("IS-044", "IS-045"),
          on_response=edit_resources("Endpoint", _pacs_endpoint(_wrong_root)), suites=SUITES, requires=PACS),
    Fault("pacs-study-of-another-patient", "the PACS MR study's resource names the Study Instance UID (and the "
          "series, accession, counts) of another patient's study in the PACS; its subject stays", ("DICOM-013",),
          on_request=_search_by_other_uid_finds_mr,
          on_response=edit_resources("ImagingStudy", _pacs_studies(_another_patients_study, keys=("mr",))),
          suites=SUITES, requires=PACS),
)

"""Does one ImagingStudy agree with the DICOM study its PACS holds? Read-only, over DICOMweb.

For one ImagingStudy (a dict), the Endpoint resources it references (resolved by the caller; contained ones
are found here) and a :class:`~imgconf.dicomweb.client.DicomWebClient`, :func:`crosscheck_study` asks the PACS
(QIDO-RS at the client's root; WADO-RS at the URLs built from the Endpoint address) and returns typed
:class:`CrossCheck` results.

Levels: every result carries the catalogue level of the requirements it cites (looked up, never typed in), so
a disagreement is judged exactly as strictly as the requirement it breaks. Where the catalogue has no
requirement that makes a disagreement a deviation, the result cites what it compares and is INFO:
- counts: R4 defines numberOfSeries/numberOfInstances as the numbers in the study, but the catalogue only
  requires that they are never smaller than the content (IS-013, SHOULD); a FHIR count SMALLER than what the
  PACS holds breaks IS-013, a LARGER one is INFO (the PACS may hold less than the study: availability, security);
- series the PACS holds but the resource does not list: INFO (R4 lets a resource describe a subset);
- series modality, started vs StudyDate/StudyTime, accession issuer: INFO (no catalogue row; proposed);
- a status ``registered`` / ``cancelled`` / ``entered-in-error`` study is not expected in a PACS: not judged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgconf.dicomweb.client import (
    DICOM_JSON,
    DicomWebClient,
    PacsAnswer,
    dicom_parts,
    json_value,
    read_dataset,
)
from imgconf.results import Level

WADO_RS = "dicom-wado-rs"
DICOM_UID_SYSTEM = "urn:dicom:uid"
URN_OID = "urn:oid:"
ACSN = "ACSN"
NOT_IN_PACS_STATUSES = {"registered": "nothing is available yet (R4 ImagingStudyStatus)",
                        "cancelled": "the study was cancelled", "entered-in-error": "it was entered in error"}

# DICOM JSON keys (PS3.18 F.2): group+element
STUDY_DATE, STUDY_TIME, TZ_OFFSET = "00080020", "00080030", "00080201"
ACCESSION, ACCESSION_ISSUER = "00080050", "00080051"
MODALITY, MODALITIES_IN_STUDY = "00080060", "00080061"
SOP_CLASS, SOP_INSTANCE = "00080016", "00080018"
PATIENT_ID = "00100020"
STUDY_UID, SERIES_UID = "0020000D", "0020000E"
N_STUDY_SERIES, N_STUDY_INSTANCES, N_SERIES_INSTANCES = "00201206", "00201208", "00201209"
UNIVERSAL_ENTITY_ID, UNIVERSAL_ENTITY_ID_TYPE = "00400032", "00400033"

MAX_INSTANCE_LOOKUPS = 20  # per series: where a listed instance the series lacks really is (one QIDO each)
_RANK = {Level.SHALL: 3, Level.SHALL_NOT: 3, Level.SHOULD: 2, Level.SHOULD_NOT: 2, Level.MAY: 1, Level.INFO: 0}


def catalogue_level(requirement: Sequence[str]) -> Level:
    """The level a judgement citing these requirements may have: the lowest catalogue level among them."""
    from imgconf.catalogue import requirements

    catalogue = requirements()
    levels = [catalogue[rid].level for rid in requirement if rid in catalogue]
    return min(levels, key=_RANK.__getitem__, default=Level.INFO)


@dataclass(frozen=True)
class CrossCheck:
    """One comparison of the resource with the PACS."""

    check: str  # e.g. "dicomweb.series-found"
    requirement: tuple[str, ...]
    level: Level  # the catalogue level of what it cites (INFO: no requirement makes it a deviation)
    ok: bool
    message: str
    location: str  # FHIRPath into the ImagingStudy
    exchange: int | None  # index into the client's exchanges (None: no request behind it)
    not_judged: bool = False  # rests on a comparison that already failed (one cause, one verdict)


@dataclass(frozen=True)
class WadoEndpoint:
    address: str
    reference: str  # as the resource wrote it


class _Results:
    def __init__(self, client: DicomWebClient) -> None:
        self.client = client
        self.items: list[CrossCheck] = []

    def add(self, check: str, ok: bool, message: str, location: str, requirement: Sequence[str] = (),
            *, info: bool = False, exchange: int | None = -1, not_judged: bool = False) -> None:
        """``info``: no requirement makes a disagreement a deviation (judged INFO whatever it cites);
        ``exchange`` -1: the client's latest exchange."""
        level = Level.INFO if info or not requirement else catalogue_level(requirement)
        index = len(self.client.exchanges) - 1 if exchange == -1 else exchange
        self.items.append(CrossCheck(check, tuple(requirement), level, ok, message, location,
                                     index if index is None or index >= 0 else None, not_judged))


def study_uid_of(study: Mapping[str, Any]) -> str | None:
    """The Study Instance UID (IS-020), without ``urn:oid:`` (IS-044: only the study UID loses it)."""
    for identifier in study.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == DICOM_UID_SYSTEM:
            value = str(identifier.get("value") or "")
            return value.removeprefix(URN_OID)
    return None


def wado_rs_endpoints(references: Any, endpoints: Mapping[str, Mapping[str, Any]],
                      contained: Mapping[str, Mapping[str, Any]]) -> list[WadoEndpoint]:
    """The ``dicom-wado-rs`` endpoints among these references (unresolved ones are left out)."""
    found: list[WadoEndpoint] = []
    for ref in references or []:
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            continue
        endpoint = contained.get(target[1:]) if target.startswith("#") else endpoints.get(target)
        if not isinstance(endpoint, Mapping):
            continue
        ctype = endpoint.get("connectionType")
        code = ctype.get("code") if isinstance(ctype, dict) else None
        if code == WADO_RS and isinstance(endpoint.get("address"), str):
            found.append(WadoEndpoint(str(endpoint["address"]), target))
    return found


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _uid_of_code(code: Any) -> str:
    text = str(code or "")
    return text.removeprefix(URN_OID)


def _instant(value: str) -> tuple[str, dt.datetime | None]:
    """(the date part, the aware datetime when the value has a time with a zone)."""
    day = value[:10]
    if len(value) <= 10:
        return day, None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return day, None
    return day, parsed if parsed.tzinfo is not None else None


class _StudyCheck:
    def __init__(self, study: Mapping[str, Any], endpoints: Mapping[str, Mapping[str, Any]],
                 client: DicomWebClient, instances: int) -> None:
        self.study = study
        self.client = client
        self.out = _Results(client)
        self.instances_to_retrieve = instances
        self.contained = {str(r.get("id")): r for r in study.get("contained") or []
                          if isinstance(r, dict) and r.get("resourceType") == "Endpoint"}
        self.endpoints = endpoints
        self.accession_systems: set[str] = set()  # FHIR systems of the accession the PACS also has
        self.issuer_checked = False  # the issuer is compared once, on the first series' metadata
        self.series_list_exchange: int | None = None
        self.listing_exchange: dict[str, int] = {}  # series UID -> its QIDO instance listing's exchange
        # series UID -> the instances its WADO-RS metadata lists (never paged, unlike a QIDO listing may be)
        self.metadata_instances: dict[str, dict[str, dict[str, Any]]] = {}

    def run(self) -> list[CrossCheck]:
        status = self.study.get("status")
        if isinstance(status, str) and status in NOT_IN_PACS_STATUSES:
            self.out.add("dicomweb.status", True, f"not cross-checked: status {status!r}: "
                         f"{NOT_IN_PACS_STATUSES[status]}, so the PACS need not hold it", "ImagingStudy.status",
                         info=True, exchange=None)
            return self.out.items
        uid = study_uid_of(self.study)
        if not uid:
            self.out.add("dicomweb.study-uid", True, "not cross-checked: no identifier with system urn:dicom:uid "
                         "(IS-020 is judged by the structure checks)", "ImagingStudy.identifier", info=True,
                         exchange=None)
            return self.out.items
        study_endpoints = wado_rs_endpoints(self.study.get("endpoint"), self.endpoints, self.contained)
        self._addresses(study_endpoints, "ImagingStudy.endpoint")
        qido_study = self._qido_study(uid)
        pacs_series = self._qido_series_list(uid) if qido_study is not None else {}
        listed = [s for s in self.study.get("series") or [] if isinstance(s, dict)]
        retrieved = 0
        for index, series in enumerate(listed):
            at = f"ImagingStudy.series[{index}]"
            series_endpoints = wado_rs_endpoints(series.get("endpoint"), self.endpoints, self.contained)
            self._addresses(series_endpoints, f"{at}.endpoint")
            # IS-048: a series endpoint of the same connectionType overrides the study's
            chosen = series_endpoints[:1] or study_endpoints[:1]
            overridden = bool(series_endpoints)
            qido_instances = self._series_found(uid, series, at, pacs_series) if qido_study is not None else None
            if chosen and qido_study is not None and qido_instances is None:
                # The PACS holds no such series (judged just now): WADO-RS URLs built from its UID cannot answer.
                self.out.add("dicomweb.wado-metadata", False, f"not judged: the PACS holds no series "
                             f"{series.get('uid')} in study {uid} (series-found above), so no WADO-RS URL built "
                             "from it can answer", f"{at}.uid",
                             self._requirements(overridden, "IS-045", "IS-044"), exchange=None, not_judged=True)
            elif chosen:
                self._metadata(uid, series, at, chosen[0], overridden)
                for i_index, instance in enumerate(series.get("instance") or []):
                    if retrieved >= self.instances_to_retrieve:
                        break
                    if isinstance(instance, dict) and instance.get("uid"):
                        self._retrieve(uid, series, instance, f"{at}.instance[{i_index}]", chosen[0], overridden)
                        retrieved += 1
            if qido_instances is not None:
                self._instances_found(uid, series, at, qido_instances)
        if qido_study is not None:
            self._unlisted_series(listed, pacs_series)
        if not study_endpoints and not any(wado_rs_endpoints(s.get("endpoint"), self.endpoints, self.contained)
                                           for s in listed):
            self.out.add("dicomweb.endpoint", True, "no dicom-wado-rs Endpoint resolved: the WADO-RS URLs of "
                         "IS-044/045 were not built", "ImagingStudy.endpoint", info=True, exchange=None)
        return self.out.items

    # -- endpoints --------------------------------------------------------------------------------------
    def _addresses(self, endpoints: list[WadoEndpoint], at: str) -> None:
        for endpoint in endpoints:
            address = endpoint.address
            path = address.split("?", 1)[0]
            bad = path.endswith(("/", "/studies")) or "/studies/" in path
            self.out.add("dicomweb.endpoint-address", not bad,
                         f"Endpoint {endpoint.reference}: address {address!r} "
                         + ("is a WADO-RS service base URL" if not bad else
                            "is not a WADO-RS service base URL (a trailing slash or a /studies sub-resource): "
                            "IS-044 appends /studies/… to it"),
                         f"{at}.where(reference='{endpoint.reference}')", ("IS-041",), exchange=None)

    # -- QIDO-RS ----------------------------------------------------------------------------------------
    def _qido_study(self, uid: str) -> dict[str, Any] | None:
        answer = self.client.search_studies(uid)
        found = self._json_list(answer)
        if found is None:
            self.out.add("dicomweb.qido", True, f"QIDO-RS study search at the PACS root answered {answer.status} "
                         f"{answer.media_type or 'without Content-Type'}: the QIDO-RS comparisons were not made",
                         "ImagingStudy.identifier", info=True)
            return None
        matches = [s for s in found if json_value(s, STUDY_UID) in (uid, None)]
        if not matches:
            self.out.add("dicomweb.study-found", False, f"the PACS has no study {uid}: the identifier urn:dicom:uid "
                         "does not carry the Study Instance UID of a study the PACS holds",
                         "ImagingStudy.identifier.where(system='urn:dicom:uid')", ("IS-020",))
            return None
        attributes = matches[0]
        index = len(self.client.exchanges) - 1
        self.out.add("dicomweb.study-found", True, f"the PACS holds study {uid}",
                     "ImagingStudy.identifier.where(system='urn:dicom:uid')", ("IS-020",))
        self._counts("ImagingStudy.numberOfSeries", self.study.get("numberOfSeries"),
                     json_value(attributes, N_STUDY_SERIES), "NumberOfStudyRelatedSeries (0020,1206)", index)
        self._counts("ImagingStudy.numberOfInstances", self.study.get("numberOfInstances"),
                     json_value(attributes, N_STUDY_INSTANCES), "NumberOfStudyRelatedInstances (0020,1208)", index)
        self._started(attributes, index)
        self._accession(attributes, index)
        self._patient(attributes, index)
        self._study_modalities(attributes, index)
        return attributes

    def _json_list(self, answer: PacsAnswer) -> list[dict[str, Any]] | None:
        if answer.status == 204:
            return []
        if answer.status != 200:
            return None
        return answer.dicom_json()

    def _counts(self, at: str, fhir_value: Any, pacs_value: Any, what: str, exchange: int | None) -> None:
        fhir, pacs = _count(fhir_value), _count(pacs_value)
        if fhir is None or pacs is None:
            return  # 0..1 in R4; a PACS without the attribute says nothing
        if fhir < pacs:
            self.out.add("dicomweb.count", False, f"{at.rsplit('.', 1)[-1]} is {fhir} but the PACS holds {pacs} "
                         f"({what}): a count smaller than the study's content", at, ("IS-013",), exchange=exchange)
        elif fhir > pacs:
            self.out.add("dicomweb.count", False, f"{at.rsplit('.', 1)[-1]} is {fhir} but the PACS holds only {pacs} "
                         f"({what}); R4 defines the element as the number in the study, no catalogue requirement "
                         "makes a larger count a deviation (the PACS may not hold everything)", at, ("IS-013",),
                         info=True, exchange=exchange)
        else:
            self.out.add("dicomweb.count", True, f"{at.rsplit('.', 1)[-1]} {fhir} = {what}", at, ("IS-013",),
                         exchange=exchange)

    def _started(self, attributes: dict[str, Any], exchange: int) -> None:
        from imgconf.dicom.expected import dicom_started

        started = self.study.get("started")
        date = json_value(attributes, STUDY_DATE)
        if not isinstance(started, str) or not date:
            return  # started is 0..1: nothing to compare
        pacs = dicom_started(str(date), str(json_value(attributes, STUDY_TIME) or ""),
                             str(json_value(attributes, TZ_OFFSET) or ""))
        if pacs is None:
            return
        fhir_day, fhir_at = _instant(started)
        pacs_day, pacs_at = _instant(pacs)
        agree = fhir_at == pacs_at if fhir_at is not None and pacs_at is not None else fhir_day == pacs_day
        self.out.add("dicomweb.started", agree, f"started {started} " + ("agrees with" if agree else "differs from")
                     + f" StudyDate/StudyTime/TimezoneOffsetFromUTC {pacs}"
                     + ("" if agree else " (no catalogue requirement: INFO)"),
                     "ImagingStudy.started", ("IS-010",), info=True, exchange=exchange)

    def _accessions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(accessions in basedOn, IS-028; accessions in identifier, IS-029)."""
        def typed(identifier: Any) -> bool:
            coding = ((identifier.get("type") or {}).get("coding") or []) if isinstance(identifier, dict) else []
            return any(isinstance(c, dict) and c.get("code") == ACSN for c in coding)

        based = [ref.get("identifier") for ref in self.study.get("basedOn") or []
                 if isinstance(ref, dict) and typed(ref.get("identifier"))]
        own = [i for i in self.study.get("identifier") or [] if typed(i)]
        return [b for b in based if isinstance(b, dict)], own

    def _accession(self, attributes: dict[str, Any], exchange: int) -> None:
        pacs = str(json_value(attributes, ACCESSION) or "").strip()
        based, own = self._accessions()
        if not pacs or not (based or own):
            return
        values = {str(i.get("value") or "") for i in based + own}
        ok = pacs in values
        requirement = ("IS-028",) if based else ("IS-029",)
        at = ("ImagingStudy.basedOn.identifier" if based else "ImagingStudy.identifier") + ".where(type.coding.code='ACSN')"
        self.out.add("dicomweb.accession", ok, f"accession {sorted(values)} "
                     + ("contains" if ok else "does not contain") + f" the PACS's AccessionNumber {pacs!r}",
                     at, requirement, exchange=exchange)
        self.accession_systems = {str(i.get("system")) for i in based + own if i.get("value") == pacs and i.get("system")}

    def _patient(self, attributes: dict[str, Any], exchange: int) -> None:
        pacs = str(json_value(attributes, PATIENT_ID) or "").strip()
        subject = self.study.get("subject")
        identifier = subject.get("identifier") if isinstance(subject, dict) else None
        value = identifier.get("value") if isinstance(identifier, dict) else None
        if not pacs or not value:
            return  # the logical identifier is optional; without it the subject is not compared here
        ok = str(value) == pacs
        self.out.add("dicomweb.patient", ok, f"subject.identifier {value!r} " + ("is" if ok else "is not")
                     + f" the PACS's PatientID {pacs!r}" + ("" if ok else ": the study UID names another patient's "
                                                           "study in the PACS (a patient-identity conflict)"),
                     "ImagingStudy.subject.identifier", ("DICOM-013",), exchange=exchange)

    def _study_modalities(self, attributes: dict[str, Any], exchange: int) -> None:
        element = attributes.get(MODALITIES_IN_STUDY)
        pacs = {str(v) for v in (element.get("Value") or [])} if isinstance(element, dict) else set()
        fhir = {str(c.get("code")) for c in self.study.get("modality") or [] if isinstance(c, dict)}
        if not pacs or not fhir:
            return
        extra = sorted(fhir - pacs)
        self.out.add("dicomweb.study-modality", not extra,
                     f"study modality {sorted(fhir)} " + (f"has {extra}, which no series of the PACS study has "
                                                          f"(ModalitiesInStudy {sorted(pacs)})" if extra else
                                                          f"is among ModalitiesInStudy {sorted(pacs)}"),
                     "ImagingStudy.modality", ("IS-012",), exchange=exchange)

    def _qido_series_list(self, uid: str) -> dict[str, dict[str, Any]]:
        answer = self.client.get(f"studies/{uid}/series", accept=DICOM_JSON)
        self.series_list_exchange = len(self.client.exchanges) - 1
        return {str(json_value(s, SERIES_UID)): s for s in self._json_list(answer) or []}

    def _series_found(self, uid: str, series: dict[str, Any], at: str,
                      pacs_series: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        """The series' instances in the PACS (None: the series is not in this study there)."""
        series_uid = str(series.get("uid") or "")
        attributes = pacs_series.get(series_uid)
        if attributes is None:
            elsewhere = self._json_list(self.client.search_series(None, series_uid)) or []
            owners = sorted({str(json_value(s, STUDY_UID)) for s in elsewhere} - {uid})
            if owners:
                self.out.add("dicomweb.series-found", False, f"series {series_uid} belongs to study {owners[0]} in the "
                             f"PACS, not to {uid}: a Series Instance UID belongs to one study", f"{at}.uid",
                             ("DICOM-012",))
            else:
                self.out.add("dicomweb.series-found", False, f"the PACS has no series {series_uid} (in study {uid} "
                             "or any other): series.uid is not the Series Instance UID of a series it holds",
                             f"{at}.uid", ("IS-004",))
            return None
        exchange = self.series_list_exchange
        self.out.add("dicomweb.series-found", True, f"the PACS holds series {series_uid} in study {uid}",
                     f"{at}.uid", ("IS-004",), exchange=exchange)
        modality = (series.get("modality") or {}).get("code") if isinstance(series.get("modality"), dict) else None
        pacs_modality = json_value(attributes, MODALITY)
        if modality and pacs_modality:
            ok = modality == pacs_modality
            self.out.add("dicomweb.series-modality", ok, f"series.modality {modality!r} "
                         + ("is" if ok else "differs from") + f" the PACS's Modality (0008,0060) {pacs_modality!r}"
                         + ("" if ok else " (no catalogue requirement makes this a deviation: INFO)"),
                         f"{at}.modality", ("IS-005",), info=True, exchange=exchange)
        self._counts(f"{at}.numberOfInstances", series.get("numberOfInstances"),
                     json_value(attributes, N_SERIES_INSTANCES), "NumberOfSeriesRelatedInstances (0020,1209)",
                     exchange)
        answer = self.client.get(f"studies/{uid}/series/{series_uid}/instances", accept=DICOM_JSON)
        found = self._json_list(answer)
        self.listing_exchange[series_uid] = len(self.client.exchanges) - 1
        return {str(json_value(i, SOP_INSTANCE)): i for i in found or []}

    def _instances_found(self, uid: str, series: dict[str, Any], at: str,
                         pacs_instances: dict[str, dict[str, Any]]) -> None:
        """Each listed instance is in the series, with the SOP class the resource states. Disagreements are
        reported one by one (each its location); agreement once per series (a study may list thousands)."""
        series_uid = str(series.get("uid") or "")
        exchange = self.listing_exchange.get(series_uid)
        # a QIDO listing may be cut short by the PACS's result limit: the series metadata completes it
        known = {**self.metadata_instances.get(series_uid, {}), **pacs_instances}
        found = classes = lookups = 0
        for index, instance in enumerate(series.get("instance") or []):
            if not isinstance(instance, dict) or not instance.get("uid"):
                continue
            where = f"{at}.instance[{index}]"
            instance_uid = str(instance["uid"])
            attributes = known.get(instance_uid)
            owners: list[str] = []
            looked_up = attributes is None and lookups < MAX_INSTANCE_LOOKUPS
            if looked_up:  # where is it really? (one QIDO per instance, so only for the first few)
                lookups += 1
                elsewhere = self._json_list(self.client.search_instances(None, None, instance_uid)) or []
                attributes = next((i for i in elsewhere if json_value(i, SERIES_UID) in (series_uid, None)), None)
                owners = sorted({str(json_value(i, SERIES_UID)) for i in elsewhere} - {series_uid})
            if attributes is None:
                if owners:
                    self.out.add("dicomweb.instance-found", False, f"instance {instance_uid} belongs to series "
                                 f"{owners[0]} in the PACS, not to {series_uid}: a SOP Instance UID belongs to one "
                                 "series", f"{where}.uid", ("DICOM-012",))
                else:
                    self.out.add("dicomweb.instance-found", False, f"the PACS has no instance {instance_uid} in "
                                 f"series {series_uid} (neither its QIDO-RS listing nor its WADO-RS metadata"
                                 + (", nor anywhere else" if looked_up else "") + "): instance.uid is not the SOP "
                                 "Instance UID of an instance it holds", f"{where}.uid", ("IS-006",))
                continue
            found += 1
            sop_class = instance.get("sopClass")
            code = sop_class.get("code") if isinstance(sop_class, dict) else None
            pacs_class = json_value(attributes, SOP_CLASS)
            if not code or not pacs_class:
                continue
            if _uid_of_code(code) == pacs_class:
                classes += 1
            else:
                self.out.add("dicomweb.sop-class", False, f"sopClass {code!r} is not 'urn:oid:' + the SOP Class UID "
                             f"of instance {instance_uid} in the PACS ({pacs_class})", f"{where}.sopClass",
                             ("IS-030",), exchange=exchange)
        if found:
            self.out.add("dicomweb.instance-found", True, f"the PACS holds the {found} listed instance(s) of series "
                         f"{series_uid} there", f"{at}.instance.uid", ("IS-006",), exchange=exchange)
        if classes:
            self.out.add("dicomweb.sop-class", True, f"{classes} sopClass value(s) of series {series_uid} are the "
                         "SOP Class UIDs the PACS holds", f"{at}.instance.sopClass", ("IS-030",), exchange=exchange)

    def _unlisted_series(self, listed: list[dict[str, Any]], pacs_series: dict[str, dict[str, Any]]) -> None:
        unlisted = sorted(set(pacs_series) - {str(s.get("uid")) for s in listed})
        if unlisted:
            self.out.add("dicomweb.unlisted-series", True, f"the PACS holds {len(unlisted)} series the resource does "
                         f"not list ({', '.join(unlisted[:3])}{'…' if len(unlisted) > 3 else ''}): R4 lets an "
                         "ImagingStudy describe a subset of the study", "ImagingStudy.series", info=True,
                         exchange=self.series_list_exchange)

    # -- WADO-RS ----------------------------------------------------------------------------------------
    def _requirements(self, overridden: bool, *ids: str) -> tuple[str, ...]:
        return (*ids, "IS-048") if overridden else ids

    def _metadata(self, uid: str, series: dict[str, Any], at: str, endpoint: WadoEndpoint, overridden: bool) -> None:
        url = f"{endpoint.address}/studies/{uid}/series/{series.get('uid')}/metadata"
        answer = self.client.series_metadata(url)
        if self._refused_elsewhere(answer, f"{at}.uid"):
            return
        body = answer.dicom_json() if answer.status == 200 else None
        ok = answer.status == 200 and answer.media_type == DICOM_JSON and body is not None
        self.out.add("dicomweb.wado-metadata", ok, f"GET {url} (Accept: {DICOM_JSON}) answered {answer.status} "
                     f"{answer.media_type or 'without Content-Type'}"
                     + ("" if ok else ": the WADO-RS metadata URL built from this resource does not answer"),
                     f"{at}.uid", self._requirements(overridden, "IS-045", "IS-044"))
        if ok and body:
            self._accession_issuer(body[0], len(self.client.exchanges) - 1)
            self.metadata_instances[str(series.get("uid"))] = {str(json_value(i, SOP_INSTANCE)): i for i in body}

    def _refused_elsewhere(self, answer: PacsAnswer, at: str) -> bool:
        """401/403 from an Endpoint on another origin than the PACS given: the harness holds no credentials for
        it (and sends none there), so nothing can be judged (on the PACS's own origin the client raises)."""
        if answer.status not in (401, 403):
            return False
        self.out.add("dicomweb.not-authorised", False, f"GET {answer.url} answered {answer.status}: the endpoint is "
                     "on another origin than the PACS given, for which the harness has no credentials; not judged",
                     at, info=True)
        return True

    def _accession_issuer(self, attributes: dict[str, Any], exchange: int) -> None:
        systems = self.accession_systems
        if not systems or self.issuer_checked:
            return
        self.issuer_checked = True
        issuer = attributes.get(ACCESSION_ISSUER)
        items = issuer.get("Value") if isinstance(issuer, dict) else None
        expected: set[str] = set()
        for item in items or []:
            universal = str(json_value(item, UNIVERSAL_ENTITY_ID) or "")
            kind = str(json_value(item, UNIVERSAL_ENTITY_ID_TYPE) or "")
            if universal:
                expected.add(URN_OID + universal if kind == "ISO" else universal)
        if not expected:
            return
        ok = bool(systems & expected)
        self.out.add("dicomweb.accession-issuer", ok, f"accession system {sorted(systems)} "
                     + ("matches" if ok else "does not match") + f" the PACS's Issuer of Accession Number {sorted(expected)}"
                     + ("" if ok else " (how an HL7 v2 HD maps to a FHIR system is not fixed by the catalogue: INFO)"),
                     "ImagingStudy.basedOn.identifier.system", ("IS-028",), info=True, exchange=exchange)

    def _retrieve(self, uid: str, series: dict[str, Any], instance: dict[str, Any], at: str,
                  endpoint: WadoEndpoint, overridden: bool) -> None:
        url = f"{endpoint.address}/studies/{uid}/series/{series.get('uid')}/instances/{instance['uid']}"
        answer = self.client.retrieve_instance(url)
        if self._refused_elsewhere(answer, f"{at}.uid"):
            return
        requirement = self._requirements(overridden, "IS-044")
        if answer.status != 200 or answer.media_type != "multipart/related":
            self.out.add("dicomweb.wado-instance", False, f"GET {url} answered {answer.status} "
                         f"{answer.media_type or 'without Content-Type'}, not a multipart/related DICOM instance",
                         f"{at}.uid", requirement)
            return
        datasets = [read_dataset(part) for part in dicom_parts(answer.content_type, answer.content)]
        got = [str(ds.get("SOPInstanceUID", "")) for ds in datasets if ds is not None]
        ok = got == [str(instance["uid"])]
        self.out.add("dicomweb.wado-instance", ok, f"GET {url}: " + (
            "the one DICOM part is the instance named" if ok else
            f"the DICOM parts are {got or 'none readable'}, not the one instance {instance['uid']}"),
            f"{at}.uid", requirement)


def crosscheck_study(study: Mapping[str, Any], endpoints: Mapping[str, Mapping[str, Any]],
                     client: DicomWebClient, *, instances: int = 1) -> list[CrossCheck]:
    """Every comparison of one ImagingStudy with the PACS. ``endpoints``: reference as written
    (``Endpoint/x``, an absolute URL) → Endpoint resource; contained (``#x``) ones are found in the study.
    ``instances``: how many listed instances are retrieved by WADO-RS (the first ones). Raises
    :class:`~imgconf.dicomweb.client.DicomWebUnreachable` when the PACS does not answer."""
    return _StudyCheck(study, endpoints, client, instances).run()


EndpointResolver = Callable[[str], Mapping[str, Any] | None]


def endpoint_references(study: Mapping[str, Any]) -> list[str]:
    """The non-contained Endpoint references of a study and its series (what a caller must resolve)."""
    refs: list[str] = []
    holders = [study, *[s for s in study.get("series") or [] if isinstance(s, dict)]]
    for holder in holders:
        for ref in holder.get("endpoint") or []:
            target = ref.get("reference") if isinstance(ref, dict) else None
            if isinstance(target, str) and not target.startswith("#") and target not in refs:
                refs.append(target)
    return refs

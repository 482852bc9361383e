"""Static rules for an R4 ImagingStudy (catalogue §A.1-A.4, §G). Structure is checked elsewhere."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from imgconf.validators._shape import codings, contained_types, items, obj, reference_type, text
from imgconf.validators.bodysite import check_body_site_coding
from imgconf.validators.endpoint import IID, connection_type_code, validate_endpoint
from imgconf.validators.findings import Finding, short
from imgconf.validators.identifiers import (
    check_accession,
    check_bare_uid,
    check_study_identifiers,
    check_suffix_derived,
)
from imgconf.validators.modality import check_modality_coding
from imgconf.validators.sopclass import check_sop_class, sop_class_problems
from imgconf.validators.uid import MAX_UID_LEN, VALID_UID

R = "ImagingStudy"
STATUS_CODES = frozenset({"registered", "available", "cancelled", "entered-in-error", "unknown"})
SUBJECT_TYPES = frozenset({"Patient", "Device", "Group"})
ACTOR_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "CareTeam", "Patient", "Device",
                         "RelatedPerson"})
PERFORMER_FUNCTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PERFORMER_FUNCTION_CODES = frozenset({"CON", "VRF", "PRF", "SPRF", "REF"})
# IS-011: R5 elements, with what R4 uses instead.
R5_ONLY = {"reason": "reasonCode / reasonReference", "procedure": "procedureReference / procedureCode",
           "partOf": "no R4 equivalent"}

# R4 dateTime (datatypes.html#dateTime); IS-014.
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_ZONE = re.compile(r"(Z|[+-]\d\d:\d\d)$")


@functools.lru_cache(maxsize=4096)  # the series of a study mostly repeat its start time
def _is_datetime(value: str) -> bool:
    return _DATETIME.fullmatch(value) is not None


class _Study:
    """State shared by the per-series checks of one resource."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        self.contained = contained_types(resource)
        self.out: list[Finding] = []
        self.study_uid: str | None = None
        # UID -> location of first use (IS-015); (series location, instance index) for the instances
        # of the fast path, formatted only when a UID repeats.
        self.seen: dict[str, str | tuple[str, int]] = {}
        self.series_modalities: set[str] = set()
        self.instance_total = 0
        self.series_counts: list[int | None] = []  # declared series.numberOfInstances, per series (IS-057)

    def add(self, *args: Any) -> None:
        self.out.append(Finding(*args))

    def unique(self, uid: str, loc: str) -> None:
        first = self.seen.setdefault(uid, loc)
        if first != loc:
            if isinstance(first, tuple):  # an instance that took the fast path (see _instances)
                first = f"{first[0]}.instance[{first[1]}].uid"
            self.add("IS-015", "SHALL", loc, f"UID already used at {first}", uid)


def validate_imaging_study(resource: dict[str, Any], *,
                           endpoints: Mapping[str, dict[str, Any]] | None = None) -> list[Finding]:
    """Every static [V]-rule of §A.1-A.4 on one ImagingStudy. ``endpoints``: reference -> Endpoint
    for non-contained endpoints that should be checked too (contained ones always are)."""
    st = _Study(resource)
    _status(st)
    _subject(st)
    for key, r4 in R5_ONLY.items():
        if key in resource:
            st.add("IS-011", "SHALL NOT", f"{R}.{key}", f"'{key}' is an R5 element (R4: {r4})")
    _datetime(st, f"{R}.started", resource.get("started"))
    st.study_uid = check_study_identifiers(resource, st.out)
    if st.study_uid:
        st.seen[st.study_uid] = f"{R}.identifier"
    check_accession(resource, st.out)
    study_codes = _study_modalities(st)
    n_series = 0
    for i, series in items(resource, "series"):
        n_series += 1
        _series(st, i, series)
    _counts(st, n_series)
    if st.series_modalities:
        for i, code in study_codes:
            if code not in st.series_modalities:
                st.add("IS-012", "SHOULD", f"{R}.modality[{i}].code",
                       "study modality not found among the series modalities", code)
    _endpoints(st, endpoints or {})
    return st.out


def _status(st: _Study) -> None:
    status = st.resource.get("status")
    if status is None:
        st.add("IS-001", "SHALL", f"{R}.status", "status is required (1..1)")
    elif not isinstance(status, str) or status not in STATUS_CODES:
        st.add("IS-002", "SHALL", f"{R}.status",
               "status is not one of registered | available | cancelled | entered-in-error | unknown", short(status))


def _subject(st: _Study) -> None:
    subject = st.resource.get("subject")
    if subject is None:
        st.add("IS-003", "SHALL", f"{R}.subject", "subject is required (1..1)")
    elif isinstance(subject, dict):
        target = reference_type(subject, st.contained)
        if target is not None and target not in SUBJECT_TYPES:
            st.add("IS-003", "SHALL", f"{R}.subject", "subject must reference a Patient, Device or Group", target)


def _datetime(st: _Study, loc: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        st.add("IS-014", "SHALL", loc, "a dateTime is a string", short(value))
    elif _is_datetime(value):
        return
    elif "T" in value and not _ZONE.search(value):
        st.add("IS-014", "SHALL", loc, "a dateTime with a time carries a time zone", value)
    else:
        st.add("IS-014", "SHALL", loc, "not a valid R4 dateTime", value)


def _modality(st: _Study, loc: str, value: dict[str, Any]) -> str | None:
    if "coding" in value:  # R5 CodeableConcept where R4 has a Coding
        st.add("IS-011", "SHALL NOT", f"{loc}.coding", "modality is a Coding in R4 (CodeableConcept is R5)")
        return next((c.get("code") for c in codings(value) if isinstance(c.get("code"), str)), None)
    return check_modality_coding(loc, value, st.out)


def _study_modalities(st: _Study) -> list[tuple[int, str]]:
    found = []
    for i, coding in items(st.resource, "modality"):
        code = _modality(st, f"{R}.modality[{i}]", coding)
        if code:
            found.append((i, code))
    return found


def _series(st: _Study, i: int, series: dict[str, Any]) -> None:
    loc = f"{R}.series[{i}]"
    uid = series.get("uid")
    if uid is None:
        st.add("IS-004", "SHALL", f"{loc}.uid", "series.uid is required (1..1)")
    else:
        bare = check_bare_uid(f"{loc}.uid", uid, st.out)
        if bare:
            st.unique(bare, f"{loc}.uid")
            check_suffix_derived(f"{loc}.uid", bare, st.study_uid, st.out)
    modality = series.get("modality")
    code: str | None = None
    if modality is None:
        st.add("IS-005", "SHALL", f"{loc}.modality", "series.modality is required (1..1)")
    elif isinstance(modality, dict):
        code = _modality(st, f"{loc}.modality", modality)
        if code is None and "coding" not in modality:
            st.add("IS-005", "SHALL", f"{loc}.modality.code", "series.modality has no code")
    if code:
        st.series_modalities.add(code)
    body_site = obj(series, "bodySite")
    for key in ("concept", "reference"):
        if body_site is not None and key in body_site:
            st.add("IS-011", "SHALL NOT", f"{loc}.bodySite.{key}",
                   "series.bodySite is a Coding in R4 (CodeableReference is R5)")
    if body_site is not None and not body_site.keys() & {"concept", "reference"}:
        check_body_site_coding(f"{loc}.bodySite", body_site, "bodySite", st.out)
    laterality = obj(series, "laterality")
    if laterality is not None and "coding" in laterality:
        st.add("IS-011", "SHALL NOT", f"{loc}.laterality.coding",
               "series.laterality is a Coding in R4 (CodeableConcept is R5)")
    elif laterality is not None:
        check_body_site_coding(f"{loc}.laterality", laterality, "laterality", st.out)
    _datetime(st, f"{loc}.started", series.get("started"))
    _performers(st, loc, series)
    before = len(st.out)
    n = _instances(st, loc, series, code)
    _one_modality_mismatch_per_series(st, before)
    st.instance_total += n
    declared = count_value(series.get("numberOfInstances"))
    st.series_counts.append(declared)
    if declared is not None and declared < n:
        st.add("IS-013", "SHOULD", f"{loc}.numberOfInstances",
               f"numberOfInstances is smaller than the {n} instances listed", str(declared))


def _one_modality_mismatch_per_series(st: _Study, start: int) -> None:
    """DICOM-011 once per series: the first mismatching instance, with how many there are."""
    found = [k for k in range(start, len(st.out)) if st.out[k].requirement == "DICOM-011"]
    if len(found) < 2:
        return
    first = st.out[found[0]]
    st.out[found[0]] = Finding(first.requirement, first.level, first.location,
                               f"{first.message}; {len(found)} instances of this series", first.value)
    for k in reversed(found[1:]):
        del st.out[k]


def _performers(st: _Study, loc: str, series: dict[str, Any]) -> None:
    for k, performer in items(series, "performer"):
        ploc = f"{loc}.performer[{k}]"
        actor = performer.get("actor")
        if actor is None:
            st.add("IS-008", "SHALL", f"{ploc}.actor", "performer.actor is required (1..1)")
        elif isinstance(actor, dict):
            target = reference_type(actor, st.contained)
            if target is not None and target not in ACTOR_TYPES:
                st.add("IS-008", "SHALL", f"{ploc}.actor", "performer.actor target type is not allowed", target)
        function = list(codings(obj(performer, "function")))
        if function and not any(c.get("system") == PERFORMER_FUNCTION_SYSTEM and isinstance(c.get("code"), str)
                                and c["code"] in PERFORMER_FUNCTION_CODES for c in function):
            st.add("IS-009", "SHOULD", f"{ploc}.function",
                   "performer.function should use v3-ParticipationType CON | VRF | PRF | SPRF | REF",
                   short(function[0].get("code")))


def _instances(st: _Study, loc: str, series: dict[str, Any], series_modality: str | None) -> int:
    """Check every instance of a series; return how many there are. Why the fast path: a bulk
    study has thousands of instances and nearly all are fine; proving that takes a few lookups,
    while building their location strings for findings that never come costs more than the rules."""
    instances = series.get("instance")
    if not isinstance(instances, list):
        n = 0
        for j, instance in items(series, "instance"):
            n += 1
            _instance(st, f"{loc}.instance[{j}]", instance, series_modality)
        return n
    seen = st.seen
    valid_uid = VALID_UID
    n = 0
    for j, instance in enumerate(instances):
        if not isinstance(instance, dict):
            continue
        n += 1
        uid = instance.get("uid")
        sop = instance.get("sopClass")
        # Exactly the no-finding case of _instance: a valid UID with first arc 0/1/2 (IS-023/025),
        # not seen before (IS-015), a sopClass whose cached problems are none.
        if (type(uid) is str and len(uid) <= MAX_UID_LEN and valid_uid.fullmatch(uid) and uid[0] in "012"
                and uid[1] == "." and uid not in seen and type(sop) is dict):  # is_valid_uid, inlined
            system, code = sop.get("system"), sop.get("code")
            if (type(code) is str and code and (system is None or type(system) is str)
                    and not sop_class_problems(system, code, series_modality)):
                seen[uid] = (loc, j)
                continue
        _instance(st, f"{loc}.instance[{j}]", instance, series_modality)
    return n


def _instance(st: _Study, loc: str, instance: dict[str, Any], series_modality: str | None) -> None:
    uid = instance.get("uid")
    if uid is None:
        st.add("IS-006", "SHALL", f"{loc}.uid", "instance.uid is required (1..1)")
    else:
        bare = check_bare_uid(f"{loc}.uid", uid, st.out)
        if bare:
            st.unique(bare, f"{loc}.uid")
    sop = instance.get("sopClass")
    if sop is None:
        st.add("IS-007", "SHALL", f"{loc}.sopClass", "instance.sopClass is required (1..1)")
    elif isinstance(sop, dict):
        check_sop_class(f"{loc}.sopClass", sop, series_modality, st.out)


def count_value(value: Any) -> int | None:
    """A count as a number. A count written as a JSON string ("3") is REST-102 (reported by the
    structure check) and is still compared by its numeric value here (IS-013, IS-057)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def _counts(st: _Study, n_series: int) -> None:
    declared_series = count_value(st.resource.get("numberOfSeries"))
    if declared_series is not None and declared_series < n_series:
        st.add("IS-013", "SHOULD", f"{R}.numberOfSeries",
               f"numberOfSeries is smaller than the {n_series} series listed", str(declared_series))
    declared = count_value(st.resource.get("numberOfInstances"))
    if declared is not None and declared < st.instance_total:
        st.add("IS-013", "SHOULD", f"{R}.numberOfInstances",
               f"numberOfInstances is smaller than the {st.instance_total} instances listed", str(declared))
    # IS-057: only when the resource lists every series and every series states its count.
    counts = st.series_counts
    if (declared is not None and n_series and declared_series == n_series and None not in counts):
        total = sum(c for c in counts if c is not None)
        if declared != total:
            st.add("IS-057", "SHOULD", f"{R}.numberOfInstances",
                   f"numberOfInstances ({declared}) differs from the sum of series.numberOfInstances ({total}) "
                   f"although all {n_series} series are listed; one of the counts is wrong", str(declared))


def _endpoints(st: _Study, given: Mapping[str, dict[str, Any]]) -> None:
    """IS-040..043/049 on contained endpoints and on given ones the study references."""
    local: dict[str, dict[str, Any]] = {}
    for i, c in items(st.resource, "contained"):
        if c.get("resourceType") == "Endpoint":
            local["#" + str(c.get("id"))] = c
            st.out.extend(f.rerooted("Endpoint", f"{R}.contained[{i}]") for f in validate_endpoint(c))
    refs = [(f"{R}.endpoint[{k}]", ref, False) for k, ref in items(st.resource, "endpoint")]
    for i, series in items(st.resource, "series"):
        refs += [(f"{R}.series[{i}].endpoint[{k}]", ref, True) for k, ref in items(series, "endpoint")]
    checked: set[str] = set()
    for loc, ref, on_series in refs:
        key = text(ref, "reference")
        endpoint = local.get(key) if key is not None else None
        if endpoint is None and key is not None and key in given:
            endpoint = given[key]
            if key not in checked:
                checked.add(key)
                st.out.extend(f.rerooted("Endpoint", f"{loc}.resolve()") for f in validate_endpoint(endpoint))
        if on_series and endpoint is not None and connection_type_code(endpoint) == IID:
            st.add("IS-043", "SHOULD", loc, "an ihe-iid endpoint should only be referenced at study level", key)

"""FHIR R4 search-parameter table for the resource types imgconf cares about.

Expressions are the R4 ones, with one systematic rewrite: fhirpathpy has no ``resolve()``, so
``X.subject.where(resolve() is Patient)`` is stored as ``X.subject`` with ``targets=("Patient",)``
and the matcher keeps only references whose type is in ``targets`` (``r4_expression`` keeps the
original text for display). Common parameters are spelled per type (``ImagingStudy.meta.tag``)
because fhirpathpy does not evaluate a ``Resource.`` prefix against a concrete resource.
"""

from __future__ import annotations

from dataclasses import dataclass

PARAM_TYPES = frozenset(
    {"token", "reference", "date", "string", "uri", "number", "quantity", "composite", "special"}
)

MOTHERS_MAIDEN_NAME = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"


@dataclass(frozen=True)
class SearchParam:
    resource_type: str
    name: str
    type: str  # token|reference|date|string|uri|number|quantity|composite|special
    expression: str  # FHIRPath, evaluable by fhirpathpy with the R4 model
    targets: tuple[str, ...] = ()
    # composite only: (component type, FHIRPath relative to each base element)
    components: tuple[tuple[str, str], ...] = ()
    r4_expression: str = ""  # the R4 definition when it differs from `expression`
    url: str = ""  # canonical of the definition (CapabilityStatement.searchParam.definition)
    # token over a `code` primitive: the implicit system of its required binding (R4 token table)
    code_system: str = ""

    @property
    def restricts_target(self) -> bool:
        """True when the R4 expression filters references by type (``where(resolve() is X)``)."""
        return bool(self.r4_expression) and "resolve()" in self.r4_expression


# (name, type, expression with "{T}" for the resource type, targets)
_Row = tuple[str, str, str, tuple[str, ...]]

_COMMON: list[_Row] = [
    ("_id", "token", "{T}.id", ()),
    ("_lastUpdated", "date", "{T}.meta.lastUpdated", ()),
    ("_tag", "token", "{T}.meta.tag", ()),
    ("_profile", "uri", "{T}.meta.profile", ()),
    ("_security", "token", "{T}.meta.security", ()),
    ("_source", "uri", "{T}.meta.source", ()),
]

_ANY = ()  # reference to any resource type
_PERFORMER = (
    "Practitioner", "Organization", "CareTeam", "Device", "Patient", "PractitionerRole", "RelatedPerson",
)

_TABLE: dict[str, list[_Row]] = {
    "ImagingStudy": [  # §A.5, the 17 R4 parameters
        ("basedon", "reference", "ImagingStudy.basedOn",
         ("Appointment", "AppointmentResponse", "CarePlan", "Task", "ServiceRequest")),
        ("bodysite", "token", "ImagingStudy.series.bodySite", ()),
        ("dicom-class", "token", "ImagingStudy.series.instance.sopClass", ()),
        ("encounter", "reference", "ImagingStudy.encounter", ("Encounter",)),
        ("endpoint", "reference", "ImagingStudy.endpoint | ImagingStudy.series.endpoint", ("Endpoint",)),
        ("identifier", "token", "ImagingStudy.identifier", ()),
        ("instance", "token", "ImagingStudy.series.instance.uid", ()),
        ("interpreter", "reference", "ImagingStudy.interpreter", ("Practitioner", "PractitionerRole")),
        ("modality", "token", "ImagingStudy.series.modality", ()),
        ("patient", "reference", "ImagingStudy.subject", ("Patient",)),
        ("performer", "reference", "ImagingStudy.series.performer.actor", _PERFORMER),
        ("reason", "token", "ImagingStudy.reasonCode", ()),
        ("referrer", "reference", "ImagingStudy.referrer", ("Practitioner", "PractitionerRole")),
        ("series", "token", "ImagingStudy.series.uid", ()),
        ("started", "date", "ImagingStudy.started", ()),
        ("status", "token", "ImagingStudy.status", ()),
        ("subject", "reference", "ImagingStudy.subject", ("Group", "Device", "Patient")),
    ],
    "Patient": [  # R4 Patient parameters (superset of PDQm ITI-78, §C.4)
        ("active", "token", "Patient.active", ()),
        ("address", "string", "Patient.address", ()),
        ("address-city", "string", "Patient.address.city", ()),
        ("address-country", "string", "Patient.address.country", ()),
        ("address-postalcode", "string", "Patient.address.postalCode", ()),
        ("address-state", "string", "Patient.address.state", ()),
        ("address-use", "token", "Patient.address.use", ()),
        ("birthdate", "date", "Patient.birthDate", ()),
        ("death-date", "date", "Patient.deceased.ofType(dateTime)", ()),
        ("deceased", "token", "Patient.deceased.exists() and Patient.deceased != false", ()),
        ("email", "token", "Patient.telecom.where(system='email')", ()),
        ("family", "string", "Patient.name.family", ()),
        ("gender", "token", "Patient.gender", ()),
        ("general-practitioner", "reference", "Patient.generalPractitioner",
         ("Organization", "Practitioner", "PractitionerRole")),
        ("given", "string", "Patient.name.given", ()),
        ("identifier", "token", "Patient.identifier", ()),
        ("language", "token", "Patient.communication.language", ()),
        ("link", "reference", "Patient.link.other", ("Patient", "RelatedPerson")),
        ("mothersMaidenName", "string", f"Patient.extension('{MOTHERS_MAIDEN_NAME}').value", ()),
        ("name", "string", "Patient.name", ()),
        ("organization", "reference", "Patient.managingOrganization", ("Organization",)),
        ("phone", "token", "Patient.telecom.where(system='phone')", ()),
        ("telecom", "token", "Patient.telecom", ()),
    ],
    "DocumentReference": [  # R4 parameters + IHE MHD `creation` (§C.1.1)
        ("authenticator", "reference", "DocumentReference.authenticator",
         ("Practitioner", "Organization", "PractitionerRole")),
        ("author", "reference", "DocumentReference.author",
         ("Practitioner", "Organization", "Device", "Patient", "PractitionerRole", "RelatedPerson")),
        ("category", "token", "DocumentReference.category", ()),
        ("contenttype", "token", "DocumentReference.content.attachment.contentType", ()),
        ("creation", "date", "DocumentReference.content.attachment.creation", ()),
        ("custodian", "reference", "DocumentReference.custodian", ("Organization",)),
        ("date", "date", "DocumentReference.date", ()),
        ("description", "string", "DocumentReference.description", ()),
        ("encounter", "reference", "DocumentReference.context.encounter", ("Encounter", "EpisodeOfCare")),
        ("event", "token", "DocumentReference.context.event", ()),
        ("facility", "token", "DocumentReference.context.facilityType", ()),
        ("format", "token", "DocumentReference.content.format", ()),
        ("identifier", "token", "DocumentReference.masterIdentifier | DocumentReference.identifier", ()),
        ("language", "token", "DocumentReference.content.attachment.language", ()),
        ("location", "uri", "DocumentReference.content.attachment.url", ()),
        # EU Imaging IG / MADO (EUIMG-055, MAN-013): the R5 cross-version modality extension
        ("modality", "token",
         "DocumentReference.extension('http://hl7.org/fhir/5.0/StructureDefinition/extension-DocumentReference.modality').value", ()),
        ("patient", "reference", "DocumentReference.subject", ("Patient",)),
        ("period", "date", "DocumentReference.context.period", ()),
        ("related", "reference", "DocumentReference.context.related", _ANY),
        ("relatesto", "reference", "DocumentReference.relatesTo.target", ("DocumentReference",)),
        ("relation", "token", "DocumentReference.relatesTo.code", ()),
        ("relationship", "composite", "DocumentReference.relatesTo", ()),
        ("security-label", "token", "DocumentReference.securityLabel", ()),
        ("setting", "token", "DocumentReference.context.practiceSetting", ()),
        ("status", "token", "DocumentReference.status", ()),
        ("subject", "reference", "DocumentReference.subject", ("Practitioner", "Group", "Device", "Patient")),
        ("type", "token", "DocumentReference.type", ()),
    ],
    "Endpoint": [
        ("connection-type", "token", "Endpoint.connectionType", ()),
        ("identifier", "token", "Endpoint.identifier", ()),
        ("name", "string", "Endpoint.name", ()),
        ("organization", "reference", "Endpoint.managingOrganization", ("Organization",)),
        ("payload-type", "token", "Endpoint.payloadType", ()),
        ("status", "token", "Endpoint.status", ()),
    ],
    "Binary": [],
    "Bundle": [
        # R4: Bundle.entry[0].resource — the Composition inside the document itself (chain target).
        ("composition", "reference", "Bundle.entry[0].resource", ("Composition",)),
        ("identifier", "token", "Bundle.identifier", ()),
        ("message", "reference", "Bundle.entry[0].resource", ("MessageHeader",)),
        ("timestamp", "date", "Bundle.timestamp", ()),
        ("type", "token", "Bundle.type", ()),
    ],
    "Practitioner": [
        ("active", "token", "Practitioner.active", ()),
        ("address", "string", "Practitioner.address", ()),
        ("family", "string", "Practitioner.name.family", ()),
        ("gender", "token", "Practitioner.gender", ()),
        ("given", "string", "Practitioner.name.given", ()),
        ("identifier", "token", "Practitioner.identifier", ()),
        ("name", "string", "Practitioner.name", ()),
        ("telecom", "token", "Practitioner.telecom", ()),
    ],
    "PractitionerRole": [
        ("identifier", "token", "PractitionerRole.identifier", ()),
        ("organization", "reference", "PractitionerRole.organization", ("Organization",)),
        ("practitioner", "reference", "PractitionerRole.practitioner", ("Practitioner",)),
        ("role", "token", "PractitionerRole.code", ()),
    ],
    "Organization": [
        ("active", "token", "Organization.active", ()),
        ("identifier", "token", "Organization.identifier", ()),
        ("name", "string", "Organization.name | Organization.alias", ()),
        ("partof", "reference", "Organization.partOf", ("Organization",)),
        ("type", "token", "Organization.type", ()),
    ],
    "ServiceRequest": [
        ("code", "token", "ServiceRequest.code", ()),
        ("encounter", "reference", "ServiceRequest.encounter", ("Encounter",)),
        ("identifier", "token", "ServiceRequest.identifier", ()),
        ("patient", "reference", "ServiceRequest.subject", ("Patient",)),
        ("performer", "reference", "ServiceRequest.performer",
         ("Practitioner", "Organization", "CareTeam", "HealthcareService", "Patient", "Device",
          "PractitionerRole", "RelatedPerson")),
        ("requisition", "token", "ServiceRequest.requisition", ()),
        ("status", "token", "ServiceRequest.status", ()),
        ("subject", "reference", "ServiceRequest.subject", ("Group", "Device", "Patient", "Location")),
    ],
    "Encounter": [
        ("date", "date", "Encounter.period", ()),
        ("identifier", "token", "Encounter.identifier", ()),
        ("patient", "reference", "Encounter.subject", ("Patient",)),
        ("status", "token", "Encounter.status", ()),
        ("subject", "reference", "Encounter.subject", ("Group", "Patient")),
    ],
    "Device": [
        ("identifier", "token", "Device.identifier", ()),
        ("patient", "reference", "Device.patient", ("Patient",)),
        ("status", "token", "Device.status", ()),
        ("type", "token", "Device.type", ()),
    ],
    "Group": [
        ("code", "token", "Group.code", ()),
        ("identifier", "token", "Group.identifier", ()),
        ("member", "reference", "Group.member.entity",
         ("Patient", "Practitioner", "Group", "Device", "Medication", "Substance", "PractitionerRole")),
        ("type", "token", "Group.type", ()),
    ],
    "Composition": [  # chain target of Bundle?composition.… (not stored by the reference server)
        ("attester", "reference", "Composition.attester.party",
         ("Practitioner", "Organization", "Patient", "PractitionerRole", "RelatedPerson")),
        ("author", "reference", "Composition.author",
         ("Practitioner", "Organization", "Device", "Patient", "PractitionerRole", "RelatedPerson")),
        ("category", "token", "Composition.category", ()),
        ("date", "date", "Composition.date", ()),
        ("identifier", "token", "Composition.identifier", ()),
        ("patient", "reference", "Composition.subject", ("Patient",)),
        ("status", "token", "Composition.status", ()),
        ("subject", "reference", "Composition.subject", _ANY),
        ("type", "token", "Composition.type", ()),
    ],
    "DiagnosticReport": [
        ("based-on", "reference", "DiagnosticReport.basedOn",
         ("CarePlan", "MedicationRequest", "NutritionOrder", "ServiceRequest", "ImmunizationRecommendation")),
        ("category", "token", "DiagnosticReport.category", ()),
        ("code", "token", "DiagnosticReport.code", ()),
        ("date", "date", "DiagnosticReport.effective", ()),
        ("encounter", "reference", "DiagnosticReport.encounter", ("Encounter", "EpisodeOfCare")),
        ("identifier", "token", "DiagnosticReport.identifier", ()),
        ("issued", "date", "DiagnosticReport.issued", ()),
        ("media", "reference", "DiagnosticReport.media.link", ("Media",)),
        ("patient", "reference", "DiagnosticReport.subject", ("Patient",)),
        ("performer", "reference", "DiagnosticReport.performer",
         ("Practitioner", "Organization", "CareTeam", "PractitionerRole")),
        ("result", "reference", "DiagnosticReport.result", ("Observation",)),
        ("results-interpreter", "reference", "DiagnosticReport.resultsInterpreter",
         ("Practitioner", "Organization", "CareTeam", "PractitionerRole")),
        ("status", "token", "DiagnosticReport.status", ()),
        ("subject", "reference", "DiagnosticReport.subject", ("Patient", "Group", "Device", "Location")),
    ],
    "Provenance": [
        ("agent", "reference", "Provenance.agent.who", _ANY),
        ("patient", "reference", "Provenance.target", ("Patient",)),
        ("recorded", "date", "Provenance.recorded", ()),
        ("target", "reference", "Provenance.target", _ANY),
    ],
}

# R4 expressions that use resolve(); kept for display and for `restricts_target`.
_R4_RESOLVE = {
    ("ImagingStudy", "patient"): "ImagingStudy.subject.where(resolve() is Patient)",
    ("DocumentReference", "patient"): "DocumentReference.subject.where(resolve() is Patient)",
    ("ServiceRequest", "patient"): "ServiceRequest.subject.where(resolve() is Patient)",
    ("Encounter", "patient"): "Encounter.subject.where(resolve() is Patient)",
    ("Provenance", "patient"): "Provenance.target.where(resolve() is Patient)",
    ("Composition", "patient"): "Composition.subject.where(resolve() is Patient)",
    ("DiagnosticReport", "patient"): "DiagnosticReport.subject.where(resolve() is Patient)",
}

# Composite parameters: (component type, expression relative to the base element).
_COMPOSITES = {
    ("DocumentReference", "relationship"): (("token", "code"), ("reference", "target")),
}

# Token parameters over `code` primitives: R4 gives the code the (implicit) system of the
# bound value set, so `status=http://hl7.org/fhir/imagingstudy-status|available` matches.
_FHIR = "http://hl7.org/fhir/"
_CODE_SYSTEMS = {
    ("ImagingStudy", "status"): _FHIR + "imagingstudy-status",
    ("DocumentReference", "status"): _FHIR + "document-reference-status",
    ("DocumentReference", "relation"): _FHIR + "document-relationship-type",
    ("DocumentReference", "contenttype"): "urn:ietf:bcp:13",
    ("DocumentReference", "language"): "urn:ietf:bcp:47",
    ("Patient", "gender"): _FHIR + "administrative-gender",
    ("Patient", "address-use"): _FHIR + "address-use",
    ("Practitioner", "gender"): _FHIR + "administrative-gender",
    ("Endpoint", "status"): _FHIR + "endpoint-status",
    ("Bundle", "type"): _FHIR + "bundle-type",
    ("ServiceRequest", "status"): _FHIR + "request-status",
    ("Encounter", "status"): _FHIR + "encounter-status",
    ("Device", "status"): _FHIR + "device-status",
    ("Group", "type"): _FHIR + "group-type",
    ("Composition", "status"): _FHIR + "composition-status",
    ("DiagnosticReport", "status"): _FHIR + "diagnostic-report-status",
}

# Canonical URLs for parameters not defined by core R4.
_URLS = {
    ("DocumentReference", "creation"): "https://profiles.ihe.net/ITI/MHD/SearchParameter/DocumentReference-Creation",
    ("DocumentReference", "modality"): "http://hl7.eu/fhir/imaging/SearchParameter/SearchParameterDocumentReferenceModality",
    ("Patient", "mothersMaidenName"): "http://hl7.org/fhir/SearchParameter/patient-extensions-Patient-mothersMaidenName",
}


# R4 defines some parameters once for several resources (clinical-*, individual-*); the
# CapabilityStatement should point at that shared definition.
_SHARED = {
    **{(t, "patient"): "clinical-patient" for t in ("ImagingStudy", "DocumentReference", "ServiceRequest",
                                                    "Encounter", "Composition", "DiagnosticReport")},
    **{(t, "identifier"): "clinical-identifier" for t in ("ImagingStudy", "DocumentReference", "ServiceRequest",
                                                          "Encounter", "Composition", "DiagnosticReport")},
    **{(t, "encounter"): "clinical-encounter" for t in ("DocumentReference", "ServiceRequest", "DiagnosticReport")},
    ("DiagnosticReport", "code"): "clinical-code",
    ("DiagnosticReport", "date"): "clinical-date",
    ("DocumentReference", "type"): "clinical-type",
    ("Composition", "type"): "clinical-type",
    ("Encounter", "date"): "clinical-date",
    ("Composition", "date"): "clinical-date",
    **{(t, n): f"individual-{n}" for t in ("Patient", "Practitioner")
       for n in ("address", "address-city", "address-country", "address-postalcode", "address-state",
                 "address-use", "email", "family", "gender", "given", "phone", "phonetic", "telecom")},
    ("Patient", "birthdate"): "individual-birthdate",
}
for _key, _sid in _SHARED.items():
    _URLS.setdefault(_key, f"http://hl7.org/fhir/SearchParameter/{_sid}")


def _build() -> dict[str, dict[str, SearchParam]]:
    out: dict[str, dict[str, SearchParam]] = {}
    for rtype, rows in _TABLE.items():
        params: dict[str, SearchParam] = {}
        for name, ptype, expr, targets in _COMMON:
            url = f"http://hl7.org/fhir/SearchParameter/Resource{name.replace('_', '-', 1)}"
            params[name] = SearchParam(rtype, name, ptype, expr.format(T=rtype), targets, url=url)
        for name, ptype, expr, targets in rows:
            assert ptype in PARAM_TYPES, (rtype, name)
            key = (rtype, name)
            url = _URLS.get(key, f"http://hl7.org/fhir/SearchParameter/{rtype}-{name}")
            params[name] = SearchParam(
                rtype, name, ptype, expr, targets,
                components=_COMPOSITES.get(key, ()),
                r4_expression=_R4_RESOLVE.get(key, ""),
                url=url,
                code_system=_CODE_SYSTEMS.get(key, ""),
            )
        out[rtype] = params
    return out


_REGISTRY = _build()


def get_param(resource_type: str, name: str) -> SearchParam | None:
    """The parameter `name` (case-sensitive, REST-090) of `resource_type`, or None."""
    return _REGISTRY.get(resource_type, {}).get(name)


def params_for(resource_type: str) -> dict[str, SearchParam]:
    """All parameters of `resource_type` by name (a copy; empty for an unknown type)."""
    return dict(_REGISTRY.get(resource_type, {}))


def resource_types() -> list[str]:
    return sorted(_REGISTRY)

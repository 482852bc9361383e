"""The HL7 Europe Imaging Report document (R4): Bundle (EUIMG-040..043), Composition
(EUIMG-020..026) and DiagnosticReport (EUIMG-030..036) key constraints, and references that must
resolve inside the Bundle (FHIRPath ``resolve()`` over the entries, imgconf.fhirpath).

The FHIRPath expressions (``BundlePath.fhirpath``) define what the rule asks. fhirpathpy interprets
them at ~1 ms each, so each also has a plain-Python reading for the shapes that reading vouches for
(well-typed JSON, no primitive-extension twins); on any other shape the reading gives up and fhirpathpy
decides. tests/test_imaging_report_paths.py holds both to the same answers over every example and
mutant, so the expressions stay the one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imgconf.fhirpath import BundleIndex, evaluate_in_bundle
from imgconf.validators._shape import codings, items, obj, text
from imgconf.validators.documentreference import LEGACY_REPORT_TYPE, LOINC, PRIORITY_CS, PRIORITY_CS_R5, REPORT_TYPE
from imgconf.validators.findings import Finding, short

DCM = "http://dicom.nema.org/resources/ontology/DCM"
DR_COMPOSITION_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.composition"
# EUIMG-025: section slices by LOINC code -> (name, minimum, maximum)
SECTIONS = {
    "18726-0": ("imagingstudy", 1, 1), "55115-0": ("order", 1, 1), "11329-0": ("history", 1, 1),
    "55111-9": ("procedure", 1, 1), "18834-2": ("comparison", 0, 1), "59776-5": ("findings", 0, 1),
    "19005-8": ("impression", 0, 1), "18783-1": ("recommendation", 0, 1), "73568-8": ("communication", 0, 1),
    "LP173421-1": ("report", 0, 1),
}
_FORBIDDEN_ENTRY_KEYS = ("link", "search", "request", "response")


class NotVouched(Exception):
    """A plain reading met a shape it does not answer for: the FHIRPath expression decides."""


@dataclass(frozen=True)
class BundlePath:
    """One FHIRPath expression of the rule (the definition) evaluated on a resource of ``context``
    type inside the Bundle, and its plain reading (raises NotVouched when unsure)."""

    context: str
    fhirpath: str
    plain: Callable[[dict[str, Any], BundleIndex], list[Any]]


def evaluate_path(path: BundlePath, resource: dict[str, Any], index: BundleIndex, *, plain: bool = True) -> list[Any]:
    """The values of ``path`` on ``resource``; malformed data gives no values, never an exception."""
    if plain:
        try:
            return path.plain(resource, index)
        except (NotVouched, RecursionError):  # fhirpathpy answers [] where it recurses too deep
            pass
    try:
        return [v for v in evaluate_in_bundle(path.fhirpath, resource, index) if v is not None]
    except Exception:  # noqa: BLE001 - server data of any shape
        return []


# -- plain readings: each step refuses (NotVouched) what FHIRPath would read differently from JSON --

def _elements(parent: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``parent.key`` as FHIRPath navigates it, vouched only for an absent key or a list of objects."""
    if "_" + key in parent:
        raise NotVouched
    if key not in parent:
        return []
    value = parent[key]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise NotVouched
    return value


def _string(parent: dict[str, Any], key: str) -> str | None:
    if "_" + key in parent:
        raise NotVouched
    if key not in parent:
        return None
    value = parent[key]
    if not isinstance(value, str):
        raise NotVouched
    return value


def _as_returned(value: Any) -> Any:
    """fhirpathpy hands back copies with floats as Decimal and list items that are only
    ``{"extension": …}`` left out; a value where that would change anything is not vouched for."""
    if isinstance(value, float):
        raise NotVouched
    if isinstance(value, dict):
        for inner in value.values():
            _as_returned(inner)
    elif isinstance(value, list):
        for inner in value:
            if isinstance(inner, dict) and list(inner) == ["extension"]:
                raise NotVouched
            _as_returned(inner)
    return value


def _resolved(references: list[dict[str, Any]], index: BundleIndex, rtype: str | None) -> list[Any]:
    """``references.resolve()`` (imgconf.fhirpath), then ``.where(resourceType = rtype)``."""
    found = []
    for reference in references:
        ref = _string(reference, "reference")
        target = index.lookup(ref) if ref is not None else None
        if target is None:
            continue
        _as_returned([target])
        if rtype is None or _string(target, "resourceType") == rtype:
            found.append(target)
    return found


def _study_section_entries(composition: dict[str, Any], index: BundleIndex) -> list[Any]:
    entries: list[dict[str, Any]] = []
    for section in _elements(composition, "section"):
        if "_code" in section or ("code" in section and not isinstance(section["code"], dict)):
            raise NotVouched
        # Every coding read whole (FHIRPath's `and` evaluates both sides; a malformed side can fail the expression).
        pairs = [(_string(c, "system"), _string(c, "code")) for c in _elements(section.get("code", {}), "coding")]
        if (LOINC, "18726-0") in pairs:
            entries += _elements(section, "entry")
    return _as_returned(entries)


def _composition_extension_target(report: dict[str, Any], index: BundleIndex) -> list[Any]:
    references = []
    for extension in _elements(report, "extension"):
        if _string(extension, "url") != DR_COMPOSITION_EXT:
            continue
        values = [k for k in extension if k.startswith(("value", "_value"))]
        if values != ["valueReference"] or not isinstance(extension["valueReference"], dict):
            raise NotVouched
        references.append(extension["valueReference"])
    return _resolved(references, index, "Composition")


def _references_of(element: str, rtype: str | None) -> Callable[[dict[str, Any], BundleIndex], list[Any]]:
    return lambda resource, index: _resolved(_elements(resource, element), index, rtype)


_STUDY_SECTION = "section.where(code.coding.where(system = 'http://loinc.org' and code = '18726-0').exists()).entry"
STUDY_SECTION_ENTRIES = BundlePath("Composition", _STUDY_SECTION, _study_section_entries)
STUDY_SECTION_STUDIES = BundlePath(
    "Composition", _STUDY_SECTION + ".resolve().where(resourceType = 'ImagingStudy')",
    lambda composition, index: _resolved(_study_section_entries(composition, index), index, "ImagingStudy"))
COMPOSITION_EXTENSION_TARGET = BundlePath(
    "DiagnosticReport", f"extension.where(url = '{DR_COMPOSITION_EXT}').value.resolve().where(resourceType = 'Composition')",
    _composition_extension_target)
REPORT_STUDIES = BundlePath("DiagnosticReport", "imagingStudy.resolve()", _references_of("imagingStudy", None))
PERFORMER_ORGANIZATIONS = BundlePath("DiagnosticReport", "performer.resolve().where(resourceType = 'Organization')",
                                     _references_of("performer", "Organization"))
AUTHOR_ORGANIZATIONS = BundlePath("Composition", "author.resolve().where(resourceType = 'Organization')",
                                  _references_of("author", "Organization"))
PathReader = Callable[[BundlePath, dict[str, Any]], list[Any]]
BUNDLE_PATHS = (STUDY_SECTION_ENTRIES, STUDY_SECTION_STUDIES, COMPOSITION_EXTENSION_TARGET, REPORT_STUDIES,
                PERFORMER_ORGANIZATIONS, AUTHOR_ORGANIZATIONS)


def _entries(bundle: dict[str, Any]) -> list[tuple[int, dict[str, Any], dict[str, Any] | None]]:
    return [(i, e, obj(e, "resource")) for i, e in items(bundle, "entry")]


def _of_type(bundle: dict[str, Any], rtype: str) -> list[tuple[int, dict[str, Any]]]:
    return [(i, r) for i, _, r in _entries(bundle) if r is not None and r.get("resourceType") == rtype]


def _has_code(concepts: Any, system: str, code: str) -> bool:
    values = concepts if isinstance(concepts, list) else [concepts]
    return any(c.get("system") == system and c.get("code") == code for v in values for c in codings(v))


def is_imaging_report_bundle(bundle: Any) -> bool:
    """A document (or collection) Bundle whose Composition or DiagnosticReport is an imaging report."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") not in ("document", "collection"):
        return False
    for _, _, r in _entries(bundle):
        if r and r.get("resourceType") in ("Composition", "DiagnosticReport"):
            cats = r.get("category")
            kind = r.get("type") if r["resourceType"] == "Composition" else r.get("code")
            if _has_code(cats, LOINC, REPORT_TYPE) or _has_code(cats, PRIORITY_CS, "Medical-Imaging") or \
                    _has_code(kind, LOINC, REPORT_TYPE) or _has_code(kind, LOINC, LEGACY_REPORT_TYPE):
                return True
    return False


def _categories(resource: dict[str, Any], where: str, requirement: str, out: list[Finding]) -> None:
    cats = resource.get("category")
    if not _has_code(cats, LOINC, REPORT_TYPE):
        out.append(Finding(requirement, "SHALL", f"{where}.category", f"category slice imaging-report = {LOINC}#{REPORT_TYPE} (1..1)"))
    if not _has_code(cats, PRIORITY_CS, "Medical-Imaging"):
        r5 = _has_code(cats, PRIORITY_CS_R5, "Medical-Imaging")
        out.append(Finding(requirement, "SHOULD" if r5 else "SHALL", f"{where}.category",
                           f"category slice imaging = {PRIORITY_CS}#Medical-Imaging (1..1)"
                           + ("; found the R5 CodeSystem URL" if r5 else ""), findings=("FIND-07",) if r5 else ()))


def _references(value: Any, path: str) -> list[tuple[str, str]]:
    """(path, reference) of every literal Reference.reference in a resource."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.append((path, ref))
        for key, inner in value.items():
            if key not in ("reference", "text", "contained"):
                found += _references(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _references(inner, f"{path}[{i}]")
    return found


def _bundle_shape(bundle: dict[str, Any], out: list[Finding]) -> None:
    document = bundle.get("type") == "document"
    if not isinstance(bundle.get("identifier"), dict):
        out.append(Finding("EUIMG-042" if document else "EUIMG-040", "SHALL", "Bundle.identifier",
                           "a document Bundle has an identifier (bdl-9)"))
    if document and not text(bundle, "timestamp"):
        out.append(Finding("EUIMG-042", "SHALL", "Bundle.timestamp", "a document Bundle has a timestamp (bdl-10)"))
    if "total" in bundle:
        out.append(Finding("EUIMG-040", "SHALL", "Bundle.total", "total is not allowed in a report Bundle (0..0)"))
    entries = _entries(bundle)
    for i, entry, resource in entries:
        if not text(entry, "fullUrl") or resource is None:
            out.append(Finding("EUIMG-040", "SHALL", f"Bundle.entry[{i}]", "each entry has fullUrl and resource"))
        for key in _FORBIDDEN_ENTRY_KEYS:
            if key in entry:
                out.append(Finding("EUIMG-040", "SHALL", f"Bundle.entry[{i}].{key}", f"entry.{key} is not allowed in a report document"))


def _document_slices(bundle: dict[str, Any], out: list[Finding]) -> None:
    entries = _entries(bundle)
    if len(entries) < 2:
        out.append(Finding("EUIMG-040", "SHALL", "Bundle.entry", f"a report Bundle has at least 2 entries (found {len(entries)})"))
    first = entries[0][2] if entries else None
    if not first or first.get("resourceType") != "Composition":
        out.append(Finding("EUIMG-042", "SHALL", "Bundle.entry[0].resource",
                           "the first entry of a document is the Composition (bdl-11)", short((first or {}).get("resourceType"))))
    for rtype, low, high in (("Composition", 1, 1), ("DiagnosticReport", 1, 1), ("Patient", 1, 1), ("ImagingStudy", 1, None)):
        n = len(_of_type(bundle, rtype))
        if n < low or (high is not None and n > high):
            span = f"{low}..{high if high is not None else '*'}"
            out.append(Finding("EUIMG-040", "SHALL", "Bundle.entry", f"{rtype} entries: {span} (found {n})"))


def _resolution(bundle: dict[str, Any], index: BundleIndex, out: list[Finding]) -> None:
    for i, _, resource in _entries(bundle):
        if resource is None or resource.get("resourceType") not in ("Composition", "DiagnosticReport", "ImagingStudy"):
            continue
        for path, ref in _references(resource, f"Bundle.entry[{i}].resource"):
            if index.lookup(ref) is None:
                out.append(Finding("EUIMG-040", "SHALL", path, "the reference does not resolve inside the document Bundle", short(ref)))


def _composition(bundle: dict[str, Any], fp: PathReader, out: list[Finding]) -> None:
    for i, comp in _of_type(bundle, "Composition"):
        where = f"Bundle.entry[{i}].resource"
        if not isinstance(comp.get("identifier"), dict):
            out.append(Finding("EUIMG-020", "SHALL", f"{where}.identifier", "Composition.identifier is 1..1"))
        else:
            report_ids = [ident for _, dr in _of_type(bundle, "DiagnosticReport") for _, ident in items(dr, "identifier")]
            ident = comp["identifier"]
            if not any(r.get("system") == ident.get("system") and r.get("value") == ident.get("value") for r in report_ids):
                out.append(Finding("EUIMG-020", "SHALL", f"{where}.identifier",
                                   "Composition.identifier equals one of the DiagnosticReport identifiers", short(ident.get("value"))))
        if not comp.get("subject"):
            out.append(Finding("EUIMG-021", "SHALL", f"{where}.subject", "subject is 1..1"))
        if not comp.get("author"):
            out.append(Finding("EUIMG-021", "SHALL", f"{where}.author", "author is 1..*"))
        for j, att in items(comp, "attester"):
            if att.get("mode") in ("legal", "professional") and not text(att, "time"):
                out.append(Finding("EUIMG-022", "SHALL", f"{where}.attester[{j}].time",
                                   f"a {att['mode']} attester (legalAuthenticator/resultValidator) has a time"))
        _categories(comp, where, "EUIMG-024", out)
        _sections(comp, where, fp, out)
        if not (comp.get("text") or comp.get("section")):
            out.append(Finding("EUIMG-026", "SHALL", where, "eu-imaging-composition-2: text, entry or section is required"))


def _sections(comp: dict[str, Any], where: str, fp: PathReader, out: list[Finding]) -> None:
    counts: dict[str, int] = {}
    for j, section in items(comp, "section"):
        codes = [str(c.get("code")) for c in codings(section.get("code")) if c.get("system") == LOINC]
        if not section.get("code"):
            out.append(Finding("EUIMG-025", "SHALL", f"{where}.section[{j}].code", "section.code is 1..1"))
        for code in codes:
            if code in SECTIONS:
                counts[code] = counts.get(code, 0) + 1
        if not (section.get("text") or section.get("entry") or section.get("section") or section.get("emptyReason")):
            out.append(Finding("EUIMG-026", "SHALL", f"{where}.section[{j}]", "a section has text, entries, subsections or an emptyReason"))
    for code, (name, low, high) in SECTIONS.items():
        n = counts.get(code, 0)
        if n < low or n > high:
            out.append(Finding("EUIMG-025", "SHALL", f"{where}.section",
                               f"section {name} ({LOINC}#{code}) is {low}..{high} (found {n})"))
    # The imagingstudy section's entries resolve to ImagingStudy resources in the Bundle.
    refs = fp(STUDY_SECTION_ENTRIES, comp)
    studies = fp(STUDY_SECTION_STUDIES, comp)
    if counts.get("18726-0") and (not refs or len(studies) != len(refs)):
        out.append(Finding("EUIMG-025", "SHALL", f"{where}.section",
                           f"the imagingstudy section has 1..* entries resolving to ImagingStudy ({len(studies)} of {len(refs)})"))


def _diagnostic_report(bundle: dict[str, Any], fp: PathReader, out: list[Finding]) -> None:
    comps = _of_type(bundle, "Composition")
    comp = comps[0][1] if comps else {}
    for i, dr in _of_type(bundle, "DiagnosticReport"):
        where = f"Bundle.entry[{i}].resource"
        if not dr.get("identifier"):
            out.append(Finding("EUIMG-030", "SHALL", f"{where}.identifier", "identifier is 1..*"))
        if not dr.get("subject"):
            out.append(Finding("EUIMG-030", "SHALL", f"{where}.subject", "subject is 1..1"))
        links = [e for _, e in items(dr, "extension") if e.get("url") == DR_COMPOSITION_EXT]
        if len(links) != 1:
            out.append(Finding("EUIMG-030", "SHALL", f"{where}.extension",
                               f"exactly one composition extension ({DR_COMPOSITION_EXT}); found {len(links)}"))
        elif not fp(COMPOSITION_EXTENSION_TARGET, dr):
            out.append(Finding("EUIMG-030", "SHALL", f"{where}.extension", "the composition extension does not resolve to the Composition"))
        _categories(dr, where, "EUIMG-031", out)
        if comp and dr.get("status") != _aligned_status(comp.get("status")):
            out.append(Finding("EUIMG-033", "SHALL", f"{where}.status",
                               f"DiagnosticReport.status is not aligned with Composition.status {comp.get('status')!r}",
                               short(dr.get("status"))))
        comp_type = {(str(c.get("system")), str(c.get("code"))) for c in codings(comp.get("type"))} if comp else set()
        dr_code = {(str(c.get("system")), str(c.get("code"))) for c in codings(dr.get("code"))}
        if comp_type and not comp_type & dr_code:
            out.append(Finding("EUIMG-032", "SHOULD", f"{where}.code", "DiagnosticReport.code should equal Composition.type"))
        studies = fp(REPORT_STUDIES, dr)
        if len(studies) != len(list(items(dr, "imagingStudy"))) or any(s.get("resourceType") != "ImagingStudy" for s in studies):
            out.append(Finding("EUIMG-034", "SHALL", f"{where}.imagingStudy", "imagingStudy references resolve to ImagingStudy entries"))
        # dr-comp-author-org (EUIMG-041): the performing Organization is the authoring Organization.
        performer = set(map(_key, fp(PERFORMER_ORGANIZATIONS, dr)))
        author = set(map(_key, fp(AUTHOR_ORGANIZATIONS, comp))) if comp else set()
        if performer != author:
            out.append(Finding("EUIMG-041", "SHALL", f"{where}.performer",
                               "dr-comp-author-org: the DiagnosticReport performer Organization is the Composition author Organization"))


def _key(resource: Any) -> str:
    """Resolved resources are compared by content (fhirpathpy hands back copies)."""
    return json.dumps(resource, sort_keys=True, default=str)


def _aligned_status(composition_status: Any) -> str | None:
    return {"final": "final", "preliminary": "preliminary", "amended": "amended",
            "entered-in-error": "entered-in-error"}.get(str(composition_status))


def _imaging_studies(bundle: dict[str, Any], out: list[Finding]) -> None:
    for i, study in _of_type(bundle, "ImagingStudy"):
        uids = [ident for _, ident in items(study, "identifier") if ident.get("system") == "urn:dicom:uid"]
        typed = [u for u in uids if _has_code(u.get("type"), DCM, "110180")]
        if len(typed) != 1:
            out.append(Finding("EUIMG-010", "SHALL", f"Bundle.entry[{i}].resource.identifier",
                               f"one Study Instance UID identifier (system urn:dicom:uid, type DCM#110180); found {len(typed)}"))
        for u in uids:
            if not str(u.get("value", "")).startswith("urn:oid:"):
                out.append(Finding("EUIMG-011", "SHOULD", f"Bundle.entry[{i}].resource.identifier",
                                   "im-imagingstudy-01: the urn:dicom:uid value starts with urn:oid:", short(u.get("value")),
                                   findings=("FIND-14",)))


def validate_imaging_report_bundle(bundle: dict[str, Any], *, plain: bool = True) -> list[Finding]:
    """Findings for an EU imaging report Bundle; other Bundles get none. ``plain=False``: every
    FHIRPath expression evaluated by fhirpathpy (the definition; tests compare the two)."""
    if not is_imaging_report_bundle(bundle):
        return []
    index = BundleIndex(bundle)

    def fp(path: BundlePath, resource: dict[str, Any]) -> list[Any]:
        return evaluate_path(path, resource, index, plain=plain)

    out: list[Finding] = []
    _bundle_shape(bundle, out)
    if bundle.get("type") == "collection":  # BundleReportMinimalMetadataEuImaging (EUIMG-043)
        for rtype, high in (("DiagnosticReport", 1), ("Patient", 1), ("ImagingStudy", 1)):
            n = len(_of_type(bundle, rtype))
            if n > high or (rtype == "DiagnosticReport" and n != 1):
                out.append(Finding("EUIMG-043", "SHALL", "Bundle.entry", f"minimal-metadata Bundle: {rtype} entries {n}"))
        if bundle.get("link"):
            out.append(Finding("EUIMG-043", "SHALL", "Bundle.link", "link is not allowed (0..0)"))
        return out
    _document_slices(bundle, out)
    _resolution(bundle, index, out)
    _composition(bundle, fp, out)
    _diagnostic_report(bundle, fp, out)
    _imaging_studies(bundle, out)
    return out

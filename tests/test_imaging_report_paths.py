"""The EU imaging report Bundle rule's FHIRPath expressions and their plain-Python readings agree.

imgconf.validators.imagingreport evaluates each expression (BundlePath.fhirpath, the definition) by a
plain reading when that reading vouches for the shape, and by fhirpathpy otherwise. Here both are
run over the document Bundles the project has and over mutants of every element the expressions
read (each replacement value of the fast-path tests, deletions, primitive-extension twins, arrays
where single and back, repeats): wherever the plain reading answers, it answers what fhirpathpy
answers, and the rule's findings are the same with or without the plain readings.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from imgconf.fhirpath import BundleIndex
from imgconf.validators.imagingreport import (
    AUTHOR_ORGANIZATIONS,
    BUNDLE_PATHS,
    PERFORMER_ORGANIZATIONS,
    STUDY_SECTION_ENTRIES,
    BundlePath,
    NotVouched,
    evaluate_path,
    is_imaging_report_bundle,
    validate_imaging_report_bundle,
)
from tests.test_fast_path import EXAMPLES, REPLACEMENTS, TWIN, Path_, _at, _paths, mutants

DOCUMENTS = [(n, r) for n, r in EXAMPLES if is_imaging_report_bundle(r) and r.get("type") == "document"]
# The elements the expressions read, per resource type, and what every entry offers resolve().
READ: dict[str, tuple[str, ...]] = {"Composition": ("section", "author"),
                                    "DiagnosticReport": ("extension", "imagingStudy", "performer")}


def _relative(bundle: dict[str, Any]) -> dict[str, Any]:
    """The same document with https fullUrls and Type/id references (the other way resolve() finds entries)."""
    relative = copy.deepcopy(bundle)
    renamed: dict[str, str] = {}
    for n, entry in enumerate(relative["entry"]):
        rtype = entry["resource"]["resourceType"]
        entry["resource"]["id"] = f"{rtype.lower()}-{n}"
        renamed[entry["fullUrl"]] = f"{rtype}/{rtype.lower()}-{n}"
        entry["fullUrl"] = f"https://fhir.example.org/{renamed[entry['fullUrl']]}"

    def rewrite(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("reference") in renamed:
                value["reference"] = renamed[value["reference"]]
            for inner in value.values():
                rewrite(inner)
        elif isinstance(value, list):
            for inner in value:
                rewrite(inner)
    rewrite([e["resource"] for e in relative["entry"]])
    return relative


BUNDLES = DOCUMENTS + [(f"{n} (relative)", _relative(r)) for n, r in DOCUMENTS]


def _read_paths(bundle: dict[str, Any]) -> list[Path_]:
    """Every path inside an element an expression reads, and each entry's fullUrl / resourceType / id."""
    found: list[Path_] = []
    for i, entry in enumerate(bundle["entry"]):
        found += [("entry", i, "fullUrl"), ("entry", i, "resource", "resourceType"), ("entry", i, "resource", "id")]
        for element in READ.get(entry["resource"]["resourceType"], ()):
            if element in entry["resource"]:
                found += [("entry", i, "resource", element, *p) for p in _paths(entry["resource"][element])]
    return [p for p in found if p[-1] in _at(bundle, p[:-1])]  # present (an id may not be)


CHANGES: tuple[Any, ...] = (*REPLACEMENTS, "delete", "twin", "array", "single", "repeat")


def read_mutants(bundle: dict[str, Any], sample: random.Random | None = None, size: int = 0
                 ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every change of CHANGES at every path _read_paths gives (or ``size`` of them drawn by ``sample``)."""
    changes = [(path, replacement) for path in _read_paths(bundle) for replacement in CHANGES]
    for path, replacement in sample.sample(changes, size) if sample else changes:
        parent_path, last = path[:-1], path[-1]
        mutant = copy.deepcopy(bundle)
        parent = _at(mutant, parent_path)
        if replacement == "delete" and isinstance(parent, dict):
            del parent[last]
        elif replacement == "twin" and isinstance(parent, dict) and isinstance(last, str):
            parent["_" + last] = TWIN
        elif replacement == "array":
            parent[last] = [parent[last]]
        elif replacement == "single" and isinstance(parent[last], list) and parent[last]:
            parent[last] = parent[last][0]
        elif replacement == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif replacement in ("delete", "twin", "array", "single", "repeat"):
            continue
        else:
            parent[last] = copy.deepcopy(replacement)
        yield f"{'.'.join(map(str, path))} = {replacement!r}", mutant


COUNTS = {"vouched": 0, "not vouched": 0}


def disagreements(bundle: dict[str, Any], paths: tuple[BundlePath, ...] = BUNDLE_PATHS) -> list[str]:
    """Where a plain reading answers otherwise than fhirpathpy, on every resource of its context type."""
    index = BundleIndex(bundle)
    found = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        for path in paths:
            if not isinstance(resource, dict) or resource.get("resourceType") != path.context:
                continue
            try:
                plain = path.plain(resource, index)
            except NotVouched:
                COUNTS["not vouched"] += 1
                continue
            COUNTS["vouched"] += 1
            expected = evaluate_path(path, resource, index, plain=False)
            if plain != expected:
                found.append(f"{path.fhirpath}: plain {plain!r} != fhirpathpy {expected!r}")
    return found


def assert_agree(bundle: dict[str, Any], label: str) -> None:
    assert disagreements(bundle) == [], label
    with_plain = validate_imaging_report_bundle(bundle)
    fhirpath_only = validate_imaging_report_bundle(bundle, plain=False)
    assert sorted(map(repr, with_plain)) == sorted(map(repr, fhirpath_only)), label


def test_there_are_document_bundles_and_the_plain_readings_answer_for_them() -> None:
    assert len(BUNDLES) >= 4
    for label, bundle in BUNDLES:
        index = BundleIndex(bundle)
        for entry in bundle["entry"]:
            for path in BUNDLE_PATHS:
                if entry["resource"]["resourceType"] == path.context:
                    path.plain(entry["resource"], index)  # raises NotVouched if the reading gave up: the rule would be slow
        assert_agree(bundle, label)
    # Each expression finds something in the examples (the comparison is not between empty lists).
    composition = BUNDLES[0][1]["entry"][0]["resource"]
    index = BundleIndex(BUNDLES[0][1])
    assert len(STUDY_SECTION_ENTRIES.plain(composition, index)) == 1
    assert AUTHOR_ORGANIZATIONS.plain(composition, index)


@pytest.mark.parametrize(("label", "bundle"), BUNDLES, ids=[n for n, _ in BUNDLES])
def test_plain_readings_agree_with_fhirpath_on_sampled_mutants(label: str, bundle: dict[str, Any]) -> None:
    """A sample of the mutants of the elements read (the full sweep is the slow test below), and random mutants anywhere."""
    rng = random.Random(label)
    for what, mutant in [*read_mutants(bundle, rng, 60), *mutants(bundle, rng, 15)]:
        assert_agree(mutant, f"{label}: {what}")


@pytest.mark.slow  # ~6,400 mutants, each path evaluated by fhirpathpy (~35 CPU-s)
def test_plain_readings_agree_with_fhirpath_on_every_mutant_of_what_they_read() -> None:
    """Every change at every path read, in one edition's document and its relative-reference twin (the
    editions' documents differ in codes the expressions do not read). Per expression; the whole rule
    is compared on the sampled mutants above."""
    COUNTS.update({"vouched": 0, "not vouched": 0})
    for label, bundle in (BUNDLES[0], BUNDLES[len(DOCUMENTS)]):
        for what, mutant in read_mutants(bundle):
            assert disagreements(mutant) == [], f"{label}: {what}"
    # Most mutants stay with the plain readings (the speed holds for broken documents too), and the
    # readings do give up often enough that fhirpathpy's answers are compared on odd shapes.
    assert COUNTS["vouched"] > 4 * COUNTS["not vouched"] > 0, COUNTS


def test_the_comparison_catches_a_reading_that_drifts() -> None:
    """A plain reading that ignores the coding's system (a plausible drift) is caught by the sweep."""
    bundle = DOCUMENTS[0][1]

    def ignoring_system(composition: dict[str, Any], index: BundleIndex) -> list[Any]:
        try:
            return [entry for section in composition["section"] if any(c.get("code") == "18726-0" for c in section["code"]["coding"])
                    for entry in section.get("entry", [])]
        except (KeyError, TypeError, AttributeError) as exc:
            raise NotVouched from exc

    drifted = BundlePath(STUDY_SECTION_ENTRIES.context, STUDY_SECTION_ENTRIES.fhirpath, ignoring_system)
    assert not disagreements(bundle, (drifted,))  # on the example itself both readings agree
    other_system = copy.deepcopy(bundle)
    other_system["entry"][0]["resource"]["section"][0]["code"]["coding"][0]["system"] = "http://snomed.info/sct"
    assert disagreements(other_system, (drifted,))


def test_the_rule_still_judges_resolution_and_the_organization_rule() -> None:
    """Failing and passing verdicts through the plain readings: an imagingStudy reference to the Patient
    (EUIMG-034), a performer Organization that is not the author Organization (EUIMG-041)."""
    label, bundle = DOCUMENTS[0]
    assert validate_imaging_report_bundle(bundle) == []
    by_type = {e["resource"]["resourceType"]: e for e in bundle["entry"]}
    broken = copy.deepcopy(bundle)
    report = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    report["imagingStudy"] = [{"reference": by_type["Patient"]["fullUrl"]}]
    report["performer"] = [{"reference": by_type["Practitioner"]["fullUrl"]}]
    keys = {(f.requirement, f.level) for f in validate_imaging_report_bundle(broken)}
    assert {("EUIMG-034", "SHALL"), ("EUIMG-041", "SHALL")} <= keys
    assert_agree(broken, label)
    index = BundleIndex(broken)
    assert PERFORMER_ORGANIZATIONS.plain(report, index) == []

"""The fast structural path (imgconf.validators.faststructure) gives the findings of the model path.

Compared as (requirement, level, location) sets, and as multisets of whole findings (messages and
values included; only the order may differ), over every example the project has (fixture
templates rendered, the validators' samples, the JSON files under tests/data) and over mutants of
them (wrong JSON types, unknown elements, arrays where single and back, empty strings / arrays /
objects, nulls, bad date / uri / id / code syntax, missing required elements, `_x` twins, changes
deep in series and instances). Each tier of the fast path is also checked on its own: whatever
the schema or the certifying walk accepts has no structural finding on the model path.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from imgconf.editions import EDITIONS
from imgconf.jsonsafe import JsonTooDeep
from imgconf.suite.template import render
from imgconf.validators import bundle_own_findings, validate_resource
from imgconf.validators.fastschema import SCHEMA_FILE, build_schema, primitive_schema, schema_text
from imgconf.validators.faststructure import (
    FAST_TYPES,
    dirty_structural_findings,
    fast_validate,
    model_accepts,
    model_table,
    resource_clean,
    schema_accepts,
)
from imgconf.validators.findings import Finding
from imgconf.validators.jsonform import Element
from imgconf.validators.samples import sample_endpoint, sample_imaging_study, template_stand_ins
from imgconf.validators.structure import model_class, structural_findings

ROOT = Path(__file__).resolve().parents[1]
Key = tuple[str, str, str]
PROFILES: tuple[str | None, ...] = (None, "mhd", "eu-imaging-report")


def keyed(findings: list[Finding]) -> set[Key]:
    return {(f.requirement, f.level, f.location) for f in findings}


# --- the examples ---------------------------------------------------------------------------------

def _with_entries(name: str, resource: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(resource, dict):
        return
    yield name, resource
    for i, entry in enumerate(resource.get("entry") or []):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield from _with_entries(f"{name}#entry{i}", entry["resource"])


def examples() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((ROOT / "fixtures").rglob("*.json")):
        template = json.loads(path.read_text())
        for edition_name, edition in EDITIONS.items():
            label = f"{path.relative_to(ROOT)}[{edition_name}]"
            found += _with_entries(label, render(template, template_stand_ins(edition)))
    for path in sorted((ROOT / "tests" / "data").rglob("*.json")):
        found += _with_entries(str(path.relative_to(ROOT)), json.loads(path.read_text()))
    found += [("sample_imaging_study", sample_imaging_study()),
              ("sample_imaging_study(1,1)", sample_imaging_study(1, 1)),
              ("sample_imaging_study(4,9,KO)", sample_imaging_study(4, 9, series_modalities=("KO", "CT", "XX"))),
              ("sample_endpoint", sample_endpoint())]
    return found


EXAMPLES = examples()
IN_SCOPE = [(n, r) for n, r in EXAMPLES if r.get("resourceType") in FAST_TYPES]


def assert_agree(resource: Any, label: str = "") -> None:
    profiles = PROFILES if isinstance(resource, dict) and resource.get("resourceType") == "DocumentReference" else (None,)
    for profile in profiles:
        model_findings = validate_resource(copy.deepcopy(resource), profile=profile)
        fast_findings = fast_validate(resource, profile=profile)
        model, fast = keyed(model_findings), keyed(fast_findings)
        assert fast == model, (label, profile, "fast-only", fast - model, "model-only", model - fast)
        # Stronger than the (requirement, level, location) sets: the same findings, messages and
        # values included, as many times each (only their order may differ).
        assert sorted(map(repr, fast_findings)) == sorted(map(repr, model_findings)), (label, profile)


TIERS = {"dirty": 0}


def assert_tiers_sound(resource: Any, label: str = "") -> None:
    """A tier may say "not sure" (False) wrongly, never "clean" (True) wrongly."""
    if not isinstance(resource, dict) or str(resource.get("resourceType")) not in FAST_TYPES:
        return
    structure = structural_findings(copy.deepcopy(resource))
    if schema_accepts(resource):
        assert structure == [], (label, "schema accepted", keyed(structure))
    if resource_clean(resource):
        assert structure == [], (label, "walk accepted", keyed(structure))
    dirty = dirty_structural_findings(resource)
    if dirty is not None:
        TIERS["dirty"] += 1
        # The same findings, messages included, as many times each.
        assert sorted(map(repr, dirty)) == sorted(map(repr, structure)), (label, "dirty tier", dirty, structure)


def test_there_are_examples_of_every_fast_type() -> None:
    assert {r["resourceType"] for _, r in IN_SCOPE} >= {"ImagingStudy", "DocumentReference", "Patient", "Endpoint",
                                                         "Bundle", "DiagnosticReport", "Composition"}
    assert len(EXAMPLES) > 60


@pytest.mark.parametrize(("label", "resource"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_fast_and_model_paths_agree_on_every_example(label: str, resource: dict[str, Any]) -> None:
    assert_agree(resource, label)
    assert_tiers_sound(resource, label)


def test_clean_examples_take_the_schema_tier() -> None:
    """The point of it all: a structurally clean resource of the common shapes never reaches the models."""
    clean = [(n, r) for n, r in IN_SCOPE if not structural_findings(copy.deepcopy(r))]
    assert len(clean) > 30
    missed = [n for n, r in clean if not schema_accepts(r)]
    assert not missed, missed
    assert all(resource_clean(r) for _, r in clean)


# --- mutants ------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]
REPLACEMENTS: tuple[Any, ...] = (
    None, "", [], {}, [None], 1.0, 0, -1, 2**40, True, "x", " padded ", "two  spaces", "a\nb", "é",
    "2024-02-30", "2024-02-29", "2024-13-01", "2024-03-01T10:00:00", "2024-03-01T10:00:00Z", "2024-03-01T24:00:00Z",
    "2024", "2024-03", "10:15:00", "urn:oid:1.2.3", "urn:oid:1.02", "has space", "#frag", "9.9e-7",
    {"x": 1}, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}, [{}], [1, 2], ["a", None],
    {"reference": "Patient/p1"}, {"system": "http://x", "code": "c"}, 3.5, float("nan"), "\u0085", "\u00a0x",
)
TWIN = {"extension": [{"url": "http://example.org/why", "valueCode": "unknown"}]}


def _paths(value: Any, here: Path_ = ()) -> Iterator[Path_]:
    yield here
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*here, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, (*here, i))


def _at(resource: Any, path: Path_) -> Any:
    for step in path:
        resource = resource[step]
    return resource


def mutants(resource: dict[str, Any], rng: random.Random, limit: int) -> Iterator[tuple[str, Any]]:
    """Up to ``limit`` mutants at random paths (every path when ``limit`` is large)."""
    paths = [p for p in _paths(resource) if p]
    made = 0
    while made < limit and paths:
        path = rng.choice(paths)
        parent_path, last = path[:-1], path[-1]
        kind = rng.randrange(9)
        mutant = copy.deepcopy(resource)
        parent = _at(mutant, parent_path)
        old = parent[last]
        if kind == 0 and isinstance(parent, dict):
            del parent[last]
            what = "delete"
        elif kind == 1 and isinstance(parent, dict):
            parent["unknownElement"] = "x"
            what = "unknown element"
        elif kind == 2 and isinstance(parent, dict) and isinstance(last, str) and not last.startswith("_"):
            parent["_" + last] = rng.choice((TWIN, [TWIN], {}, "x", {"id": "a"}, [None, TWIN]))
            what = "twin"
        elif kind == 3:
            parent[last] = [old]
            what = "array"
        elif kind == 4 and isinstance(old, list) and old:
            parent[last] = old[0]
            what = "single"
        elif kind == 5 and isinstance(old, (str, int, float)) and not isinstance(old, bool):
            parent[last] = str(old) if not isinstance(old, str) else (int(old) if old.isdigit() else old + " x")
            what = "retype"
        elif kind == 6 and isinstance(parent, list):
            parent.append(copy.deepcopy(old))
            what = "repeat"
        else:
            parent[last] = rng.choice(REPLACEMENTS)
            what = "replace"
        made += 1
        yield f"{what} at {'.'.join(map(str, path))}", mutant


SMALL_STUDY = sample_imaging_study(2, 3)


@pytest.mark.slow  # processes / thousands of mutants: the full run, not the fast loop
def test_every_path_of_a_small_study_mutated_agrees() -> None:
    """Every path of a 2-series/3-instance study, every replacement value."""
    TIERS["dirty"] = 0
    for path in [p for p in _paths(SMALL_STUDY) if p]:
        for replacement in REPLACEMENTS:
            mutant = copy.deepcopy(SMALL_STUDY)
            _at(mutant, path[:-1])[path[-1]] = replacement
            label = f"{path} = {replacement!r}"
            assert_agree(mutant, label)
            assert_tiers_sound(mutant, label)
    assert TIERS["dirty"] > 500  # the tier for broken resources is exercised, not only the models


@pytest.mark.parametrize(("label", "resource"), IN_SCOPE, ids=[n for n, _ in IN_SCOPE])
def test_mutants_of_every_example_agree(label: str, resource: dict[str, Any]) -> None:
    rng = random.Random(label)
    for what, mutant in mutants(resource, rng, 25):
        assert_agree(mutant, f"{label}: {what}")
        assert_tiers_sound(mutant, f"{label}: {what}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hypothesis_mutants_agree(data: st.DataObject) -> None:
    label, resource = data.draw(st.sampled_from(IN_SCOPE))
    seed = data.draw(st.integers(0, 2**32 - 1))
    for what, mutant in mutants(resource, random.Random(seed), 2):
        assert_agree(mutant, f"{label}: {what}")
        assert_tiers_sound(mutant, f"{label}: {what}")


def test_nesting_has_no_limit_in_r4() -> None:
    """R4 JSON sets no depth limit. (The model path cannot read a resource nested deeper than Python's
    recursion limit lets pydantic go, ~130 extension levels here: an input error, see the next test;
    the fast path judges what it can without the models.)"""
    extension: dict[str, Any] = {"url": "http://example.org/x", "valueString": "y"}
    for _ in range(100):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    patient = {"resourceType": "Patient", "id": "p1", "extension": [extension]}
    assert_agree(patient)  # within the models' reach both paths agree
    for _ in range(100):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    assert fast_validate({**patient, "extension": [extension]}) == []
    assert fast_validate({**patient, "extension": [{**extension, "url": 3}]})  # a real error, however deep


def _nested_patient(levels: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/x", "valueString": "y"}
    for _ in range(levels):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    return {"resourceType": "Patient", "id": "p1", "extension": [extension]}


def test_a_resource_deeper_than_the_models_read_is_an_input_error_not_a_finding() -> None:
    """A RecursionError is the depth of the input, not its R4 structure: no FHIR-R4-STRUCTURE finding
    ("could not be read"), but JsonTooDeep saying how deep — the readers of input make it INPUT-READ
    (tests/test_bulk_validate.py). Where the fast path needs the models it says the same."""
    deep = _nested_patient(200)
    for validate in (structural_findings, validate_resource, bundle_own_findings):
        subject = deep if validate is not bundle_own_findings else {
            "resourceType": "Bundle", "type": "collection", "entry": [{"extension": deep["extension"], "resource": deep}]}
        with pytest.raises(JsonTooDeep, match=r"nesting \d+ levels deep: .*not judged — an input error, not an R4 finding"):
            validate(subject)
    needs_the_models = {**deep, "extension": [{"extension": deep["extension"][0]["extension"]}]}  # Extension.url missing
    with pytest.raises(JsonTooDeep):
        fast_validate(needs_the_models)
    # Within the models' reach the same defect is a finding on both paths, and a clean resource passes.
    shallow = _nested_patient(20)
    broken = {**shallow, "extension": [{"extension": shallow["extension"][0]["extension"]}]}
    assert_agree(broken)
    assert any(f.location.startswith("Patient.extension[0]") for f in fast_validate(broken))
    assert validate_resource(shallow) == fast_validate(shallow) == []


def test_objects_where_rules_expect_strings_are_findings_not_crashes() -> None:
    """Two TypeErrors the mutants found in the rules (both paths run them): an object as a Bundle
    request.method is REST-103 like any other non-verb; an object as a laterality code is judged
    as a code without a system, without the DICOM-laterality hint."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b7c1a8e-1c2f-4d0a-9a55-000000000001", "resource": {"resourceType": "Patient", "id": "p"},
         "request": {"method": {"verb": "PUT"}, "url": "Patient/p"}}]}
    assert ("REST-103", "SHALL", "Bundle.entry[0].request.method") in keyed(fast_validate(bundle))
    assert_agree(bundle)
    study = sample_imaging_study(1, 1)
    study["series"][0]["laterality"] = {"code": {"L": 1}}
    assert_agree(study)
    assert ("IS-059", "SHOULD", "ImagingStudy.series[0].laterality.system") in keyed(fast_validate(study))


@pytest.mark.parametrize("rtype", sorted(FAST_TYPES))
def test_types_outside_and_odd_inputs_delegate(rtype: str) -> None:
    for resource in ({"resourceType": rtype}, {"resourceType": rtype, "id": "a"}, {"resourceType": "Observation"},
                     {"resourceType": "Resource", "id": "x"}, {"id": "x"}):
        assert_agree(resource, str(resource))


# --- the primitive tests accept only what the model accepts -----------------------------------------

def _elements_by_primitive() -> dict[str, tuple[Element, Any]]:
    """One (element, adapter index) per primitive type name among the models the fast types reach."""
    from imgconf.validators.faststructure import _ADAPTER_INDEX  # internals under test
    from imgconf.validators.jsonform import elements, unwrap_annotation

    found: dict[str, tuple[Element, Any]] = {}
    seen: set[Any] = set()
    stack = [model_class(t) for t in FAST_TYPES]
    while stack:
        model = stack.pop()
        if model is None or model in seen:
            continue
        seen.add(model)
        model_table(model)
        annotations = {f.alias: f.annotation for f in model.model_fields.values() if f.alias}
        for name, element in elements(model).items():
            if element.primitive is not None and not name.startswith("_") and element.json_kind != "boolean":
                index = _ADAPTER_INDEX[unwrap_annotation(annotations[name])[0]]
                found.setdefault(element.primitive, (element, index))
            elif element.model is not None and not element.is_resource:
                stack.append(element.model())
    return found


PRIMITIVES = _elements_by_primitive()
_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="ascii"), max_size=12),
    st.from_regex(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,8})?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?",
                  fullmatch=True),
    st.from_regex(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,8})?", fullmatch=True),
    st.from_regex(r"urn:oid:[0-9](\.[0-9]{1,3}){1,4}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9+/=]{0,12}", fullmatch=True),
    st.sampled_from(["\u0085", "\u00a0", "\u2028", "\x1c", "\ufeff", " a", "a ", "a  b", "a\tb"]),
)
_JSON_VALUE = st.one_of(_TEXT, st.integers(), st.floats(allow_nan=False), st.booleans())


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(PRIMITIVES)), _JSON_VALUE)
def test_primitive_tests_accept_only_model_values(primitive: str, value: Any) -> None:
    """Both tiers' primitive tests are sufficient conditions of the model's own validator."""
    from imgconf.validators.faststructure import _FAST_STRING_TESTS  # internals under test

    element, index = PRIMITIVES[primitive]
    schema = jsonschema_rs.Draft4Validator(primitive_schema(element))
    if schema.is_valid(value):
        assert model_accepts(index, value), ("schema", primitive, value)
    fast = _FAST_STRING_TESTS.get(primitive)
    if fast is not None and isinstance(value, str) and value and fast(value):
        assert model_accepts(index, value), ("walk", primitive, value)


def test_a_primitive_extension_takes_the_schema_tier_and_a_broken_one_does_not() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01", "_birthDate": TWIN,
               "_gender": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                          "valueCode": "unknown"}]}}
    assert schema_accepts(patient) and fast_validate(patient) == validate_resource(patient) == []
    for broken in ({}, {"id": ""}, {"extension": []}, "x", [TWIN], {"url": "x"}):
        mutant = {**patient, "_birthDate": broken}
        assert not schema_accepts(mutant)
        assert_agree(mutant, repr(broken))
        assert validate_resource(mutant), broken


def test_the_committed_schema_is_the_derivation_of_the_pinned_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "imgconf/validators/fast_r4_schema.json is stale: run python tools/build_fast_schema.py")


def test_the_schema_compiles_and_names_no_model_twice() -> None:
    schema = build_schema()
    assert set(schema["definitions"]) >= {"R_ImagingStudy", "ImagingStudySeries", "ImagingStudySeriesInstance",
                                          "AnyResource"}
    jsonschema_rs.Draft4Validator(schema)

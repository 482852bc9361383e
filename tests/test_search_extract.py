"""Search-parameter values: the plain element walk gives exactly what fhirpathpy gives.

The search oracle and the fuzzer read every parameter's values from every resource a server
returns. ``values`` walks plain element paths itself and leaves the rest to fhirpathpy; here both
are compared, values and their Python types, for every parameter of the table over the project's
resources (fixtures, samples, test data: the fast-path examples) and mutants of them, and over
generated shapes the walk must refuse (arrays in arrays, steps into strings, ``_x`` twins, nulls).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from imgconf.searchparams.extract import element_path, evaluate, values
from imgconf.searchparams.registry import SearchParam, params_for, resource_types
from test_fast_path import EXAMPLES, mutants

PARAMS: list[SearchParam] = [p for t in resource_types() for p in params_for(t).values()]
BY_TYPE: dict[str, list[SearchParam]] = {t: list(params_for(t).values()) for t in resource_types()}


def typed(found: list[Any]) -> str:
    return repr(found)  # types show (1.5, Decimal('1.5'), '1.5'), and Decimal('NaN') equals itself


def assert_same_values(resource: dict[str, Any], label: str) -> None:
    for param in BY_TYPE.get(str(resource.get("resourceType")), []):
        expected = evaluate(resource, param.expression) if resource.get("resourceType") == param.resource_type else []
        assert typed(values(resource, param)) == typed(expected), (label, param.name, param.expression)


def test_most_parameters_take_the_walk_and_the_rest_do_not() -> None:
    walked = [p for p in PARAMS if element_path(p.expression) is not None]
    assert len(walked) > 0.9 * len(PARAMS)
    for expression in ("DiagnosticReport.effective",  # a choice element: effectiveDateTime / effectivePeriod in JSON
                       "ImagingStudy.endpoint | ImagingStudy.series.endpoint", "Bundle.entry[0].resource",
                       "Patient.telecom.where(system='email')", "Patient.name.family.nope",  # below a primitive
                       "ImagingStudy.notAnElement"):
        assert element_path(expression) is None, expression
    assert element_path("ImagingStudy.meta.tag") == ("meta", "tag")  # Resource.meta, then Meta.tag
    assert element_path("Patient.name.given") == ("name", "given")


def test_a_choice_element_still_has_its_values() -> None:
    report = {"resourceType": "DiagnosticReport", "effectiveDateTime": "2024-03-01T10:00:00Z"}
    date = next(p for p in BY_TYPE["DiagnosticReport"] if p.name == "date")
    assert values(report, date) == ["2024-03-01T10:00:00Z"]


@pytest.mark.parametrize(("label", "resource"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_parameter_on_every_example(label: str, resource: dict[str, Any]) -> None:
    assert_same_values(resource, label)


@pytest.mark.parametrize(("label", "resource"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_parameter_on_mutants_of_every_example(label: str, resource: dict[str, Any]) -> None:
    for what, mutant in mutants(resource, random.Random(label), 15):
        assert_same_values(mutant, f"{label}: {what}")


ODD = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.sampled_from(["", "x", "CT", "2024"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["series", "modality", "instance", "uid", "code", "system", "_uid", "name", "given",
                         "family", "meta", "tag", "identifier", "value", "subject", "reference", "extension", "_given",
                         "_code", "_modality", "url"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ImagingStudy", "Patient"]), st.dictionaries(
    st.sampled_from(["series", "identifier", "subject", "meta", "name", "started", "modality", "_started", "_subject",
                     "extension"]), ODD,
    max_size=4))
def test_generated_shapes(resource_type: str, body: dict[str, Any]) -> None:
    assert_same_values({"resourceType": resource_type, **body}, repr(body))


def test_a_wrong_type_gives_nothing() -> None:
    patient = next(p for p in BY_TYPE["ImagingStudy"] if p.name == "modality")
    assert values({"resourceType": "Patient", "series": [{"modality": {"code": "CT"}}]}, patient) == []

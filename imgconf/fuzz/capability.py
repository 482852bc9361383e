"""What `imgconf fuzz` may generate: the plan, read from the target's CapabilityStatement.

A server is only asked what it says it can answer (R4: a server may refuse a search it cannot
perform), so generation keeps to ``rest[mode=server].resource[type].searchParam[].name`` and
``searchInclude`` unless ``--probe-all``; everything left out is listed with its reason.
Nothing here imports Hypothesis (the runner and the CLI read plans cheaply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgconf.searchparams import get_param, params_for
from imgconf.searchparams.compartments import compartment_params
from imgconf.searchparams.query import parse_query

FUZZ_TYPES = ("ImagingStudy", "DocumentReference", "Patient")
# Result parameters an R4 CapabilityStatement cannot declare: always generated (a server may ignore
# them; the runner does not accuse it of that). _include comes from searchInclude.
ALWAYS_RESULT_PARAMS = ("_sort", "_count")
# Parameter types the generator has value strategies for (the registry has no number/quantity/special
# parameter on the fuzzed types).
GENERATED_TYPES = frozenset({"token", "reference", "date", "string", "uri", "composite"})
# Terminal parameter types of a chain (`patient.family`): one step, to a plain value.
CHAIN_TERMINAL_TYPES = frozenset({"token", "string", "date"})
PATIENT_COMPARTMENT_URL = "http://hl7.org/fhir/CompartmentDefinition/patient"

# Said once per type so a reader of the report knows what is never generated, whatever the target.
DESIGN_EXCLUSIONS = (
    ":text: R4 leaves :text matching to the server (not judged, not generated)",
    "prefix ap: R4 lets the server choose the approximation (not generated)",
    ("_sort by string or reference: R4 names no collation or reference order (sort keys: dates and bound codes, "
     "where each fixture has at most one plain value)"),
    "_revinclude, _summary, _elements: outside the fuzzed result parameters",
)


@dataclass(frozen=True)
class Universe:
    """What the generator draws values from."""

    resources: Mapping[str, dict[str, Any]]  # fixture key -> the resource AS STORED on the target (server ids)
    base_url: str


@dataclass(frozen=True)
class FuzzPlan:
    """What may be generated."""

    resource_types: tuple[str, ...]  # subset of ImagingStudy, DocumentReference, Patient
    params: Mapping[str, tuple[str, ...]]  # type -> search parameter names allowed (incl. _sort/_count/_include keys)
    includes: Mapping[str, tuple[str, ...]]  # type -> _include values allowed
    probe_all: bool = False
    # Additive: Patient compartment searches (Patient/[id]/[type]) only when rest.compartment declares it.
    compartment: bool = False


def _server_rest(capability: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for rest in capability.get("rest") or []:
        if isinstance(rest, dict) and rest.get("mode") == "server":
            return rest
    return None


def _declared_resource(rest: Mapping[str, Any], rtype: str) -> Mapping[str, Any] | None:
    for res in rest.get("resource") or []:
        if isinstance(res, dict) and res.get("type") == rtype:
            return res
    return None


def _searches_type(res: Mapping[str, Any]) -> bool:
    """search-type is declared, or no interaction is listed at all (R4: interaction is 0..*)."""
    codes = [i.get("code") for i in res.get("interaction") or [] if isinstance(i, dict)]
    return not codes or "search-type" in codes


def chain_names(rtype: str, declared: Mapping[str, set[str]] | None) -> list[str]:
    """``ref.param`` / ``ref:Target.param`` chains of `rtype` whose last step is a plain value.

    `declared` maps each type the target searches to its declared parameter names (None: every
    registry parameter, --probe-all). A reference with one target type is chained without a type
    modifier (``patient.identifier``); one with several names the type (``subject:Patient.family``)."""
    out: list[str] = []
    for name, param in params_for(rtype).items():
        if param.type != "reference" or name.startswith("_") or not param.targets:
            continue
        if declared is not None and name not in declared.get(rtype, set()):
            continue
        for target in param.targets:
            if declared is not None and target not in declared:
                continue
            for tname, tparam in sorted(params_for(target).items()):
                if tname.startswith("_") or tparam.type not in CHAIN_TERMINAL_TYPES:
                    continue
                if declared is not None and tname not in declared[target]:
                    continue
                out.append(f"{name}.{tname}" if len(param.targets) == 1 else f"{name}:{target}.{tname}")
    return out


def _valid_includes(rtype: str, values: Sequence[Any]) -> tuple[list[str], list[str]]:
    good: list[str] = []
    bad: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        query = parse_query(rtype, [("_include", value)])
        (bad if query.unknown or not query.include else good).append(value)
    return good, bad


def _generated(rtype: str, names: Sequence[str], left: list[str], why_absent: str) -> list[str]:
    """The registry parameters among `names` the generator can draw values for; the rest go to `left`."""
    keep = []
    for name in names:
        param = get_param(rtype, name)
        if param is None:
            left.append(f"{name}: {why_absent}")
        elif param.type not in GENERATED_TYPES:
            left.append(f"{name}: {param.type} parameters are not generated")
        else:
            keep.append(name)
    return keep


def plan_from_capability(
    capability: Mapping[str, Any] | None, resource_types: Sequence[str], *, probe_all: bool = False,
) -> tuple[FuzzPlan, dict[str, list[str]]]:
    """(plan, left_out: type -> ["name: why"]).

    Without a CapabilityStatement nothing is generated unless `probe_all` (then: every registry parameter)."""
    left_out: dict[str, list[str]] = {}
    types: list[str] = []
    params: dict[str, tuple[str, ...]] = {}
    includes: dict[str, tuple[str, ...]] = {}
    rest = _server_rest(capability) if capability else None
    declared: dict[str, set[str]] | None = None
    if not probe_all and rest is not None:
        declared = {}
        for res in rest.get("resource") or []:
            if isinstance(res, dict) and isinstance(res.get("type"), str) and _searches_type(res):
                declared[res["type"]] = {p["name"] for p in res.get("searchParam") or []
                                         if isinstance(p, dict) and isinstance(p.get("name"), str)}
    compartment = probe_all or (rest is not None and PATIENT_COMPARTMENT_URL in (rest.get("compartment") or []))

    for rtype in resource_types:
        left: list[str] = []
        left_out[rtype] = left
        if rtype not in FUZZ_TYPES:
            left.append(f"*: {rtype} is not a fuzzed type (only {', '.join(FUZZ_TYPES)})")
            continue
        registry = sorted(params_for(rtype))
        if probe_all:
            names = _generated(rtype, registry, left, "not in the harness's registry")
            chains = chain_names(rtype, None)
            inc = [f"{rtype}:{n}" for n in registry if (p := get_param(rtype, n)) and p.type == "reference"]
            inc_values, _ = _valid_includes(rtype, ["*", *inc])
        elif capability is None or rest is None:
            left.append("*: no CapabilityStatement with rest[mode=server]: nothing generated (use --probe-all to "
                        "generate every registry parameter)")
            continue
        else:
            res = _declared_resource(rest, rtype)
            if res is None:
                left.append(f"*: {rtype} is not in the CapabilityStatement's rest[mode=server].resource")
                continue
            if not _searches_type(res):
                left.append(f"*: {rtype} does not declare the search-type interaction")
                continue
            assert declared is not None
            sent = sorted(declared.get(rtype, set()))
            names = _generated(rtype, sent, left, "declared, but not in the harness's registry: the oracle cannot judge it")
            left += [f"{n}: not declared in the CapabilityStatement" for n in registry if n not in sent]
            chains = chain_names(rtype, declared)
            inc_values, bad = _valid_includes(rtype, res.get("searchInclude") or [])
            left += [f"_include={b}: declared, but not an _include of {rtype} the oracle knows" for b in bad]
            if not inc_values:
                left.append("_include: no searchInclude declared")
        left += list(DESIGN_EXCLUSIONS)
        if compartment_params("Patient", rtype) and not compartment and rtype != "Patient":
            left.append(f"Patient/[id]/{rtype}: the Patient compartment is not declared in rest.compartment")
        types.append(rtype)
        results = [*ALWAYS_RESULT_PARAMS, *(["_include"] if inc_values else [])]
        params[rtype] = (*names, *chains, *results)
        includes[rtype] = tuple(inc_values)
    plan = FuzzPlan(tuple(types), params, includes, probe_all=probe_all, compartment=compartment)
    return plan, left_out

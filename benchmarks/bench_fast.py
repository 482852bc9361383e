"""The fast structural path against the model path, side by side in one run, on one core.

    python benchmarks/bench_fast.py [--seconds 3] [--series 3] [--instances 20] [--no-pin]
    python benchmarks/bench_fast.py --per-type [--seconds 1]

Resources per second for the 3-series/20-instance ImagingStudy of imgconf.validators.samples:
orjson.loads of its JSON, the bare R4B parse (ImagingStudy.model_validate), validate_resource
(the model path: R4B + JSON form + rules), fast_validate (schema tier + rules), the rules alone and
the schema tier alone; then fast_validate / validate_resource. Two broken variants show the tier for
resources with findings (a count written as a JSON string: REST-102; a dateTime without time zone). The machine's load average is
printed with the figures (the machine may be shared: compare ratios measured in the same run).

``--per-type``: instead, every fixture under fixtures/ (placeholders replaced by fixed stand-ins,
each edition), grouped by resource type: fast_validate and validate_resource over all fixtures of a
type in one call, per CPU-second, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A plain script run from a checkout: make the package importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from fhir.resources.R4B.imagingstudy import ImagingStudy

from imgconf.editions import EDITIONS
from imgconf.suite.template import render
from imgconf.validators import rule_findings, validate_resource
from imgconf.validators.faststructure import fast_validate, schema_accepts
from imgconf.validators.samples import sample_imaging_study, template_stand_ins


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def _round(fn: Callable[[Any], Any], arg: Any, length: float) -> tuple[float, float]:
    """(calls per wall second, calls per CPU second) over one round of about ``length`` seconds."""
    n, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < length:
        for _ in range(10):
            fn(arg)
        n += 10
    return n / (time.perf_counter() - start), n / max(time.process_time() - cpu_start, 1e-9)


def _rates(cases: list[tuple[str, Callable[[Any], Any], Any]], seconds: float) -> dict[str, tuple[float, float]]:
    """Best round of each case; the cases take turns round by round, so that on a shared machine
    each sees the same disturbances (the best round is the least disturbed one)."""
    for _, fn, arg in cases:
        for _ in range(20):  # warm caches (schema, tables, pydantic validators)
            fn(arg)
    best = {name: (0.0, 0.0) for name, _, _ in cases}
    deadline = time.perf_counter() + seconds * len(cases)
    while time.perf_counter() < deadline:
        for name, fn, arg in cases:
            wall, cpu = _round(fn, arg, 0.1)
            best[name] = (max(best[name][0], wall), max(best[name][1], cpu))
    return best



def _fixtures_by_type() -> dict[str, list[dict[str, Any]]]:
    root = Path(__file__).resolve().parents[1] / "fixtures"
    by_type: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("*.json")):
        template = json.loads(path.read_text())
        for edition in EDITIONS.values():
            resource = render(template, template_stand_ins(edition))
            by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    return by_type


def _per_type(seconds: float) -> None:
    from imgconf.validators.faststructure import FAST_TYPES

    def over(validate: Callable[[dict[str, Any]], Any]) -> Callable[[list[dict[str, Any]]], None]:
        def every_fixture(resources: list[dict[str, Any]]) -> None:
            for resource in resources:
                validate(resource)
        return every_fixture

    print(f"{'type (fixtures)':<26}{'fast /CPU-s':>13}{'model /CPU-s':>14}{'fast µs':>10}{'model µs':>10}{'ratio':>8}")
    for rtype, resources in sorted(_fixtures_by_type().items()):
        if rtype not in FAST_TYPES:
            continue
        best = _rates([("fast", over(fast_validate), resources), ("model", over(validate_resource), resources)], seconds)
        fast, model = (best[k][1] * len(resources) for k in ("fast", "model"))
        print(f"{f'{rtype} ({len(resources)})':<26}{fast:>13,.0f}{model:>14,.0f}{1e6 / fast:>10,.0f}{1e6 / model:>10,.0f}"
              f"{fast / model:>7.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case, in rounds taken in turn (default 3)")
    parser.add_argument("--series", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument("--per-type", action="store_true", help="fast vs model path per resource type over the fixtures")
    args = parser.parse_args()

    pin = "not pinned" if args.no_pin else _pin_one_core()
    if args.per_type:
        print(f"{pin}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        _per_type(args.seconds)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    study = sample_imaging_study(args.series, args.instances)
    raw = orjson.dumps(study)
    assert validate_resource(study) == [] and fast_validate(study) == [], "the benchmark study must be valid"
    assert schema_accepts(study), "the benchmark study must take the fast tier"
    cases: list[tuple[str, Callable[[Any], Any], Any]] = [
        ("orjson.loads", orjson.loads, raw),
        ("R4B ImagingStudy.model_validate", ImagingStudy.model_validate, study),
        ("validate_resource (model path)", validate_resource, study),
        ("fast_validate (fast path)", fast_validate, study),
        ("orjson.loads + fast_validate", lambda b: fast_validate(orjson.loads(b)), raw),
        ("fast_validate, a string count", fast_validate, {**study, "numberOfSeries": str(args.series)}),
        ("fast_validate, a date without zone", fast_validate, {**study, "started": "2024-03-01T10:00:00"}),
        ("rules alone (rule_findings)", rule_findings, study),
        ("schema tier alone", schema_accepts, study),
    ]
    print(f"ImagingStudy, {args.series} series / {args.instances} instances ({len(raw):,} bytes of JSON); "
          f"{args.seconds:g} s each; {pin}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'case (best 0.1 s round)':<34}{'resources/s':>13}{'per CPU-s':>12}{'µs/CPU':>10}")
    rates: dict[str, float] = {}
    for name, (rate, cpu_rate) in _rates(cases, args.seconds).items():
        rates[name] = cpu_rate
        print(f"{name:<34}{rate:>13,.0f}{cpu_rate:>12,.0f}{1e6 / cpu_rate:>10,.1f}")
    ratio = rates["fast_validate (fast path)"] / rates["validate_resource (model path)"]
    print(f"fast_validate / validate_resource (per CPU-s): {ratio:.1f}x; "
          f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

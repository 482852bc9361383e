"""ImagingStudy validations per second, on one core.

    python benchmarks/bench_validate.py [--seconds 3] [--series 3] [--instances 20]

(a) bare fhir.resources.R4B parsing (ImagingStudy.model_validate), (b) validate_resource
(structure + rules), (c) the ImagingStudy rules alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

# A plain script run from a checkout: make the package importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir.resources.R4B.imagingstudy import ImagingStudy  # noqa: E402

from imgconf.validators import validate_resource  # noqa: E402
from imgconf.validators.imagingstudy import validate_imaging_study  # noqa: E402
from imgconf.validators.samples import sample_imaging_study  # noqa: E402


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def _rate(fn: Callable[[dict[str, Any]], Any], resource: dict[str, Any], seconds: float) -> tuple[float, int]:
    for _ in range(20):  # warm caches (YAML tables, registry, pydantic validators)
        fn(resource)
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn(resource)
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    parser.add_argument("--series", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = parser.parse_args()

    pin = "not pinned" if args.no_pin else _pin_one_core()
    study = sample_imaging_study(args.series, args.instances)
    assert validate_resource(study) == [], "the benchmark study must be valid"
    cases = [
        ("(a) R4B ImagingStudy.model_validate", ImagingStudy.model_validate),
        ("(b) validate_resource (structure + rules)", validate_resource),
        ("(c) validate_imaging_study (rules only)", validate_imaging_study),
    ]
    print(f"ImagingStudy with {args.series} series / {args.instances} instances; {args.seconds:g} s each; {pin}")
    print(f"{'case':<44}{'validations/s':>15}{'µs/validation':>16}{'runs':>9}")
    for name, fn in cases:
        rate, runs = _rate(fn, study, args.seconds)
        print(f"{name:<44}{rate:>15,.0f}{1e6 / rate:>16,.1f}{runs:>9}")


if __name__ == "__main__":
    main()

"""Search-parameter values: the plain element walk against fhirpathpy, side by side, on one core.

    python benchmarks/bench_search_values.py [--rounds 5]

For every parameter of each type (ImagingStudy, DocumentReference, Patient) on a resource of the
project (the 3-series/20-instance sample study, a rendered fixture document and patient): CPU µs per
call of ``imgconf.searchparams.extract.values`` (the walk where the expression is a plain path) and
of ``evaluate`` (fhirpathpy, compiled once, what ``values`` used for every parameter before), best of
``--rounds``, and the ratio. The search oracle and ``imgconf fuzz`` call ``values`` for every criterion
on every resource a server returns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imgconf.editions import EDITIONS  # noqa: E402 — after the path above
from imgconf.searchparams.extract import element_path, evaluate, values  # noqa: E402
from imgconf.searchparams.registry import params_for  # noqa: E402
from imgconf.suite.template import render  # noqa: E402
from imgconf.validators.samples import sample_imaging_study, template_stand_ins  # noqa: E402


def _fixture(name: str) -> dict[str, Any]:
    edition = next(iter(EDITIONS.values()))
    template = json.loads((ROOT / "fixtures" / name).read_text(encoding="utf-8"))
    return render(template, template_stand_ins(edition))


def _best_us(call: Callable[[], object], rounds: int, number: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(number):
            call()
        best = min(best, (time.process_time() - started) / number)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=200, help="calls per round")
    args = parser.parse_args()
    resources = {
        "ImagingStudy": sample_imaging_study(3, 20),
        "DocumentReference": next(r for r in (_fixture(p.relative_to(ROOT / "fixtures").as_posix())
                                              for p in sorted((ROOT / "fixtures" / "documentreference").glob("*.json")))
                                  if r.get("resourceType") == "DocumentReference"),
        "Patient": _fixture(next(p for p in sorted((ROOT / "fixtures" / "patient").glob("*.json"))).relative_to(
            ROOT / "fixtures").as_posix()),
    }
    print(f"{'type':<18} {'parameter':<20} {'values µs':>10} {'fhirpathpy µs':>14} {'ratio':>7}  path")
    totals = [0.0, 0.0]
    for resource_type, resource in resources.items():
        for param in params_for(resource_type).values():
            assert repr(values(resource, param)) == repr(evaluate(resource, param.expression)), param.expression
            new = _best_us(lambda: values(resource, param), args.rounds, args.number)  # noqa: B023 — called at once
            old = _best_us(lambda: evaluate(resource, param.expression), args.rounds, args.number)  # noqa: B023
            totals[0] += new
            totals[1] += old
            way = "walk" if element_path(param.expression) is not None else "fhirpathpy"
            print(f"{resource_type:<18} {param.name:<20} {new:>10.1f} {old:>14.1f} {old / new:>6.1f}×  {way}")
    print(f"{'all parameters':<39} {totals[0]:>10.1f} {totals[1]:>14.1f} {totals[1] / totals[0]:>6.1f}×")


if __name__ == "__main__":
    main()

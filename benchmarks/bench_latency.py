"""A latency-bound full run: wall time against the critical path (issue 15, item 5).

    python benchmarks/bench_latency.py [--latency-ms 50] [--workers 0,4,8] [--suite ID ...]

The embedded reference server is put behind a proxy that adds ``--latency-ms`` to every request (a
distant target; ``IMGCONF_BENCH_LATENCY_MS``, imgconf.session). Cases of one suite file run in order (they
share saved variables); files are independent. So the shortest possible run is the longest file: the
critical path, measured as the largest per-file sum of case durations in the sequential run (``-n 0``).
Each worker count then runs the same suites; the table shows wall time, wall / critical path, and the
CPU time of the whole process tree (the harness and the servers share the machine's cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ENV = "IMGCONF_BENCH_LATENCY_MS"  # imgconf.session.BENCH_LATENCY_ENV (not imported: keep this script light)


@dataclass(frozen=True)
class RunFigures:
    workers: int
    wall_s: float
    cpu_s: float
    cases: int
    outcome: str
    chains: dict[str, float]  # suite file -> summed case durations


def _imgconf() -> list[str]:
    script = Path(sys.executable).with_name("imgconf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgconf.cli"]


def run(workers: int, latency_ms: float, suites: list[str], reports: Path) -> RunFigures:
    argv = [*_imgconf(), "run", "--workers", str(workers), "--reports-dir", str(reports)]
    for suite in suites:
        argv += ["--suite", suite]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env={**os.environ, ENV: str(latency_ms)}, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary_path = reports / "summary.json"
    if not summary_path.exists():
        sys.exit(f"imgconf run -n {workers} wrote no summary.json (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    chains: dict[str, float] = defaultdict(float)
    for case in summary["cases"]:
        chains[case["suite_id"]] += float(case.get("duration_s") or 0.0)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return RunFigures(workers, wall, cpu, len(summary["cases"]), str(summary.get("outcome")), dict(chains))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="0,4,8", help="comma-separated worker counts; 0 (in-process) is always run first")
    parser.add_argument("--suite", action="append", default=[], help="limit to these suite ids (default: every suite)")
    args = parser.parse_args()
    counts = [0] + [int(w) for w in args.workers.split(",") if w.strip() and int(w) != 0]
    load = os.getloadavg()[0]
    rows: list[RunFigures] = []
    with tempfile.TemporaryDirectory(prefix="imgconf-latency-") as tmp:
        for workers in counts:
            rows.append(run(workers, args.latency_ms, args.suite, Path(tmp) / f"n{workers}"))
            print(f"  -n {workers}: {rows[-1].wall_s:.1f} s", file=sys.stderr)
    sequential = rows[0]
    longest_suite, critical = max(sequential.chains.items(), key=lambda item: item[1])
    print(f"latency {args.latency_ms:.0f} ms per request; {sequential.cases} cases in {len(sequential.chains)} suite files; "
          f"load average at start {load:.1f}")
    print(f"critical path: {critical:.1f} s ({longest_suite}); sum of all chains {sum(sequential.chains.values()):.1f} s")
    print(f"{'workers':>7} {'wall s':>8} {'wall/critical':>14} {'CPU s':>8} {'cases':>6}  outcome")
    for row in rows:
        print(f"{row.workers:>7} {row.wall_s:>8.1f} {row.wall_s / critical:>14.2f} {row.cpu_s:>8.1f} {row.cases:>6}  {row.outcome}")


if __name__ == "__main__":
    main()

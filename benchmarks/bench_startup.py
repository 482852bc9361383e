"""The fixed cost of every run — start-up, suite loading, reports — before and after, side by side.

    python benchmarks/bench_startup.py [--baseline REV] [--repeat 3] [--concurrency 8] [--skip-runs]

Each measurement runs in a fresh process with ``PYTHONPATH`` set to the source tree measured: this
checkout, and with ``--baseline REV`` the package, suites and fixtures of git revision REV extracted
to a temporary folder (``git archive``; the repository is not touched). Rows:

- ``load N suites``: importing the loader and loading (validating) every bundled suite, CPU-s;
- ``collect --suite ID``: ``pytest --collect-only`` selecting one suite, CPU-s of the process;
- ``imgconf run`` against the embedded server, sequential and ``--concurrency N``: the CPU-s of the
  whole process and its wall time, and the CPU-s of its phases, taken inside the run by a small
  pytest plugin (``PYTEST_PLUGINS``): start-up (until collection starts), collection, cases, and
  reports (pytest_sessionfinish: summary.json, junit, HTML, allure files).

Figures are medians of ``--repeat`` runs (CPU seconds say most when the machine is shared).
Where the time goes: ``python -m cProfile -s cumulative -m imgconf.cli run``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Loaded into each run (PYTEST_PLUGINS): process CPU time where the phases begin and end.
PHASES_PLUGIN = """
import json, os, time
import pytest

_marks = {}

@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session):
    _marks["collect_start"] = time.process_time()
    yield
    _marks["collect_end"] = time.process_time()

@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    _marks["reports_start"] = time.process_time()
    yield
    _marks["reports_end"] = time.process_time()

def pytest_unconfigure(config):
    with open(os.environ["IMGCONF_BENCH_PHASES"], "w") as out:
        json.dump(_marks, out)
"""

LOAD_SCRIPT = """
import time
from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.suite.loader import discover, load_suite
paths = discover([suites_dir()])
for path in paths:
    load_suite(path, fixture_library=library(fixtures_dir()))
print(len(paths), time.process_time())
"""


@dataclass
class Measured:
    cpu_s: float
    wall_s: float
    phases: dict[str, float]


def extract(rev: str, into: Path) -> Path:
    """imgconf/, suites/, fixtures/ and validators/ of ``rev``, without touching the repository."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "imgconf", "suites", "fixtures",
                              "validators"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _child(argv: list[str], tree: Path, cwd: Path, extra_env: dict[str, str] | None = None) -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "120", "NO_COLOR": "1", **(extra_env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stdout


def load_all(tree: Path, work: Path) -> Measured:
    cpu, wall, out = _child([sys.executable, "-c", LOAD_SCRIPT], tree, work)
    count, in_process = out.split()
    return Measured(cpu, wall, {"suites": float(count), "load": float(in_process)})


def collect_one(tree: Path, work: Path, suite_id: str) -> Measured:
    suites = tree / "suites"
    cpu, wall, _ = _child([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                           "--rootdir", str(tree), "--imgconf-suites", str(suites), "--imgconf-suite", suite_id], tree, work)
    return Measured(cpu, wall, {})


def imgconf_run(tree: Path, work: Path, concurrency: int) -> Measured:
    plugin_dir = work / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "imgconf_bench_phases.py").write_text(PHASES_PLUGIN, encoding="utf-8")
    phases_file = work / "phases.json"
    argv = [sys.executable, "-m", "imgconf.cli", "run", "--reports-dir", str(work / "reports")]
    if concurrency > 1:
        argv += ["--concurrency", str(concurrency)]
    env = {"IMGCONF_BENCH_PHASES": str(phases_file), "PYTEST_PLUGINS": "imgconf_bench_phases"}
    cpu, wall, _ = _child(argv, Path(f"{tree}{os.pathsep}{plugin_dir}"), work, env)
    marks = json.loads(phases_file.read_text(encoding="utf-8"))
    return Measured(cpu, wall, {
        "start-up": marks["collect_start"], "collection": marks["collect_end"] - marks["collect_start"],
        "cases": marks["reports_start"] - marks["collect_end"], "reports": marks["reports_end"] - marks["reports_start"],
    })


def median(samples: list[Measured]) -> Measured:
    keys = samples[0].phases
    return Measured(statistics.median(s.cpu_s for s in samples), statistics.median(s.wall_s for s in samples),
                    {k: statistics.median(s.phases[k] for s in samples) for k in keys})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REV", help="git revision to compare with (e.g. HEAD~3)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--suite", default="rest-capability-declarations", help="the suite selected by the collect row")
    parser.add_argument("--skip-runs", action="store_true", help="only the loading and collection rows")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imgconf-bench-startup-") as tmp:
        trees = {"now": REPO}
        if args.baseline:
            trees = {args.baseline: extract(args.baseline, Path(tmp) / "baseline"), **trees}
        rows: list[tuple[str, dict[str, Measured]]] = []
        measures = [("load all suites", lambda tree, work: load_all(tree, work)),
                    (f"collect --suite {args.suite}", lambda tree, work: collect_one(tree, work, args.suite))]
        if not args.skip_runs:
            measures += [("imgconf run (sequential)", lambda tree, work: imgconf_run(tree, work, 0)),
                         (f"imgconf run --concurrency {args.concurrency}",
                          lambda tree, work: imgconf_run(tree, work, args.concurrency))]
        for label, measure in measures:
            samples: dict[str, list[Measured]] = {name: [] for name in trees}
            for _ in range(args.repeat):  # alternating trees: a change of load affects both alike
                for name, tree in trees.items():
                    samples[name].append(measure(tree, Path(tempfile.mkdtemp(dir=tmp))))
            rows.append((label, {name: median(taken) for name, taken in samples.items()}))
    print(f"{'':38}" + "".join(f"{name:>24}" for name in trees))
    for label, by_tree in rows:
        print(f"{label:38}" + "".join(f"{f'{m.cpu_s:.2f} CPU-s {m.wall_s:.2f} s':>24}" for m in by_tree.values()))
        for phase in next(iter(by_tree.values())).phases:
            if phase == "suites":
                continue
            print(f"  {phase + ' (CPU-s)':36}" + "".join(f"{m.phases[phase]:>24.2f}" for m in by_tree.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

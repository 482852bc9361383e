"""A latency-bound full run: wall time against the critical path (issue 15, item 5).

    python benchmarks/bench_latency.py [--latency-ms 50] [--modes 0,c8,n2] [--suite ID ...]

The target is the reference server in a process of its own (its CPU is not on the harness's GIL),
answering every request ``--latency-ms`` late (a distant target), with SMART auth on like the embedded
one: a client key made here (ES384 only: the RS384 case is skipped), registered there, given to the run
as a preset. Every mode gets a fresh target. Modes: ``0`` one case after another; ``cN`` ``imgconf run --concurrency N`` (N suite files at
once in one process); ``nN`` ``imgconf run -n N`` (pytest-xdist workers).

Cases of one suite file run in order (they share saved variables); files are independent. So the
shortest possible run is the longest file — the critical path, measured as the largest per-file sum
of case durations in the sequential run — plus what no case can overlap: start-up, collection of the
suites and writing the reports, measured as a run that selects no case (``fixed``). The table gives
wall / critical path and wall / (fixed + critical path); the wall split into before the cases
(start-up, collection, session, fixtures), the cases, and after them (teardown, reports), with the
case phase / critical path; CPU seconds of the harness and of the target; the CPU floor, (harness + target
CPU) / cores, below which no schedule of that run's work can finish, and its ratio to the critical path;
and how many case verdicts differ from the sequential run (must be 0).

To look inside a run: ``IMGCONF_BENCH_PLUGINS=mod1,mod2`` (importable, e.g. through ``PYTHONPATH``) adds
pytest plugins to every run (a probe timing phases, lock waits, requests); ``IMGCONF_BENCH_WRAP`` prefixes
the command (``"py-spy record --gil -f raw -o run.raw --"``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

NO_CASE = "imgconf_bench_selects_no_case"
# Loaded into the run (PYTEST_PLUGINS): when the cases began and ended, to split the wall time into phases.
PHASES_PLUGIN = """
import json, os, time
_marks = {}
def pytest_runtestloop(session):
    _marks.setdefault("cases_start", time.time())
def pytest_runtest_logstart(nodeid, location):  # xdist's controller runs its own loop: the first case report then
    _marks.setdefault("cases_start", time.time())
def pytest_runtest_logfinish(nodeid, location):
    _marks["cases_end"] = time.time()
def pytest_unconfigure(config):
    _marks["end"] = time.time()
    with open(os.environ["IMGCONF_BENCH_PHASES"], "w") as out:
        json.dump(_marks, out)
"""
SCOPES = "system/*.cruds"  # what the embedded target grants its harness client (imgconf.auth.embedded)


@dataclass(frozen=True)
class RunFigures:
    mode: str
    wall_s: float
    cpu_s: float  # the imgconf run process (and its xdist workers)
    target_cpu_s: float
    cases: int
    outcome: str
    chains: dict[str, float]  # suite id -> summed case durations
    phases: dict[str, float]  # before the cases (start-up, collection, session), the cases, after them (teardown, reports)
    verdicts: dict[str, tuple[object, ...]]  # nodeid -> verdict, checks, skip reason, error or not


def _imgconf() -> list[str]:
    script = Path(sys.executable).with_name("imgconf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgconf.cli"]


# -- the target: a process of its own --------------------------------------------------------------

def serve(latency_ms: float, client_id: str, jwks_file: Path) -> None:
    """(In the target process) the reference server with one registered client, until SIGTERM."""
    from imgconf.reference.auth import ReferenceAuth, RegisteredClient
    from imgconf.reference.server import EmbeddedServer

    auth = ReferenceAuth()
    auth.register(RegisteredClient(client_id, json.loads(jwks_file.read_text(encoding="utf-8")), allowed_scopes=SCOPES))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with EmbeddedServer(auth=auth, latency_s=latency_ms / 1000, warm=True) as server:  # a distant server is warm
        print(server.base_url, flush=True)
        while True:
            time.sleep(3600)


@dataclass(frozen=True)
class Client:
    """One harness client for every mode (its id shows in skip reasons: the same in every run)."""

    client_id: str
    jwks_file: Path
    key_env: dict[str, str]

    @classmethod
    def make(cls, workdir: Path) -> Client:
        from imgconf.auth.keys import SigningKey, jwks, private_pem

        key = SigningKey.generate("ES384")
        jwks_file = workdir / "client.jwks.json"
        jwks_file.write_text(json.dumps(jwks([key])), encoding="utf-8")
        return cls(f"imgconf-bench-{uuid.uuid4().hex[:8]}", jwks_file, {"IMGCONF_BENCH_CLIENT_KEY": private_pem(key).decode()})


class Target:
    """Starts the target process and writes the preset (config file + key in an environment variable)."""

    def __init__(self, latency_ms: float, workdir: Path, client: Client) -> None:
        self.client_id, jwks_file, self.key_env = client.client_id, client.jwks_file, client.key_env
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency-ms", str(latency_ms), "--client-id", self.client_id,
             "--jwks", str(jwks_file)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url:
            sys.exit("the target process did not start")
        self.config = workdir / f"target-{self.proc.pid}.toml"
        self.config.write_text(
            f'[presets.bench]\nurl = "{self.base_url}"\n[presets.bench.auth]\nclient_id = "{self.client_id}"\n'
            f'key_env = "IMGCONF_BENCH_CLIENT_KEY"\nscopes = "{SCOPES}"\n', encoding="utf-8")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# -- one run -------------------------------------------------------------------------------------

def _mode_args(mode: str) -> list[str]:
    if mode == "0":
        return []
    if mode.startswith("c"):
        return ["--concurrency", mode[1:]]
    if mode.startswith("n"):
        return ["--workers", mode[1:]]
    raise SystemExit(f"unknown mode {mode!r}: 0, cN (--concurrency N) or nN (-n N)")


def run(mode: str, latency_ms: float, suites: list[str], workdir: Path, client: Client,
        extra: list[str] | None = None) -> RunFigures:
    target = Target(latency_ms, workdir, client)
    reports = workdir / f"reports-{mode}-{target.proc.pid}"
    wrap = os.environ.get("IMGCONF_BENCH_WRAP", "").split()
    argv = [*wrap, *_imgconf(), "run", "--config", str(target.config), "--preset", "bench", "--reports-dir", str(reports),
            *_mode_args(mode), *(extra or [])]
    for suite in suites:
        argv += ["--suite", suite]
    (workdir / "imgconf_bench_phases.py").write_text(PHASES_PLUGIN, encoding="utf-8")
    marks_file = workdir / f"phases-{mode}-{target.proc.pid}.json"
    plugins = ",".join(filter(None, ["imgconf_bench_phases", os.environ.get("IMGCONF_BENCH_PLUGINS")]))
    env = {**os.environ, **target.key_env, "PYTEST_PLUGINS": plugins, "IMGCONF_BENCH_PHASES": str(marks_file),
           "PYTHONPATH": os.pathsep.join(p for p in (str(workdir), os.environ.get("PYTHONPATH", "")) if p)}
    try:
        before, target_before = resource.getrusage(resource.RUSAGE_CHILDREN), target.cpu_s()
        started, started_at = time.perf_counter(), time.time()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after, target_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), target.cpu_s() - target_before
    finally:
        target.stop()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary_path = reports / "summary.json"
    marks = json.loads(marks_file.read_text(encoding="utf-8")) if marks_file.exists() else {}
    phases = {"before": marks.get("cases_start", started_at) - started_at,
              "cases": marks.get("cases_end", marks.get("cases_start", started_at)) - marks.get("cases_start", started_at)}
    phases["after"] = wall - phases["before"] - phases["cases"]
    if extra:  # the run that selects no case writes no summary
        return RunFigures(mode, wall, cpu, target_cpu, 0, f"exit {done.returncode}", {}, phases, {})
    if not summary_path.exists():
        sys.exit(f"imgconf run ({mode}) wrote no summary.json (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    chains: dict[str, float] = defaultdict(float)
    verdicts: dict[str, tuple[object, ...]] = {}
    for case in summary["cases"]:
        chains[case["suite_id"]] += float(case.get("duration_s") or 0.0)
        verdicts[case["nodeid"]] = (case["verdict"], case["checks"], case["skipped_reason"], bool(case["error"]))
    return RunFigures(mode, wall, cpu, target_cpu, len(summary["cases"]), str(summary.get("outcome")), dict(chains), phases, verdicts)


def cpu_floor_s(row: RunFigures, cores: int) -> float:
    """The shortest wall time the run's work allows: all its CPU (harness and target) spread over every core."""
    return (row.cpu_s + row.target_cpu_s) / cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--modes", default="0,c8", help="comma-separated: 0, cN (--concurrency N), nN (-n N); 0 always runs first")
    parser.add_argument("--suite", action="append", default=[], help="limit to these suite ids (default: every suite)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the target process
    parser.add_argument("--client-id", help=argparse.SUPPRESS)
    parser.add_argument("--jwks", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency_ms, args.client_id, args.jwks)
        return
    modes = ["0"] + [m.strip() for m in args.modes.split(",") if m.strip() and m.strip() != "0"]
    load = os.getloadavg()[0]
    rows: list[RunFigures] = []
    with tempfile.TemporaryDirectory(prefix="imgconf-latency-") as tmp:
        client = Client.make(Path(tmp))
        fixed = run("0", args.latency_ms, args.suite, Path(tmp), client, extra=["-k", NO_CASE])
        print(f"  fixed (no case selected): {fixed.wall_s:.1f} s", file=sys.stderr)
        for mode in modes:
            rows.append(run(mode, args.latency_ms, args.suite, Path(tmp), client))
            print(f"  {mode}: {rows[-1].wall_s:.1f} s", file=sys.stderr)
    sequential = rows[0]
    longest_suite, critical = max(sequential.chains.items(), key=lambda item: item[1])
    floor = fixed.wall_s + critical
    print(f"latency {args.latency_ms:.0f} ms per request; {sequential.cases} cases in {len(sequential.chains)} suite files; "
          f"load average at start {load:.1f}; {os.cpu_count()} cores")
    print(f"critical path: {critical:.1f} s ({longest_suite}); sum of all chains {sum(sequential.chains.values()):.1f} s; "
          f"fixed (start-up, collection, no case): {fixed.wall_s:.1f} s, {fixed.cpu_s:.1f} CPU-s")
    cores = os.cpu_count() or 1
    print(f"one process runs Python on one core at a time (GIL): a one-process mode takes about its harness CPU or more; "
          f"no mode can take less than (harness + target CPU) / {cores} cores, its CPU floor")
    print(f"{'mode':>5} {'wall s':>7} {'/critical':>9} {'/(fixed+crit)':>13} {'before':>6} {'cases':>6} {'after':>6} "
          f"{'cases/crit':>10} {'CPU s':>6} {'target CPU s':>12} {'CPU floor s':>11} {'floor/crit':>10} {'cases':>5} "
          f"{'verdicts != seq':>15}  outcome")
    differing: list[str] = []
    for row in rows:
        differ = [nodeid for nodeid, verdict in sequential.verdicts.items() if row.verdicts.get(nodeid) != verdict]
        differing += [f"  {row.mode}: {nodeid}: {sequential.verdicts[nodeid]} -> {row.verdicts.get(nodeid)}" for nodeid in differ]
        before, cases, after = row.phases["before"], row.phases["cases"], row.phases["after"]
        cpu_floor = cpu_floor_s(row, cores)
        print(f"{row.mode:>5} {row.wall_s:>7.1f} {row.wall_s / critical:>9.2f} {row.wall_s / floor:>13.2f} {before:>6.1f} {cases:>6.1f} "
              f"{after:>6.1f} {cases / critical:>10.2f} {row.cpu_s:>6.1f} {row.target_cpu_s:>12.1f} {cpu_floor:>11.1f} "
              f"{cpu_floor / critical:>10.2f} {row.cases:>5} {len(differ):>15}  {row.outcome}")
    lowest = min(rows, key=lambda r: cpu_floor_s(r, cores))
    print(f"lowest CPU floor: {cpu_floor_s(lowest, cores):.1f} s ({lowest.mode}), {cpu_floor_s(lowest, cores) / critical:.2f}x the "
          f"critical path: no schedule of that much work on {cores} cores takes less")
    if differing:
        print("verdicts that differ from the sequential run:", *differing, sep="\n")


if __name__ == "__main__":
    main()

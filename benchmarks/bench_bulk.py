"""`imgconf validate -j 1` vs `-j 0` (every core) on one large NDJSON file: time, rate, memory.

    python benchmarks/bench_bulk.py [--n 1000000] [--series 3] [--instances 20] [--file PATH] [--keep]
                                    [--modes 1,0] [--report]

Generates (deterministically, streamed line by line to a temporary file unless ``--file`` names one
to keep/reuse) ``--n`` ImagingStudies with UIDs of their own; every 100,000th study reuses study 1's
series UIDs, so the cross-resource index (DICOM-012) has real conflicts to find across chunks and
workers. Each mode runs ``imgconf validate --quiet -j N FILE`` in a child process and prints, side by
side: wall seconds, resources/s (wall), CPU seconds of the whole process tree (user+sys, /proc sampled:
getrusage misses the forkserver's workers), resources per CPU-second (less sensitive to what else runs
on the machine), and peak memory: RSS of the largest single process, and PSS (shared pages counted
once) of the whole tree at any moment.
The load average before and after says how busy the machine was. Both modes must print the same
summary line (resources, failing, findings by level) — the same findings whatever -j.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from imgconf.validators.samples import STUDY_UID, sample_imaging_study

SERIES_ROOT = "1.2.826.0.1.3680043.8.498.20001"
INSTANCE_ROOT = "1.2.826.0.1.3680043.8.498.30001"
CONFLICT_EVERY = 100_000
SUMMARY = re.compile(r"^(\d+) resource\(s\) checked, (\d+) failing; ([^(]*)", re.MULTILINE)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def generate(path: Path, n: int, series: int, instances: int) -> None:
    """``n`` NDJSON lines: the sample study, its UIDs and id made unique per line (``<root>.<k>``)."""
    template = json.dumps(sample_imaging_study(series, instances), separators=(",", ":"))
    marks = ((STUDY_UID, "\x00S"), (SERIES_ROOT, "\x00E"), (INSTANCE_ROOT, "\x00I"))
    for root, mark in marks:
        assert root in template, root
        template = template.replace(root, mark)
    template = template.replace('"id":"example"', '"id":"\x00K"', 1)
    part = path.with_suffix(".part")
    with part.open("w", encoding="utf-8") as fh:
        for k in range(1, n + 1):
            series_k = 1 if k % CONFLICT_EVERY == 0 else k  # a planted DICOM-012: study 1's series UIDs
            fh.write(template.replace("\x00S", f"{STUDY_UID}.{k}").replace("\x00E", f"{SERIES_ROOT}.{series_k}")
                     .replace("\x00I", f"{INSTANCE_ROOT}.{k}").replace("\x00K", f"s{k}") + "\n")
    part.replace(path)


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (the forkserver's preloaded modules in every worker)
    counted once across the tree, not once per process as summing RSS would."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeSampler:
    """Samples a process tree from /proc: peak RSS (largest process, whole tree) and CPU seconds."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        self.root = root
        self.interval = interval
        self.cpu: dict[int, float] = {}  # last seen user+sys per pid
        self.peak_process = 0
        self.peak_tree = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        kids = _children()
        todo, tree = [self.root], 0
        while todo:
            pid = todo.pop()
            todo += kids.get(pid, [])
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields after the comm: state=0, ..., utime=11, stime=12, rss=21 (pages)
            self.cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK
            self.peak_process = max(self.peak_process, int(fields[21]) * PAGE)
            tree += _pss(pid)
        self.peak_tree = max(self.peak_tree, tree)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def run_mode(path: Path, jobs: int, report: Path | None) -> dict[str, object]:
    argv = [sys.executable, "-m", "imgconf.cli", "validate", "--quiet", "-j", str(jobs), str(path)]
    if report is not None:
        argv += ["--report", str(report)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.close()
    match = SUMMARY.search(out)
    if match is None:
        raise SystemExit(f"-j {jobs}: no summary line (exit {proc.returncode})\n{out[-2000:]}\n{err[-2000:]}")
    resources = int(match.group(1))
    cpu = sum(sampler.cpu.values())
    return {"jobs": jobs, "wall": wall, "rate": resources / wall, "cpu": cpu, "per_cpu": resources / cpu if cpu else 0,
            "peak_process": sampler.peak_process, "peak_tree": sampler.peak_tree, "summary": match.group(0).strip(),
            "exit": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="ImagingStudies in the file")
    parser.add_argument("--series", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20, help="instances per study (over its series)")
    parser.add_argument("--file", type=Path, help="keep/reuse the generated file here (regenerated if its line "
                                                  "count differs)")
    parser.add_argument("--modes", default="1,0", help="comma-separated -j values (0: every core)")
    parser.add_argument("--report", action="store_true", help="also write the data-quality report (matplotlib)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        path = args.file or Path(tmp) / "studies.ndjson"
        stamp = path.with_suffix(".n")
        wanted = f"{args.n} {args.series} {args.instances}"
        if not (path.exists() and stamp.exists() and stamp.read_text() == wanted):
            started = time.perf_counter()
            generate(path, args.n, args.series, args.instances)
            stamp.write_text(wanted)
            print(f"generated {args.n:,} studies ({args.series} series, {args.instances} instances) in "
                  f"{time.perf_counter() - started:.0f} s: {path.stat().st_size / 1e6:,.0f} MB")
        load_before = os.getloadavg()
        rows = [run_mode(path, int(j), Path(tmp) / f"report-{j}" if args.report else None)
                for j in args.modes.split(",")]
        load_after = os.getloadavg()

    print(f"\n{args.n:,} ImagingStudies ({args.series} series / {args.instances} instances), "
          f"{os.cpu_count()} CPUs; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    print(f"{'mode':<8}{'wall s':>9}{'res/s':>10}{'CPU s':>9}{'res/CPU-s':>11}{'peak RSS proc':>15}{'peak PSS tree':>15}")
    for r in rows:
        print(f"{'-j ' + str(r['jobs']):<8}{r['wall']:>9.1f}{r['rate']:>10,.0f}{r['cpu']:>9.1f}{r['per_cpu']:>11,.0f}"
              f"{r['peak_process'] / 2**20:>12,.0f} MB{r['peak_tree'] / 2**20:>12,.0f} MB")  # type: ignore[operator]
    summaries = {str(r["summary"]) for r in rows}
    for r in rows:
        print(f"  -j {r['jobs']}: exit {r['exit']}: {r['summary']}")
    if len(summaries) != 1:
        raise SystemExit("the modes disagree")


if __name__ == "__main__":
    main()

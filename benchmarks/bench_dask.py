"""`imgconf validate` on one NDJSON file: a local Dask cluster vs -j 2 vs -j 1, side by side in one run.

    python benchmarks/bench_dask.py [--n 200000] [--series 3] [--instances 20] [--workers 2]
                                    [--partition-mb 64] [--file PATH] [--only dask,j2,j1]

The file (``--n`` ImagingStudies of ``--series``/``--instances``, each with UIDs of its own, generated
deterministically; kept and reused when it exists with the same size) is validated by
``imgconf validate --quiet`` in a child process per mode: ``--dask local -j WORKERS --partition-mb MB``,
``-j 2``, ``-j 1``. Printed per mode: wall seconds, resources/s (wall), CPU seconds of the whole
process tree (user+sys, the Dask workers and nannies included) and resources per CPU-second, which
depends less on what else runs on the machine; the load average before and after says how busy it was.
Every mode must report the same summary line (resources, failing, findings by level).
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

# A plain script run from a checkout: make the package importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imgconf.validators.samples import STUDY_UID, sample_imaging_study

_SERIES_ROOT = "1.2.826.0.1.3680043.8.498.20001"
_INSTANCE_ROOT = "1.2.826.0.1.3680043.8.498.30001"
_SUMMARY = re.compile(r"^(\d+) resource\(s\) checked, (\d+) failing; ([^(]*)", re.MULTILINE)


def generate(path: Path, n: int, series: int, instances: int) -> None:
    """``n`` lines: the sample study with UIDs made unique per line (``root.k``) and its id ``s<k>``."""
    template = json.dumps(sample_imaging_study(series, instances), separators=(",", ":"))
    for root, mark in ((STUDY_UID, "\x00S"), (_SERIES_ROOT, "\x00E"), (_INSTANCE_ROOT, "\x00I")):
        assert root in template
        template = template.replace(root, mark)
    template = template.replace('"id":"example"', '"id":"\x00K"', 1)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as fh:
        for k in range(1, n + 1):
            fh.write(template.replace("\x00S", f"{STUDY_UID}.{k}").replace("\x00E", f"{_SERIES_ROOT}.{k}")
                     .replace("\x00I", f"{_INSTANCE_ROOT}.{k}").replace("\x00K", f"s{k}") + "\n")
    tmp.replace(path)


class TreeCpu:
    """CPU seconds (user+sys) of a process and all its descendants, sampled from /proc every ``interval``
    (getrusage misses grandchildren nobody waits for: the -j forkserver's workers, the Dask workers)."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.ticks: dict[int, int] = {}  # pid -> utime+stime in clock ticks, the last value seen
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        parent: dict[int, int] = {}
        used: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parent[int(entry)] = int(fields[1])
                used[int(entry)] = int(fields[11]) + int(fields[12])  # utime, stime
        tree, todo = {self.root}, [self.root]
        children: dict[int, list[int]] = {}
        for pid, ppid in parent.items():
            children.setdefault(ppid, []).append(pid)
        while todo:
            for child in children.get(todo.pop(), []):
                tree.add(child)
                todo.append(child)
        for pid in tree & used.keys():
            self.ticks[pid] = max(self.ticks.get(pid, 0), used[pid])

    def seconds(self) -> float:
        self.stop.set()
        self.thread.join()
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def run(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the child's process tree, and its summary line."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "imgconf.cli", "validate", "--quiet", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu = TreeCpu(child.pid)
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - start
    seconds = cpu.seconds()
    found = _SUMMARY.search(stdout)
    if child.returncode not in (0, 1) or not found:
        sys.exit(f"imgconf validate {' '.join(args)} failed ({child.returncode}):\n{stdout}\n{stderr}")
    return wall, seconds, found.group(0).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="studies in the file (default 200,000)")
    parser.add_argument("--series", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="Dask local workers (default 2)")
    parser.add_argument("--partition-mb", type=float, default=64.0, help="--partition-mb of the Dask run (default 64)")
    parser.add_argument("--file", type=Path, help="where the NDJSON file is kept (default: the temp folder)")
    parser.add_argument("--only", default="dask,j2,j1", help="modes to run, in this order (default dask,j2,j1)")
    args = parser.parse_args()

    path = args.file or Path(tempfile.gettempdir()) / f"imgconf-bench-{args.n}-{args.series}x{args.instances}.ndjson"
    if not path.exists():
        start = time.perf_counter()
        generate(path, args.n, args.series, args.instances)
        print(f"generated {path} in {time.perf_counter() - start:.1f} s")
    size = path.stat().st_size
    modes = {
        "dask": (f"--dask local, {args.workers} workers", ["--dask", "local", "-j", str(args.workers),
                                                          "--partition-mb", str(args.partition_mb)]),
        "j2": ("-j 2", ["-j", "2"]),
        "j1": ("-j 1", ["-j", "1"]),
    }
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    load_before = os.getloadavg()
    print(f"{path}: {args.n:,} ImagingStudies ({args.series} series / {args.instances} instances), "
          f"{size / 1e6:,.0f} MB; {os.cpu_count()} CPUs; "
          f"Dask partitions of {args.partition_mb:g} MB (~{max(1, round(size / (args.partition_mb * (1 << 20))))})")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"{'mode':<26}{'wall s':>9}{'resources/s':>13}{'CPU s':>9}{'resources/CPU-s':>17}")
    summaries = {}
    for mode in chosen:
        name, extra = modes[mode]
        wall, cpu, summary = run([*extra, str(path)])
        summaries[mode] = summary
        print(f"{name:<26}{wall:>9.1f}{args.n / wall:>13,.0f}{cpu:>9.1f}{args.n / cpu:>17,.0f}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"summary: {next(iter(summaries.values()))}")
    if len(set(summaries.values())) != 1:
        sys.exit(f"the modes disagree: {summaries}")


if __name__ == "__main__":
    main()

"""Start-up time of everyday ``imgconf`` commands against the 0.3 s budget (issue 11).

    python benchmarks/startup.py [--runs 15] [--budget 0.3]

Each command runs ``--runs`` times as a fresh subprocess; the table shows the median wall time, the fastest
run and the median CPU time (user + system; these two say most about the code when other work shares
the machine), with the bare interpreter start for scale. Exit status 1 when a budgeted command's median is over the budget.
Where the time goes: ``python -X importtime -c "import imgconf.cli" 2>&1 | sort -t'|' -k2 -n -r | head``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BUDGET_S = 0.3


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    budgeted: bool  # the budget applies (the interpreter alone and `run --help` are for scale)


def _imgconf() -> list[str]:
    """The installed console script next to this interpreter, else the module (same code path)."""
    script = Path(sys.executable).with_name("imgconf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgconf.cli"]


def commands() -> list[Command]:
    imgconf = _imgconf()
    return [
        Command("python -c pass", [sys.executable, "-c", "pass"], budgeted=False),
        Command('python -c "import imgconf.cli"', [sys.executable, "-c", "import imgconf.cli"], budgeted=True),
        Command("imgconf --version", [*imgconf, "--version"], budgeted=True),
        Command("imgconf --help", [*imgconf, "--help"], budgeted=True),
        Command("imgconf list", [*imgconf, "list"], budgeted=True),
        Command("imgconf run --help", [*imgconf, "run", "--help"], budgeted=False),
    ]


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float  # user + system time of the child: what the command costs, whatever else runs on the machine


def time_once(argv: list[str]) -> Sample:
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return Sample(elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="subprocess runs per command (median reported)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds allowed for the budgeted commands")
    options = parser.parse_args()
    over = 0
    print(f"{'command':34} {'median s':>9} {'min s':>7} {'cpu s':>7} {'budget s':>9}  verdict")
    for command in commands():
        time_once(command.argv)  # warm the file cache and .pyc files; not counted
        samples = [time_once(command.argv) for _ in range(options.runs)]
        median = statistics.median(s.wall_s for s in samples)
        cpu = statistics.median(s.cpu_s for s in samples)
        budget = f"{options.budget:.2f}" if command.budgeted else "-"
        verdict = ("over" if median > options.budget else "ok") if command.budgeted else "(scale)"
        over += command.budgeted and median > options.budget
        print(f"{command.label:34} {median:9.3f} {min(s.wall_s for s in samples):7.3f} {cpu:7.3f} {budget:>9}  {verdict}")
    print(f"{options.runs} runs each, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())

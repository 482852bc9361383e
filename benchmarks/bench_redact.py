"""Report redaction before and after its cache and its shape-free shortcut, side by side, on one core.

    python benchmarks/bench_redact.py [--suite ID ...] [--rounds 5]

Runs the suites in process against the embedded reference server (SMART auth on) as ``imgconf run`` does,
recording every text given to redact_text by the HTTP client (exchange evidence) and the report writers
(summary, allure attachments, HTML), with the secrets the run registered still registered. Then CPU seconds
(time.process_time, best of --rounds) of the old redaction (tests/redact_reference.py, frozen) and the new one
(imgconf.report.redact, cache emptied first) over:
- cold: every distinct text once;
- 3x: every distinct text three times in a row (client, allure, HTML: the repetition of a run);
- run: the calls in the order and number the run made them.
Also what the new redaction did in the run itself, where secrets are registered as it goes: how many calls it
redacted rather than answered from its cache, and its CPU seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# A plain script run from a checkout: make the package and the frozen reference importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from redact_reference import reference_redact_text  # noqa: E402

import imgconf.client  # noqa: E402
import imgconf.report.allure_files  # noqa: E402
import imgconf.report.html  # noqa: E402
import imgconf.report.summary  # noqa: E402
from imgconf.report import redact  # noqa: E402

DEFAULT_SUITES = ("token", "enforcement", "mhd-iti67", "imagingstudy-search-results", "imagingstudy-crud",
                  "documents-eu-imaging-report")
CALLERS = (imgconf.client, imgconf.report.allure_files, imgconf.report.html, imgconf.report.summary)


@dataclass
class Recorded:
    calls: list[str] = field(default_factory=list)  # the texts given to redact_text, in call order
    computed: int = 0  # of them, redacted by _redact rather than answered from the cache
    cpu_s: float = 0.0  # thread CPU seconds inside redact_text (the embedded server runs on other threads)


def record_run(suites: list[str]) -> Recorded:
    """What redact_text was given and did during an in-process ``imgconf run`` of ``suites`` (new redaction,
    secrets registered as the run goes: each access token it gets makes cached entries stale)."""
    from imgconf.cli import app

    recorded = Recorded()
    original, original_redact = redact.redact_text, redact._redact
    calling = threading.local()  # the text redact_text was given on this thread

    def recording(body: str | None) -> str:
        if body:
            recorded.calls.append(body)
        calling.body = body
        start = time.thread_time()
        try:
            return original(body)
        finally:
            recorded.cpu_s += time.thread_time() - start
            calling.body = None

    def computing(body: str) -> str:
        if body is getattr(calling, "body", None):  # not a string of a body the walk redacts
            recorded.computed += 1
            calling.body = None
        return original_redact(body)

    redact._redact = computing
    for module in CALLERS:
        module.redact_text = recording  # type: ignore[attr-defined]
    try:
        with tempfile.TemporaryDirectory() as reports:
            args = ["run", "--reports-dir", reports] + [a for s in suites for a in ("--suite", s)]
            with contextlib.suppress(SystemExit):  # the run's exit status is not the benchmark's business
                app(args, standalone_mode=False)
    finally:
        for module in CALLERS:
            module.redact_text = original  # type: ignore[attr-defined]
        redact._redact = original_redact
    return recorded


def cpu(fn: Callable[[str | None], str], texts: list[str], rounds: int, *, fresh_cache: bool) -> float:
    best = float("inf")
    for _ in range(rounds):
        if fresh_cache:
            with redact._cache_lock:
                redact._cache.clear()
        start = time.process_time()
        for text in texts:
            fn(text)
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", help="suite id (repeatable); default: " + ", ".join(DEFAULT_SUITES))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    recorded = record_run(args.suite or list(DEFAULT_SUITES))
    calls = recorded.calls
    distinct = list(dict.fromkeys(calls))
    for text in distinct:  # the new redaction must say what the old one said, or the figures mean nothing
        if redact.redact_text(text) != reference_redact_text(text):
            raise SystemExit(f"new and old redaction differ on {text[:200]!r}")
    changed = sum(reference_redact_text(t) != t for t in distinct)
    print(f"run: {len(calls):,} redact_text calls, {len(distinct):,} distinct texts "
          f"({sum(map(len, distinct)):,} characters, {changed} changed by redaction); load {os.getloadavg()[0]:.1f}")
    print(f"in the run (new): {recorded.computed:,} of the {len(calls):,} calls redacted (old: all), "
          f"{recorded.cpu_s:.3f} CPU-s in redact_text; the replays below keep the run's final secrets")
    print(f"{'workload':<8} {'old CPU-s':>10} {'new CPU-s':>10} {'old µs/text':>12} {'new µs/text':>12} {'old/new':>8}")
    workloads = {"cold": distinct, "3x": [t for t in distinct for _ in range(3)], "run": calls}
    for name, texts in workloads.items():
        old = cpu(reference_redact_text, texts, args.rounds, fresh_cache=False)
        new = cpu(redact.redact_text, texts, args.rounds, fresh_cache=True)
        print(f"{name:<8} {old:>10.3f} {new:>10.3f} {old / len(texts) * 1e6:>12.1f} {new / len(texts) * 1e6:>12.1f} "
              f"{old / new if new else float('inf'):>7.1f}x")


if __name__ == "__main__":
    main()

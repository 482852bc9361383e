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
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
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


def record_run(suites: list[str]) -> list[str]:
    """The texts given to redact_text during an in-process ``imgconf run`` of ``suites``, in call order."""
    from imgconf.cli import app

    seen: list[str] = []
    original = redact.redact_text

    def recording(body: str | None) -> str:
        if body:
            seen.append(body)
        return original(body)

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
    return seen


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
    calls = record_run(args.suite or list(DEFAULT_SUITES))
    distinct = list(dict.fromkeys(calls))
    for text in distinct:  # the new redaction must say what the old one said, or the figures mean nothing
        if redact.redact_text(text) != reference_redact_text(text):
            raise SystemExit(f"new and old redaction differ on {text[:200]!r}")
    changed = sum(reference_redact_text(t) != t for t in distinct)
    print(f"run: {len(calls):,} redact_text calls, {len(distinct):,} distinct texts "
          f"({sum(map(len, distinct)):,} characters, {changed} changed by redaction); load {os.getloadavg()[0]:.1f}")
    print(f"{'workload':<8} {'old CPU-s':>10} {'new CPU-s':>10} {'old µs/text':>12} {'new µs/text':>12} {'old/new':>8}")
    workloads = {"cold": distinct, "3x": [t for t in distinct for _ in range(3)], "run": calls}
    for name, texts in workloads.items():
        old = cpu(reference_redact_text, texts, args.rounds, fresh_cache=False)
        new = cpu(redact.redact_text, texts, args.rounds, fresh_cache=True)
        print(f"{name:<8} {old:>10.3f} {new:>10.3f} {old / len(texts) * 1e6:>12.1f} {new / len(texts) * 1e6:>12.1f} "
              f"{old / new if new else float('inf'):>7.1f}x")


if __name__ == "__main__":
    main()

"""``imgconf validate -j N`` / ``--summary`` / ``--report``: the bulk driver.

The parent reads the input in chunks (imgconf.bulk.stream) and hands them to ``jobs`` worker
processes (concurrent.futures over a forkserver: safe beside the progress thread) with at most
``2 * jobs`` chunks in flight, so memory stays flat however large the input. Results are taken in
input order: the printed findings, the JSON/JUnit report and the quality report are the same for
any ``-j``. Each chunk's UID claims go to the disk-backed index (imgconf.bulk.uidspool), merged
once at the end; the cross-resource findings (DICOM-012/013) follow the per-resource ones.
Ctrl-C stops reading, lets the running chunks finish, and writes the reports marked incomplete.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from imgconf.bulk.quality import QualityReport, write_quality_report
from imgconf.bulk.stream import MAX_LINES, ChunkReader, Unreadable, total_bytes
from imgconf.bulk.uidspool import UidSpool, resolve
from imgconf.bulk.work import INPUT_READ, ChunkResult, resource_validator, validate_chunk
from imgconf.offline import PRINT_LIMIT
from imgconf.validators.findings import Finding

WORST_PRINTED = 10
INTERRUPTED = 130  # the shell's code for a run stopped by SIGINT


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the driver decides, workers finish their chunk
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_Done = tuple[int, "ChunkResult | Unreadable"]  # (bytes read, result)


def chunk_results(reader: ChunkReader, *, jobs: int, profile: str | None, keep_passing: bool) -> Iterator[_Done]:
    """Every chunk's result in input order; ``jobs`` 1 runs in this process (no pool)."""
    if jobs == 1:
        for item in reader:
            if isinstance(item, Unreadable):
                yield 0, item
            else:
                yield item.nbytes, validate_chunk(item.no, item.lines, profile=profile, keep_passing=keep_passing)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["imgconf.bulk.warm"])  # workers share the built validators
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_ignore_sigint)
    pending: deque[tuple[int, Future[ChunkResult] | Unreadable]] = deque()

    def oldest() -> _Done:
        nbytes, item = pending.popleft()
        return nbytes, item if isinstance(item, Unreadable) else item.result()

    try:
        for item in reader:
            if isinstance(item, Unreadable):
                pending.append((0, item))
            else:
                pending.append((item.nbytes, pool.submit(validate_chunk, item.no, item.lines, profile=profile,
                                                         keep_passing=keep_passing)))
            while len(pending) > 2 * jobs:  # the bounded queue: reading waits for the oldest chunk
                yield oldest()
        while pending:
            yield oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class FindingsOutput:
    """Where findings go: the console (bounded), the JSON/JUnit reports (all of them)."""

    def __init__(self, console: Console, *, fmt: str, output: Path | None, json_out: Path | None, printing: bool,
                 print_limit: int) -> None:
        from imgconf.offline import JsonReport, JunitReport

        self.console = console
        self.fmt = fmt
        self.printing = printing and fmt == "text"
        self.print_limit = print_limit
        self.printed = self.not_printed = 0
        self.handles: list[IO[str]] = []
        self.reports: list[JsonReport | JunitReport] = []
        if json_out is not None:
            self.handles.append(json_out.open("w", encoding="utf-8"))
            self.reports.append(JsonReport(self.handles[-1]))
        if fmt != "text":
            fh = output.open("w", encoding="utf-8") if output is not None else sys.stdout
            if output is not None:
                self.handles.append(fh)
            self.reports.append(JsonReport(fh) if fmt == "json" else JunitReport(fh))
        self.junit = any(isinstance(r, JunitReport) for r in self.reports)

    def add(self, label: str, resource: dict[str, Any] | None, findings: list[Finding]) -> None:
        from imgconf.offline import JsonReport, print_resource

        for report in self.reports:
            if findings or not isinstance(report, JsonReport):  # JUnit lists passing resources too
                report.add(label, resource, findings)
        if not findings or not self.printing:
            return
        if self.printed < self.print_limit:
            print_resource(self.console, label, resource, findings)
            self.printed += 1
        else:
            self.not_printed += 1

    def close(self, quality: QualityReport) -> None:
        summary = {"resources": quality.resources, "failing_resources": quality.failing,
                   "findings_by_level": dict(quality.by_level()), "complete": quality.complete}
        for report in self.reports:
            report.close(summary)
        for handle in self.handles:
            handle.close()


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]validate"), BarColumn(), DownloadColumn(),
                    TextColumn("{task.fields[resources]} resources, {task.fields[rate]}/s"),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


def run_bulk(paths: list[Path], *, jobs: int, console: Console, profile: str | None = None, fmt: str = "text",
             output: Path | None = None, json_out: Path | None = None, report_dir: Path | None = None,
             quiet: bool = False, summary: bool = False, progress: bool | None = None,
             print_limit: int = PRINT_LIMIT, chunk_lines: int = MAX_LINES) -> int:
    """Validate ``paths`` on ``jobs`` processes (0: every core); 1 on a SHALL finding or unreadable
    input, 130 when interrupted (the reports written so far say so), else 0."""
    jobs = cpu_count() if jobs <= 0 else jobs
    show_progress = (sys.stderr.isatty() and not quiet) if progress is None else progress
    quality = QualityReport()
    started = time.perf_counter()
    out = FindingsOutput(console, fmt=fmt, output=output, json_out=json_out, printing=not (quiet or summary),
                  print_limit=print_limit)
    with tempfile.TemporaryDirectory(prefix="imgconf-bulk-") as tmp:
        reader = ChunkReader(paths, Path(tmp) / "chunks.ndjson", max_lines=chunk_lines)
        spool = UidSpool(Path(tmp))
        try:
            with _progress(show_progress) as bar:
                task = bar.add_task("validate", total=(total_bytes(paths) if show_progress else 0) or None,
                                    resources=0, rate=0)
                for nbytes, result in chunk_results(reader, jobs=jobs, profile=profile, keep_passing=out.junit):
                    if isinstance(result, Unreadable):
                        findings = [Finding(INPUT_READ, "SHALL", "", result.message)]
                        quality.add(result.label, None, findings)
                        out.add(result.label, None, findings)
                        continue
                    quality.merge(result.quality)
                    spool.add(result.claims)
                    for flagged in result.flagged:
                        out.add(flagged.label, flagged.stub(), flagged.findings)
                    rate = quality.resources / max(time.perf_counter() - started, 1e-6)
                    bar.update(task, advance=nbytes, resources=quality.resources, rate=f"{rate:,.0f}")
                cross_resource_findings(spool, reader, quality, out, profile=profile)
        except KeyboardInterrupt:
            quality.complete = False
            quality.notes.append(f"interrupted (Ctrl-C) after {quality.resources} resources: the rest of the input "
                                 "was not read and the cross-resource UID checks (DICOM-012/013) were not run")
        finally:
            spool.close()
            quality.elapsed = time.perf_counter() - started
            out.close(quality)
            written = write_quality_report(quality, report_dir, title="imgconf validate: data quality") \
                if report_dir is not None else []
    print_summary(console, quality, out, detailed=quiet or summary, to_stderr=fmt != "text" and output is None)
    for path in written:
        say(console, f"report: {path}", to_stderr=fmt != "text" and output is None)
    if not quality.complete:
        return INTERRUPTED
    return 1 if quality.failing else 0


def cross_resource_findings(spool: UidSpool, reader: ChunkReader, quality: QualityReport, out: FindingsOutput, *,
                    profile: str | None) -> None:
    """The UID conflicts across the whole input, once every chunk is in (imgconf.bulk.uidspool)."""
    validate = resource_validator()
    heading = False
    for (label, _root, resource), findings in resolve(spool.conflicts(), reader.locate):
        if not heading and out.printing and out.printed < out.print_limit:
            out.console.print(Text("cross-resource UID conflicts (DICOM-012/013), found once the whole input "
                                   "was indexed:", style="bold"), soft_wrap=True)
            heading = True
        prior = validate(resource, profile=profile)  # its own findings: was it failing already?
        quality.add(label, resource, findings, counted=False, prior=prior)
        out.add(label, resource, findings)


def say(console: Console, text: str, *, to_stderr: bool) -> None:
    if to_stderr:  # keep stdout pure JSON / XML when the report goes there
        print(text, file=sys.stderr)
    else:
        console.print(Text(text), soft_wrap=True)


def print_summary(console: Console, quality: QualityReport, out: FindingsOutput, *, detailed: bool, to_stderr: bool) -> None:
    lines: list[str] = []
    if out.not_printed:
        lines.append(f"... {out.not_printed} more resource(s) with findings not printed "
                     "(all are in --json / --format json / --report; --summary for counts)")
    if detailed:
        rules = quality.to_json()["findings_by_rule"]
        if rules:
            lines.append("findings by rule and level:")
            lines += [f"  {rule:<12} " + ", ".join(f"{n} {level}" for level, n in levels.items())
                      for rule, levels in rules.items()]
        worst = quality.worst_resources()[:WORST_PRINTED]
        if worst:
            lines.append("worst resources:")
            lines += [f"  {w['source']}  {w['resource']}  {w['mandatory']} SHALL, {w['findings']} finding(s)"
                      for w in worst]
    lines += quality.notes
    counts = ", ".join(f"{n} {level}" for level, n in sorted(quality.by_level().items())) or "no findings"
    rate = quality.resources / quality.elapsed if quality.elapsed else 0.0
    lines.append(f"{quality.resources} resource(s) checked, {quality.failing} failing; {counts}"
                 f" ({quality.elapsed or 0:.1f} s, {rate:,.0f} resources/s)")
    for line in lines:
        say(console, line, to_stderr=to_stderr)


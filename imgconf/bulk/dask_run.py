"""``imgconf validate --dask SCHEDULER|local``: the bulk run (imgconf.bulk.pool) on a Dask cluster.

The client plans partitions without reading them into memory: an NDJSON file becomes line-aligned
byte ranges of about ``--partition-mb`` (one pass counting newlines, so each partition knows the
line number of its first line and the labels are ``file.ndjson:17`` as everywhere else); JSON
files (resources, Bundles) are whole, several small ones per task up to the same size. Workers
read their range from the file themselves (a remote cluster needs the paths on a shared file
system) and run the ``-j`` workers' code, imgconf.bulk.work.validate_chunk. The partial
QualityReports are merged on the cluster (a tree, ``FAN_IN`` at a time); the client takes each
partition's findings and UID claims in input order (a bounded window of partitions in flight),
so printing, the JSON/JUnit reports and the cross-resource UID index (imgconf.bulk.uidspool:
DICOM-012/013 across partitions, files and workers) are exactly those of ``-j N``.

dask/distributed are imported only here, only with ``--dask`` (the ``dask`` extra).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from imgconf.bulk import uidspool
from imgconf.bulk.quality import QualityReport, write_quality_report
from imgconf.bulk.stream import NDJSON_SUFFIXES, ChunkReader, Unreadable, input_files, total_bytes
from imgconf.bulk.uidspool import UidSpool
from imgconf.bulk.work import INPUT_READ, ChunkResult, Flagged, validate_chunk
from imgconf.validators.findings import Finding

if TYPE_CHECKING:
    from distributed import Client, Future

DEFAULT_PARTITION_MB = 64.0
FAN_IN = 8  # partial QualityReports per merge task
MAX_FILES = 500  # small JSON files per task
# validate_chunk numbers a resource by (partition, line, entry): the line in uidspool.encode_seq's line field
MAX_LINES = uidspool.MAX_CHUNK_LINES
_BLOCK = 8 << 20  # bytes read at a time while counting lines
LOCAL = "local"
CONNECT_TIMEOUT = "10s"  # to reach a remote scheduler
INTERRUPT_GRACE = 20.0  # seconds to merge the counts of the partitions taken before Ctrl-C
INTERRUPTED = 130
# A local cluster's tasks are CPU-bound for seconds to minutes: the event loop's 20 ms tick watchdog, the 10 ms
# statistical profiler and the 100 ms memory monitor cost ~15% of the workers' CPU (benchmarks/bench_dask.py,
# 50,000 studies: 25.5 -> 22.7 CPU-s, as -j 2's 22.1) and serve no one here. A remote cluster keeps its own settings.
_QUIET_LOOP = {"distributed.admin.tick.interval": "1s", "distributed.worker.profile.enabled": False,
               "distributed.worker.memory.monitor-interval": "1s", "distributed.admin.system-monitor.interval": "2s"}


class DaskUnavailable(RuntimeError):
    """--dask without the dask extra installed, or a scheduler that cannot be reached."""


@dataclass(frozen=True)
class Partition:
    """One task's input: lines ``[start, end)`` of an NDJSON file (``path``), or whole JSON ``files``."""

    no: int
    nbytes: int
    path: str = ""
    start: int = 0
    end: int = 0
    first_line: int = 1
    files: tuple[str, ...] = ()
    cwd: str = ""  # the client's working directory: relative paths stay the labels, workers read them from here

    def file(self, label: str) -> str:
        return os.path.join(self.cwd, label)

    def where(self) -> dict[str, Any]:
        """The record imgconf.bulk.stream.ChunkReader.locate reads a resource back by."""
        if self.files:
            return {"chunk": self.no, "files": list(self.files)}
        return {"chunk": self.no, "path": self.path, "offset": self.start, "line": self.first_line}


def line_ranges(path: Path, size: int, *, max_lines: int = MAX_LINES) -> Iterator[tuple[int, int, int]]:
    """``(start, end, first line number)`` of consecutive ranges of ``path``, each ending after a newline
    (the last one at the end of the file) and about ``size`` bytes, at most ``max_lines`` lines.
    Lines are split at ``\\n`` as imgconf.bulk.stream reads them; one pass, ``_BLOCK`` bytes at a time."""
    size = max(1, size)
    start, line, lines = 0, 1, 0  # current range: first byte, number of its first line, newlines so far
    pos = 0  # file offset of the block
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            i = 0
            while True:
                p = block.find(b"\n", max(i, start + size - 1 - pos))  # the newline that completes the size
                stop = p + 1 if p != -1 else len(block)
                newlines = block.count(b"\n", i, stop)
                if lines + newlines > max_lines or (p == -1 and newlines and lines + newlines == max_lines):
                    # many short lines: cut after the max_lines-th newline
                    q = i - 1
                    for _ in range(max_lines - lines):
                        q = block.find(b"\n", q + 1)
                    p, newlines = q, max_lines - lines
                elif p == -1:
                    lines += newlines
                    break
                end = pos + p + 1
                yield start, end, line
                start, line, lines, i = end, line + lines + newlines, 0, p + 1
            pos += len(block)
    if pos > start:  # the rest of the file (its last line may have no newline)
        yield start, pos, line


def plan_partitions(paths: list[Path], size: int) -> Iterator[Partition | Unreadable]:
    """Partitions in input order (the order imgconf.offline and ``-j`` read), numbered from 0."""
    no = 0
    cwd = os.getcwd()
    group: list[str] = []
    group_bytes = 0

    def flush() -> Partition:
        nonlocal no, group, group_bytes
        part = Partition(no, group_bytes, files=tuple(group), cwd=cwd)
        no, group, group_bytes = no + 1, [], 0
        return part

    for item in input_files(paths):
        if isinstance(item, Unreadable):
            if group:
                yield flush()
            yield item
            continue
        try:
            nbytes = item.stat().st_size
        except OSError as exc:
            if group:
                yield flush()
            yield Unreadable(str(item), f"cannot open: {exc}")
            continue
        if item.suffix not in NDJSON_SUFFIXES:
            if group and (group_bytes + nbytes > size or len(group) >= MAX_FILES):
                yield flush()
            group.append(str(item))
            group_bytes += nbytes
            continue
        if group:  # keep input order: the files before this NDJSON file go first
            yield flush()
        try:
            for start, end, first_line in line_ranges(item, size):
                yield Partition(no, end - start, path=str(item), start=start, end=end, first_line=first_line,
                                cwd=cwd)
                no += 1
        except OSError as exc:
            yield Unreadable(str(item), f"cannot read: {exc}")
    if group:
        yield flush()


# ---- what runs on a worker (plain module-level functions: pickled by reference) ----

def read_partition(part: Partition) -> tuple[list[tuple[str, bytes]], list[tuple[int, str]]]:
    """The partition's ``(label, raw)`` lines (blank lines as ``b""``, so positions match the file) and
    the ``(position, message)`` of files this worker could not read."""
    lines: list[tuple[str, bytes]] = []
    unreadable: list[tuple[int, str]] = []
    if part.files:
        for k, label in enumerate(part.files):
            try:
                lines.append((label, Path(part.file(label)).read_bytes()))
            except OSError as exc:
                lines.append((label, b""))
                unreadable.append((k, f"cannot read JSON on the Dask worker: {exc}"))
        return lines, unreadable
    with open(part.file(part.path), "rb") as fh:
        fh.seek(part.start)
        pos, lineno = part.start, part.first_line
        while pos < part.end:
            raw = fh.readline()
            if not raw:
                break
            lines.append((f"{part.path}:{lineno}", raw if raw.strip() else b""))
            pos += len(raw)
            lineno += 1
    return lines, unreadable


def validate_partition(part: Partition, profile: str | None, keep_passing: bool, keep_flagged: bool) -> ChunkResult:
    """One partition validated as a ``-j`` chunk; an input this worker cannot read is an INPUT-READ finding.
    ``keep_flagged`` False: the per-resource findings stay here (the client prints/writes none)."""
    try:
        lines, unreadable = read_partition(part)
    except OSError as exc:
        label = f"{part.path}:{part.first_line}"
        result = ChunkResult(part.no, QualityReport(), [])
        _add_unreadable(result, label, f"cannot read bytes {part.start}-{part.end} on the Dask worker: {exc}", 0)
        return result
    result = validate_chunk(part.no, lines, profile=profile, keep_passing=keep_passing)
    for k, message in unreadable:
        _add_unreadable(result, lines[k][0], message, _insert_at(result.flagged, set(part.files[k:])))
    if not keep_flagged:
        result.flagged = []
    return result


def _insert_at(flagged: list[Flagged], later_files: set[str]) -> int:
    """Where a file's entry goes among ``flagged`` (input order): before the first of a later file."""
    for n, item in enumerate(flagged):
        if item.label.split("#entry[", 1)[0] in later_files:
            return n
    return len(flagged)


def _add_unreadable(result: ChunkResult, label: str, message: str, at: int) -> None:
    findings = [Finding(INPUT_READ, "SHALL", "", message)]
    result.quality.add(label, None, findings)
    result.flagged.insert(at, Flagged(label, None, None, findings, readable=False))


_Handover = tuple[list[bytes], list[Flagged], int]


def handover(result: ChunkResult) -> _Handover:
    """What the client takes from a partition: its UID claims, flagged resources and resource count."""
    return result.claims, result.flagged, result.quality.resources


def merge_quality(*parts: ChunkResult | QualityReport) -> QualityReport:
    """One level of the tree reduce (a new report: task results are never mutated)."""
    merged = QualityReport()
    for part in parts:
        merged.merge(part.quality if isinstance(part, ChunkResult) else part)
    return merged


# ---- the client ----

def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailable("--dask needs the 'dask' extra (dask and distributed): "
                              "pip install 'imgconf[dask]'") from exc
    return distributed


@contextmanager
def dask_client(scheduler: str, *, workers: int | None = None) -> Iterator[Client]:
    """A client of the scheduler at ``tcp://host:port``, or of a local cluster (``local``): ``workers``
    processes (default: every core) of one thread, everything on 127.0.0.1 (scheduler, workers, nannies,
    their HTTP endpoints; no dashboard). The local cluster is closed, its processes ended, on exit."""
    distributed = _distributed()
    if scheduler == LOCAL:
        n = workers or _cores()
        # dashboard_address None: no Bokeh dashboard; the scheduler's /health HTTP endpoint still
        # listens, on a free loopback port instead of 8787 (another cluster may hold that)
        import dask

        with _workers_ignore_sigint(), _forked_workers(), dask.config.set(_QUIET_LOOP):
            cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                dashboard_address=None, worker_dashboard_address=None, silence_logs=logging.ERROR,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    if "://" not in scheduler:
        raise DaskUnavailable(f"--dask is 'local' or a scheduler address such as tcp://host:8786, not {scheduler!r}")
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(f"the Dask scheduler {scheduler} did not answer: {exc}") from exc
    with client:
        yield client


@contextmanager
def _forked_workers() -> Iterator[None]:
    """Local workers forked from a forkserver that imported distributed and built the validators once
    (imgconf.bulk.warm, as for -j), instead of each spawned worker importing and building its own copy."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows: spawned, as Dask does by default
        yield
        return
    import dask
    from distributed.utils import get_mp_context

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        get_mp_context()  # distributed sets its own preload list once; ours replaces it
        multiprocessing.get_context("forkserver").set_forkserver_preload(["distributed", "imgconf.bulk.warm"])
        yield


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Ctrl-C reaches the whole process group: as with -j, this process decides (partial report) and the
    workers must not die mid-partition with tracebacks. An ignored signal stays ignored across the
    workers' spawn (exec), so SIGINT is ignored here while they start (a Ctrl-C then is lost)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _TreeReduce:
    """Merges futures of partial reports on the cluster as they arrive, ``FAN_IN`` per task."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.levels: list[list[Future[Any]]] = []

    def add(self, future: Future[Any], level: int = 0) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
        self.levels[level].append(future)
        if len(self.levels[level]) >= FAN_IN:
            parts, self.levels[level] = self.levels[level], []
            self.add(self.client.submit(merge_quality, *parts, pure=False), level + 1)

    def result(self, timeout: float | None = None) -> QualityReport:
        rest = [f for level in self.levels for f in level]
        self.levels = []
        if not rest:
            return QualityReport()
        final: QualityReport = self.client.submit(merge_quality, *rest, pure=False).result(timeout=timeout)
        return final


def run_dask(paths: list[Path], *, scheduler: str, console: Console, workers: int | None = None,
             partition_mb: float = DEFAULT_PARTITION_MB, profile: str | None = None, fmt: str = "text",
             output: Path | None = None, json_out: Path | None = None, report_dir: Path | None = None,
             quiet: bool = False, summary: bool = False, progress: bool | None = None,
             print_limit: int | None = None) -> int:
    """``run_bulk`` with partitions on a Dask cluster: the same output, reports and exit codes
    (1 on a SHALL finding or unreadable input, 130 when interrupted, 2 when Dask is unavailable)."""
    from imgconf.bulk import pool

    show_progress = (sys.stderr.isatty() and not quiet) if progress is None else progress
    quality = QualityReport()
    started = time.perf_counter()
    out = pool.FindingsOutput(console, fmt=fmt, output=output, json_out=json_out, printing=not (quiet or summary),
                       print_limit=pool.PRINT_LIMIT if print_limit is None else print_limit)
    finished = False
    try:
        with tempfile.TemporaryDirectory(prefix="imgconf-dask-") as tmp, \
                dask_client(scheduler, workers=workers) as client:
            run = _Run(client, out, quality, Path(tmp), profile=profile, started=started)
            try:
                with _progress_bar(show_progress) as bar:
                    task = bar.add_task("validate", total=(total_bytes(paths) if show_progress else 0) or None,
                                        resources=0, rate=0)
                    run.validate(paths, max(1, int(partition_mb * (1 << 20))), bar, task)
                run.merge_partials()
                pool.cross_resource_findings(run.spool, ChunkReader(paths, run.where_path), quality, out, profile=profile)
                finished = True
            except KeyboardInterrupt:
                run.cancel()
                with suppress(Exception):  # what the partitions taken so far counted, if the cluster still answers
                    run.merge_partials(timeout=INTERRUPT_GRACE)
                quality.complete = False
                quality.notes.append(
                    f"interrupted (Ctrl-C) after {quality.resources} resources: the rest of the input was not "
                    "read and the cross-resource UID checks (DICOM-012/013) were not run")
            finally:
                run.spool.close()
    except DaskUnavailable as exc:
        console.print(f"validate --dask: {exc}", style="bold red", markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:  # while the cluster started or stopped
        if quality.complete and not finished:
            quality.complete = False
            quality.notes.append(f"interrupted (Ctrl-C) after {quality.resources} resources, while the Dask "
                                 "cluster started or stopped")
    finally:
        quality.elapsed = time.perf_counter() - started
        out.close(quality)
    written = write_quality_report(quality, report_dir, title="imgconf validate --dask: data quality") \
        if report_dir is not None else []
    to_stderr = fmt != "text" and output is None
    pool.print_summary(console, quality, out, detailed=quiet or summary, to_stderr=to_stderr)
    for path in written:
        pool.say(console, f"report: {path}", to_stderr=to_stderr)
    if not quality.complete:
        return INTERRUPTED
    return 1 if quality.failing else 0


def _progress_bar(enabled: bool) -> Any:
    """Bytes taken of the input, resources and resources/s, on stderr (the -j bar's columns)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]validate --dask"), BarColumn(), DownloadColumn(),
                    TextColumn("{task.fields[resources]} resources, {task.fields[rate]}/s"),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


class _Run:
    """The client's side of one run: partitions submitted ahead in a bounded window, taken in input order."""

    def __init__(self, client: Client, out: Any, quality: QualityReport, tmp: Path, *, profile: str | None,
                 started: float) -> None:
        self.client = client
        self.out = out
        self.quality = quality
        self.profile = profile
        self.started = started
        self.spool = UidSpool(tmp)
        self.where_path = tmp / "chunks.ndjson"  # partition records, for reading a resource back
        self.reducer = _TreeReduce(client)
        self.merged = False
        self.resources = 0
        # the per-resource findings travel only when they are printed or written
        self.keep_flagged = bool(out.printing or out.reports)
        self.window = 2 * max(1, sum(client.nthreads().values()))
        self.pending: deque[tuple[Partition | Unreadable, Future[ChunkResult] | None, Future[_Handover] | None]] = deque()

    def validate(self, paths: list[Path], size: int, bar: Any, task: Any) -> None:
        with self.where_path.open("w", encoding="utf-8") as where:
            for part in plan_partitions(paths, size):
                if isinstance(part, Unreadable):
                    self.pending.append((part, None, None))
                else:
                    where.write(json.dumps(part.where()) + "\n")
                    where.flush()
                    done = self.client.submit(validate_partition, part, self.profile, bool(self.out.junit),
                                              self.keep_flagged, pure=False)
                    self.pending.append((part, done, self.client.submit(handover, done, pure=False)))
                while len(self.pending) > self.window:
                    self._take_oldest(bar, task)
            while self.pending:
                self._take_oldest(bar, task)

    def _take_oldest(self, bar: Any, task: Any) -> None:
        part, done, picked = self.pending[0]
        if isinstance(part, Unreadable):
            findings = [Finding(INPUT_READ, "SHALL", "", part.message)]
            self.quality.add(part.label, None, findings)
            self.out.add(part.label, None, findings)
        else:
            assert done is not None and picked is not None
            claims, flagged, count = picked.result()
            self.spool.add(claims)
            for item in flagged:
                self.out.add(item.label, item.stub(), item.findings)
            self.reducer.add(done)  # only partitions taken: an interrupted run's counts match what was shown
            self.resources += count
            rate = self.resources / max(time.perf_counter() - self.started, 1e-6)
            bar.update(task, advance=part.nbytes, resources=self.resources, rate=f"{rate:,.0f}")
        self.pending.popleft()

    def merge_partials(self, timeout: float | None = None) -> None:
        if not self.merged:
            self.merged = True
            self.quality.merge(self.reducer.result(timeout))

    def cancel(self) -> None:
        futures = [f for _, done, picked in self.pending for f in (done, picked) if f is not None]
        self.pending.clear()
        with suppress(Exception):
            self.client.cancel(futures)

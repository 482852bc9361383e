"""Offline validation of files: JSON resources, JSON Bundles, NDJSON, and folders of them.

NDJSON is streamed line by line and the JSON report is written as it goes, so memory stays flat
however large the input. A line or file that cannot be read becomes a finding, not an exception.
Every Bundle is judged as a Bundle (REST-103, whatever its type), then entry by entry with
locations starting at ``Bundle.entry[i].resource``. One ``UidIndex`` spans every input, so a
series UID under two studies is found across entries, lines and files (DICOM-012/013).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from rich.console import Console
from rich.text import Text

from imgconf.bulk.work import TOO_DEEP_TO_PARSE, bundle_own_findings, resource_validator
from imgconf.validators import relocate
from imgconf.validators.crossref import UidIndex
from imgconf.validators.findings import MANDATORY, Finding, resource_name

INPUT_READ = "INPUT-READ"  # pseudo requirement id: the input itself could not be read
PRINT_LIMIT = 200  # resources whose findings are printed one by one; the rest only in the reports and counts
_NDJSON_SUFFIXES = (".ndjson", ".jsonl")
FORMATS = ("text", "json", "junit")


@dataclass(frozen=True)
class ReadError:
    """Stands in for a resource that could not be read (bad JSON, not an object, I/O error)."""

    message: str


_Item = tuple[str, "dict[str, Any] | ReadError", str]  # label, resource, location root inside the input


def iter_resources(path: Path) -> Iterator[tuple[str, dict[str, Any] | ReadError]]:
    """Yield ``(source label, resource)``; unreadable input yields ``(label, ReadError)``.

    Labels: ``file.json``, ``bundle.json#entry[3]``, ``file.ndjson:17`` (1-based line).
    A Bundle is yielded itself, then its entries' resources. A folder is walked recursively for
    ``*.json`` and ``*.ndjson`` in sorted order.
    """
    for label, item, _ in _iter_items(path):
        yield label, item


def _iter_items(path: Path) -> Iterator[_Item]:
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", *_NDJSON_SUFFIXES))
        for file in files:
            yield from _iter_items(file)
    elif not path.exists():
        yield str(path), ReadError("no such file or directory"), ""
    elif path.suffix in _NDJSON_SUFFIXES:
        yield from _iter_ndjson(path)
    else:
        yield from _iter_json(path)


def _iter_json(path: Path) -> Iterator[_Item]:
    label = str(path)
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield label, ReadError(f"cannot read JSON: {exc}"), ""
        return
    except RecursionError:
        yield label, ReadError(TOO_DEEP_TO_PARSE), ""
        return
    yield from _expand(label, data)


def _iter_ndjson(path: Path) -> Iterator[_Item]:
    try:
        fh = path.open(encoding="utf-8", errors="strict")
    except OSError as exc:
        yield str(path), ReadError(f"cannot open: {exc}"), ""
        return
    with fh:
        lineno = 0
        while True:
            lineno += 1
            label = f"{path}:{lineno}"
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:  # the rest of the file is unreadable too
                yield label, ReadError(f"not UTF-8: {exc}"), ""
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield label, ReadError(f"line is not JSON: {exc.msg} (column {exc.colno})"), ""
                continue
            except RecursionError:
                yield label, ReadError(TOO_DEEP_TO_PARSE), ""
                continue
            yield from _expand(label, data)


def _expand(label: str, data: Any) -> Iterator[_Item]:
    """A Bundle is itself, then its entries; anything else must be one resource object."""
    if not isinstance(data, dict):
        yield label, ReadError(f"expected a JSON object, got {type(data).__name__}"), ""
        return
    yield label, data, ""
    if data.get("resourceType") == "Bundle" and isinstance(data.get("entry"), list):
        for i, entry in enumerate(data["entry"]):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            # a non-object resource is already a finding of the Bundle (REST-102 / structure)
            if isinstance(resource, dict):
                yield f"{label}#entry[{i}]", resource, f"Bundle.entry[{i}].resource"


def validate_paths(paths: list[Path], *, profile: str | None = None, index: UidIndex | None = None,
                   extra: Callable[[dict[str, Any], str], list[Finding]] | None = None,
                   ) -> Iterator[tuple[str, dict[str, Any] | None, list[Finding]]]:
    """``(label, resource or None when unreadable, findings)`` for every resource in ``paths``.

    ``profile`` ("mhd" | "eu-imaging-report"): judge DocumentReferences by that profile even
    without a ``meta.profile`` claim. ``index``: the cross-resource UID index (one per call
    unless given). ``extra(resource, root)``: more findings per resource (the DICOMweb cross-check)."""
    index = index if index is not None else UidIndex()
    validate = resource_validator()  # the fast structural path, same findings as validate_resource
    for path in paths:
        for label, item, root in _iter_items(Path(path)):
            if isinstance(item, ReadError):
                yield label, None, [Finding(INPUT_READ, "SHALL", "", item.message)]
                continue
            if item.get("resourceType") == "Bundle" and not root:
                # the Bundle as a Bundle; its entries follow as items of their own
                findings = bundle_own_findings(item)
            else:
                findings = validate(item, profile=profile)
                if root:
                    findings = [relocate(f, root) for f in findings]
            source = label.split("#entry[", 1)[0]
            findings += index.add(item, source, root or "ImagingStudy")
            if extra is not None and not (item.get("resourceType") == "Bundle" and not root):
                findings += extra(item, root)
            yield label, item, findings


class JsonReport:
    """Streams ``{"results": [...], "summary": {...}}``: only resources with findings are listed."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.first = True
        fh.write('{"results": [\n')

    def add(self, label: str, resource: dict[str, Any] | None, findings: list[Finding]) -> None:
        record = {
            "source": label,
            "resourceType": resource.get("resourceType") if resource else None,
            "id": resource.get("id") if resource else None,
            "findings": [f.to_dict() for f in findings],
        }
        self.fh.write(("" if self.first else ",\n") + json.dumps(record, ensure_ascii=False))
        self.first = False

    def close(self, summary: dict[str, Any]) -> None:
        self.fh.write('\n],\n"summary": ' + json.dumps(summary) + "}\n")


class JunitReport:
    """JUnit XML: one testcase per resource; a SHALL finding is a failure, the rest system-out.
    Testcases are spooled to a temporary file so the header can carry the counts (flat memory)."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - lives until close()

    def add(self, label: str, resource: dict[str, Any] | None, findings: list[Finding]) -> None:
        name = _xml(f"{label} {resource_name(resource)}")
        lines = "\n".join(_finding_line(f) for f in findings)
        mandatory = [f for f in findings if f.level in MANDATORY]
        self.spool.write(f'<testcase classname="imgconf.validate" name="{name}">')
        if mandatory:
            first = _xml(_finding_line(mandatory[0]))
            self.spool.write(f'<failure message="{first}" type="{_xml(mandatory[0].requirement)}">'
                             f"{_xml(lines)}</failure>")
        elif findings:
            self.spool.write(f"<system-out>{_xml(lines)}</system-out>")
        self.spool.write("</testcase>\n")

    def close(self, summary: dict[str, Any]) -> None:
        self.fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
                      f'<testsuite name="imgconf validate" tests="{summary["resources"]}" '
                      f'failures="{summary["failing_resources"]}" errors="0" skipped="0">\n')
        self.spool.seek(0)
        shutil.copyfileobj(self.spool, self.fh)
        self.spool.close()
        self.fh.write("</testsuite>\n</testsuites>\n")


def run_validate(paths: list[Path], *, json_out: Path | None, console: Console | None, quiet: bool = False,
                 fmt: str = "text", output: Path | None = None, profile: str | None = None,
                 dicomweb: str | None = None, jobs: int | None = None, summary_only: bool = False,
                 report_dir: Path | None = None) -> int:
    """Validate ``paths``; 1 on any SHALL / SHALL NOT finding or unreadable input, else 0.

    ``fmt`` text: findings per resource on the console (``quiet``: the summary line only);
    json / junit: the report on ``output`` or stdout. ``json_out``: also a JSON report there.
    ``dicomweb``: a PACS's DICOMweb root; ImagingStudies and KOS manifests are cross-checked with it
    (imgconf.dicomweb.offline); 2 when the PACS does not answer. ``jobs`` / ``summary_only`` / ``report_dir``:
    bulk mode (imgconf.bulk.pool.run_bulk: N processes, a data-quality report; 130 when interrupted)."""
    if fmt not in FORMATS:
        raise ValueError(f"format is one of {', '.join(FORMATS)}")
    console = console or Console()
    if jobs is not None or summary_only or report_dir is not None:  # bulk mode: imgconf.bulk.pool
        if dicomweb:
            raise ValueError("--dicomweb runs without -j / --summary / --report")
        from imgconf.bulk.pool import run_bulk

        return run_bulk(paths, jobs=1 if jobs is None else jobs, console=console, profile=profile, fmt=fmt,
                        output=output, json_out=json_out, report_dir=report_dir, quiet=quiet, summary=summary_only)
    resources = failing = printed = not_printed = 0
    levels: Counter[str] = Counter()
    handles: list[IO[str]] = []
    reports: list[JsonReport | JunitReport] = []
    if json_out is not None:
        handles.append(json_out.open("w", encoding="utf-8"))
        reports.append(JsonReport(handles[-1]))
    if fmt != "text":
        fh = output.open("w", encoding="utf-8") if output is not None else sys.stdout
        if output is not None:
            handles.append(fh)
        reports.append(JsonReport(fh) if fmt == "json" else JunitReport(fh))
    junit = next((r for r in reports if isinstance(r, JunitReport)), None)
    pacs = None
    if dicomweb:
        from imgconf.dicomweb.offline import open_pacs

        pacs = open_pacs(dicomweb, paths)
    try:
        items = (validate_paths(pacs.other_paths, profile=profile, extra=pacs.check) if pacs is not None
                 else validate_paths(paths, profile=profile))
        for label, resource, findings in (chain(items, pacs.dicom_items()) if pacs is not None else items):
            resources += 1
            if junit is not None:
                junit.add(label, resource, findings)  # JUnit lists passing resources too
            if not findings:
                continue
            levels.update(f.level for f in findings)
            if any(f.level in MANDATORY for f in findings):
                failing += 1
            if fmt == "text" and not quiet:
                if printed < PRINT_LIMIT:
                    print_resource(console, label, resource, findings)
                    printed += 1
                else:  # printing thousands of resources costs more than validating them
                    not_printed += 1
            for report in reports:
                if isinstance(report, JsonReport):
                    report.add(label, resource, findings)
        summary = {"resources": resources, "failing_resources": failing, "findings_by_level": dict(levels)}
        for report in reports:
            report.close(summary)
    except Exception as exc:
        if pacs is None or not pacs.unreachable(exc):
            raise
        console.print(Text(f"the PACS did not answer: {exc}"), style="bold red", soft_wrap=True)
        return 2
    finally:
        for handle in handles:
            handle.close()
        if pacs is not None:
            pacs.close()
    counts = ", ".join(f"{n} {level}" for level, n in sorted(levels.items())) or "no findings"
    if not_printed:
        console.print(Text(f"... {not_printed} more resource(s) with findings not printed (all are in --json / "
                           "--format json / --report; --summary for counts per rule)"), soft_wrap=True)
    if fmt == "text" or output is not None:  # keep stdout pure JSON / XML when the report goes there
        console.print(Text(f"{resources} resource(s) checked, {failing} failing; {counts}"))
        if json_out is not None:
            console.print(Text(f"JSON report: {json_out}"))
    else:
        print(f"{resources} resource(s) checked, {failing} failing; {counts}", file=sys.stderr)
    return 1 if failing else 0


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml(text: str) -> str:
    """Escaped for an XML attribute or text node; control characters XML 1.0 forbids are dropped."""
    return escape(_XML_ILLEGAL.sub("", text), {'"': "&quot;"})


def _finding_line(f: Finding) -> str:
    line = f"{f.requirement} {f.level} {f.location}  {f.message}" if f.location else f"{f.requirement} {f.level} {f.message}"
    return line + (f"  [value: {f.value}]" if f.value is not None else "")


_STYLE = {"SHALL": "red", "SHALL NOT": "red", "SHOULD": "yellow"}


def print_resource(console: Console, label: str, resource: dict[str, Any] | None, findings: list[Finding]) -> None:
    # soft_wrap: the terminal wraps; rich's own wrapping caches every distinct line (memory grows).
    console.print(Text(f"{label}  {resource_name(resource)}", style="bold"), soft_wrap=True)
    for f in findings:
        line = Text("  ")
        line.append(f"{f.requirement:<10} {f.level:<9}", style=_STYLE.get(f.level, "cyan"))
        line.append(f" {f.location}  {f.message}" if f.location else f" {f.message}")
        if f.value is not None:
            line.append(f"  [value: {f.value}]")
        console.print(line, soft_wrap=True)

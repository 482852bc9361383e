"""Offline validation of files: JSON resources, JSON Bundles, NDJSON, and folders of them.

NDJSON is streamed line by line and the JSON report is written as it goes, so memory stays flat
however large the input. A line or file that cannot be read becomes a finding, not an exception.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from rich.console import Console
from rich.text import Text

from imgconf.validators import rule_findings, validate_resource
from imgconf.validators.findings import MANDATORY, Finding

INPUT_READ = "INPUT-READ"  # pseudo requirement id: the input itself could not be read
DOCUMENT_BUNDLE_TYPES = ("document", "collection")
_NDJSON_SUFFIXES = (".ndjson", ".jsonl")


@dataclass(frozen=True)
class ReadError:
    """Stands in for a resource that could not be read (bad JSON, not an object, I/O error)."""

    message: str


def iter_resources(path: Path) -> Iterator[tuple[str, dict[str, Any] | ReadError]]:
    """Yield ``(source label, resource)``; unreadable input yields ``(label, ReadError)``.

    Labels: ``file.json``, ``bundle.json#entry[3]``, ``file.ndjson:17`` (1-based line).
    A folder is walked recursively for ``*.json`` and ``*.ndjson`` in sorted order.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", *_NDJSON_SUFFIXES))
        for file in files:
            yield from iter_resources(file)
    elif not path.exists():
        yield str(path), ReadError("no such file or directory")
    elif path.suffix in _NDJSON_SUFFIXES:
        yield from _iter_ndjson(path)
    else:
        yield from _iter_json(path)


def _iter_json(path: Path) -> Iterator[tuple[str, dict[str, Any] | ReadError]]:
    label = str(path)
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield label, ReadError(f"cannot read JSON: {exc}")
        return
    yield from _expand(label, data)


def _iter_ndjson(path: Path) -> Iterator[tuple[str, dict[str, Any] | ReadError]]:
    try:
        fh = path.open(encoding="utf-8", errors="strict")
    except OSError as exc:
        yield str(path), ReadError(f"cannot open: {exc}")
        return
    with fh:
        lineno = 0
        while True:
            lineno += 1
            label = f"{path}:{lineno}"
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:  # the rest of the file is unreadable too
                yield label, ReadError(f"not UTF-8: {exc}")
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield label, ReadError(f"line is not JSON: {exc.msg} (column {exc.colno})")
                continue
            yield from _expand(label, data)


def _expand(label: str, data: Any) -> Iterator[tuple[str, dict[str, Any] | ReadError]]:
    """A Bundle stands for its entries; anything else must be one resource object."""
    if not isinstance(data, dict):
        yield label, ReadError(f"expected a JSON object, got {type(data).__name__}")
    elif data.get("resourceType") == "Bundle" and isinstance(data.get("entry"), list):
        if data.get("type") in DOCUMENT_BUNDLE_TYPES:  # the document itself has rules (EU imaging report)
            yield label, data
        for i, entry in enumerate(data["entry"]):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if resource is not None:
                yield f"{label}#entry[{i}]", resource if isinstance(resource, dict) else ReadError(
                    "entry.resource is not a JSON object")
    else:
        yield label, data


def validate_paths(paths: list[Path]) -> Iterator[tuple[str, dict[str, Any] | None, list[Finding]]]:
    """``(label, resource or None when unreadable, findings)`` for every resource in ``paths``."""
    for path in paths:
        for label, item in iter_resources(Path(path)):
            if isinstance(item, ReadError):
                yield label, None, [Finding(INPUT_READ, "SHALL", "", item.message)]
            else:
                whole_document = item.get("resourceType") == "Bundle" and item.get("type") in DOCUMENT_BUNDLE_TYPES
                # A document Bundle gets its own rules here; its entries are validated one by one.
                yield label, item, rule_findings(item) if whole_document else validate_resource(item)


def _resource_name(resource: dict[str, Any] | None) -> str:
    if resource is None:
        return "unreadable"
    rtype = resource.get("resourceType", "?")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) else str(rtype)


class _JsonReport:
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


def run_validate(paths: list[Path], *, json_out: Path | None, console: Console | None) -> int:
    """Print findings per resource, optionally write a JSON report; 1 on any SHALL / SHALL NOT
    finding or unreadable input, else 0."""
    console = console or Console()
    resources = failing = 0
    levels: Counter[str] = Counter()
    report_fh = json_out.open("w", encoding="utf-8") if json_out is not None else None
    report = _JsonReport(report_fh) if report_fh is not None else None
    try:
        for label, resource, findings in validate_paths(paths):
            resources += 1
            if not findings:
                continue
            levels.update(f.level for f in findings)
            if any(f.level in MANDATORY for f in findings):
                failing += 1
            _print_resource(console, label, resource, findings)
            if report is not None:
                report.add(label, resource, findings)
        summary = {"resources": resources, "failing_resources": failing, "findings_by_level": dict(levels)}
        if report is not None:
            report.close(summary)
    finally:
        if report_fh is not None:
            report_fh.close()
    counts = ", ".join(f"{n} {level}" for level, n in sorted(levels.items())) or "no findings"
    console.print(Text(f"{resources} resource(s) checked, {failing} failing; {counts}"))
    if json_out is not None:
        console.print(Text(f"JSON report: {json_out}"))
    return 1 if failing else 0


_STYLE = {"SHALL": "red", "SHALL NOT": "red", "SHOULD": "yellow"}


def _print_resource(console: Console, label: str, resource: dict[str, Any] | None, findings: list[Finding]) -> None:
    # soft_wrap: the terminal wraps; rich's own wrapping caches every distinct line (memory grows).
    console.print(Text(f"{label}  {_resource_name(resource)}", style="bold"), soft_wrap=True)
    for f in findings:
        line = Text("  ")
        line.append(f"{f.requirement:<10} {f.level:<9}", style=_STYLE.get(f.level, "cyan"))
        line.append(f" {f.location}  {f.message}" if f.location else f" {f.message}")
        if f.value is not None:
            line.append(f"  [value: {f.value}]")
        console.print(line, soft_wrap=True)

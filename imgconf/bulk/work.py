"""One chunk of input lines -> findings, a QualityReport and the chunk's UID claims.

This module is what ``-j`` worker processes, Dask partitions and the survey run: it must stay
picklable-friendly (plain functions, plain data) and import no display code. A line is one NDJSON
line or one whole JSON file; a Bundle is judged as a Bundle, then entry by entry (as
imgconf.offline does), with the same labels: ``file.ndjson:17``, ``file.ndjson:17#entry[3]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from imgconf.bulk.quality import QualityReport
from imgconf.jsonsafe import JsonTooDeep
from imgconf.validators import bundle_own_findings as _bundle_own_findings, relocate
from imgconf.validators.crossref import UidIndex
from imgconf.validators.findings import Finding

INPUT_READ = "INPUT-READ"  # the same pseudo requirement id as imgconf.offline
TOO_DEEP_TO_PARSE = "JSON nested too deep to parse (more than about 1,000 levels); not judged"

Validate = Callable[..., list[Finding]]


def input_error_if_too_deep(validate: Validate) -> Validate:
    """A resource nested deeper than the validators can read (JsonTooDeep, imgconf.validators.nesting)
    is an INPUT-READ finding of the input, not an R4 finding."""
    def guarded(resource: Any, **options: Any) -> list[Finding]:
        try:
            return validate(resource, **options)
        except JsonTooDeep as exc:
            return [Finding(INPUT_READ, "SHALL", "", str(exc))]
    return guarded


def resource_validator() -> Validate:
    """THE switch point between the model path (``validate_resource``) and the fast structural path:
    ``fast_validate`` gives the same findings (tests/test_fast_path.py), only faster."""
    from imgconf.validators.faststructure import fast_validate

    return input_error_if_too_deep(fast_validate)


bundle_own_findings = input_error_if_too_deep(_bundle_own_findings)  # the Bundle as a Bundle, as imgconf.offline judges it


@dataclass
class Judged:
    """One resource of a line: its label, the location root inside the input, the resource (None:
    unreadable) and its own findings (cross-resource findings come from the UID index)."""

    label: str
    root: str
    resource: dict[str, Any] | None
    findings: list[Finding]
    entry: int  # -1: the line's resource itself; i: Bundle.entry[i].resource


def parse_line(raw: bytes) -> dict[str, Any] | Finding:
    """The resource of one line, or the INPUT-READ finding saying why there is none."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # rare: the standard parser words it as imgconf.offline does (and takes what it accepts, e.g. NaN)
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return Finding(INPUT_READ, "SHALL", "", f"not UTF-8: {exc}")
        except json.JSONDecodeError as exc:
            return Finding(INPUT_READ, "SHALL", "", f"line is not JSON: {exc.msg} (column {exc.colno})")
        except RecursionError:  # orjson stops at 1,024 levels, json at the recursion limit
            return Finding(INPUT_READ, "SHALL", "", TOO_DEEP_TO_PARSE)
    if not isinstance(data, dict):
        return Finding(INPUT_READ, "SHALL", "", f"expected a JSON object, got {type(data).__name__}")
    return data


def judge_line(label: str, raw: bytes, *, profile: str | None, validate: Validate | None = None) -> Iterator[Judged]:
    """The line's resource, then (for a Bundle) each entry's resource, each with its findings."""
    validate = validate or resource_validator()
    data = parse_line(raw)
    if isinstance(data, Finding):
        yield Judged(label, "", None, [data], -1)
        return
    if data.get("resourceType") == "Bundle":
        yield Judged(label, "", data, bundle_own_findings(data), -1)
        entries = data.get("entry")
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):  # a non-object resource is already a finding of the Bundle
                root = f"Bundle.entry[{i}].resource"
                found = [relocate(f, root) for f in validate(resource, profile=profile)]
                yield Judged(f"{label}#entry[{i}]", root, resource, found, i)
        return
    yield Judged(label, "", data, validate(data, profile=profile), -1)


def validate_lines(lines: Iterable[tuple[str, bytes]], *, profile: str | None, index: UidIndex | None
                   ) -> QualityReport:
    """``(label, raw JSON line)`` -> parsed with orjson, validated, accumulated. ``index``: an
    in-memory UID index that sees every resource (its conflicts are added as they are found);
    None: no cross-resource check here (the -j/Dask drivers use imgconf.bulk.uidspool instead)."""
    report = QualityReport()
    validate = resource_validator()
    for label, raw in lines:
        if not raw.strip():
            continue
        for judged in judge_line(label, raw, profile=profile, validate=validate):
            findings = judged.findings
            if index is not None and judged.resource is not None:
                findings = findings + index.add(judged.resource, label.split("#entry[", 1)[0],
                                                judged.root or "ImagingStudy")
            report.add(judged.label, judged.resource, findings)
    return report


@dataclass
class Flagged:
    """What the driver prints/writes for a resource: small, picklable (no resource body)."""

    label: str
    resource_type: str | None
    id: str | None
    findings: list[Finding]
    readable: bool = True

    def stub(self) -> dict[str, Any] | None:
        """A resource stand-in with just what the printers name it by (None: unreadable)."""
        if not self.readable:
            return None
        out: dict[str, Any] = {} if self.resource_type is None else {"resourceType": self.resource_type}
        if self.id is not None:
            out["id"] = self.id
        return out


@dataclass
class ChunkResult:
    chunk_no: int
    quality: QualityReport
    flagged: list[Flagged]  # resources with findings (all resources when keep_passing), in input order
    claims: list[bytes] = field(default_factory=list)  # packed UID claims per bucket (imgconf.bulk.uidspool)
    lines: int = 0


def validate_chunk(chunk_no: int, lines: list[tuple[str, bytes]], *, profile: str | None,
                   keep_passing: bool = False) -> ChunkResult:
    """A chunk for the -j/Dask drivers: findings per resource plus the UID claims to merge globally.
    ``lines[k]`` is the k-th line of the chunk (blank lines included, as ``b""``) so that a claim's
    position (chunk, line, entry) finds the resource again (imgconf.bulk.uidspool.encode_seq)."""
    from imgconf.bulk.uidspool import ClaimWriter

    report = QualityReport()
    flagged: list[Flagged] = []
    writer = ClaimWriter()
    validate = resource_validator()
    for k, (label, raw) in enumerate(lines):
        if not raw.strip():
            continue
        for judged in judge_line(label, raw, profile=profile, validate=validate):
            report.add(judged.label, judged.resource, judged.findings)
            if judged.resource is not None:
                writer.add(chunk_no, k, judged.entry, judged.resource, judged.root or "ImagingStudy")
            if judged.findings or keep_passing:
                resource = judged.resource
                rid = resource.get("id") if resource is not None else None
                rtype = resource.get("resourceType") if resource is not None else None
                flagged.append(Flagged(judged.label, rtype if isinstance(rtype, str) or rtype is None else str(rtype),
                                       rid if isinstance(rid, str) else None, judged.findings,
                                       resource is not None))
    return ChunkResult(chunk_no, report, flagged, writer.blobs(), len(lines))

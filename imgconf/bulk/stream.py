"""Input as chunks of lines, streamed: NDJSON files line by line, JSON files whole; folders walked.

A chunk is what one worker gets: up to ``max_lines`` lines or ``max_bytes`` bytes of one NDJSON
file, or a group of small JSON files. Each chunk's whereabouts (file and byte offset, or the file
names) go to a spool file, not memory, so that ``locate`` can read a resource again when the UID
index reports a conflict on it (imgconf.bulk.uidspool).
"""

from __future__ import annotations

import contextlib
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from imgconf.bulk.uidspool import Located, decode_seq

NDJSON_SUFFIXES = (".ndjson", ".jsonl")
MAX_LINES = 500
MAX_BYTES = 4 << 20


@dataclass(frozen=True)
class Chunk:
    no: int
    lines: list[tuple[str, bytes]]  # (label, raw); blank lines kept as b"" so positions match the file
    nbytes: int


@dataclass(frozen=True)
class Unreadable:
    """A path that could not be opened at all (the line-level problems are the workers' findings)."""

    label: str
    message: str


def input_files(paths: list[Path]) -> Iterator[Path | Unreadable]:
    """The files to read, in the order imgconf.offline reads them (folders: sorted, recursive)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", *NDJSON_SUFFIXES))
        elif not path.exists():
            yield Unreadable(str(path), "no such file or directory")
        else:
            yield path


def total_bytes(paths: list[Path]) -> int:
    total = 0
    for item in input_files(paths):
        if isinstance(item, Path):
            with contextlib.suppress(OSError):
                total += item.stat().st_size
    return total


class ChunkReader:
    """Iterate ``Chunk``s (and ``Unreadable`` paths) over ``paths``; ``locate(seq)`` finds a resource again."""

    def __init__(self, paths: list[Path], spool: Path, *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES,
                 first_chunk: int = 0) -> None:
        self.paths = paths
        self.spool = spool
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.next_no = first_chunk
        self._where: IO[str] | None = None
        self.first_chunk = first_chunk
        self._offsets: array[int] | None = None

    def __iter__(self) -> Iterator[Chunk | Unreadable]:
        with self.spool.open("w", encoding="utf-8") as where:
            self._where = where
            files: list[tuple[str, bytes]] = []
            size = 0
            for item in input_files(self.paths):
                if files and (isinstance(item, Unreadable) or item.suffix in NDJSON_SUFFIXES):
                    # the JSON files grouped so far come first: input order decides which place a
                    # cross-resource conflict blames (the first seen), as without -j and with --dask
                    yield self._files_chunk(files, size)
                    files, size = [], 0
                if isinstance(item, Unreadable):
                    yield item
                elif item.suffix in NDJSON_SUFFIXES:
                    yield from self._ndjson(item)
                else:
                    try:
                        raw = item.read_bytes()
                    except OSError as exc:
                        yield Unreadable(str(item), f"cannot read JSON: {exc}")
                        continue
                    files.append((str(item), raw))
                    size += len(raw)
                    if len(files) >= self.max_lines or size >= self.max_bytes:
                        yield self._files_chunk(files, size)
                        files, size = [], 0
            if files:
                yield self._files_chunk(files, size)
        self._where = None

    def _note(self, where: dict[str, Any]) -> int:
        no = self.next_no
        self.next_no += 1
        assert self._where is not None
        self._where.write(json.dumps({"chunk": no, **where}) + "\n")
        return no

    def _files_chunk(self, files: list[tuple[str, bytes]], size: int) -> Chunk:
        return Chunk(self._note({"files": [label for label, _ in files]}), files, size)

    def _ndjson(self, path: Path) -> Iterator[Chunk | Unreadable]:
        try:
            fh = path.open("rb")
        except OSError as exc:
            yield Unreadable(str(path), f"cannot open: {exc}")
            return
        with fh:
            offset = 0
            lineno = 0
            lines: list[tuple[str, bytes]] = []
            size = start = 0
            for raw in fh:
                lineno += 1
                if not lines:
                    start = offset
                lines.append((f"{path}:{lineno}", raw if raw.strip() else b""))
                size += len(raw)
                offset += len(raw)
                if len(lines) >= self.max_lines or size >= self.max_bytes:
                    yield Chunk(self._note({"path": str(path), "offset": start, "line": lineno - len(lines) + 1}),
                                lines, size)
                    lines, size = [], 0
            if lines:
                yield Chunk(self._note({"path": str(path), "offset": start, "line": lineno - len(lines) + 1}),
                            lines, size)

    def _chunk_where(self, no: int) -> dict[str, Any] | None:
        if self._offsets is None:  # chunk number -> byte offset of its line in the spool, built once
            self._offsets = array("q")
            with self.spool.open("rb") as fh:
                pos = 0
                for text in fh:
                    self._offsets.append(pos)
                    pos += len(text)
        index = no - self.first_chunk
        if not 0 <= index < len(self._offsets):
            return None
        with self.spool.open("rb") as fh:
            fh.seek(self._offsets[index])
            where: dict[str, Any] = json.loads(fh.readline())
        return where

    def locate(self, seq: int) -> Located | None:
        """(label, root, resource) of a resource by its input position; None if it cannot be read back."""
        no, line, entry = decode_seq(seq)
        where = self._chunk_where(no)
        if where is None:
            return None
        if "files" in where:
            label = where["files"][line]
            try:
                raw = Path(label).read_bytes()
            except OSError:
                return None
        else:
            with open(where["path"], "rb") as fh:
                fh.seek(where["offset"])
                for _ in range(line):
                    fh.readline()
                raw = fh.readline()
            label = f"{where['path']}:{where['line'] + line}"
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if entry < 0:
            return (label, "", data) if isinstance(data, dict) else None
        try:
            resource = data["entry"][entry]["resource"]
        except (KeyError, IndexError, TypeError):
            return None
        return (f"{label}#entry[{entry}]", f"Bundle.entry[{entry}].resource", resource) if isinstance(resource, dict) \
            else None

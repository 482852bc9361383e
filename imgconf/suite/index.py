"""What ``imgconf list`` shows: one row per suite, remembered between runs so listing starts fast.

Loading a suite fully (JSON Schema, FHIRPath compilation, check kinds, the level rules) costs about a
second for the bundled suites; ``imgconf list`` is expected to answer in under 0.3 s (issue 11). A
suite that loaded cleanly is remembered as its row, keyed by the SHA-256 of its bytes, in a cache
file that holds only while nothing else that could change the loader's answer has changed: the
files of the ``imgconf`` package (code, schema, catalogue), the fixture library, the Python version
and the installed distributions (the mtime of every ``sys.path`` directory changes on an install).
Anything else is loaded and validated exactly as before; a suite that fails to load is never
remembered, so its error is shown on every listing. ``imgconf run`` does not use this cache.

The cache lives in ``$IMGCONF_CACHE_DIR``, else ``$XDG_CACHE_HOME/imgconf``, else ``~/.cache/imgconf``;
when it cannot be read or written, listing simply loads every suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgconf import __version__
from imgconf.paths import fixtures_dir
from imgconf.suite.discovery import discover

if TYPE_CHECKING:
    from imgconf.suite.model import Suite

CACHE_FILE = "suite-index.json"
_FORMAT = 2  # bump when the shape of a row changes (2: "requires", for imgconf mutate's suite index)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass
class Listing:
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per suite that loaded, in discovery order
    errors: list[str] = field(default_factory=list)  # one per suite that did not ("file:line: message")
    loaded: int = 0  # suites loaded and validated in this call (the rest came from the cache)


def suite_row(suite: Suite) -> dict[str, Any]:
    """The listing's view of one loaded suite (without ``file``: the caller's path is added on output)."""
    reqs = sorted({r for c in suite.cases for r in c.requirements} | set(suite.requirements))
    return {
        "id": suite.id, "title": suite.title, "area": suite.area,
        "cases": [{"id": c.id, "name": c.name, "level": c.level.value, "requirements": list(c.requirements)} for c in suite.cases],
        "requirements": reqs,
        "requires": list(suite.requires),  # what a run of it must be given besides the target ("dicomweb")
    }


def list_suites(paths: list[Path]) -> Listing:
    """Rows for every suite found under ``paths``: from the cache when the suite's bytes and the loader
    are unchanged, else loaded (and validated) now."""
    fingerprint = _fingerprint()
    cache_path = cache_dir() / CACHE_FILE
    cached = _read_cache(cache_path, fingerprint)
    fresh: dict[str, dict[str, Any]] = {}
    listing = Listing()
    library: Mapping[str, Any] | None = None
    for path in discover(paths):
        try:
            content = path.read_bytes()
        except OSError:
            content = b""  # the loader reports the unreadable file below
        digest = hashlib.sha256(content).hexdigest()
        key = str(path.resolve())
        entry = cached.get(key)
        if entry is not None and entry.get("sha256") == digest:
            row = entry["row"]
        else:
            from imgconf.suite.loader import SuiteError, load_suite

            if library is None:
                library = _fixture_library()
            listing.loaded += 1
            try:
                row = suite_row(load_suite(path, fixture_library=library))
            except SuiteError as exc:
                listing.errors.append(str(exc))
                continue
        fresh[key] = {"sha256": digest, "row": row}
        listing.rows.append({"id": row["id"], "title": row["title"], "area": row["area"], "file": str(path),
                             **{k: v for k, v in row.items() if k not in ("id", "title", "area")}})
    if listing.loaded and fresh:
        kept = {key: entry for key, entry in cached.items() if key not in fresh and Path(key).exists()}
        _write_cache(cache_path, fingerprint, {**kept, **fresh})
    return listing


def cache_dir() -> Path:
    if explicit := os.environ.get("IMGCONF_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imgconf"


def _fixture_library() -> Mapping[str, Any]:
    from imgconf.fixtures import library  # imports the HTTP client: only when a suite must be loaded

    return library(fixtures_dir())


def _fingerprint() -> str:
    """Everything besides a suite's own bytes that decides whether it loads, and into which row."""
    digest = hashlib.sha256(f"{_FORMAT} {__version__} {sys.version}".encode())
    for root in (_PACKAGE_DIR, fixtures_dir()):
        for file in sorted(root.rglob("*")):
            if "__pycache__" in file.parts or not file.is_file():
                continue
            stat = file.stat()
            digest.update(f"{file} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    for entry in sys.path:  # installed distributions, entry points (third-party check kinds)
        if not entry.rstrip("/").endswith(("site-packages", "dist-packages")):
            continue  # the working directory or a script's folder changes for unrelated reasons
        try:
            digest.update(f"{entry} {os.stat(entry).st_mtime_ns}\n".encode())
        except OSError:
            continue
    return digest.hexdigest()


def _read_cache(path: Path, fingerprint: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("fingerprint") != fingerprint or not isinstance(data.get("suites"), dict):
        return {}
    return {key: entry for key, entry in data["suites"].items() if _well_formed(entry)}


def _well_formed(entry: Any) -> bool:
    """A hand-edited or truncated entry is ignored (its suite is loaded again), never trusted."""
    return (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and isinstance(row := entry.get("row"), dict)
            and all(isinstance(row.get(k), str) for k in ("id", "title", "area"))
            and all(isinstance(row.get(k), list) for k in ("cases", "requirements", "requires")))


def _write_cache(path: Path, fingerprint: str, suites: dict[str, dict[str, Any]]) -> None:
    """Written whole to a temporary file and renamed: a concurrent listing reads the old or the new one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"fingerprint": fingerprint, "suites": suites}), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        return  # a read-only home: listing stays correct, only slower

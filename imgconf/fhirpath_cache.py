"""FHIRPath ASTs remembered between runs: parsing the bundled suites' ~220 expressions with ANTLR's
Python runtime cost ~0.8 CPU-s of every run's collection, reading them back ~10 ms.

An entry is the AST (plain lists, dicts and strings) of an expression that parsed strictly, stored under
the expression's text. The file holds only while nothing that could change an AST has changed: it is
keyed by the SHA-256 of ``imgconf/fhirpath.py`` and this module, the fhirpathpy and ANTLR runtime
versions and the Python version; any other file is ignored whole, and a malformed entry is ignored
(parsed again). An expression that does not parse is never remembered, so its error is raised as
before. New entries are written once, at the end of the process, merged with what other processes
wrote (written whole to a temporary file and renamed). Where: ``imgconf.suite.index.cache_dir()``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

CACHE_FILE = "fhirpath-ast.json"

_lock = threading.Lock()
_known: dict[str, dict[str, Any]] | None = None  # loaded on the first lookup
_added: dict[str, dict[str, Any]] = {}
_save_registered = False


def fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for dist in ("fhirpathpy", "antlr4-python3-runtime"):
        try:
            digest.update(f"{dist} {metadata.version(dist)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist} ?\n".encode())
    here = Path(__file__).resolve().parent
    for source in (here / "fhirpath.py", here / "fhirpath_cache.py"):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def cache_path() -> Path:
    from imgconf.suite.index import cache_dir

    return cache_dir() / CACHE_FILE


def _read(path: Path, key: str) -> dict[str, dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("fingerprint") != key or not isinstance(data.get("asts"), dict):
        return {}
    return {expr: ast for expr, ast in data["asts"].items() if _well_formed(ast)}


def _well_formed(ast: Any) -> bool:
    return isinstance(ast, dict) and isinstance(ast.get("children"), list) and len(ast["children"]) == 1


def lookup(expression: str) -> dict[str, Any] | None:
    global _known
    with _lock:
        if _known is None:
            _known = _read(cache_path(), fingerprint())
        return _known.get(expression)


def remember(expression: str, ast: dict[str, Any]) -> None:
    global _save_registered
    with _lock:
        _added[expression] = ast
        if not _save_registered:
            _save_registered = True
            atexit.register(save)


def save() -> None:
    """Write what this process parsed (merged with the file as it is now); errors leave the cache as it was."""
    with _lock:
        if not _added:
            return
        added = dict(_added)
        _added.clear()
    try:
        path, key = cache_path(), fingerprint()
        merged = {**_read(path, key), **added}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(json.dumps({"fingerprint": key, "asts": merged}), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        return


def forget() -> None:
    """Drop what this process loaded or parsed (tests only); the file stays."""
    global _known
    with _lock:
        _known = None
        _added.clear()

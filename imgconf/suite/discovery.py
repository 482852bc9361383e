"""Finding suite files: a cheap look at each file's head, no YAML parsing and no validation.

Kept apart from the validating loader (jsonschema, FHIRPath, check kinds) so that ``imgconf list``
and pytest collection can find suites without importing it.
"""

from __future__ import annotations

import re
from pathlib import Path

SUITE_MARKER = re.compile(r"^suite\s*:", re.MULTILINE)


def looks_like_suite(path: Path) -> bool:
    """Cheap test used at collection: a YAML file with a top-level ``suite:`` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(65536)  # never the whole of a huge file
    except OSError:
        return False
    return bool(SUITE_MARKER.search(head))


def discover(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*.y*ml") if looks_like_suite(f)))
        elif looks_like_suite(p):
            found.append(p)
    return found

"""Find a FHIRPath-style location in a JSON body and the lines it occupies when pretty-printed.

The validators name what they found wanting as ``ImagingStudy.series[0].uid`` or, inside a Bundle,
``Bundle.entry[2].resource.series[0].uid``. The HTML report marks those lines in the evidence. Only
plain member names and ``[i]`` indexes are understood; anything else (a function, a missing member,
an index out of range) simply does not resolve — a location is a hint, never a reason to fail a report.
"""

from __future__ import annotations

import json
import re
from typing import Any

Path = tuple[str | int, ...]  # keys and list indexes from the root of the document

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


def _steps(location: str) -> list[str | int] | None:
    """``series[0].uid`` → ["series", 0, "uid"]; None when the text is not plain steps."""
    out: list[str | int] = []
    for part in location.split("."):
        m = _STEP.fullmatch(part)
        if m is None:
            return None
        out.append(m.group(1))
        out.extend(int(i) for i in _INDEX.findall(m.group(2)))
    return out


def resolve(document: Any, location: str) -> Path | None:
    """The path of ``location`` in ``document``, or None when it names nothing there.

    A leading resource type (``ImagingStudy.``, ``Bundle.``) is the root when it equals the document's
    resourceType; R4 JSON has no member named like a resource type, so the two readings cannot clash.
    """
    steps = _steps(location.strip())
    if not steps:
        return None
    if isinstance(document, dict) and steps[0] == document.get("resourceType"):
        steps = steps[1:]
    node: Any = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
        elif not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return tuple(steps)


def pretty_lines(document: Any) -> tuple[str, dict[Path, tuple[int, int]]]:
    """``json.dumps(document, indent=2, ensure_ascii=False)`` with every node's (first, last) line (0-based).

    Written out here because json.dumps does not say where it put things; each leaf still goes through
    json.dumps, so the text is the one the report printed before marks existed.
    """
    lines: list[str] = []
    spans: dict[Path, tuple[int, int]] = {}

    def emit(node: Any, path: Path, prefix: str, indent: str, suffix: str) -> None:
        first = len(lines)
        if isinstance(node, dict) and node:
            lines.append(prefix + "{")
            items = list(node.items())
            for i, (key, value) in enumerate(items):
                emit(value, (*path, key), indent + "  " + json.dumps(key, ensure_ascii=False) + ": ",
                     indent + "  ", "," if i < len(items) - 1 else "")
            lines.append(indent + "}" + suffix)
        elif isinstance(node, list) and node:
            lines.append(prefix + "[")
            for i, value in enumerate(node):
                emit(value, (*path, i), indent + "  ", indent + "  ", "," if i < len(node) - 1 else "")
            lines.append(indent + "]" + suffix)
        else:
            lines.append(prefix + json.dumps(node, ensure_ascii=False) + suffix)
        spans[path] = (first, len(lines) - 1)

    emit(document, (), "", "", "")
    return "\n".join(lines), spans

#!/usr/bin/env python3
"""Generate imgconf/catalogue/requirements.json from the requirement catalogue (markdown).

Usage: python tools/build_catalogue.py [path/to/requirements.md]   (default ../shared/requirements.md)

The JSON is committed because installed copies of the harness have no access to the markdown.
The parser is deliberately strict: it asserts the number of requirements and findings so that a
reshaped table in the source fails loudly instead of silently dropping rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "requirements.md"
OUTPUT = REPO_ROOT / "imgconf" / "catalogue" / "requirements.json"
EXPECTED_REQUIREMENTS = 257
EXPECTED_FINDINGS = 23

ID_RE = re.compile(r"^[A-Z]+-\d{3}$")
FIND_RE = re.compile(r"^FIND-\d{2}$")
LEVEL_RE = re.compile(r"^(SHALL NOT|SHOULD NOT|SHALL|SHOULD|MAY|INFO)\b")
TEST_RE = re.compile(r"^([VSC](/[VSC])*)?$")
HEADING_RE = re.compile(r"^(#{2,4})\s+(.*)$")
CODE_SPAN_RE = re.compile(r"`([^`]*)`")
# *emphasis* only when it opens after whitespace/start/"(" on a letter, so "0..*" survives.
ITALIC_RE = re.compile(r"(?:(?<=[\s(])|^)\*([A-Za-z][^*\n]*?)\*(?![\w*])")
MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def split_row(line: str) -> list[str]:
    """Split a table row on unescaped pipes; `\\|` stays inside its cell."""
    body = line.strip()
    assert body.startswith("|") and body.endswith("|"), line
    cells = re.split(r"(?<!\\)\|", body[1:-1])
    return [c.strip() for c in cells]


def plain(cell: str) -> str:
    """Markdown cell → plain text: drop backticks and emphasis, undo escapes.

    Inside code spans only the table escape `\\|` is undone; other backslashes there are content
    (regexes such as `^[A-Za-z0-9\\-\\.]{1,64}$`).
    """
    out: list[str] = []
    pos = 0
    for m in CODE_SPAN_RE.finditer(cell):
        out.append(_plain_prose(cell[pos : m.start()]))
        out.append(m.group(1).replace("\\|", "|"))
        pos = m.end()
    out.append(_plain_prose(cell[pos:]))
    return "".join(out).strip()


def _plain_prose(text: str) -> str:
    text = text.replace("**", "")
    text = ITALIC_RE.sub(r"\1", text)
    return MD_ESCAPE_RE.sub(r"\1", text)


def section_title(heading: str) -> str:
    """'A.1 Structure and cardinality (source: …)' → 'A.1 Structure and cardinality'."""
    title = plain(heading)
    while title.endswith(")") and "(" in title:
        depth, i = 0, len(title) - 1
        for i in range(len(title) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(title[i], 0)
            if depth == 0:
                break
        title = title[:i].rstrip()
    return title


def short_title(text: str, limit: int = 110) -> str:
    """First sentence of a requirement, used as a one-line title in reports."""
    protected = re.sub(r"\b(e\.g|i\.e|etc|vs)\.", lambda m: m.group(0).replace(".", "\0"), text)
    first = re.split(r"(?<=[^.\s])\.\s+(?=[A-Z(*\"'])", protected, maxsplit=1)[0]
    first = first.replace("\0", ".").rstrip(".")
    if len(first) > limit:
        first = first[: limit - 1].rsplit(" ", 1)[0] + "…"
    return first


def parse_requirement(cells: list[str], header: list[str], section: str, order: int) -> dict[str, Any]:
    # Tables have either 6 columns (with "Exact values / check") or 5 (DICOM tables). A few
    # rows of 6-column tables omit the check cell, and some rows of 5-column tables add one
    # (DICOM-012/013), so read test and basis from the right and the check from cell 4 of 6.
    assert len(cells) in (len(header) - 1, len(header), len(header) + 1), cells
    assert len(cells) <= 6, cells
    assert len(cells) >= 5, cells
    req_id, level_text, text = cells[0], plain(cells[1]), cells[2]
    basis, test = plain(cells[-1]), plain(cells[-2])
    check = plain(cells[3]) if len(cells) == 6 else ""
    test = "" if test in ("—", "-") else test
    check = "" if check in ("—", "-") else check
    level = LEVEL_RE.match(level_text)
    assert ID_RE.match(req_id), req_id
    assert level, f"{req_id}: level {level_text!r}"
    assert TEST_RE.match(test), f"{req_id}: test kind {test!r}"
    assert basis.startswith("["), f"{req_id}: basis {basis!r}"
    text_plain = plain(text)
    return {
        "id": req_id,
        "level": level.group(1),
        "level_text": level_text,
        "section": section,
        "title": short_title(text_plain),
        "text": text_plain,
        "check": check,
        "test": test,
        "basis": basis,
        "order": order,
    }


def parse_finding(cells: list[str]) -> dict[str, Any]:
    assert len(cells) == 4, cells
    find_id, finding, evidence, action = cells
    assert FIND_RE.match(find_id), find_id
    bold = re.match(r"\*\*(.+?)\*\*", finding)
    assert bold, f"{find_id}: no bold title"
    return {
        "id": find_id,
        "title": plain(bold.group(1)).rstrip("."),
        "text": plain(finding),
        "evidence": plain(evidence),
        "action": plain(action),
    }


def parse(markdown: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    requirements: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    section = ""
    header: list[str] | None = None
    kind = ""
    for line in markdown.splitlines():
        heading = HEADING_RE.match(line)
        if heading:
            section = section_title(heading.group(2))
            header = None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = split_row(line)
        if header is None:
            header = cells
            kind = {"Lvl": "req", "Finding": "find"}.get(cells[1] if len(cells) > 1 else "", "")
            if cells[0] != "ID":
                kind = ""
            continue
        if not kind or set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            continue  # foreign table (sources, codes, search parameters) or separator row
        if kind == "req":
            requirements.append(parse_requirement(cells, header, section, len(requirements)))
        else:
            findings.append(parse_finding(cells))
    return requirements, findings


def build(source: Path) -> dict[str, Any]:
    raw = source.read_bytes()
    requirements, findings = parse(raw.decode("utf-8"))
    ids = [r["id"] for r in requirements]
    assert len(ids) == len(set(ids)), "duplicate requirement ids"
    assert len(requirements) == EXPECTED_REQUIREMENTS, f"found {len(requirements)} requirements"
    assert len(findings) == EXPECTED_FINDINGS, f"found {len(findings)} findings"
    return {
        "source": source.name,
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "requirements": requirements,
        "findings": findings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    catalogue = build(args.source)
    text = json.dumps(catalogue, indent=1, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(f"{len(catalogue['requirements'])} requirements, {len(catalogue['findings'])} findings → {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

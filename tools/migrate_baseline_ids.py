"""Key a baseline written before case ids by ``case_id``: every entry that has only ``case:``
(``suite-id::case name``, or a node id spelled with the name) gets ``case_id: suite-id::case-id``,
looked up in the suites. Reasons, clauses, comments and layout are kept: the line is inserted as text.

    .venv/bin/python tools/migrate_baseline_ids.py expectations/medplum.yaml [--suites DIR ...]

An entry whose case cannot be found (renamed since, or from a suite not given) is reported and left
as it is: it still matches by name (imgconf/baseline.py), so nothing breaks until it is fixed by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from imgconf.fixtures import library
from imgconf.paths import fixtures_dir, suites_dir
from imgconf.suite.loader import discover, load_suite


def case_ids(roots: list[Path]) -> dict[str, str]:
    """``suite-id::name`` and ``<suite file>::name`` (relative node-id spellings) → ``suite-id::case-id``."""
    fixtures = library(fixtures_dir())
    out: dict[str, str] = {}
    for path in discover(roots):
        suite = load_suite(path, fixture_library=fixtures)
        for case in suite.cases:
            if case.id:
                out[f"{suite.id}::{case.name}"] = f"{suite.id}::{case.id}"
                out[f"{path.as_posix()}::{case.name}"] = f"{suite.id}::{case.id}"
    return out


def _resolve(key: str, ids: dict[str, str]) -> str | None:
    if key in ids:
        return ids[key]
    # a node id from another working directory: match on the path's tail
    hits = {v for k, v in ids.items() if "/" in k and (k.endswith("/" + key) or key.endswith("/" + k))}
    return hits.pop() if len(hits) == 1 else None


def migrate(text: str, ids: dict[str, str]) -> tuple[str, list[str]]:
    """The baseline text with a ``case_id`` line for every entry that lacks one; and what was not found."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(root, yaml.MappingNode):  # {known_failures: [...]}
        root = next((v for k, v in root.value if getattr(k, "value", None) == "known_failures"), None)
    if not isinstance(root, yaml.SequenceNode):
        return text, []
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (line, column, case_id)
    missing: list[str] = []
    for entry in root.value:
        if not isinstance(entry, yaml.MappingNode):
            continue
        keys = {k.value: (k, v) for k, v in entry.value if isinstance(k, yaml.ScalarNode)}
        if "case_id" in keys or "case" not in keys:
            continue
        key_node, value = keys["case"]
        case_id = _resolve(str(value.value), ids)
        if case_id is None:
            missing.append(f"line {key_node.start_mark.line + 1}: {value.value}")
            continue
        edits.append((key_node.start_mark.line, key_node.start_mark.column, case_id))
    for line_no, column, case_id in sorted(edits, reverse=True):
        line = lines[line_no]
        # "- case: …" → "- case_id: …" then "  case: …" at the same column
        lines[line_no] = line[:column] + f"case_id: {case_id}\n" + " " * column + line[column:]
    return "".join(lines), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baselines", nargs="+", type=Path)
    parser.add_argument("--suites", action="append", type=Path, help="suite folder or file (default: the bundled suites)")
    args = parser.parse_args(argv)
    ids = case_ids(args.suites or [suites_dir()])
    status = 0
    for path in args.baselines:
        new_text, missing = migrate(path.read_text(encoding="utf-8"), ids)
        path.write_text(new_text, encoding="utf-8")
        for item in missing:
            print(f"{path}: {item}: no such case in the suites; left keyed by name", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

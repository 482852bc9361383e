"""Give every case of a suite file a stable ``id:`` derived from its name (cases that have one keep it).

    .venv/bin/python tools/add_case_ids.py suites/            # every suite under suites/
    .venv/bin/python tools/add_case_ids.py suites/x.yaml --check   # exit 1 if a case has no id

The ``id:`` line is inserted textually right after the case's ``name:`` so comments and layout
survive. The id is a short slug of the name (lower case, filler words dropped, cut at a word
boundary), made unique within the suite. Once written, an id never changes with the name: baselines,
``imgconf compare`` and pytest node ids key cases by it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

MAX_LEN = 48  # readable in a node id; the schema allows up to 80
_FILLER = {"a", "an", "the"}
_TRAILING = {"a", "an", "the", "and", "or", "of", "to", "by", "with", "in", "on", "for", "is", "are", "be", "its", "it", "as", "at",
             "not", "no"}  # a slug cut short does not end on these


def slug_words(name: str) -> list[str]:
    """Lower-case alphanumeric words of a name; a dot between letters stays (``author.family``)."""
    text = re.sub(r"(?<=[a-z0-9])\.(?=[a-z0-9])", "\0", name.lower())
    words = [w.replace("\0", ".") for w in re.split(r"[^a-z0-9\0]+", text) if w]
    return [w for w in words if w not in _FILLER] or words or ["case"]


def slug(name: str, max_len: int = MAX_LEN) -> str:
    words = slug_words(name)
    out: list[str] = []
    for word in words:
        if out and len("-".join(out + [word])) > max_len:
            break
        out.append(word[:max_len])
    while len(out) < len(words) and len(out) > 1 and out[-1] in _TRAILING:  # cut mid-phrase: end on a content word
        out.pop()
    return "-".join(out)


def unique_slug(name: str, taken: set[str]) -> str:
    for candidate in (slug(name), slug(name, 80)):
        if candidate not in taken:
            return candidate
    base = slug(name, 76)
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _case_nodes(text: str) -> list[yaml.MappingNode]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [n for n in value.value if isinstance(n, yaml.MappingNode)]
    return []


def add_ids(text: str) -> tuple[str, int]:
    """The suite text with an ``id:`` after every case name that lacks one, and how many were added."""
    nodes = _case_nodes(text)
    fields = [{k.value: (k, v) for k, v in n.value if isinstance(k, yaml.ScalarNode)} for n in nodes]
    taken = {str(f["id"][1].value) for f in fields if "id" in f}
    lines = text.splitlines(keepends=True)
    inserts: list[tuple[int, str]] = []
    for f in fields:
        if "id" in f or "name" not in f:
            continue
        key, value = f["name"]
        if key.start_mark.line != value.end_mark.line and value.end_mark.column == 0:
            after = value.end_mark.line  # a block scalar ends at the start of the next line
        else:
            after = value.end_mark.line + 1
        if lines[after - 1].rstrip("\n").rstrip().endswith((",", "{")):  # flow mapping: not handled
            raise SystemExit(f"case at line {key.start_mark.line + 1}: flow-style case, add its id by hand")
        case_id = unique_slug(str(value.value), taken)
        taken.add(case_id)
        inserts.append((after, " " * key.start_mark.column + f"id: {case_id}\n"))
    for after, line in sorted(inserts, reverse=True):
        lines.insert(after, line)
    return "".join(lines), len(inserts)


def missing_ids(text: str) -> list[int]:
    return [n.start_mark.line + 1 for n in _case_nodes(text)
            if not any(isinstance(k, yaml.ScalarNode) and k.value == "id" for k, _ in n.value)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report cases without an id (exit 1 if any)")
    args = parser.parse_args(argv)
    files = sorted({f for p in args.paths for f in (p.rglob("*.yaml") if p.is_dir() else [p])})
    missing = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        if args.check:
            for line in missing_ids(text):
                print(f"{path}:{line}: case without an id")
                missing += 1
            continue
        new_text, added = add_ids(text)
        if added:
            path.write_text(new_text, encoding="utf-8")
            print(f"{path}: {added} id(s) added")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

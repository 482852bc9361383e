"""Limits on local input files: suites, ``--baseline``, ``--vars-file``.

These files are usually written by the tester, but they get shared, generated and downloaded: a
YAML alias bomb (``b: [*a, *a, …]`` nested ten deep) reached MemoryError at 3+ GB, and a 50 MB suite
took 6.7 GB in ``imgconf list``. So a file is refused before it is parsed when it is bigger than its
bound, and YAML is composed first (aliases stay shared nodes there, cheap) and refused when its
aliases would expand it by more than MAX_ALIAS_EXPANSION nodes — with the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MB = 1024 * 1024
MAX_SUITE_BYTES = 2 * MB  # the largest bundled suite is about 20 kB
MAX_BASELINE_BYTES = 16 * MB  # thousands of known failures
MAX_VARS_BYTES = 1 * MB  # variable bindings
MAX_ALIAS_EXPANSION = 10_000  # nodes aliases may add beyond the nodes the file itself spells out


class LocalInputError(ValueError):
    """A local file refused by a bound; ``line`` is 1-based when known."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def read_capped(path: Path, limit: int, what: str) -> str:
    """The file's text, refused (LocalInputError) when larger than ``limit`` bytes, before reading it."""
    size = path.stat().st_size
    if size > limit:
        raise LocalInputError(path, f"{what} is {size / MB:.1f} MB, more than the {limit / MB:g} MB "
                                    f"imgconf reads from a {what}; refused")
    return path.read_text(encoding="utf-8")


def check_aliases(path: Path, root: yaml.Node, limit: int = MAX_ALIAS_EXPANSION) -> None:
    """Refuse a composed YAML document whose aliases expand it by more than ``limit`` nodes.

    Each node's expanded size is counted once (memoised by identity), so the check is linear in
    the composed graph however large the expansion would be; a self-referencing alias is refused too.
    """
    sizes: dict[int, int] = {}
    distinct = 0
    # Iterative post-order walk: (node, children visited?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            size = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = size
            if size - distinct > limit:
                raise LocalInputError(path, f"YAML aliases expand this node to {size:,} nodes, more than {limit:,} "
                                            "beyond what the file spells out (an alias bomb?); refused",
                                      node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise LocalInputError(path, "a YAML alias refers to itself (a recursive structure); refused", node.start_mark.line + 1)
        on_path.add(key)
        distinct += 1
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def safe_yaml(path: Path, text: str) -> Any:
    """``yaml.safe_load`` with the alias bound (LocalInputError) — yaml.YAMLError for bad syntax as before."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_aliases(path, node)
        return loader.construct_document(node)
    except RecursionError:
        raise LocalInputError(path, "YAML nested too deep to read; refused") from None
    finally:
        loader.dispose()

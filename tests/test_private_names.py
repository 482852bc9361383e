"""No module of imgconf reaches into another module's private names (``from m import _x`` or ``m._x``).

A private name is free to change with its module; a caller elsewhere breaks silently when it does. The bulk
modules have their own, stricter guard (tests/test_bulk_validate.py); this one covers the whole package.
The imports that predate this guard are listed in ``KNOWN``: the list may only shrink (make the name public
and drop the line); a new one fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "imgconf"

# Private names used across modules before this guard; do not add to this list.
KNOWN: frozenset[str] = frozenset()  # every earlier use was made public (session 20)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")  # __version__ and friends are public


def private_uses(path: Path, root: Path = ROOT) -> set[str]:
    """``file: module.name`` for every private name of another imgconf module that ``path`` uses."""
    shown = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses: set[str] = set()
    modules: dict[str, str] = {}  # local name -> the imgconf module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imgconf"):
            for alias in node.names:
                if _private(alias.name):
                    uses.add(f"{shown}: {node.module}.{alias.name}")
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"  # may be a module itself
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("imgconf"):
                    # ``import imgconf.x as y`` binds y to imgconf.x; ``import imgconf.x`` binds imgconf
                    modules[alias.asname or "imgconf"] = alias.name if alias.asname else "imgconf"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in modules:
            uses.add(f"{shown}: {modules[node.value.id]}.{node.attr}")
    return uses


def all_private_uses() -> set[str]:
    return set().union(*(private_uses(path) for path in sorted(ROOT.rglob("*.py"))))


def test_no_new_private_name_is_used_across_imgconf_modules() -> None:
    assert all_private_uses() - KNOWN == set()


def test_the_guard_sees_both_forms(tmp_path: Path) -> None:
    """The scanner itself: a ``from m import _x`` and a ``m._x`` are both caught, a dunder and a module's own
    private names are not."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from imgconf import __version__, offline\n"
        "from imgconf.offline import _iter_items\n"
        "import imgconf.report.html as html\n"
        "def _mine() -> None: ...\n"
        "print(offline._NDJSON_SUFFIXES, html._environment, _mine, __version__)\n", encoding="utf-8")
    assert private_uses(probe, tmp_path) == {"probe.py: imgconf.offline._iter_items", "probe.py: imgconf.offline._NDJSON_SUFFIXES",
                     "probe.py: imgconf.report.html._environment"}

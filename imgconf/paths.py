"""Where the declarative content (suites, fixtures, terminology tables) lives.

In a source checkout it sits at the repository root, next to the package; an installed wheel
carries a copy under ``imgconf/_content``. The checkout wins so edits take effect at once.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def content_dir(name: str) -> Path:
    """Return the directory ``suites``, ``fixtures`` or ``validators``."""
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    return _PACKAGE_DIR / "_content" / name


def suites_dir() -> Path:
    return content_dir("suites")


def fixtures_dir() -> Path:
    return content_dir("fixtures")


def terminology_dir() -> Path:
    return content_dir("validators")

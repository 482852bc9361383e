"""pytest arguments that make imgconf collect suites: it collects only under configured suite roots."""

from __future__ import annotations

from pathlib import Path

from imgconf.paths import suites_dir

BUNDLED: tuple[str, str] = ("--imgconf-suites", str(suites_dir()))  # the repository's suites as the root


def roots(*paths: str | Path) -> list[str]:
    """``--imgconf-suites PATH`` for each path (a node id counts by its file); named alone, the run collects these."""
    out: list[str] = []
    for path in paths:
        out += ["--imgconf-suites", str(path).split("::", 1)[0]]
    return out

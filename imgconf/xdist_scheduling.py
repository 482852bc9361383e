"""pytest-xdist scheduling for runs with imgconf suites (imported only when xdist asks for a scheduler).

Cases of one suite share saved variables (an id created by one case is read by the next), so all
cases of a suite file run on one worker. Every other test is its own unit, balanced as ``--dist load``
would balance it: a project's own tests are not grouped because imgconf is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling


class SuiteFileScheduling(LoadScopeScheduling):
    """LoadScope scheduling whose scope is the suite file for imgconf cases and the test itself otherwise."""

    def __init__(self, config: pytest.Config, log: Any, roots: list[Path]) -> None:
        super().__init__(config, log)
        self._rootpath = config.rootpath
        self._roots = roots

    def _split_scope(self, nodeid: str) -> str:
        file_part = nodeid.split("::", 1)[0]
        if file_part.endswith((".yaml", ".yml")) and self._under_roots((self._rootpath / file_part).resolve()):
            return file_part
        return nodeid

    def _under_roots(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self._roots)

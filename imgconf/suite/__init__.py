"""The declarative suite format: YAML files validated by a JSON Schema shipped in this package.

The names below are imported on first use (PEP 562): the validating loader pulls in jsonschema,
FHIRPath and every check kind, and ``imgconf list`` / ``imgconf --help`` must start without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imgconf.suite.discovery import discover, looks_like_suite
    from imgconf.suite.loader import SuiteError, load_suite
    from imgconf.suite.model import Case, Expect, Request, Step, Suite

_HOME = {
    "discover": "imgconf.suite.discovery", "looks_like_suite": "imgconf.suite.discovery",
    "SuiteError": "imgconf.suite.loader", "load_suite": "imgconf.suite.loader",
    "Case": "imgconf.suite.model", "Expect": "imgconf.suite.model", "Request": "imgconf.suite.model",
    "Step": "imgconf.suite.model", "Suite": "imgconf.suite.model",
}

__all__ = ["Case", "Expect", "Request", "Step", "Suite", "SuiteError", "discover", "load_suite", "looks_like_suite"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value  # once imported, a plain module attribute
    return value

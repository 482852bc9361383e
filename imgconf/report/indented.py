"""JSON bodies pretty-printed for the reports, by orjson's C encoder where it writes the same text.

``json.dumps(…, indent=2)`` falls back to the pure-Python encoder (CPython's C encoder takes no
indent): it was the largest single cost of writing the HTML report and the allure attachments.
orjson writes the same text for everything a JSON body parses to except some floats (``1e+16`` is
``1e16`` there, NaN is ``null``), integers beyond 64 bits and lone surrogates; those bodies are
written by ``json`` as before, and so is any body whose floats orjson would not spell as ``repr``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def indented_json(data: Any) -> str:
    """Exactly ``json.dumps(data, indent=2, ensure_ascii=False)``."""
    if _floats_spelled_alike(data):
        try:
            return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8")
        except (TypeError, orjson.JSONEncodeError):  # a big integer, a lone surrogate, a key that is no str
            pass
    return json.dumps(data, indent=2, ensure_ascii=False)


def _floats_spelled_alike(data: Any) -> bool:
    pending = [data]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, (list, tuple)):
            pending.extend(node)
        elif isinstance(node, float) and orjson.dumps(node) != repr(node).encode("ascii"):
            return False
    return True

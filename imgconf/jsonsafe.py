"""JSON from a server, parsed with a nesting bound.

A hostile or broken server can send ``[[[[…]]]]`` thousands of levels deep: ``json.loads`` then
raises RecursionError (not ValueError), and even a depth it can still parse makes every recursive
walker after it (redaction, FHIRPath, validators, report writers) hit the recursion limit. So a body
nested deeper than MAX_JSON_DEPTH is "not usable JSON" before anything recurses into it. No FHIR
resource comes near the bound (a searchset of ImagingStudy is about 10 levels deep).
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

import orjson

MAX_JSON_DEPTH = 200

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)  # brackets inside strings do not nest
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# '[' and '{' become +1, ']' and '}' become -1 (as signed bytes), so a running sum is the depth.
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
# orjson reads an integer beyond 64 bits as a float, silently; json keeps it exact. Any such integer
# has 19 digits or more (so does a long run of digits in a string: json reads those texts too).
_LONG_DIGITS = re.compile(rb"\d{19}")


class JsonTooDeep(ValueError):
    """The document nests deeper than the bound (a ValueError, so 'not JSON' handlers catch it)."""


def json_depth(data: bytes | str) -> int:
    """The deepest array/object nesting of a JSON text (0 for a scalar), in C-speed passes."""
    raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else data
    if b"[" not in raw and b"{" not in raw:
        return 0
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_STEP)
    return max(accumulate(array("b", brackets)), default=0)


def loads_bounded(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting beyond ``max_depth`` (JsonTooDeep, a ValueError); orjson
    parses when it gives json's result (tests/test_jsonsafe.py compares them)."""
    raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else data
    openers = raw.count(b"[") + raw.count(b"{")
    depth = json_depth(raw) if openers > max_depth else openers  # few openers: cannot be too deep
    if depth > max_depth:
        raise JsonTooDeep(f"JSON nested {depth} levels deep, more than the {max_depth} the harness reads")
    if not _LONG_DIGITS.search(raw):
        try:
            return orjson.loads(data)  # the same values as json's, several times faster
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, 1E400, lone surrogates, a BOM, not UTF-8, not JSON: json decides, as before
    try:
        return json.loads(data)
    except RecursionError:  # belt and braces: a lower interpreter recursion limit than expected
        raise JsonTooDeep(f"JSON nested too deep to parse (more than {max_depth} levels)") from None

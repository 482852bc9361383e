"""loads_bounded parses with orjson where orjson gives exactly what json.loads gives, else with json.

Compared as repr (types show: 1 against 1.0, -0.0, big integers, surrogates) over generated JSON
values (every float, integers far beyond 64 bits, NaN and Infinity as json writes them, any text),
over the spellings where the two parsers differ, and over arbitrary bytes and text (both refuse or
both read the same).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from imgconf.jsonsafe import loads_bounded


def _outcome(parse: Any, data: str | bytes) -> str:
    try:
        return repr(parse(data))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, JsonTooDeep: "not JSON" to every caller
        return f"refused ({type(exc).__name__ if not isinstance(exc, json.JSONDecodeError) else 'JSONDecodeError'})"


def assert_as_json(data: str | bytes) -> None:
    expected = _outcome(json.loads, data)
    found = _outcome(loads_bounded, data)
    assert found == expected, (data[:200], expected[:200], found[:200])


VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.integers(2**62, 2**70) | st.integers(-(2**70), -(2**62))
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)

DIFFERING = ['{"a":1,"a":2}', "-0", "-0.0", "1E400", "-1E400", "1e-400", "18446744073709551615", "18446744073709551616",
             "-9223372036854775808", "-9223372036854775809", "9223372036854775807", "NaN", "[Infinity]", "[-Infinity]",
             '"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', "\ufeff{}", '{"a":"\\u0000"}', "5e-324", "1.7976931348623157e308",
             '"a\nb"', "[1,]", "01", '{"id":"1234567890123456789"}', "0.1000000000000000055511151231257827021181583404541015625"]


@pytest.mark.parametrize("text", DIFFERING)
def test_the_spellings_where_parsers_differ(text: str) -> None:
    assert_as_json(text)
    assert_as_json(text.encode("utf-8", errors="surrogatepass"))
    assert_as_json(text.encode("utf-16"))  # json detects UTF-16 and UTF-32 in bytes


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_whatever_json_writes(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert_as_json(text)
    assert_as_json(text.encode("utf-8", errors="surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | st.text(alphabet=st.sampled_from('{}[]":,.-+eE0123456789 \ntrufalsnNIy\\u'), max_size=30))
def test_anything_else(data: str | bytes) -> None:
    assert_as_json(data)

"""The fast paths of report writing give the text of the slow ones they replace.

JSON bodies are pretty-printed by orjson where it writes exactly what ``json.dumps(indent=2)`` wrote,
and redaction skips the by-shape patterns for a text none of them can match (the by-value net stays).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from imgconf import secret_registry
from imgconf.paths import fixtures_dir
from imgconf.report import indented, redact
from imgconf.report.indented import indented_json


def _json_dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def test_every_fixture_is_pretty_printed_as_json_dumps_did() -> None:
    fixtures = sorted(fixtures_dir().rglob("*.json"))
    assert fixtures
    for path in fixtures:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert indented_json(document) == _json_dumps(document), path


@pytest.mark.parametrize("data", [
    {"text": "\x00\x01\x1f\x7f\u2028 é 😀 \" \\ / \b\f\n\r\t", "empty": {}, "none": [], "n": None, "t": True},
    [1.0, 0.1, -0.0, 123456789.125, 1e16, 1e-05, 1e300, 5e-324],  # 1e16 and 1e-05 orjson spells 1e16 and 1e-5
    [float("nan"), float("inf")],  # orjson: null
    [2**64, -(2**63) - 1],  # beyond 64 bits: orjson refuses
    {"surrogate": "\ud800"},  # a lone surrogate (json.loads makes one of "\\ud800"): orjson refuses
    {1: "int key", None: "none key"},
    ("a", (1.5, 1e20)),
])
def test_what_orjson_would_write_otherwise_is_written_by_json(data: Any) -> None:
    assert indented_json(data) == _json_dumps(data)


def test_random_floats_are_written_as_json_dumps_did() -> None:
    rng = random.Random(15)
    values = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30) for _ in range(5000)]
    assert indented_json(values) == _json_dumps(values)


def test_a_plain_body_is_written_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """Else the fast path buys nothing: json.dumps is not called for an ordinary FHIR body."""
    def refuse(*_args: Any, **_kwargs: Any) -> str:
        raise AssertionError("json.dumps used")

    monkeypatch.setattr(indented.json, "dumps", refuse)
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": 2, "entry": [{"fullUrl": "http://x/Patient/1",
              "resource": {"resourceType": "Patient", "id": "1", "active": True, "birthDate": "1970-01-01"}}]}
    assert indented_json(bundle).startswith('{\n  "resourceType": "Bundle",\n  "type": "searchset"')


@pytest.fixture
def registered_secret() -> Iterator[str]:
    secret_registry.clear()
    secret_registry.register("s3cr3t-value-42")
    secret_registry.register("pw7")
    yield "s3cr3t-value-42"
    secret_registry.clear()


TEXTS = [
    "plain words with nothing to hide",
    "the token s3cr3t-value-42 echoed in prose",
    "a short pw7 standing alone, not in apw7x",
    "http://server/Patient?name=x&access_token=abc.def",
    "client_secret=hunter2&grant_type=client_credentials",
    'Authorization: Bearer eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJ4In0.sig',
    'WWW-Authenticate: Bearer error="invalid_token"',
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----",
    '{"access_token": "abc", "nested": {"d": "jwk-private", "url": "http://a/?password=p"}}',
    '  [{"note": "Bearer abcdefghijklmnopqrstuvwxyz0123"}, "s3cr3t-value-42"]',
    '"refresh_token": "cut off mid-str',
    "the word BEARER in capitals, then ZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
]


@pytest.mark.parametrize("text", TEXTS)
def test_redaction_is_the_same_with_and_without_the_shape_prefilter(
        registered_secret: str, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    fast = redact.redact_text(text)
    monkeypatch.setattr(redact, "_may_have_a_shape", lambda _text: True)  # every pattern tried, as before
    assert fast == redact.redact_text(text)
    assert registered_secret not in fast


def test_the_prefilter_skips_only_texts_no_pattern_can_match(registered_secret: str) -> None:
    assert not redact._may_have_a_shape("plain words with nothing to hide")
    assert redact.redact_text("plain words with s3cr3t-value-42") == f"plain words with {secret_registry.REDACTED}"
    for text in TEXTS[3:]:
        assert redact._may_have_a_shape(text), text

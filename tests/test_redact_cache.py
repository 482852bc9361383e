"""Report redaction done once per text and cheaply where nothing can match (issue 15 item 5), byte for byte
the old redaction (tests/redact_reference.py): on every text a real run redacts, on the fixtures, on texts
built to reach the edges of the shape-free shortcut, and on Hypothesis-generated JSON, forms and free text."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cachetools import LRUCache
from hypothesis import HealthCheck, given, settings, strategies as st
from redact_reference import reference_redact_headers, reference_redact_text
from suite_run import run_suites_summary

import imgconf.client
from imgconf import secret_registry
from imgconf.paths import suites_dir
from imgconf.report import allure_files, html, redact
from imgconf.report.redact import REDACTED, SECRET_KEYS, redact_headers, redact_text
from imgconf.session import SessionOptions

SUITES = suites_dir()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LONG_SECRET = "s3cr3t-value-42"
# Registered secrets whose spellings differ between raw JSON and its decoded strings, or that are short.
ODD_SECRETS = ('quo"te-secret-1', "back\\slash-secret", "sla/sh-secret-77", "pässwörd-ünïcode", "pw7",
               "tab\tsecret-9", "with space secret")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"


def _register_all() -> None:
    secret_registry.register(LONG_SECRET)
    for secret in ODD_SECRETS:
        secret_registry.register(secret)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    secret_registry.clear()
    yield
    secret_registry.clear()  # the registry is per process: do not let one test's secrets blur another's


def _agree(text: str) -> None:
    expected = reference_redact_text(text)
    assert redact_text(text) == expected, text
    assert redact_text(text) == expected, text  # the cached answer too


# -- a real run --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_texts() -> tuple[list[str], frozenset[str]]:
    """Every text the HTTP client redacted in a real run of the SMART token suite (tokens, client assertions,
    their error answers) and two search suites (bundles), and the secrets the run registered."""
    seen: list[str] = []
    original = imgconf.client.redact_text

    def recording(body: str | None) -> str:
        if body:
            seen.append(body)
        return original(body)

    imgconf.client.redact_text = recording
    try:
        run_suites_summary(SessionOptions(), SUITES / "smart" / "token.yaml", SUITES / "mhd" / "iti67-find-documents.yaml",
                           SUITES / "imagingstudy" / "search-results.yaml")
    finally:
        imgconf.client.redact_text = original
    known = secret_registry.known()
    secret_registry.clear()
    return list(dict.fromkeys(seen)), known


def test_real_run_texts_redact_as_before(run_texts: tuple[list[str], frozenset[str]]) -> None:
    texts, known = run_texts
    for secret in known:
        secret_registry.register(secret)
    assert len(texts) > 100 and any('"access_token"' in t for t in texts)
    changed = 0
    for text in texts:
        _agree(text)
        first = redact_text(text)
        changed += first != text
        _agree(first)  # what the report writers redact again: the client's evidence
    assert changed  # the token answers: the corpus does reach the full redaction


def test_fixtures_redact_as_before() -> None:
    _register_all()
    files = sorted(FIXTURES.rglob("*.json"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        _agree(text)
        data = json.loads(text) if text.lstrip()[:1] in "{[" and "{{" not in text else None
        if data is not None:
            _agree(json.dumps(data, ensure_ascii=True).replace("/", "\\/"))


# -- the edges of the shortcut -------------------------------------------------------------------------------------

EDGES = [
    '{"resourceType": "Patient", "id": "x"}',
    '{"note": "the token s3cr3t-value-42 echoed"}',  # a secret in a decoded string: the walk re-serialises
    '{"note": "a\\npw7 b"}',  # a short secret standing alone only once \\n is decoded
    '{"note": "a\\\\npw7 b"}',  # an escaped backslash: in the decoded string pw7 follows "n"
    '{"note": "quo\\"te-secret-1 here"}',  # a secret with a quote, escaped in the raw text
    '{"note": "sla\\/sh-secret-77"}',  # an escaped slash
    '{"note": "p\\u00e4sswörd-ünïcode"}',  # a \\u escape
    '{"note": "p\\u00e4ss", "d": 1}',
    '{"n": "{\\"d\\": \\"k\\"}"}',  # JSON inside a string, a JWK member in it
    '{"n": "{\\"a\\": \\"{\\\\\\"d\\\\\\": \\\\\\"k\\\\\\"}\\"}"}',  # two levels down
    '{"n": "{\\"note\\": \\"x\\\\npw7 y\\"}"}',  # a short secret after an escape two levels down
    '{"n": "d=1&x=2"}',  # a form in a string
    '{"n": "x=1&p=secretvalue"}',
    '{"n": "Token: bEaReR abcdefghijklmnopqrstuvwxyz012345"}',
    '{"n": "ACCESS_TOKEN=abc"}',
    '{"n": "paſſword=abc"}',  # long s: _KV_RE matches it ignoring case
    '{"n": "' + PEM.replace("\n", "\\n") + '"}',
    '{"n": "Bearer short"}',
    '{"password": "\\x", "note": "x\\npassword=abc"}',  # not JSON (bad escape): patterns only
    '{"access_token": "abc", "note": "unterminated',
    '[1, 2, "with space secret"]',
    '[1, 2, "with\\tspace secret"]',
    '{"t": "tab\\tsecret-9"}',  # the decoded tab makes the secret
    "  {\"d\": 5}",
    '{"d": null, "p": "", "q": "[redacted]"}',
    '{"id": "dq", "x": "qi"}',
    "d=1&grant_type=client_credentials",
    "  d=1&x=2",
    "x with space secret=1",
    "a=with space secret&d=xyz",
    "plain words with nothing to hide",
    "[[[[[[" * 60 + "1",
]


def test_edges_redact_as_before() -> None:
    _register_all()
    for text in EDGES:
        _agree(text)


def test_secret_registered_later_is_redacted_from_a_text_redacted_earlier() -> None:
    body = '{"resourceType": "Patient", "name": [{"text": "late-secret-value-9"}]}'
    assert redact_text(body) == body  # cached while nothing is registered
    generation = secret_registry.generation()
    secret_registry.register("late-secret-value-9")
    assert secret_registry.generation() != generation
    assert "late-secret-value-9" not in redact_text(body)
    assert redact_text(body) == reference_redact_text(body)
    secret_registry.clear()
    assert redact_text(body) == body  # clearing is a change too


def test_registering_a_known_secret_again_changes_nothing() -> None:
    secret_registry.register(LONG_SECRET)
    generation = secret_registry.generation()
    secret_registry.register(LONG_SECRET)
    assert secret_registry.generation() == generation


def test_redaction_is_not_idempotent_so_results_are_not_cached_as_their_own_redaction() -> None:
    # Why redact_text does not record R as the redaction of R: a by-value replacement can make a text a
    # form body, or free key=value / Bearer from the word character that hid it; the report writers'
    # second pass then redacts more, and must keep doing so.
    secret_registry.register("my secret value")
    secret_registry.register("mysecret1")
    for text in ("a=my secret value&d=xyz", "mysecret1password=hunter2",
                 "x mysecret1Bearer abcdefghijklmnopqrstuvwxyz0123"):
        once = redact_text(text)
        assert once != text
        twice = redact_text(once)
        assert twice != once
        assert twice == reference_redact_text(reference_redact_text(text))


def test_headers_redact_as_before() -> None:
    _register_all()
    headers = {"Authorization": "Bearer x", "X-Trace": "Bearer abcdefghijklmnopqrstuvwxyz0123",
               "Location": "http://h/Patient/1?access_token=abc", "X-Echo": "pw7", "Content-Type": "application/json",
               "X-Auth-Token": "t", "Link": '<http://h/x?d=1>; rel="next"'}
    assert redact_headers(headers) == reference_redact_headers(headers)
    assert redact_headers(headers)["X-Echo"] == REDACTED


# -- one redaction per text ----------------------------------------------------------------------------------------

def _count_redactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts fully redacted (not answered from the cache) from now on, in order."""
    calls: list[str] = []
    real = redact._redact

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(redact, "_redact", counting)
    return calls


def test_report_writers_reuse_the_client_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"resourceType": "Bundle", "type": "searchset",
                       "entry": [{"resource": {"resourceType": "Patient", "id": str(i)}} for i in range(30)]})
    calls = _count_redactions(monkeypatch)
    evidence = imgconf.client._evidence(body)
    assert evidence == body
    allure_files._pretty(evidence, "application/fhir+json")
    html._body(evidence, "application/fhir+json")
    assert calls.count(body) == 1


def test_cache_is_bounded_in_characters_and_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact._CACHE_LARGEST < redact._CACHE_CHARS
    max_chars, largest = 64 * 1024, 4 * 1024  # the real sizes, scaled down so that the test stays quick
    cache = LRUCache(maxsize=max_chars, getsizeof=redact._cache.getsizeof)
    monkeypatch.setattr(redact, "_cache", cache)
    monkeypatch.setattr(redact, "_CACHE_LARGEST", largest)
    big = '{"a": "' + "x" * largest + '"}'
    assert redact_text(big) == big
    assert big not in cache  # too big to cache: redacted every time, nothing else evicted
    deep = "[" * 199 + '{"password": "x"}' + "]" * 199  # short, but its redaction is indented 200 levels deep
    assert len(redact_text(deep)) > max_chars and deep not in cache
    for i in range(3 * max_chars // largest):
        redact_text(f'{{"n": {i}, "a": "' + "y" * ((largest - redact._CACHE_ENTRY_COST) // 2 - 40) + '"}')
    assert 0 < cache.currsize <= max_chars
    for i in range(2000):
        assert redact_text(f"short text {i}=1") == f"short text {i}=1"
    assert 0 < len(cache) <= max_chars // redact._CACHE_ENTRY_COST
    assert cache.currsize <= max_chars


def test_threads_redact_as_before() -> None:
    _register_all()
    texts = [t.replace("x", str(i)) for i in range(40) for t in EDGES]
    expected = [reference_redact_text(t) for t in texts]
    failures: list[str] = []

    def work(offset: int) -> None:
        for k in range(len(texts)):
            j = (k + offset) % len(texts)
            if redact_text(texts[j]) != expected[j]:
                failures.append(texts[j])

    threads = [threading.Thread(target=work, args=(n * 97,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


# -- generated texts -----------------------------------------------------------------------------------------------

_KEYS = st.sampled_from(sorted(SECRET_KEYS) + ["id", "note", "text", "D", "Password", "access_token ", "x"])
_PIECES = st.sampled_from([LONG_SECRET, *ODD_SECRETS, PEM, PEM[:40], "Bearer abcdefghijklmnopqrstuvwxyz0123",
                           "bearer tok", 'Bearer error="invalid_token"', "access_token=abc.def", "d=1&p=2",
                           "PASSWORD=x", "-----BEGIN ", "[redacted]", "\\", '"', "/", "\n", "&", "=", "é", "\u2028",
                           "paſſword=", "Access_to\u212aen=", "clİent_secret=", '"qi": 1', "dp=", "ı"])
_WORDS = st.one_of(_PIECES, st.text(max_size=12))
_STRINGS = st.lists(_WORDS, max_size=5).map("".join)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _STRINGS),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=4),
                               children.map(json.dumps)),  # JSON inside a string
    max_leaves=12,
)


@st.composite
def _texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["json", "json-ascii", "json-slash", "truncated", "form", "free"]))
    if kind == "form":
        pairs = draw(st.lists(st.tuples(_KEYS, _STRINGS), min_size=1, max_size=4))
        return "&".join(f"{k}={v}" for k, v in pairs)
    if kind == "free":
        return draw(_STRINGS)
    data = draw(st.one_of(st.dictionaries(_KEYS, _JSON, max_size=5), st.lists(_JSON, max_size=4)))
    text = json.dumps(data, ensure_ascii=kind == "json-ascii", indent=draw(st.sampled_from([None, 2])))
    if kind == "json-slash":
        text = text.replace("/", "\\/")
    if kind == "truncated":
        text = text[:draw(st.integers(0, len(text)))]
    return text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts())
def test_generated_texts_redact_as_before(text: str) -> None:
    _register_all()  # the same secrets every example (registering again changes nothing)
    _agree(text)
    _agree(reference_redact_text(text))


def test_a_bundle_without_secret_shapes_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    _register_all()
    bundle = json.dumps({"resourceType": "Bundle", "type": "searchset", "link": [
        {"relation": "self", "url": "http://h/fhir/ImagingStudy?_id=1&_count=2"}], "entry": [
        {"resource": {"resourceType": "ImagingStudy", "id": "1", "text": {"div": '<div xmlns="x">a "quoted" word</div>'}}}]})
    assert "\\" in bundle  # the narrative's quotes are escaped: the decoded text is searched too

    def refuse(_body: str) -> str | None:
        raise AssertionError("walked")

    monkeypatch.setattr(redact, "_redact_json", refuse)
    assert redact_text(bundle) == bundle
    with pytest.raises(AssertionError, match="walked"):
        redact_text(bundle.replace('"id": "1"', '"d": "1"'))  # a JWK member name: the full redaction


def test_the_lowered_text_shows_every_case_variant_the_patterns_accept() -> None:
    # The shortcut looks for the case-insensitive names in str.lower(text) unless one of _FOLDS_TO_ASCII
    # occurs: no other character may match an ASCII letter under re.IGNORECASE or lower to one.
    letter = re.compile("[a-z]", re.IGNORECASE)
    odd = {chr(c) for c in range(0x80, 0x110000)
           if letter.fullmatch(chr(c)) or any("a" <= x <= "z" for x in chr(c).lower())}
    assert odd == set(redact._FOLDS_TO_ASCII)


# -- secrets registered while texts are cached ------------------------------------------------------------------

def test_a_stale_entry_is_reused_only_where_the_new_secrets_cannot_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_redactions(monkeypatch)
    plain = '{"resourceType": "Bundle", "type": "searchset", "total": 0}'
    holding = '{"resourceType": "Bundle", "id": "tok-AbC_123-xyz.Q9"}'
    escaped = '{"resourceType": "Bundle", "id": "x", "note": "a \\"b\\""}'
    for text in (plain, holding, escaped):
        redact_text(text)
    secret_registry.register("tok-AbC_123-xyz.Q9")  # an access token: plain characters
    for text in (plain, holding, escaped):
        assert redact_text(text) == reference_redact_text(text)
    assert calls.count(plain) == 1  # reused: the token cannot occur in it or in anything made from it
    assert calls.count(holding) == 2 and "tok-AbC" not in redact_text(holding)
    assert calls.count(escaped) == 2  # an escape could decode into new neighbours: redacted again


# Each body is re-serialised by the walk (a secret member): 1e5 is written 100000.0, the member "[redacted]".
_WRITES = '{"n": [1e5, true], "password": "pw", "note": "with space secret"}'


@pytest.mark.parametrize(("secret", "body"), [
    ("100000.0", _WRITES), ("0.0001", _WRITES.replace("1e5", "1e-4")), ("redact", _WRITES),
    ("with space secret", _WRITES), (',\n  "note', '{"password": "pw", "note": "x"}'),
    ('quo"ted-secret', '{"password": "pw", "note": "quo\\"ted-secret"}')])
def test_secrets_a_redaction_can_write_make_a_stale_entry_be_redacted_again(secret: str, body: str) -> None:
    redact_text(body)
    secret_registry.register(secret)
    cached_before = redact._cache[body].text
    assert redact_text(body) == reference_redact_text(body)
    assert redact_text(body) != cached_before  # the new secret is found in what the redaction wrote


_LATE_SECRETS = st.sampled_from(["tok-AbC_123-xyz.Q9", "Zm9vYmFyYmF6", "abc", "100000.0", "redact", "1e5",
                                 "sla/sh-secret-77", "null", "with space secret", 'quo"te-secret-1', "pw7", "%2Fx%3D"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 3), st.one_of(st.none(), _LATE_SECRETS)), min_size=1, max_size=12),
       texts=st.lists(_texts(), min_size=1, max_size=4),
       extra=st.lists(_LATE_SECRETS, max_size=3))
def test_texts_redacted_between_registrations_redact_as_before(
        steps: list[tuple[int, str | None]], texts: list[str], extra: list[str]) -> None:
    secret_registry.clear()
    # the late secrets inside the texts too, so that some registrations do concern them
    texts = [t + (" " + " ".join(extra) if extra else "") if i % 2 else t for i, t in enumerate(texts)]
    for index, secret in steps:
        text = texts[index % len(texts)]
        assert redact_text(text) == reference_redact_text(text), text
        if secret is not None:
            secret_registry.register(secret)

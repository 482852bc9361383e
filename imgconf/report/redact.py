"""Last line of defence against secrets in written reports.

Two nets: by shape (credential header names, OAuth/JWK member names, PEM blocks, bearer values)
and by value (:mod:`imgconf.secret_registry`: every secret the run holds, whatever carries it).

The HTTP client redacts exchanges before they are recorded; this module repeats the job on
everything a report writer puts on disk, because a report gets emailed to customers and a single
missed token or private key there is a real leak.

Cost: the result for a whole text is cached (keyed by the text and the registry's generation), so the
client and the two report writers redact a body once; a text with no hint of a secret's shape is only
scrubbed by value (_scrub_if_shape_free). Both give exactly what the full redaction gives
(tests/test_redact_cache.py against the frozen tests/redact_reference.py).
"""

from __future__ import annotations

import re
import threading
from typing import Any, NamedTuple

from cachetools import LRUCache

from imgconf import secret_registry
from imgconf.jsonsafe import loads_bounded
from imgconf.report.indented import indented_json
from imgconf.secret_registry import REDACTED, scrub

_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
# Vendor headers carrying credentials under other names (X-Auth-Token, X-Client-Secret, …).
_SECRET_HEADER_RE = re.compile(r"token|secret|password|api[-_]?key", re.IGNORECASE)

# OAuth/SMART secrets plus the private members of a JWK (RFC 7518 §6.2.2, §6.3.2).
_LONG_KEYS = ("access_token", "refresh_token", "id_token", "client_assertion", "client_secret",
              "password", "private_key")
_JWK_PRIVATE = ("d", "p", "q", "dp", "dq", "qi")
SECRET_KEYS = frozenset(_LONG_KEYS + _JWK_PRIVATE)

_ALT = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
# "key": "value" in JSON-looking text, also when the body is truncated mid-string.
_JSON_PAIR_RE = re.compile(rf'("(?:{_ALT})"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|$)', re.DOTALL)
_JSON_SCALAR_RE = re.compile(rf'("(?:{_ALT})"\s*:\s*)(-?\d[\d.eE+-]*|true|false)')
# key=value in free text, URLs and form bodies; the one-letter JWK names only in form bodies.
_LONG_ALT = "|".join(_LONG_KEYS)
_KV_RE = re.compile(rf"(?<![\w-])((?:{_LONG_ALT})=)[^&\s\"'<>]+", re.IGNORECASE)
_PEM_RE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
# Skip auth-params such as `Bearer error="invalid_token"` or `Bearer realm="x"`.
_BEARER_RE = re.compile(r'(\bBearer\s+)(?![A-Za-z_]+=")([A-Za-z0-9\-._~+/]+=*)', re.IGNORECASE)
_FORM_RE = re.compile(r"^[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*$")
_FORM_PAIR_RE = re.compile(rf"(^|&)({_ALT})=[^&]*")

# What each pattern above (and the key test of _walk) needs somewhere in the text, in a decoded string of a JSON
# body, or in a JSON text inside such a string at any depth (where its quotes are written \" or \\\"), found by
# str searches (re scans every position: ten times slower); a superset of the exact conditions, as it may be:
# a PEM header; a one-letter-or-two JWK name after a quote or & (or at the start) and before a quote, a backslash
# or =; and in any case (str.lower, which shows what re.IGNORECASE matches except where one of the characters
# it folds into ASCII letters occurs) a piece of every long secret name, and bearer.
_JWK_HINT_RE = re.compile(r'["&][dpq][pqi]?(?:\\*"|=)')
_JWK_AT_START = tuple(f"{key}=" for key in _JWK_PRIVATE)
_LONG_KEY_PIECES = ("_token", "client_", "password", "private_key", "bearer")
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f", "\u212a")  # İ ı ſ K (Kelvin)
# The JSON escapes other than \u: one character each, so unescaping them keeps every decoded string whole.
_SHORT_ESCAPE_RE = re.compile(r'\\(["\\/bfnrt])')
_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# Secret forms that can reach a text the redaction makes only from the text itself (see _unchanged_by): an
# access token (base64url, percent-encoded), not a number (a float is re-spelt when a body is re-serialised),
# not part of what the redaction writes as words.
_PLAIN_FORM_RE = re.compile(r"[A-Za-z0-9._~+/=%-]+")
_NUMBER_LIKE_RE = re.compile(r"[0-9.eE+-]+")
_WRITTEN_WORDS = (REDACTED, "-Infinity", "NaN", "true", "false", "null")

# Redactions of whole texts, so the client and the two report writers do not redact one body three times.
_CACHE_CHARS = 16 * 1024 * 1024  # keys and results together: a full run's bodies are about a fifth of it
_CACHE_ENTRY_COST = 1024  # charged on top of the characters: bounds the number of entries too
_CACHE_LARGEST = _CACHE_CHARS // 16  # a bigger entry is redacted every time rather than flush the cache


class _Redaction(NamedTuple):
    generation: int  # of the secret registry when the redaction began
    text: str
    cost: int


_cache: LRUCache[str, _Redaction] = LRUCache(maxsize=_CACHE_CHARS, getsizeof=lambda entry: entry.cost)
_cache_lock = threading.Lock()  # cases run on threads (--concurrency); cachetools caches are not thread-safe


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Copy of ``headers`` with credential-bearing values replaced; other values get redact_text."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname in _SECRET_HEADERS or _SECRET_HEADER_RE.search(lname):
            out[name] = REDACTED
        else:
            out[name] = redact_text(str(value))
    return out


def redact_text(body: str | None) -> str:
    """Redact secrets in a JSON body, a form body or free text; ``None`` becomes ""."""
    if not body:
        return ""
    generation = secret_registry.generation()  # read first: a secret registered meanwhile makes the entry stale
    with _cache_lock:
        cached = _cache.get(body)
    if cached is not None:
        if cached.generation == generation:
            return cached.text
        # Stale: secrets were registered since (a run registers each access token it gets). Still the answer
        # where none of them can occur anywhere the redaction looks.
        added = secret_registry.added_since(cached.generation)
        if added is not None and _unchanged_by(body, added):
            with _cache_lock:
                _cache[body] = cached._replace(generation=generation)
            return cached.text
    text = _redact(body)
    # Not recorded as the redaction of its own result: redaction is not idempotent (a by-value replacement can
    # turn text into a form body or free a key=value; tests/test_redact_cache.py shows cases).
    cost = len(body) + len(text) + _CACHE_ENTRY_COST  # the redaction of a deep body is longer than the body
    if cost <= _CACHE_LARGEST:
        with _cache_lock:
            _cache[body] = _Redaction(generation, text, cost)
    return text


def _unchanged_by(body: str, forms: frozenset[str]) -> bool:
    """True only where registering ``forms`` cannot change the redaction of ``body``: none occurs in it, and
    none can occur in a text the redaction makes from it (scrub sees those too), because each is made only of
    characters none of its steps writes (JSON syntax and escapes, "[redacted]", a number spelt anew) and the
    body has no escape to decode into new neighbours."""
    if "\\" in body:
        return False
    return all(_PLAIN_FORM_RE.fullmatch(form) and not _NUMBER_LIKE_RE.fullmatch(form)
               and not any(form in written for written in _WRITTEN_WORDS) and form not in body for form in forms)


def _redact(body: str) -> str:
    if not _may_have_a_shape(body):
        return scrub(body)  # no net by shape can catch anything here (most strings of a JSON body): by value only
    if (scrubbed := _scrub_if_shape_free(body)) is not None:
        return scrubbed  # nothing for the walk or the patterns: the same result without them
    text = _redact_json(body)
    if text is None:
        text = _redact_form(body)
    text = _PEM_RE.sub(REDACTED, text)
    text = _JSON_PAIR_RE.sub(rf'\1"{REDACTED}"', text)
    text = _JSON_SCALAR_RE.sub(rf'\1"{REDACTED}"', text)
    text = _KV_RE.sub(rf"\1{REDACTED}", text)
    text = _BEARER_RE.sub(_bearer, text)
    return scrub(text)  # by value: every secret the run holds, whatever the field or header carrying it


def _may_have_a_shape(text: str) -> bool:
    """False only where none of the patterns of redact_text can match: each needs one of these (a JSON
    body's first character, a form's or key=value's "=", a JSON pair's quote, a PEM header, a Bearer)."""
    return (text.lstrip()[:1] in ("{", "[") or "=" in text or '"' in text or "-----BEGIN " in text
            or "bearer" in text.lower())


def _shape_hint(text: str) -> bool:
    """False only where no pattern of _redact and no key test of _walk can match (see _JWK_HINT_RE)."""
    if "-----BEGIN " in text or text.startswith(_JWK_AT_START) or _JWK_HINT_RE.search(text):
        return True
    if not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII):
        return True
    lowered = text.lower()
    return any(piece in lowered for piece in _LONG_KEY_PIECES)


def _scrub_if_shape_free(body: str) -> str | None:
    """scrub(body) where neither the patterns nor the walk of a JSON body can change anything (then that is
    the whole redaction), else None. Conservative: a false "may change" only costs the full redaction."""
    if _shape_hint(body):
        return None
    if body.lstrip()[:1] not in ("{", "["):
        return scrub(body)  # never walked: only the patterns (and a form's pairs) apply to it
    # The walk redacts decoded strings: they must hold neither a shape nor a secret (a secret scrubbed out
    # of one would re-serialise the whole body). With no \u escape, unescaping the short escapes leaves every
    # decoded string whole between quotes, so one search of that text covers them all. A backslash left after
    # unescaping may escape a JSON text inside a string, whose strings that text does not show decoded.
    if "\\" not in body:
        scrubbed = scrub(body)
        return scrubbed if scrubbed == body else None  # the decoded strings are the body's own characters
    if "\\u" in body:
        return None
    decoded = _SHORT_ESCAPE_RE.sub(lambda m: _SHORT_ESCAPES[m.group(1)], body)
    if "\\" in decoded or _shape_hint(decoded):
        return None
    return None if secret_registry.contains_secret(decoded) else scrub(body)


def _bearer(m: re.Match[str]) -> str:
    token = m.group(2)
    # Prose such as "Bearer token." is not a credential; real tokens are long or not all letters.
    if len(token) <= 20 and token.rstrip(".").isalpha():
        return m.group(0)
    return m.group(1) + REDACTED


def _redact_json(body: str) -> str | None:
    """Walk a JSON object/array; return the text (re-serialised only if something changed)."""
    stripped = body.lstrip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        data = loads_bounded(body)  # hostile nesting is not walked (JsonTooDeep is a ValueError)
    except ValueError:
        return None
    cleaned, changed = _walk(data)
    return indented_json(cleaned) if changed else body


def _walk(node: Any) -> tuple[Any, bool]:
    if isinstance(node, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in SECRET_KEYS and value not in (None, "", REDACTED):
                out[key], changed = REDACTED, True
            else:
                out[key], sub = _walk(value)
                changed |= sub
        return out, changed
    if isinstance(node, list):
        items = [_walk(v) for v in node]
        return [v for v, _ in items], any(c for _, c in items)
    if isinstance(node, str):
        red = _redact(node) if len(node) > 8 else node  # not cached: the strings of a body would crowd out bodies
        return red, red != node
    return node, False


def _redact_form(body: str) -> str:
    # Substitute in place rather than re-encode, so the evidence keeps its exact encoding.
    if not _FORM_RE.match(body.strip()):
        return body
    return _FORM_PAIR_RE.sub(rf"\1\2={REDACTED}", body)


def scrub_strings(node: Any) -> Any:
    """Every string in a JSON-like structure with the run's registered secrets replaced (by value).

    The plugin applies it to each case result where it is made (each xdist worker included), so the
    console, junit, allure and the controller's reports never receive a secret only a worker knew.
    """
    if isinstance(node, str):
        return scrub(node)
    if isinstance(node, dict):
        return {k: scrub_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [scrub_strings(v) for v in node]
    return node

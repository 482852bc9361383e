"""The report redaction as it was before its cache and its shape-free shortcut (imgconf/report/redact.py at
1cec237), frozen: the yardstick the new redact_text must equal byte for byte (tests/test_redact_cache.py,
benchmarks/bench_redact.py). Do not "fix" it; it is the old behaviour, right or wrong."""

from __future__ import annotations

import re
from typing import Any

from imgconf.jsonsafe import loads_bounded
from imgconf.report.indented import indented_json
from imgconf.secret_registry import REDACTED, scrub

_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
_SECRET_HEADER_RE = re.compile(r"token|secret|password|api[-_]?key", re.IGNORECASE)
_LONG_KEYS = ("access_token", "refresh_token", "id_token", "client_assertion", "client_secret",
              "password", "private_key")
_JWK_PRIVATE = ("d", "p", "q", "dp", "dq", "qi")
SECRET_KEYS = frozenset(_LONG_KEYS + _JWK_PRIVATE)
_ALT = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
_JSON_PAIR_RE = re.compile(rf'("(?:{_ALT})"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|$)', re.DOTALL)
_JSON_SCALAR_RE = re.compile(rf'("(?:{_ALT})"\s*:\s*)(-?\d[\d.eE+-]*|true|false)')
_LONG_ALT = "|".join(_LONG_KEYS)
_KV_RE = re.compile(rf"(?<![\w-])((?:{_LONG_ALT})=)[^&\s\"'<>]+", re.IGNORECASE)
_PEM_RE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
_BEARER_RE = re.compile(r'(\bBearer\s+)(?![A-Za-z_]+=")([A-Za-z0-9\-._~+/]+=*)', re.IGNORECASE)
_FORM_RE = re.compile(r"^[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*$")
_FORM_PAIR_RE = re.compile(rf"(^|&)({_ALT})=[^&]*")


def reference_redact_headers(headers: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname in _SECRET_HEADERS or _SECRET_HEADER_RE.search(lname):
            out[name] = REDACTED
        else:
            out[name] = reference_redact_text(str(value))
    return out


def reference_redact_text(body: str | None) -> str:
    if not body:
        return ""
    if not _may_have_a_shape(body):
        return scrub(body)
    text = _redact_json(body)
    if text is None:
        text = _redact_form(body)
    text = _PEM_RE.sub(REDACTED, text)
    text = _JSON_PAIR_RE.sub(rf'\1"{REDACTED}"', text)
    text = _JSON_SCALAR_RE.sub(rf'\1"{REDACTED}"', text)
    text = _KV_RE.sub(rf"\1{REDACTED}", text)
    text = _BEARER_RE.sub(_bearer, text)
    return scrub(text)


def _may_have_a_shape(text: str) -> bool:
    return (text.lstrip()[:1] in ("{", "[") or "=" in text or '"' in text or "-----BEGIN " in text
            or "bearer" in text.lower())


def _bearer(m: re.Match[str]) -> str:
    token = m.group(2)
    if len(token) <= 20 and token.rstrip(".").isalpha():
        return m.group(0)
    return m.group(1) + REDACTED


def _redact_json(body: str) -> str | None:
    stripped = body.lstrip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        data = loads_bounded(body)
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
        red = reference_redact_text(node) if len(node) > 8 else node
        return red, red != node
    return node, False


def _redact_form(body: str) -> str:
    if not _FORM_RE.match(body.strip()):
        return body
    return _FORM_PAIR_RE.sub(rf"\1\2={REDACTED}", body)

"""Every secret this process holds, so that redaction works by value, whatever carries it.

Secrets are registered where they are read or made: ``--header`` values, the password of a
``--target`` URL (and the Basic header made from it), private key material, client assertions,
access tokens. Redaction (:mod:`imgconf.report.redact`) replaces each of them wherever it appears —
evidence headers and bodies of any name, URLs, check reasons, log records — because a server may
echo a credential anywhere and a header name says nothing reliable about its value.

The registry is per process: pytest-xdist workers register what they read or receive themselves
(each parses the same options and config), and their case results are redacted before they are
sent to the controller.

Short values: a value shorter than ``MIN_SUBSTRING`` (6) characters is replaced only where it
stands alone — not next to a letter, digit or one of ``. _ ~ -`` — so a 4-character password does
not shred every word, number or IP address that contains it; longer values are replaced wherever
they occur. Values shorter than ``MIN_LENGTH`` (3) are not registered: they are no credential and
cannot be found safely (``X-Tenant: 1`` would redact every standalone 1). Empty values neither.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SUBSTRING = 6
MIN_LENGTH = 3
# Values of these headers describe the request, they do not authenticate it: not secrets.
_DESCRIPTIVE_HEADERS = frozenset({"accept", "accept-language", "accept-encoding", "content-type", "prefer",
                                  "cache-control", "user-agent"})

_lock = threading.Lock()
_long: list[str] = []  # replaced as substrings, longest first
_short: re.Pattern[str] | None = None  # whole-token matches of the short ones
_short_values: set[str] = set()
_all: set[str] = set()
# Bumped by every change of the registry: a redaction cached under an older generation is stale (report/redact.py)
# unless none of the forms added since could change it.
_generation = 0
_added: list[tuple[int, frozenset[str]]] = []  # (generation, forms it added) since the last clear
_cleared_at = 0  # the generation clear() made
_log_factory_installed = False


def _forms(value: str) -> set[str]:
    """The value and the spellings it takes on the way: URL-encoded, JSON-escaped."""
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], value.replace("/", "\\/")}
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(value: str | bytes | None) -> None:
    """Remember a secret (and its encoded spellings) for redaction; empty values are ignored."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not value or len(value.strip()) < MIN_LENGTH:
        return
    value = value.strip()
    global _short, _generation
    with _lock:
        new = _forms(value) - _all
        if not new:
            return
        _generation += 1
        _added.append((_generation, frozenset(new)))
        _all.update(new)
        for form in new:
            if len(form) >= MIN_SUBSTRING:
                _long.append(form)
            else:
                _short_values.add(form)
        _long.sort(key=len, reverse=True)
        if _short_values:
            alternatives = "|".join(re.escape(v) for v in sorted(_short_values, key=len, reverse=True))
            _short = re.compile(rf"(?<![A-Za-z0-9._~-])(?:{alternatives})(?![A-Za-z0-9._~-])")
    _install_log_redaction()


def register_header(name: str, value: str) -> None:
    """A header the user gave: its value is a secret unless the header only describes the request."""
    if name.strip().lower() in _DESCRIPTIVE_HEADERS:
        return
    register(value)
    scheme, _, credential = value.strip().partition(" ")
    if credential and scheme.isalpha():  # "Bearer x", "Basic x": the credential alone too
        register(credential)
        if scheme.lower() == "basic":
            _register_basic(credential)


def _register_basic(credential: str) -> None:
    try:
        user_pass = base64.b64decode(credential, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return
    register(user_pass.partition(":")[2])


def register_pem(text: str) -> None:
    """PEM key text: the whole of it and every base64 line, which is how it would leak in pieces."""
    register(text)
    for line in text.splitlines():
        if line.strip() and not line.startswith("-----"):
            register(line)


def generation() -> int:
    """A number that changes whenever a secret is registered or the registry is cleared."""
    return _generation


def added_since(generation: int) -> frozenset[str] | None:
    """The forms registered after ``generation``; None if the registry was cleared since (or before it)."""
    with _lock:
        if generation < _cleared_at:
            return None
        return frozenset().union(*(forms for g, forms in _added if g > generation))


def known() -> frozenset[str]:
    with _lock:
        return frozenset(_all)


def contains_secret(text: str) -> bool:
    return scrub(text) != text


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    if not text or not _all:
        return text
    with _lock:
        long_values, short = list(_long), _short
    for value in long_values:
        if value in text:
            text = text.replace(value, REDACTED)
    if short is not None:
        text = short.sub(REDACTED, text)
    return text


def clear() -> None:
    """Forget every secret (tests only)."""
    global _short, _generation, _cleared_at
    with _lock:
        _generation += 1
        _cleared_at = _generation
        _added.clear()
        _long.clear()
        _short_values.clear()
        _all.clear()
        _short = None


# -- log records ---------------------------------------------------------------------------------

def _install_log_redaction() -> None:
    """Every log record of this process (log file, captured logs in junit/allure/console) is scrubbed."""
    global _log_factory_installed
    if _log_factory_installed:
        return
    _log_factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _all:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is the logging module's business, not ours
                return record
            clean = scrub(message)
            if clean != message:
                record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)

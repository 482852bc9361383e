"""Escaping (search.html#escaping) and the string normalisation used by string search."""

from __future__ import annotations

import unicodedata

_ESCAPABLE = {",", "|", "$", "\\"}


def split_unescaped(value: str, sep: str) -> list[str]:
    """Split on `sep` where it is not preceded by a backslash escape; escapes are kept."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur.append(value[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def unescape(value: str) -> str:
    """Remove the backslash from `\\,` `\\|` `\\$` `\\\\`; other backslashes stay literal."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in _ESCAPABLE:
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, drop combining marks, casefold."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def exact_form(text: str) -> str:
    """Canonical composition so that `:exact` does not depend on the Unicode encoding form."""
    return unicodedata.normalize("NFC", text)

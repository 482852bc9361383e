"""Server text on the terminal: shown as text, never as markup or control sequences.

A CapabilityStatement named ``Acme FHIR [/]`` is rich markup (it crashed the CLI with a
MarkupError), and ``\\x1b]0;…`` or ``\\x1b[2J`` in a server's data would retitle or clear the
user's terminal. Everything that came from a server goes through :func:`plain` before the console.
"""

from __future__ import annotations

import re

from rich.markup import escape

# C0 controls except tab and newline, DEL, and C1 controls (0x80-0x9f: 8-bit CSI and friends).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """Control characters shown visibly (``\\x1b`` → ``\\x1b`` as four characters), never sent raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def plain(value: object) -> str:
    """Server text safe to embed in a rich markup string."""
    return escape(strip_controls(str(value)))

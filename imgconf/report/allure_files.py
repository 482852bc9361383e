"""What allure shows besides the per-case results: the Environment panel, the categories a reader
sorts problems by (SHALL failure, SHOULD warning, infrastructure error), and readable exchanges."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from imgconf.jsonsafe import loads_bounded
from imgconf.report.html import MAX_BODY_CHARS, binary_summary, header_content_type
from imgconf.report.indented import indented_json
from imgconf.report.junit import run_properties
from imgconf.report.redact import redact_text
from imgconf.results import Exchange

# allure-pytest marks a SHALL failure "failed" (CheckFailure is an AssertionError) and an unreachable
# target "broken" (TargetError); a SHOULD warning passes with the "SHOULD warning" tag.
CATEGORIES: list[dict[str, Any]] = [
    {"name": "SHALL failure", "matchedStatuses": ["failed"]},
    {"name": "Infrastructure error (not a conformance verdict)", "matchedStatuses": ["broken"]},
    {"name": "SHOULD warning", "matchedStatuses": ["passed", "failed"], "messageRegex": ".*SHOULD.*"},
    {"name": "Not run", "matchedStatuses": ["skipped"]},
]
WARNING_TAG = "SHOULD warning"


def _escape_property(text: str) -> str:
    """Java .properties: one line per key, backslashes escaped."""
    return str(text).replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")


def environment_properties(summary: dict[str, Any]) -> str:
    names = {
        "imgconf_outcome": "imgconf.outcome", "imgconf_target": "target", "imgconf_server": "server",
        "imgconf_edition": "edition", "imgconf_harness_version": "harness.version",
        "imgconf_selection": "imgconf.selection", "imgconf_incomplete": "imgconf.incomplete",
        "imgconf_interrupted": "imgconf.interrupted",
    }
    run = summary["run"]
    lines = []
    for key, value in run_properties(summary):
        if key == "imgconf_outcome":
            value = str(value).upper()
        lines.append(f"{names.get(key, key)}={_escape_property(value)}")
    lines.append(f"server.software={_escape_property(run['server_software'])}")
    lines.append(f"server.version={_escape_property(run['server_version'])}")
    lines.append(f"fhir.version={_escape_property(run['fhir_version'])}")
    return "\n".join(lines) + "\n"


def write_allure_files(directory: Path, summary: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "environment.properties").write_text(environment_properties(summary), encoding="utf-8")
    (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")


def _pretty(body: str | None, content_type: str) -> str:
    if not body:
        return ""
    if (binary := binary_summary(body, content_type)) is not None:
        return f"[binary body: {binary}]"
    text = redact_text(body)
    if text.lstrip()[:1] in ("{", "["):
        with contextlib.suppress(ValueError):  # not JSON after all: shown as sent
            text = indented_json(loads_bounded(text))
    return text[:MAX_BODY_CHARS]


def exchange_text(ex: Exchange) -> str:
    """One exchange as a readable attachment: request line, headers, pretty-printed JSON bodies."""
    return (
        f"{ex.method} {redact_text(ex.url)}\n"
        + "".join(f"{k}: {v}\n" for k, v in ex.request_headers.items())
        + (f"\n{_pretty(ex.request_body, header_content_type(ex.request_headers))}\n" if ex.request_body else "")
        + f"\n--- {ex.status if ex.status is not None else redact_text(ex.error or '')} ({ex.elapsed_ms} ms)\n"
        + "".join(f"{k}: {v}\n" for k, v in ex.response_headers.items())
        + (f"\n{_pretty(ex.response_body, header_content_type(ex.response_headers))}" if ex.response_body else "")
    )

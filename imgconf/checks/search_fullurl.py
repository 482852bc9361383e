"""REST-044: every entry of a searchset carries ``fullUrl``, the absolute URL of its resource (``[base]/[type]/[id]``).

Judged on every page read, for the entries that are resources with an id (``match`` and ``include``; an
OperationOutcome of mode ``outcome`` need not have one). The base is not compared with the URL the harness
used: a server behind a proxy may name its public base; what R4 asks is an absolute URL that names the resource.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from imgconf import catalogue
from imgconf.checks.base import CheckContext
from imgconf.results import CheckResult


def full_url_problem(entry: dict[str, Any]) -> str | None:
    """Why an entry's fullUrl is not the absolute URL of its resource; None when it is (or nothing is judged)."""
    resource = entry.get("resource")
    if not isinstance(resource, dict) or not resource.get("id") or not resource.get("resourceType"):
        return None
    if (entry.get("search") or {}).get("mode") == "outcome":
        return None
    name = f"{resource['resourceType']}/{resource['id']}"
    url = entry.get("fullUrl")
    if not isinstance(url, str) or not url:
        return f"{name} has no fullUrl"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{name}: fullUrl {url!r} is not absolute"
    if not parts.path.rstrip("/").endswith("/" + name):
        return f"{name}: fullUrl {url!r} does not end in /{name}"
    return None


def check_full_urls(ctx: CheckContext, pages: list[dict[str, Any]]) -> list[CheckResult]:
    problems = [p for page in pages for entry in page.get("entry") or []
                if isinstance(entry, dict) and (p := full_url_problem(entry))]
    entries = sum(len(page.get("entry") or []) for page in pages)
    level = catalogue.requirements()["REST-044"].level
    return [ctx.result(
        "search", not problems,
        (f"every entry ({entries}) has the absolute fullUrl of its resource" if not problems
         else f"{len(problems)} entries without the absolute URL of their resource as fullUrl: {'; '.join(problems[:5])}"),
        detail="full url", requirement=("REST-044",), level=level,
    )]

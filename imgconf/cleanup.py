"""``imgconf cleanup``: remove what a hard-stopped run left on a target, by its run tag.

Every resource a run creates carries ``meta.tag`` ``urn:imgconf:run|<tag>``. Cleanup searches each
resource type the target declares (plus the types the fixtures use) with ``_tag``, deletes newest
first (``meta.lastUpdated``: what a run made last may refer to what it made first) and repeats
until a search finds nothing more or nothing more can be deleted.

Safety: a resource is deleted only when its own ``meta.tag`` carries the run tag — a server that
ignores ``_tag`` and answers with everything loses nothing. ``--all-imgconf`` finds the run tags
with ``_tag=urn:imgconf:run|`` (R4 token search: any code of that system), again taking only tags
seen on the resources themselves, and leaves runs alone whose newest resource is younger than
``min_age`` (a run may still be going on).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from imgconf.client import TargetClient, TargetUnreachable
from imgconf.fixtures import RUN_TAG_SYSTEM, run_tags_of

log = logging.getLogger(__name__)

PAGE = 100
MAX_ROUNDS = 20  # each round removes up to PAGE per type; a stuck delete stops earlier (no progress)


@dataclass
class Tagged:
    rtype: str
    rid: str
    last_updated: str  # ISO text; "" when the server gave none (sorted last)
    tags: set[str]


@dataclass
class CleanupReport:
    deleted: dict[str, int] = field(default_factory=dict)  # tag -> resources deleted
    left: dict[str, list[str]] = field(default_factory=dict)  # tag -> Type/id still there
    skipped: dict[str, str] = field(default_factory=dict)  # tag -> why it was left alone
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.left.values()) and not self.problems


def resource_types(client: TargetClient, extra: Iterable[str] = ()) -> list[str]:
    """Types the target declares in its CapabilityStatement, plus ``extra`` (the fixtures' types)."""
    types = set(extra)
    try:
        caps = client.send("GET", "metadata").resource
    except TargetUnreachable as exc:
        log.warning("cleanup: GET metadata: %s", exc)
        caps = None
    rest = caps.get("rest") if isinstance(caps, dict) else None
    for server in rest if isinstance(rest, list) else []:
        resources = server.get("resource") if isinstance(server, dict) else None
        for res in resources if isinstance(resources, list) else []:
            if isinstance(res, dict) and isinstance(res.get("type"), str) and res["type"].isalnum():
                types.add(res["type"])
    return sorted(types)


def find_tagged(client: TargetClient, rtype: str, tag: str | None) -> list[Tagged]:
    """One search page of ``rtype`` tagged with ``tag`` (None: any imgconf run), checked on each resource."""
    value = f"{RUN_TAG_SYSTEM}|{tag}" if tag else f"{RUN_TAG_SYSTEM}|"
    try:
        found = client.send("GET", rtype, params=[("_tag", value), ("_count", str(PAGE))])
    except TargetUnreachable as exc:
        log.warning("cleanup: %s", exc)
        return []
    bundle = found.resource if found.status == 200 else None
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
            continue
        tags = run_tags_of(resource)
        rid = resource.get("id")
        if not tags or (tag and tag not in tags) or not isinstance(rid, str) or not rid:
            continue  # not ours, whatever the server thought the search meant
        meta = resource.get("meta")
        updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
        out.append(Tagged(rtype, rid, updated if isinstance(updated, str) else "", tags))
    return out


def _delete(client: TargetClient, item: Tagged) -> bool:
    try:
        result = client.send("DELETE", f"{item.rtype}/{item.rid}")
    except TargetUnreachable as exc:
        log.warning("cleanup: %s", exc)
        return False
    except Exception as exc:  # noqa: BLE001 — one hostile answer must not stop the clean-up
        log.warning("cleanup: DELETE %s/%s: %s", item.rtype, item.rid, exc)
        return False
    return result.status < 400 or result.status in (404, 410)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)  # 3.11+ reads a trailing Z
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def discover_tags(client: TargetClient, types: list[str]) -> dict[str, str]:
    """Run tags seen on the target → the newest ``lastUpdated`` of their resources (first page per type)."""
    newest: dict[str, str] = {}
    for rtype in types:
        for item in find_tagged(client, rtype, None):
            for tag in item.tags:
                newest[tag] = max(newest.get(tag, ""), item.last_updated)
    return newest


def remove_run(client: TargetClient, tag: str, types: list[str], report: CleanupReport,
               progress: Callable[[str], None] = lambda _: None) -> None:
    """Delete every resource of ``types`` tagged with ``tag``, newest first, round after round."""
    deleted = 0
    left: list[Tagged] = []
    for _ in range(MAX_ROUNDS):
        found = [item for rtype in types for item in find_tagged(client, rtype, tag)]
        if not found:
            left = []
            break
        found.sort(key=lambda t: t.last_updated, reverse=True)
        removed = [item for item in found if _delete(client, item)]
        deleted += len(removed)
        progress(f"{tag}: deleted {len(removed)} of {len(found)} found")
        left = [item for item in found if item not in removed]
        if not removed:  # nothing more can be deleted (refused, 409 …): stop, report what is left
            break
    report.deleted[tag] = report.deleted.get(tag, 0) + deleted
    report.left[tag] = [f"{t.rtype}/{t.rid}" for t in left]


def cleanup(client: TargetClient, *, tags: list[str] | None, all_imgconf: bool, extra_types: Iterable[str] = (),
            read_only_tags: Iterable[str] = (), min_age: dt.timedelta = dt.timedelta(minutes=30),
            progress: Callable[[str], None] = lambda _: None) -> CleanupReport:
    report = CleanupReport()
    types = resource_types(client, extra_types)
    read_only = set(read_only_tags)

    def remove(tag: str) -> None:
        if tag in read_only:
            report.skipped[tag] = "a read-only run: it created nothing"
        else:
            remove_run(client, tag, types, report, progress)

    for tag in tags or []:
        remove(tag)
    # Discovery sees one page per type; removing what it found lets the next round see further.
    for _ in range(MAX_ROUNDS if all_imgconf else 0):
        now = dt.datetime.now(dt.UTC)
        fresh = {t: n for t, n in discover_tags(client, types).items() if t not in report.deleted and t not in report.skipped}
        if not fresh:
            break
        for tag, newest in sorted(fresh.items()):
            when = _parse_time(newest) if newest else None
            if min_age and when is not None and now - when < min_age:
                report.skipped[tag] = f"its newest resource is from {newest}, younger than {min_age}; a run may still be going on"
            else:
                remove(tag)
    return report

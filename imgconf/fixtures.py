"""Fixture resources: loaded into the target on first use, tagged with the run, removed at the end.

A fixture is a JSON resource template under ``fixtures/`` (key = path without ``.json``, e.g.
``imagingstudy/ct-chest``). Templates reference each other with ``${fixture.<key>.id}`` and take
per-run DICOM UIDs from ``${uid.<name>}``; dependencies are created first. A Binary fixture also
offers ``size`` and ``hash`` (base64 SHA-1) of its bytes, for Attachment elements.

Every resource the run creates, fixture or not, carries the run tag in ``meta.tag`` and is tracked;
teardown deletes the tracked ones newest first, then sweeps the target for anything still tagged.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgconf.client import HttpResult, TargetClient, TargetUnreachable
from imgconf.concurrent_cases import map_concurrently
from imgconf.results import Exchange
from imgconf.suite.template import names_in, render

log = logging.getLogger(__name__)

RUN_TAG_SYSTEM = "urn:imgconf:run"
REFERENCED = (409, 412)  # a DELETE refused because another resource still refers to it (HAPI's referential integrity)
LOCATION_ID = re.compile(r"/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?/?$")


class FixtureError(Exception):
    """The target could not take a fixture; every case that needs it is an error, with evidence."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange


@functools.cache
def library(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """All fixture templates under a directory, by key. Read once per process."""
    templates: dict[str, dict[str, Any]] = {}
    for path in sorted(fixtures_dir.rglob("*.json")):
        key = path.relative_to(fixtures_dir).with_suffix("").as_posix()
        try:
            templates[key] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise FixtureError(f"{path}: not valid JSON ({exc})") from None
    return templates


def attachment_facts(data_b64: str) -> dict[str, Any]:
    """``size`` (bytes) and ``hash`` (base64 SHA-1, R4 Attachment.hash) of base64 content, so a
    DocumentReference fixture can describe a Binary fixture as ``${fixture.binary/x.size}``."""
    data = base64.b64decode(data_b64)
    return {"size": len(data), "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")}


def fixture_dependencies(template: Any) -> list[str]:
    return [name.removeprefix("fixture.").rsplit(".", 1)[0]
            for name in sorted(names_in(template)) if name.startswith("fixture.")]


def add_tag(resource: dict[str, Any], code: str) -> dict[str, Any]:
    tagged = copy.deepcopy(resource)
    tags = tagged.setdefault("meta", {}).setdefault("tag", [])
    if not any(t.get("system") == RUN_TAG_SYSTEM and t.get("code") == code for t in tags):
        tags.append({"system": RUN_TAG_SYSTEM, "code": code, "display": "created by an imgconf run"})
    return tagged


def id_from_response(result: HttpResult) -> tuple[str, str] | None:
    """(type, id) of a created resource, from Location or else the returned body."""
    location = result.header("Location") or result.header("Content-Location")
    if location:
        match = LOCATION_ID.search(location.split("?")[0])
        if match:
            return match.group("type"), match.group("id")
    body = result.resource
    if body and body.get("id"):
        return body["resourceType"], body["id"]
    return None


@dataclass
class FixtureManager:
    client: TargetClient
    run_tag: str
    fixtures_dir: Path
    lookup: Any  # callable(name) -> value, the session's variable namespace
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> resource as stored
    created: list[tuple[str, str]] = field(default_factory=list)  # (type, id) in creation order
    failures: dict[str, FixtureError] = field(default_factory=dict)
    bind_only: bool = False  # --read-only: read existing resources named by fixture.<key>.id, create nothing
    bindings: dict[str, str] = field(default_factory=dict)  # the user's --var values
    # Suite files running at the same time (imgconf.concurrent_cases) may ask for one fixture at once: one lock
    # per key creates it once. Locks are taken from a fixture to its dependencies only, so they cannot deadlock.
    _key_locks: dict[str, threading.RLock] = field(default_factory=dict, init=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def track(self, rtype: str, rid: str) -> None:
        with self._guard:
            if (rtype, rid) not in self.created:
                self.created.append((rtype, rid))

    def _lock_for(self, key: str) -> threading.RLock:
        with self._guard:
            return self._key_locks.setdefault(key, threading.RLock())

    def ready(self, keys: tuple[str, ...] | list[str]) -> bool:
        """Whether ensuring these keys would send nothing (each made, or its failure remembered)."""
        return all(key in self.loaded or key in self.failures for key in keys)

    def ensure(self, keys: tuple[str, ...] | list[str]) -> None:
        for key in keys:
            self._ensure_one(key, ())

    def _ensure_one(self, key: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if key in self.loaded:
            return self.loaded[key]
        with self._lock_for(key):
            return self._ensure_locked(key, chain)

    def _ensure_locked(self, key: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if key in self.loaded:  # made by another thread while this one waited
            return self.loaded[key]
        if key in self.failures:
            raise self.failures[key]
        if key in chain:
            raise FixtureError(f"fixture dependency cycle: {' -> '.join(chain + (key,))}")
        templates = library(self.fixtures_dir)
        if key not in templates:
            raise FixtureError(f"unknown fixture {key!r}")
        template = templates[key]
        if self.bind_only:
            self.loaded[key] = self._bind(key, template.get("resourceType", "Resource"))
            return self.loaded[key]
        for dep in fixture_dependencies(template):
            self._ensure_one(dep, chain + (key,))
        try:
            resource = add_tag(render(template, self.lookup), self.run_tag)
            self.loaded[key] = self._create(key, resource)
        except FixtureError as exc:
            self.failures[key] = exc
            raise
        return self.loaded[key]

    def _bind(self, key: str, rtype: str) -> dict[str, Any]:
        """Read-only runs: the fixture is an existing resource the user named with --var."""
        rid = self.bindings.get(f"fixture.{key}.id")
        if not rid:
            error = FixtureError(f"read-only run: fixture {key} is not bound; pass --var fixture.{key}.id=<id of an existing {rtype}>")
            self.failures[key] = error
            raise error
        try:
            result = self.client.send("GET", f"{rtype}/{rid}")
        except TargetUnreachable as exc:
            raise FixtureError(f"fixture {key}: {exc}", exc.exchange) from None
        if result.status != 200 or not result.resource:
            error = FixtureError(f"fixture {key}: GET {rtype}/{rid} answered {result.status}", result.exchange)
            self.failures[key] = error
            raise error
        return result.resource

    def _create(self, key: str, resource: dict[str, Any]) -> dict[str, Any]:
        rtype = resource["resourceType"]
        try:
            result = self.client.send("POST", rtype, json_body=resource, headers={"Prefer": "return=representation"})
        except TargetUnreachable as exc:
            raise FixtureError(f"fixture {key}: {exc}", exc.exchange) from None
        if result.status not in (200, 201):
            raise FixtureError(
                f"fixture {key}: the target answered {result.status} to POST {rtype}", result.exchange
            )
        ident = id_from_response(result)
        if ident is None:
            raise FixtureError(f"fixture {key}: the target created it but gave no Location or id", result.exchange)
        self.track(*ident)
        stored = result.resource if result.resource and result.resource.get("id") == ident[1] else None
        if stored is None:  # return=minimal or an empty body: read it back
            read = self.client.send("GET", f"{ident[0]}/{ident[1]}")
            stored = read.resource if read.status == 200 and read.resource is not None else {**resource, "id": ident[1]}
        return stored

    def value(self, key: str, attribute: str) -> Any:
        """``${fixture.<key>.<attribute>}``: id, ref (Type/id), url (absolute), or a top-level element."""
        resource = self._ensure_one(key, ())
        if attribute == "id":
            return resource["id"]
        if attribute == "ref":
            return f"{resource['resourceType']}/{resource['id']}"
        if attribute == "url":
            return f"{self.client.base_url}/{resource['resourceType']}/{resource['id']}"
        if attribute in ("size", "hash") and resource.get("resourceType") == "Binary":
            return attachment_facts(resource.get("data") or "")[attribute]
        if attribute in resource:
            return resource[attribute]
        raise KeyError(f"fixture.{key}.{attribute}")

    def teardown(self, resource_types: set[str] | None = None, budget_s: float | None = None, workers: int = 1) -> int:
        """Delete what the run created; return how many tagged resources are left on the target.

        Whatever the server answers, every tracked delete is tried (one failing delete never stops
        the others) and the sweep tolerates any shape; past ``budget_s`` seconds teardown stops and
        what is left is counted, so ``imgconf cleanup --run-tag`` can finish the job. With
        ``workers`` > 1 the deletes and the sweeps go out that many at a time (a distant target).
        """
        deadline = time.monotonic() + budget_s if budget_s else None
        newest_first = list(reversed(self.created))
        if workers > 1:
            undeleted = self._delete_in_waves(newest_first, workers, deadline)
        else:
            undeleted = 0
            for rtype, rid in newest_first:
                if deadline is not None and time.monotonic() > deadline:
                    undeleted += 1
                    continue
                if not self._delete_quietly(rtype, rid):
                    undeleted += 1
        types = sorted(set(resource_types or ()) | {t for t, _ in self.created})
        remaining, unswept = 0, []
        def sweep(rtype: str) -> int | None:
            return self._sweep_within(rtype, deadline)

        # Sequential: in this thread, in order, as ever.
        swept = map_concurrently(sweep, types, workers, "imgconf-sweep") if workers > 1 else [sweep(t) for t in types]
        for rtype, left in zip(types, swept, strict=True):
            if left is None:
                unswept.append(rtype)
            else:
                remaining += left
        if unswept:  # how many are left is unknown: at least the tracked ones not deleted, at least one
            log.warning("teardown: time budget of %.0f s spent; not swept: %s", budget_s, ", ".join(unswept))
            remaining = max(remaining + 1, undeleted)
        self.created.clear()
        self.loaded.clear()
        return remaining

    def _sweep_within(self, rtype: str, deadline: float | None) -> int | None:
        """What a sweep of ``rtype`` left (None: the time budget was spent before it started)."""
        if deadline is not None and time.monotonic() > deadline:
            return None
        try:
            return self._sweep(rtype)
        except Exception as exc:  # noqa: BLE001 — teardown must reach its end whatever the server sends
            log.warning("teardown: sweeping %s failed: %s", rtype, exc)
            return 1

    def _delete_in_waves(self, newest_first: list[tuple[str, str]], workers: int, deadline: float | None) -> int:
        """Concurrent deletes, newest first; a delete refused because something still refers to the resource
        (409/412) is tried again in the next wave, after the others are gone. Returns how many stayed."""
        pending, undeleted = newest_first, 0
        while pending:
            if deadline is not None and time.monotonic() > deadline:
                return undeleted + len(pending)
            answers = map_concurrently(lambda ident: self._delete_answer(*ident), pending, workers, "imgconf-teardown")
            referenced = [ident for ident, status in zip(pending, answers, strict=True) if status in REFERENCED]
            undeleted += sum(1 for status in answers if not _deleted(status) and status not in REFERENCED)
            if len(referenced) == len(pending):  # no progress: they refer to each other or to what others keep
                return undeleted + len(referenced)
            pending = referenced
        return undeleted

    def _delete_quietly(self, rtype: str, rid: str) -> bool:
        """One isolated delete: any failure is logged, never raised (the next delete must still run)."""
        return _deleted(self._delete_answer(rtype, rid))

    def _delete_answer(self, rtype: str, rid: str) -> int | None:
        """The status a DELETE got (None: no answer, or one that could not be read); never raises."""
        try:
            result = self.client.send("DELETE", f"{rtype}/{rid}")
        except TargetUnreachable as exc:
            log.warning("teardown: %s", exc)
            return None
        except Exception as exc:  # noqa: BLE001 — a hostile answer must not stop teardown
            log.warning("teardown: DELETE %s/%s: %s: %s", rtype, rid, type(exc).__name__, exc)
            return None
        return result.status

    def _sweep(self, rtype: str, rounds: int = 5) -> int:
        """Delete anything of a type still tagged with this run (resources made by cases, retries).

        Only resources whose own ``meta.tag`` carries this run's tag are deleted: a server that
        ignores ``_tag`` and answers with everything must not lose its data to the sweep.
        """
        left = 0
        for _ in range(rounds):
            try:
                found = self.client.send("GET", rtype, params=[("_tag", f"{RUN_TAG_SYSTEM}|{self.run_tag}"), ("_count", "100")])
            except TargetUnreachable:
                return left
            ids = tagged_ids(found.resource if found.status == 200 else None, rtype, self.run_tag)
            left = len(ids)
            if not ids:
                return 0
            for rid in ids:
                self._delete_quietly(rtype, rid)
        return left


def _deleted(status: int | None) -> bool:
    return status is not None and (status < 400 or status in (404, 410))


def run_tags_of(resource: Any) -> set[str]:
    """The imgconf run tags in a resource's ``meta.tag`` (any shape tolerated)."""
    meta = resource.get("meta") if isinstance(resource, dict) else None
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return {
        t["code"] for t in (tags if isinstance(tags, list) else [])
        if isinstance(t, dict) and t.get("system") == RUN_TAG_SYSTEM and isinstance(t.get("code"), str)
    }


def tagged_ids(bundle: Any, rtype: str, run_tag: str) -> list[str]:
    """Ids of the ``rtype`` entries of a search Bundle that carry ``run_tag`` (any shape tolerated)."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    ids = []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
            continue
        rid = resource.get("id")
        if isinstance(rid, str) and rid and run_tag in run_tags_of(resource):
            ids.append(rid)
    return ids

"""SQLite storage for the reference server: current versions plus the full history.

One connection shared by all threads behind an RLock (sqlite3 objects are not thread-safe by
themselves); WAL so another process can read the same file. `lock` is public so the app can
make check-then-write sequences (conditional create, If-Match) atomic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    type TEXT NOT NULL, id TEXT NOT NULL, version_id INTEGER NOT NULL,
    last_updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, json TEXT,
    PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS history (
    type TEXT NOT NULL, id TEXT NOT NULL, version_id INTEGER NOT NULL,
    last_updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, json TEXT,
    method TEXT NOT NULL,
    PRIMARY KEY (type, id, version_id)
);
"""


@dataclass(frozen=True)
class Version:
    type: str
    id: str
    version_id: int
    last_updated: str  # FHIR instant, UTC, millisecond precision
    deleted: bool
    resource: dict[str, Any] | None  # None for a deletion
    method: str = ""  # POST | PUT | DELETE (history only)


class PreconditionFailed(Exception):
    """If-Match did not name the current version."""


def new_id() -> str:
    return uuid.uuid4().hex  # 32 chars of [0-9a-f]: a valid FHIR id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    def __init__(self, db_path: Path) -> None:
        db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.path = db_path
        self.lock = threading.RLock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._last_stamp = ""

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def _stamp(self) -> str:
        # Strictly increasing lastUpdated so that _sort=_lastUpdated is deterministic.
        stamp = _now()
        if stamp <= self._last_stamp:
            prev = datetime.fromisoformat(self._last_stamp)  # 3.11+ reads a trailing Z
            stamp = (prev + timedelta(milliseconds=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._last_stamp = stamp
        return stamp

    def _write(self, rtype: str, rid: str, vid: int, resource: dict[str, Any] | None, method: str) -> Version:
        stamp = self._stamp()
        if resource is not None:
            resource = dict(resource, id=rid)
            meta = dict(resource.get("meta") or {})
            meta.update(versionId=str(vid), lastUpdated=stamp)
            resource["meta"] = meta
        body = json.dumps(resource, ensure_ascii=False, separators=(",", ":")) if resource is not None else None
        deleted = 1 if resource is None else 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO resources VALUES (?,?,?,?,?,?)", (rtype, rid, vid, stamp, deleted, body)
            )
            self._db.execute(
                "INSERT INTO history VALUES (?,?,?,?,?,?,?)", (rtype, rid, vid, stamp, deleted, body, method)
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return Version(rtype, rid, vid, stamp, bool(deleted), resource, method)

    def create(self, rtype: str, resource: dict[str, Any]) -> Version:
        with self.lock:
            return self._write(rtype, new_id(), 1, resource, "POST")

    def update(self, rtype: str, rid: str, resource: dict[str, Any], if_match: int | None = None) -> tuple[Version, bool]:
        """Store a new version; returns (version, created). Raises PreconditionFailed."""
        with self.lock:
            cur = self.read(rtype, rid)
            if if_match is not None and (cur is None or cur.deleted or cur.version_id != if_match):
                raise PreconditionFailed
            vid = cur.version_id + 1 if cur else 1
            created = cur is None or cur.deleted
            return self._write(rtype, rid, vid, resource, "PUT"), created

    def delete(self, rtype: str, rid: str) -> Version | None:
        """Mark deleted; None when there is no live resource."""
        with self.lock:
            cur = self.read(rtype, rid)
            if cur is None or cur.deleted:
                return None
            return self._write(rtype, rid, cur.version_id + 1, None, "DELETE")

    def read(self, rtype: str, rid: str) -> Version | None:
        with self.lock:
            row = self._db.execute(
                "SELECT version_id, last_updated, deleted, json FROM resources WHERE type=? AND id=?", (rtype, rid)
            ).fetchone()
        return _version(rtype, rid, row) if row else None

    def vread(self, rtype: str, rid: str, vid: int) -> Version | None:
        with self.lock:
            row = self._db.execute(
                "SELECT version_id, last_updated, deleted, json, method FROM history "
                "WHERE type=? AND id=? AND version_id=?", (rtype, rid, vid),
            ).fetchone()
        return _version(rtype, rid, row) if row else None

    def history(self, rtype: str, rid: str) -> list[Version]:
        """All versions, newest first."""
        with self.lock:
            rows = self._db.execute(
                "SELECT version_id, last_updated, deleted, json, method FROM history "
                "WHERE type=? AND id=? ORDER BY version_id DESC", (rtype, rid),
            ).fetchall()
        return [_version(rtype, rid, r) for r in rows]

    def all_current(self, rtype: str) -> list[dict[str, Any]]:
        """Every live resource of a type, oldest first (the default search order)."""
        with self.lock:
            rows = self._db.execute(
                "SELECT json FROM resources WHERE type=? AND deleted=0 ORDER BY last_updated, id", (rtype,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def get(self, reference: str) -> dict[str, Any] | None:
        """Resolve a relative `Type/id` to the live resource (the search resolver)."""
        parts = reference.split("/")
        if len(parts) != 2:
            return None
        v = self.read(parts[0], parts[1])
        return v.resource if v and not v.deleted else None


def _version(rtype: str, rid: str, row: tuple[Any, ...]) -> Version:
    method = row[4] if len(row) > 4 else ""
    return Version(rtype, rid, int(row[0]), row[1], bool(row[2]), json.loads(row[3]) if row[3] else None, method)

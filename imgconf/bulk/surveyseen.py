"""The ids the survey validated ("Type/id"), in bounded memory.

Why kept at all: a server paging by offset while its data changes repeats resources across pages, and none
may be validated (or counted) twice. Why bounded: a Python set costs ~140 bytes per id, 140 MB per million
resources — a sweep of a national archive would grow without limit.

So, as the UID index does (imgconf.bulk.surveyindex): the first ``memory_ids`` ids go to an in-memory set
(pickled with the survey state, as before); then the set is frozen and every later id goes to a table in an
SQLite file in the report folder (stdlib; one indexed lookup per match entry, microseconds beside an HTTP
page). An id is in exactly one of the two places.

Resumable: rows are numbered 1, 2, … as they are added and committed at each checkpoint, whose count the
survey state keeps. A resume deletes the rows past that count (what was validated after the checkpoint is
read and validated again, so it must not be "seen"); a file with fewer rows than the state counts (removed,
replaced) cannot be resumed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from imgconf.bulk.surveyindex import SpoolMissing

MEMORY_IDS = 500_000  # ~70 MB of "Type/id" strings in memory before later ids go to the disk table
SEEN_DB = "seen-ids.sqlite"


class SurveySeen:
    def __init__(self, memory: set[str], path: Path, *, memory_ids: int = MEMORY_IDS, spooled: int = 0) -> None:
        self.memory = memory  # the state's set: pickled with it at every checkpoint
        self.path = path
        self.memory_ids = memory_ids
        self.spooled = spooled  # rows in the disk table (the committed ones and those added since)
        self._db: sqlite3.Connection | None = None
        if spooled:
            self._open()  # a resume: the table must hold what the state counts

    def _open(self) -> None:
        if self.spooled and not self.path.exists():
            raise SpoolMissing(f"{self.path}: missing (the state counts {self.spooled} ids spooled there)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS seen (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE)")
            db.execute("DELETE FROM seen WHERE n > ?", (self.spooled,))  # added after the checkpoint: not seen
            (rows,) = db.execute("SELECT count(*) FROM seen").fetchone()
            db.commit()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise SpoolMissing(f"{self.path}: not the survey's table of ids ({exc})") from None
        if rows != self.spooled:
            db.close()
            raise SpoolMissing(f"{self.path}: {rows} ids, the state counts {self.spooled} (the file was changed)")
        self._db = db

    def __contains__(self, key: str) -> bool:
        if key in self.memory:
            return True
        return self._db is not None and self._db.execute("SELECT 1 FROM seen WHERE id = ?", (key,)).fetchone() is not None

    def add(self, key: str) -> None:
        if key in self:
            return
        if self._db is None and len(self.memory) < self.memory_ids:
            self.memory.add(key)
            return
        if self._db is None:
            self._open()
        assert self._db is not None
        self.spooled += 1
        self._db.execute("INSERT INTO seen (n, id) VALUES (?, ?)", (self.spooled, key))

    def on_disk(self) -> bool:
        return self._db is not None

    def checkpoint(self) -> int:
        """Everything added so far committed; the count the survey state keeps."""
        if self._db is not None:
            self._db.commit()
        return self.spooled

    def close(self) -> None:
        """Without a commit: what came after the last checkpoint is not kept (the state does not count it)."""
        if self._db is not None:
            self._db.close()
            self._db = None

"""The way back after a hard stop: every run that may write is noted in ``reports/.imgconf-runs.json``.

When a run is killed (SIGKILL, a second Ctrl-C during a slow teardown, a crashed CI runner) its
teardown never finishes. The note says which run tag was used against which target, so
``imgconf cleanup`` can remove what the run left. Only the base URL without userinfo or query is
written — never a credential. Workers of one run (pytest-xdist) add their own tags to the same file,
under a file lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

STATE_FILE = ".imgconf-runs.json"
MAX_RUNS_KEPT = 200  # the oldest notes are dropped beyond this


def public_url(url: str) -> str:
    """``url`` without userinfo, query or fragment (what may be written to disk)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # Windows: single-process runs only write here one at a time anyway
            pass
        yield


def read_runs(reports_dir: Path) -> list[dict[str, Any]]:
    """The notes, oldest first; an unreadable file reads as no notes."""
    path = reports_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    runs = data.get("runs") if isinstance(data, dict) else None
    return [r for r in runs if isinstance(r, dict) and isinstance(r.get("tag"), str)] if isinstance(runs, list) else []


def _update(reports_dir: Path, change: Any) -> None:
    path = reports_dir / STATE_FILE
    with _locked(path):
        runs = read_runs(reports_dir)
        change(runs)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"runs": runs[-MAX_RUNS_KEPT:]}, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def record_start(reports_dir: Path, tag: str, target: str, *, read_only: bool, embedded: bool) -> None:
    entry = {
        "tag": tag,
        "target": public_url(target),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "read_only": read_only,
        "embedded": embedded,  # the embedded server dies with the run: nothing to clean up there
        "finished": False,
    }

    def change(runs: list[dict[str, Any]]) -> None:
        runs[:] = [r for r in runs if r["tag"] != tag] + [entry]
    _update(reports_dir, change)


def record_end(reports_dir: Path, tag: str, remaining: int | None) -> None:
    def change(runs: list[dict[str, Any]]) -> None:
        for run in runs:
            if run["tag"] == tag:
                run["finished"] = True
                run["teardown_remaining"] = remaining  # None: teardown was cut short, count unknown
    _update(reports_dir, change)


def find_run(reports_dir: Path, tag: str) -> dict[str, Any] | None:
    return next((r for r in reversed(read_runs(reports_dir)) if r["tag"] == tag), None)

"""The fixtures as any run stores them: every per-run value replaced by a fixed, id-free stand-in.

What a run's fixtures hold besides the templates' fixed text changes from run to run: the ids the
server assigns (and every reference, absolute URL and bare id built from them), the DICOM UIDs and
UUIDs the session derives from the run tag, the run tag itself, ``meta.lastUpdated``/``versionId``.
Candidate lists built from those values change length and order with them (a prefix of one UID
coincides with another's, two resources share a second of ``lastUpdated``), and with the lists the
Hypothesis choice stream a seed gives. The generator therefore decides the SHAPE of every candidate
list (what is kept, in which order, which duplicates are dropped) on this canonical copy, whose
values depend only on the fixture keys and the document structure, and renders the concrete value
of the same position from the real one (``strategies._finish``).

Replacement keeps the JSON structure (only whole strings change), so a search parameter extracts
the same number of values, in the same order, from both copies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from imgconf.fixtures import RUN_TAG_SYSTEM
from imgconf.fuzz.capability import Universe

CANONICAL_BASE = "http://canonical.invalid/fhir"
# A mid-day, mid-month instant: the same dates near it are zone-dependent (REST-073) in every run.
CANONICAL_INSTANT = datetime(2000, 6, 15, 12, 0, 0, tzinfo=UTC)
CANONICAL_RUN_TAG = "canonical-run-tag"
_PER_RUN_UID = re.compile(r"^(urn:oid:)?2\.25\.\d+$")  # session.dicom_uid_for: 2.25.<UUID as integer>
_UUID = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MIN_BARE_ID = 8  # a bare string equal to an id is replaced only when the id cannot be an ordinary value ("1")


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:60] or "x"


class _Canonicalizer:
    def __init__(self, universe: Universe) -> None:
        self.base = universe.base_url.rstrip("/")
        self.refs: dict[str, str] = {}  # "Type/id" -> "Type/<canonical id>"
        self.ids: dict[str, str] = {}
        used: set[str] = set()
        for key in sorted(universe.resources):
            res = universe.resources[key]
            rtype, rid = res.get("resourceType"), res.get("id")
            if not (isinstance(rtype, str) and isinstance(rid, str)):
                continue
            canon = _slug(key)
            while canon in used:
                canon += "-x"
            used.add(canon)
            self.refs[f"{rtype}/{rid}"] = f"{rtype}/{canon}"
            self.ids[rid] = canon
        self.run_tags = {tag["code"] for res in universe.resources.values()
                         for tag in (res.get("meta") or {}).get("tag") or []
                         if isinstance(tag, dict) and tag.get("system") == RUN_TAG_SYSTEM and isinstance(tag.get("code"), str)}
        self.uids: dict[str, str] = {}  # per-run UID (digits) -> canonical digits, by first occurrence
        self.uuids: dict[str, str] = {}

    def reference(self, text: str) -> str | None:
        """A relative or absolute reference to a fixture (optionally versioned), canonical; else None."""
        absolute = text.startswith(self.base + "/")
        rel = text[len(self.base) + 1:] if absolute else text
        parts = rel.split("/")
        if len(parts) < 2 or f"{parts[0]}/{parts[1]}" not in self.refs:
            return None
        head = self.refs[f"{parts[0]}/{parts[1]}"]
        if len(parts) == 2:
            tail = ""
        elif len(parts) == 4 and parts[2] == "_history":
            tail = "/_history/1"  # a version is per run too
        else:
            return None
        return f"{CANONICAL_BASE}/{head}{tail}" if absolute else f"{head}{tail}"

    def text(self, value: str) -> str:
        if (ref := self.reference(value)) is not None:
            return ref
        for tag in self.run_tags:  # also inside a value: identifiers made unique per run (PID-<run tag>-0101)
            if len(tag) >= _MIN_BARE_ID and tag in value:
                value = value.replace(tag, CANONICAL_RUN_TAG)
        if (m := _PER_RUN_UID.match(value)) is not None:
            digits = value.removeprefix("urn:oid:").removeprefix("2.25.")
            canon = self.uids.setdefault(digits, str(10**30 + len(self.uids)))
            return f"{m.group(1) or ''}2.25.{canon}"
        if _UUID.match(value):
            canon = self.uuids.setdefault(value.lower(), f"{len(self.uuids):012d}")
            return f"urn:uuid:00000000-0000-4000-8000-{canon}"
        if len(value) >= _MIN_BARE_ID and value in self.ids:
            return self.ids[value]
        if value.startswith(self.base + "/"):
            return CANONICAL_BASE + value[len(self.base):]
        return value

    def walk(self, node: Any) -> Any:
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        if isinstance(node, dict):
            return {k: self.walk(v) for k, v in node.items()}
        return node

    def resource(self, position: int, res: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self.walk(res)
        rid = res.get("id")
        if isinstance(rid, str) and rid in self.ids:
            out["id"] = self.ids[rid]
        meta = out.get("meta")
        if isinstance(meta, dict):
            if "lastUpdated" in meta:  # one second apart, in fixture-key order: distinct, as they usually are
                stamp = CANONICAL_INSTANT + timedelta(seconds=position)
                meta["lastUpdated"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            if "versionId" in meta:
                meta["versionId"] = "1"
        return out


def canonical_universe(universe: Universe) -> Universe:
    """The universe with every per-run value replaced (module doc); same keys, same JSON structure."""
    canon = _Canonicalizer(universe)
    resources = {key: canon.resource(i, universe.resources[key]) for i, key in enumerate(sorted(universe.resources))}
    return Universe(resources, CANONICAL_BASE)

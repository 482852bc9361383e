"""The survey's cross-resource UID index (DICOM-012/013) in bounded memory.

``imgconf validate -j`` spools every claim to disk and reads the two resources of a conflict back
from its input files (imgconf.bulk.uidspool). A survey has no input file, and most surveys are small,
so: the first ``memory_uids`` UIDs go to an in-memory ``UidIndex`` (conflicts found as resources
arrive, as before). Then that index is frozen. A later claim on a UID it holds is judged against it
at once (its first claimant is in it); any other claim goes to the disk spool, and its resource to a
local NDJSON store (the spool's ``seq`` is the resource's offset there, so input order is kept and
the conflict's texts can be read back). The spool's conflicts are found when the crawl ends. Every
UID's first claimant is in exactly one of the two places, so the findings are those of one
``UidIndex`` fed everything in order (tests/test_survey.py compares them).

Resumable: ``checkpoint()`` flushes and returns the spool's file sizes, which the survey state keeps;
a resume cuts the files back to them (what came after the checkpoint is read and spooled again).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from imgconf.bulk.uidspool import ClaimWriter, Located, UidSpool, bucket_paths, resolve
from imgconf.validators.crossref import UidIndex, conflict_finding, uid_claims
from imgconf.validators.findings import Finding

MEMORY_UIDS = 1_000_000  # ~60 MB of UIDs in the in-memory index before later claims go to the disk spool
STORE = "resources.ndjson"


class SpoolMissing(Exception):
    """The state names spooled claims whose files are gone (the survey cannot be resumed)."""


class SurveyUidIndex:
    def __init__(self, index: UidIndex, directory: Path, *, memory_uids: int = MEMORY_UIDS,
                 sizes: list[int] | None = None) -> None:
        self.index = index
        self.directory = directory
        self.memory_uids = memory_uids
        self.spool: UidSpool | None = None
        self.store: IO[bytes] | None = None
        self.writer = ClaimWriter()
        if sizes and any(sizes):
            self._open(cut_to=sizes)

    # -- files -------------------------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        """The spool's bucket files, then the resource store (the order of ``checkpoint()``'s sizes)."""
        return [*bucket_paths(self.directory, self.writer.buckets), self.directory / STORE]

    def _open(self, cut_to: list[int] | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if cut_to is not None:
            paths = self.files()
            if len(cut_to) != len(paths):
                raise SpoolMissing(f"{self.directory}: the state names {len(cut_to)} spool files, not {len(paths)}")
            for path, size in zip(paths, cut_to, strict=True):
                if size and (not path.exists() or path.stat().st_size < size):
                    raise SpoolMissing(f"{path}: missing or shorter than the state says (the UID spool of this "
                                       "survey was removed or changed)")
                if path.exists():
                    with path.open("r+b") as fh:
                        fh.truncate(size)
        self.spool = UidSpool(self.directory, buckets=self.writer.buckets)
        self.store = (self.directory / STORE).open("ab")

    def checkpoint(self) -> list[int]:
        """Everything spooled so far on disk; the files' sizes (all zero while nothing was spooled)."""
        if self.spool is None or self.store is None:
            return []
        self.spool.add(self.writer.blobs())
        self.writer = ClaimWriter(self.writer.buckets)
        for fh in (*self.spool.files, self.store):
            fh.flush()
        return [path.stat().st_size for path in self.files()]

    def close(self) -> None:
        if self.spool is not None and self.store is not None:
            self.spool.close()
            self.store.close()

    # -- claims ------------------------------------------------------------------------------------------------
    def uids_in_memory(self) -> int:
        return len(self.index.study_subject) + len(self.index.series_study) + len(self.index.instance_series)

    def add(self, resource: dict[str, Any], label: str, own: Sequence[Finding] = ()) -> list[Finding]:
        """The conflicts found now (with UIDs the in-memory index holds); the rest come from ``conflicts()``.
        ``own``: the resource's own findings (kept with it: was it failing already when a conflict comes?)."""
        if self.spool is None and self.uids_in_memory() < self.memory_uids:
            return self.index.add(resource, label, "ImagingStudy")
        claims = uid_claims(resource, "ImagingStudy")
        tables = (self.index.study_subject, self.index.series_study, self.index.instance_series)
        found: list[Finding] = []
        spooled = []
        for n, claim in enumerate(claims):
            first = tables[claim.kind].get(claim.uid)
            if first is None:
                spooled.append((n, claim))  # its first claimant is this resource or a later one: the spool decides
            elif first[0] != claim.owner:  # the first claimant is an earlier resource, in memory
                found.append(conflict_finding(claim, first[0], first[1]))
        if spooled:
            if self.spool is None or self.store is None:
                self._open()
            assert self.store is not None
            seq = self.store.tell()
            prior = [[f.requirement, f.level, f.location, f.message, f.value, list(f.findings)] for f in [*own, *found]]
            self.store.write(orjson.dumps([label, resource, prior]) + b"\n")
            self.writer.add_claims(seq, spooled)
        return found

    def conflicts(self) -> Iterator[tuple[str, dict[str, Any], list[Finding], list[Finding]]]:
        """``(label, resource, conflicts, prior)`` per resource with spooled conflicts, in the order the
        resources were read; ``prior``: its findings known before (own and in-memory conflicts). Closes the files."""
        if self.spool is None or self.store is None:
            return
        self.checkpoint()
        self.store.close()
        priors: dict[str, list[Finding]] = {}
        with (self.directory / STORE).open("rb") as store:
            def locate(seq: int) -> Located | None:
                store.seek(seq)
                label, resource, prior = orjson.loads(store.readline())
                priors[label] = [Finding(r, lv, loc, m, v, tuple(fs)) for r, lv, loc, m, v, fs in prior]
                return str(label), "", resource
            assert self.spool is not None
            for (label, _, resource), found in resolve(self.spool.conflicts(), locate):
                yield label, resource, found, priors.pop(label, [])

"""The cross-resource UID index (DICOM-012/013) for bulk runs: on disk, merged once at the end.

Why not ``UidIndex`` (a dict): a million 3-series/20-instance studies make 63 million UIDs, gigabytes
as Python strings. Why not one shared sqlite table: workers would contend for it and a random-key
B-tree stops fitting in cache long before the end.

Instead every worker turns each ImagingStudy's claims (imgconf.validators.crossref.uid_claims: "this
UID belongs to that owner, here") into fixed 32-byte records ``(hash(uid), hash(owner), seq,
kind << 32 | ordinal)`` split over ``BUCKETS`` by the UID hash, and returns them with its chunk. The
driver appends them to one file per bucket (memory: nothing kept). At the end each bucket (1/64th
of the records: ~30 MB for 63 million UIDs) is sorted with numpy by (kind, uid, seq, ordinal): the
first row of a group is where the UID was first seen in input order, exactly what ``UidIndex``
remembers, and every later row of another resource with another owner is a conflict — the same
findings as one in-memory ``UidIndex`` fed the whole input in order, whatever the number of workers
or partitions. ``seq`` = (chunk, line, Bundle entry) in input order, so the driver can read the two
resources again to write the finding's text; a 64-bit hash collision is caught there (the texts
differ) and never becomes a finding.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgconf.validators.crossref import Claim, Place, conflict_finding, uid_claims
from imgconf.validators.findings import Finding

BUCKETS = 64
_LINE_BITS = 20  # lines per chunk < 2**20
_ENTRY_BITS = 20  # Bundle entries per line < 2**20 - 1
MAX_CHUNK_LINES = (1 << _LINE_BITS) - 1  # the most lines a chunk (or a Dask line range) may have: encode_seq's line field


def encode_seq(chunk_no: int, line: int, entry: int) -> int:
    """Input order of a resource: chunk, line within the chunk, Bundle entry (-1: the line itself)."""
    return (chunk_no << (_LINE_BITS + _ENTRY_BITS)) | (line << _ENTRY_BITS) | (entry + 1)


def decode_seq(seq: int) -> tuple[int, int, int]:
    mask_entry = (1 << _ENTRY_BITS) - 1
    mask_line = (1 << _LINE_BITS) - 1
    return seq >> (_LINE_BITS + _ENTRY_BITS), (seq >> _ENTRY_BITS) & mask_line, (seq & mask_entry) - 1


def _hash(text: str) -> int:
    # deterministic across processes (Python's hash() is salted per process)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class ClaimWriter:
    """Collects the packed claim records of one chunk, per bucket (runs in the worker)."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        self.buckets = buckets
        self.arrays = [array("q") for _ in range(buckets)]

    def add(self, chunk_no: int, line: int, entry: int, resource: dict[str, Any], root: str) -> None:
        claims = uid_claims(resource, root)
        if claims:
            self.add_claims(encode_seq(chunk_no, line, entry), enumerate(claims))

    def add_claims(self, seq: int, numbered: Iterable[tuple[int, Claim]]) -> None:
        """Claims of the resource at ``seq`` (any int64 that orders resources as read), each with its
        ordinal ``n`` in ``uid_claims`` of that resource (``resolve`` finds the claim again by it)."""
        # a series UID is a claim's UID and the owner of its 20 instances: hash each string once
        hashes: dict[str, int] = {}
        arrays, buckets = self.arrays, self.buckets
        for n, (kind, uid, owner, *_) in numbered:
            key = hashes.get(uid)
            if key is None:
                key = hashes[uid] = _hash(uid)
            owner_key = hashes.get(owner)
            if owner_key is None:
                owner_key = hashes[owner] = _hash(owner)
            # the kind is in the last field: groups are (kind, uid)
            arrays[key % buckets].extend((key, owner_key, seq, (kind << 32) | n))

    def blobs(self) -> list[bytes]:
        return [a.tobytes() for a in self.arrays]


@dataclass(frozen=True)
class Conflict:
    """A claim (``here_seq``, ordinal ``here_n``) contradicting the first claim on its UID."""

    here_seq: int
    here_n: int
    first_seq: int
    first_n: int


Located = tuple[str, str, dict[str, Any]]  # (label, root, resource) of a seq
Locate = Callable[[int], "Located | None"]


def bucket_paths(directory: Path, buckets: int = BUCKETS) -> list[Path]:
    return [directory / f"uids-{b:03d}.bin" for b in range(buckets)]


class UidSpool:
    """The driver's side: appends the workers' records to bucket files; ``conflicts()`` merges them."""

    def __init__(self, directory: Path, buckets: int = BUCKETS) -> None:
        self.directory = directory
        self.buckets = buckets
        self.paths = bucket_paths(directory, buckets)
        self.files = [p.open("ab") for p in self.paths]
        self.records = 0

    def add(self, blobs: list[bytes]) -> None:
        for fh, blob in zip(self.files, blobs, strict=True):
            if blob:
                fh.write(blob)
                self.records += len(blob) // 32

    def close(self) -> None:
        for fh in self.files:
            fh.close()

    def conflicts(self) -> Iterator[Conflict]:
        """Every conflicting claim, ordered by (here_seq, here_n): input order, as UidIndex reports them."""
        import numpy as np

        self.close()
        found: list[Any] = []
        for path in self.paths:
            rows = np.fromfile(path, dtype=np.int64).reshape(-1, 4)
            if len(rows) < 2:
                continue
            key, owner, seq, pos = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
            kind = pos >> 32
            order = np.lexsort((pos, seq, key, kind))
            key, owner, seq, pos, kind = key[order], owner[order], seq[order], pos[order], kind[order]
            start = np.ones(len(key), dtype=bool)
            start[1:] = (key[1:] != key[:-1]) | (kind[1:] != kind[:-1])
            first = np.maximum.accumulate(np.where(start, np.arange(len(key)), 0))
            hit = (owner != owner[first]) & (seq != seq[first])
            if hit.any():
                found.append(np.stack([seq[hit], pos[hit] & 0xFFFFFFFF, seq[first][hit], pos[first][hit] & 0xFFFFFFFF],
                                      axis=1))
            del rows, key, owner, seq, pos, kind, order, start, first, hit
        if not found:
            return
        allrows = np.concatenate(found)
        allrows = allrows[np.lexsort((allrows[:, 1], allrows[:, 0]))]
        for here_seq, here_n, first_seq, first_n in allrows.tolist():
            yield Conflict(here_seq, here_n, first_seq, first_n)


def resolve(conflicts: Iterator[Conflict], locate: Locate, *, cache_size: int = 256
            ) -> Iterator[tuple[Located, list[Finding]]]:
    """The findings of the conflicts, grouped per resource in input order, with the texts read back
    from the input (``locate``) and checked (a hash collision is dropped, never reported)."""
    cache: dict[int, tuple[Located, list[Claim]] | None] = {}

    def claims_of(seq: int) -> tuple[Located, list[Claim]] | None:
        if seq not in cache:
            if len(cache) >= cache_size:
                cache.pop(next(iter(cache)))
            located = locate(seq)
            cache[seq] = (located, uid_claims(located[2], located[1] or "ImagingStudy")) if located else None
        return cache[seq]

    current: Located | None = None
    current_seq = -1
    out: list[Finding] = []
    for c in conflicts:
        here, first = claims_of(c.here_seq), claims_of(c.first_seq)
        if here is None or first is None or c.here_n >= len(here[1]) or c.first_n >= len(first[1]):
            continue
        claim, prior = here[1][c.here_n], first[1][c.first_n]
        if (claim.kind, claim.uid) != (prior.kind, prior.uid) or claim.owner == prior.owner:
            continue  # a hash collision, not a conflict
        if c.here_seq != current_seq:
            if current is not None and out:
                yield current, out
            current, current_seq, out = here[0], c.here_seq, []
        first_source = first[0][0].split("#entry[", 1)[0]
        out.append(conflict_finding(claim, prior.owner, Place(first_source, prior.location)))
    if current is not None and out:
        yield current, out

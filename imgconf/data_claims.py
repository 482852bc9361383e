"""Which parts of a target's data a unit of work reads and writes, and a lock that admits units side by side
only when none of them could see another change its data (``imgconf run --concurrency N``).

A part is ``Type`` (the set of resources of a type: what a search sees), ``Type/id`` (one resource),
``Type/*`` (any one resource of the type: an id not known in advance) or :data:`EVERY_TYPE` (anything: a
transaction, a chained search, an unknown URL). Creating a resource writes ``Type``; updating or deleting one
writes ``Type`` and ``Type/id``. A write conflicts with any read of the same part; two writes conflict only on
the same resource (two creates of one type, or updates of two different resources, see nothing of each other).
The lock takes a unit's whole claim at once (no unit holds half of it while waiting for the rest, so no
deadlock) and lets a waiting writer hold back new readers it conflicts with (writers are never starved by a
stream of readers). Nothing here knows FHIR or suites: :mod:`imgconf.suite.claims` says what a case claims.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

EVERY_TYPE = "*"


def _same_part(left: str, right: str) -> bool:
    if left == right or EVERY_TYPE in (left, right):
        return True
    if left.endswith("/*"):
        return right.startswith(left[:-1])
    if right.endswith("/*"):
        return left.startswith(right[:-1])
    return False


def _overlap(left: frozenset[str], right: frozenset[str], *, resources_only: bool = False) -> bool:
    if not left or not right:
        return False
    if EVERY_TYPE in left or EVERY_TYPE in right:
        return True
    if resources_only:  # what two writers could both change: one resource
        left = frozenset(p for p in left if "/" in p)
        right = frozenset(p for p in right if "/" in p)
    if not left.isdisjoint(right):
        return True
    return any(_same_part(a, b) for a in left for b in right)


@dataclass(frozen=True)
class Claims:
    """The parts of the data a unit of work reads and the ones it writes."""

    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, reads: Iterable[str] = (), writes: Iterable[str] = ()) -> Claims:
        written, read = frozenset(writes), frozenset(reads)
        if EVERY_TYPE in written:
            return cls(frozenset(), frozenset({EVERY_TYPE}))
        if EVERY_TYPE in read:
            read = frozenset({EVERY_TYPE})
        return cls(read, written)

    @classmethod
    def everything(cls) -> Claims:
        """Writes anything: runs alone."""
        return cls(frozenset(), frozenset({EVERY_TYPE}))

    def __or__(self, other: Claims) -> Claims:
        return Claims.of(self.reads | other.reads, self.writes | other.writes)

    def conflicts_with(self, other: Claims) -> bool:
        return (_overlap(self.writes, other.reads) or _overlap(other.writes, self.reads)
                or _overlap(self.writes, other.writes, resources_only=True))


@dataclass(frozen=True)
class Watch:
    """An optimistic reader's start (no writer it conflicts with held or waited then): how many writers had been admitted."""

    claims: Claims
    admitted_before: int


class ClaimLock:
    """Admits a claim while it conflicts with no claim held; a waiting writer holds back readers it conflicts with.

    A reader may also go ahead optimistically (:meth:`watch`, holding nothing, so writers never wait for it)
    and ask afterwards whether a writer it conflicts with held or was admitted meanwhile (:meth:`disturbed`):
    then what it read may be a mix of before and after, and it must read again under its claim.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: list[Claims] = []
        self._waiting_writers: list[tuple[int, Claims]] = []  # in the order they asked
        self._tickets = itertools.count()
        self._admitted: list[Claims] = []  # every writer admitted, in order (a run admits a few dozen)

    def watch(self, claims: Claims) -> Watch:
        """An optimistic start, once no writer it conflicts with holds or waits (it would only have to read again)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._writer_waits_for(claims) and not any(
                claims.conflicts_with(writer) for writer in self._held if writer.writes))
            return Watch(claims, len(self._admitted))

    def disturbed(self, watch: Watch) -> bool:
        with self._changed:
            since = self._admitted[watch.admitted_before:]
        return any(watch.claims.conflicts_with(writer) for writer in since)

    @contextmanager
    def holding(self, claims: Claims) -> Iterator[None]:
        self._acquire(claims)
        try:
            yield
        finally:
            self._release(claims)

    def _acquire(self, claims: Claims) -> None:
        with self._changed:
            if claims.writes:
                ticket = (next(self._tickets), claims)
                self._waiting_writers.append(ticket)
                try:  # in turn among the writers it conflicts with (one that writes everything is not starved)
                    self._changed.wait_for(lambda: self._free_for(claims) and not any(
                        claims.conflicts_with(earlier) for number, earlier in self._waiting_writers if number < ticket[0]))
                finally:
                    self._waiting_writers.remove(ticket)
                    self._changed.notify_all()
                self._admitted.append(claims)
            else:
                self._changed.wait_for(lambda: self._free_for(claims) and not self._writer_waits_for(claims))
            self._held.append(claims)

    def _writer_waits_for(self, claims: Claims) -> bool:
        return any(claims.conflicts_with(writer) for _, writer in self._waiting_writers)

    def _free_for(self, claims: Claims) -> bool:
        return not any(claims.conflicts_with(held) for held in self._held)

    def _release(self, claims: Claims) -> None:
        with self._changed:
            self._held.remove(claims)
            self._changed.notify_all()

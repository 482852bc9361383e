"""Suite files at the same time, in one pytest process (``--imgconf-concurrency N``, ``imgconf run --concurrency N``).

Against a distant target a run waits far more than it computes. The cases of one suite file form a
chain — they run in file order and share saved variables and fixtures — while files are independent.
So up to N chains run at once on threads, each case through the same function the sequential run
uses, and every case's result is kept as a future. pytest's protocol is untouched: items are still
set up, called and reported one by one in collection order on the main thread (terminal, junit and
allure see nothing new); an item's setup only waits for its future.

Verdicts must be those of the sequential run, so no case may see the target's data change under it
(a search paging through results while another file deletes one of them would lose a match): each case
claims the resource types it reads and writes (``claims``, :mod:`imgconf.data_claims`); a case that writes
a type runs while no other case holds that type (writers first). A case that only reads goes ahead without
holding anything, so writers never wait for it; if a writer of a type it reads held or was admitted while
it ran, what it read may be a mix of before and after, so it runs again, this time holding its claim (its
first result is dropped: cases that only read can be repeated). ``rereads`` counts those. A reader starts
only while no writer it conflicts with holds or waits, so writers wait for no reader but those reading again.

Nothing here knows imgconf's cases: a chain is a list of anything hashable, ``run_one`` makes its
result. ``should_stop`` (Ctrl-C, ``-x``, ``--run-timeout``) is asked before every case; the cases not
run then are :class:`NotRun`, and :meth:`CaseChains.stop` waits for the cases in flight, so teardown
never races a case.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from imgconf.data_claims import ClaimLock, Claims

Item = TypeVar("Item", bound=Hashable)
Result = TypeVar("Result")
In = TypeVar("In")
Out = TypeVar("Out")


def map_concurrently(func: Callable[[In], Out], items: Sequence[In], workers: int, name: str) -> list[Out]:
    """``[func(x) for x in items]`` on up to ``workers`` threads, results in order. Ctrl-C (in the calling
    thread) drops what has not started and does not wait for the rest, as a sequential loop would stop."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)
    try:
        results = list(pool.map(func, items))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


class NotRun(Exception):
    """The run stopped before this case's chain reached it."""


class CaseChains(Generic[Item, Result]):
    """Runs chains of items on up to ``workers`` threads; :meth:`result` waits for one item's result."""

    def __init__(self, workers: int, run_one: Callable[[Item], Result], should_stop: Callable[[], bool],
                 claims: Callable[[Item], Claims] = lambda _: Claims()) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self._run_one = run_one
        self._should_stop = should_stop
        self._claims = claims
        self._data = ClaimLock()
        self.rereads = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._futures: dict[Item, Future[Result]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def start(self, chains: Sequence[Sequence[Item]], weight: Callable[[Sequence[Item]], float] = len) -> None:
        """Queue every chain, the heaviest first (longest-processing-time first: the longest chain bounds the run)."""
        for chain in chains:
            for item in chain:
                self._futures[item] = Future()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="imgconf-chain")
        for chain in sorted(chains, key=weight, reverse=True):
            self._pool.submit(self._run_chain, chain)

    def scheduled(self, item: Item) -> bool:
        return item in self._futures

    def result(self, item: Item) -> Result:
        """The item's result once its chain has run it (raises NotRun, or what ``run_one`` raised)."""
        return self._futures[item].result()

    def stop(self) -> None:
        """No further case starts; returns once the cases in flight have finished."""
        self._stopped.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for future in self._futures.values():  # chains never started (cancelled in the queue)
            if not future.done():
                future.set_exception(NotRun("the run stopped before this case"))

    def _run_chain(self, chain: Sequence[Item]) -> None:
        for position, item in enumerate(chain):
            future = self._futures[item]
            if self._stopped.is_set() or self._should_stop():
                self._give_up(chain[position:], "the run stopped before this case")
                return
            try:
                future.set_result(self._run_claimed(item))
            except Exception as exc:  # noqa: BLE001 — handed to the waiting item, where pytest reports it; the chain
                future.set_exception(exc)  # goes on, as pytest goes on to the next item after an error

    def _run_claimed(self, item: Item) -> Result:
        claims = self._claims(item)  # asked now: earlier cases of the chain saved what it names
        if not claims.writes:
            watch = self._data.watch(claims)
            result = self._run_one(item)
            if not self._data.disturbed(watch):
                return result
            with self._lock:
                self.rereads += 1
        with self._data.holding(claims):
            return self._run_one(item)

    def _give_up(self, rest: Sequence[Item], why: str) -> None:
        for item in rest:
            if not self._futures[item].done():
                self._futures[item].set_exception(NotRun(why))

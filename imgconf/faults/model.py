"""What a fault sees and changes: the request on its way out, the response on its way back.

Declaring the suites a fault targets: give ``suites=("suite-id", ...)`` (suite ids as ``imgconf
list`` shows them) naming every suite that exercises the behaviour the fault breaks, not only the
one that catches it today. ``imgconf mutate`` then runs the fault against those suites only;
without ``suites`` it runs against all of them. ``imgconf mutate --full`` (the periodic check) runs
every fault against every suite and fails on a declaration that is too narrow or no longer catches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response


@dataclass
class ProxyCall:
    method: str
    path: str  # relative to the FHIR base, e.g. "ImagingStudy/123"
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base: str  # the proxy's own FHIR base URL
    # What a fault's request hook leaves for its response hook (never sent upstream).
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def resource_type(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def segments(self) -> list[str]:
        """The path's non-empty segments: ["Patient", "1", "ImagingStudy"]."""
        return [p for p in self.path.split("/") if p]

    @property
    def searched_type(self) -> str:
        """The type a search looks for: ImagingStudy for ``Patient/1/ImagingStudy``, else the first segment."""
        parts = self.segments
        return parts[2] if len(parts) == 3 and self.is_search else self.resource_type

    @property
    def is_search(self) -> bool:
        """A type search (``T``, ``T/_search``) or a compartment search (``Patient/1/ImagingStudy``); a
        history (``T/1/_history``, ``_history``) or an operation (``$x``) is not, though it answers a Bundle:
        a search fault leaves it alone (else the history suite catches faults it does not test)."""
        parts = self.segments
        if any(p == "_history" or p.startswith("$") for p in parts):
            return False
        return (self.method == "GET" and len(parts) in (1, 3)) or (
            self.method == "POST" and parts[-1:] == ["_search"]
        )

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and "/" not in self.path.strip("/")


@dataclass
class ProxyResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: Response | None = field(default=None, repr=False)  # a prepared Starlette response (e.g. streaming)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def set_json(self, value: Any) -> None:
        self.body = json.dumps(value).encode("utf-8")


RequestHook = Callable[[ProxyCall], "ProxyCall | ProxyResponse | None"]
ResponseHook = Callable[[ProxyCall, ProxyResponse], ProxyResponse]


@dataclass(frozen=True)
class Fault:
    """A realistic server bug, tied to the requirements a harness must catch it with."""

    name: str
    description: str
    requirements: tuple[str, ...]
    on_request: RequestHook | None = None
    on_response: ResponseHook | None = None
    # A legal variation (e.g. a SMART v1-only server): the harness must adapt, not fail. The
    # mutation run treats it as a false-positive probe: the run with it must stay green.
    benign: bool = False
    # The suite ids that exercise what this fault breaks (see the module docstring). None: every
    # suite. Why: one run per fault against every suite made the mutation run CI's longest step.
    suites: tuple[str, ...] | None = None
    # What a run must be given for any suite to catch it, as a suite's ``requires:`` ("dicomweb": a PACS, whose
    # fixtures carry what the fault breaks). Without it ``imgconf mutate`` reports the fault "not run".
    requires: tuple[str, ...] = ()
    # A search fault: it breaks what a search answers (R4 search.html; catalogue A.5, B.4-B.10, C.1/C.4
    # parameters) — which resources match (values, modifiers, prefixes, chains, compartments, POST _search),
    # how the searchset is paged, ordered, counted, included or shaped, or how a search refuses what it
    # cannot do. ``imgconf mutate --fuzz`` also runs the generative search tester (imgconf fuzz) against it.
    search: bool = False
    # The fuzzed resource types (ImagingStudy, DocumentReference, Patient) whose searches a search fault changes,
    # the likeliest first; None: every type (the searchset's shape, paging, any parameter). `imgconf mutate --fuzz`
    # gives each of them its own --fuzz-budget, so a fault of one type's parameter is not diluted by the others.
    search_types: tuple[str, ...] | None = None
    # Why the generative search tester cannot see this search fault, by design (None: it can): the generator never
    # sends what it breaks, or the fault leaves it nothing to plan from. `imgconf mutate --fuzz` spends no fuzz run
    # on it and reports it "suites only (not fuzzable: <reason>)". Why declared: 8 such faults each spent a whole
    # fuzz budget per type to be reported "not caught by fuzzing". tests/test_fuzz_mutation.py replays a fuzz run's
    # traffic through every such fault: it must change nothing the fuzzer reads (or break GET metadata).
    not_fuzzable: str | None = None

    @property
    def fuzzable(self) -> bool:
        """``imgconf mutate --fuzz`` fuzzes it: a search fault not declared ``not_fuzzable``."""
        return self.search and self.not_fuzzable is None

"""The check-kind registry: every key under ``expect:`` other than the engine's core is a check kind.

The core (``status``, ``headers``, ``resource``, ``on_status``) decides whether a response is the one
expected; everything else (``structure``, ``fhirpath``, ``search``, …) is a :class:`CheckKind`
declared in ONE module and registered with :func:`register` when that module is imported:

* built-in kinds: every module of the ``imgconf.checks`` package is imported on the first call to
  :func:`kinds` (no central list to edit);
* third-party kinds: a distribution names a module (or a ``CheckKind`` object) under the entry point
  group ``imgconf.checks``; it is loaded the same way.

The loader assembles the suite schema from the kinds' fragments and parses each kind's YAML with
its ``parse``; the engine runs the kinds in ``order`` and uses ``awaiting``/``needs_json`` for its
"one cause, one verdict" rule (a check that needed the expected response is recorded not judged).
Kind modules are imported to build the schema (``imgconf list`` too): import heavy validators inside
the run function, not at module top.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from imgconf.results import CheckResult, Level

if TYPE_CHECKING:
    from imgconf.checks.base import CheckContext

SpecT = TypeVar("SpecT")
YamlPath = tuple[str | int, ...]

ENTRY_POINT_GROUP = "imgconf.checks"
# Keys the engine itself judges (imgconf.suite.model.Expect): no kind may take them.
CORE_KEYS = frozenset({"status", "headers", "resource", "on_status"})


class SpecError(Exception):
    """A malformed expectation. ``at`` is the YAML path below the kind's key; the loader turns it into
    ``SuiteError(file, line, message)``, so a suite author sees where to fix it."""

    def __init__(self, message: str, at: YamlPath = ()) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


@dataclass(frozen=True)
class ParseContext:
    """What a kind may need to check its YAML against the rest of the suite."""

    fixtures: frozenset[str]  # the suite's own fixtures list (search includes/excludes must name them)


@dataclass(frozen=True)
class Awaiting:
    """One judgement that needs the expected response: when the response is of another kind (wrong
    status class, wrong resourceType, not JSON) it is recorded as not judged, with this description."""

    check: str  # CheckResult.check of the results the kind gives
    detail: str
    requirement: tuple[str, ...] = ()  # () = the case's
    level: Level | None = None  # None = the case's
    any_status: bool = False  # judged on any answer, also after a failed status (see CheckKind.any_status)


@dataclass(frozen=True)
class OwnLevel:
    """A judgement with its own ``requirement:``/``level:`` (imgconf.suite.levels holds it to the catalogue)."""

    what: str  # e.g. "fhirpath check `expr`", as the loader's message names it
    at: YamlPath  # below the kind's key
    requirement: tuple[str, ...]
    level: Level | None


@dataclass(frozen=True, eq=False)
class CheckKind(Generic[SpecT]):
    """One kind of check a suite can ask for under ``expect:``."""

    key: str  # the YAML key under expect:
    schema: Mapping[str, Any]  # JSON-schema fragment for its value (may $ref the suite schema's $defs)
    parse: Callable[[Any, ParseContext], SpecT | None]  # raw YAML → typed spec; None asks nothing (e.g. `false`)
    run: Callable[[SpecT, CheckContext], list[CheckResult]]
    order: int  # place among the kinds: results come in this order (built-ins 10..100)
    awaiting: Callable[[SpecT], list[Awaiting]]  # what is recorded not judged when the response is not the expected one
    # True: a body that is not JSON leaves it nothing to judge (the engine says so once). False: it
    # judges any body itself (XML, document bytes, an OAuth error that must be JSON by RFC 6749).
    needs_json: bool = True
    # The part of the spec judged whatever status came back (a data leak on a 200 where 401 was
    # expected is its own accusation); None: nothing of it is.
    any_status: Callable[[SpecT], SpecT | None] | None = None
    own_levels: Callable[[SpecT], Iterable[OwnLevel]] | None = None


def waits_for(check: str, detail: str) -> Callable[[Any], list[Awaiting]]:
    """``awaiting`` of a kind that gives one kind of result whatever its spec."""

    def awaiting(_spec: Any) -> list[Awaiting]:
        return [Awaiting(check, detail)]

    return awaiting


def parse_flag(raw: Any, _ctx: ParseContext) -> bool | None:
    """``parse`` of a boolean kind (``structure: true``): false asks nothing."""
    return True if raw else None


def compile_fhirpath(expr: str, at: YamlPath = ()) -> None:
    """Refuse an expression that does not compile, at its place in the YAML."""
    from imgconf.fhirpath import FhirPathSyntaxError, compile_expression

    try:
        compile_expression(expr)
    except FhirPathSyntaxError as exc:
        raise SpecError(str(exc), at) from None


_KINDS: dict[str, CheckKind[Any]] = {}
_discovered = False
_generation = 0  # bumped on every change: the loader rebuilds its schema validator


def register(kind: CheckKind[SpecT]) -> CheckKind[SpecT]:
    """Add a kind (returns it, so a module can write ``KIND = register(CheckKind(...))``)."""
    global _generation
    if kind.key in CORE_KEYS:
        raise ValueError(f"check kind {kind.key!r}: the engine judges {kind.key} itself")
    existing = _KINDS.get(kind.key)
    if existing is not None and existing.run.__module__ != kind.run.__module__:  # a reload of the same module replaces
        raise ValueError(f"check kind {kind.key!r} is declared by {existing.run.__module__} and {kind.run.__module__}")
    _KINDS[kind.key] = kind
    _generation += 1
    return kind


def unregister(key: str) -> None:
    global _generation
    _KINDS.pop(key, None)
    _generation += 1


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    import imgconf.checks as package

    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)  # a kind module registers its kinds when imported
    load_plugins()


def load_plugins() -> None:
    """Load the kinds installed distributions declare under the entry point group ``imgconf.checks``:
    the value names a module that registers its kinds when imported (``my_pkg.kinds``) or a
    ``CheckKind`` object (``my_pkg.kinds:ENTRY_COUNT``). Loading one twice changes nothing."""
    from importlib.metadata import entry_points  # not cheap to import; pytest has it loaded already

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        if isinstance(loaded, CheckKind):
            register(loaded)


def kinds() -> list[CheckKind[Any]]:
    """Every registered kind, in the order their checks run."""
    _discover()
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.key))


def generation() -> int:
    _discover()
    return _generation


def expectation_schemas() -> dict[str, Mapping[str, Any]]:
    """key → schema fragment of every kind (the loader adds them to ``$defs.expect.properties``)."""
    return {kind.key: kind.schema for kind in kinds()}

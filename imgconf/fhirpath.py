"""FHIRPath for the harness: strict syntax checking, compile once, evaluate many times.

fhirpathpy's parser recovers from syntax errors silently (``Bundle.entry.(`` compiles and yields
``[]``), which would turn a typo in a suite into a check that can never fail. So every expression is
first parsed with an error listener that raises, then compiled by fhirpathpy with the R4 model.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.util import set_paths
from fhirpathpy.models import models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from imgconf import fhirpath_cache

R4_MODEL = models["r4"]

Evaluator = Callable[[Any, Mapping[str, Any] | None], list[Any]]


class FhirPathSyntaxError(ValueError):
    """An expression that does not parse; ``column`` is 0-based within the expression."""

    def __init__(self, expression: str, message: str, column: int) -> None:
        super().__init__(f"FHIRPath syntax error at column {column + 1}: {message} in {expression!r}")
        self.expression = expression
        self.column = column
        self.reason = message


class _RaisingListener(ErrorListener):
    def __init__(self, expression: str) -> None:
        self.expression = expression

    def syntaxError(  # noqa: N802 - antlr's ErrorListener API
        self, recognizer: object, offendingSymbol: object, line: int, column: int, msg: str, e: Exception | None,  # noqa: N803
    ) -> None:
        raise FhirPathSyntaxError(self.expression, msg, column)


def check_syntax(expression: str) -> None:
    """Raise FhirPathSyntaxError unless the whole expression parses."""
    _parsed(expression)


@functools.lru_cache(maxsize=4096)
def _parsed(expression: str) -> dict[str, Any]:
    """fhirpathpy's AST of an expression that parses strictly, built from one ANTLR parse.

    fhirpathpy.compile would parse the text a second time (and silently recover from errors), so its
    AST is built here from the strict parse tree, as fhirpathpy.parser.parse builds it, and handed to
    fhirpathpy's own compile step (set_paths). The AST is only read when evaluating: cached and shared,
    and remembered between runs (imgconf.fhirpath_cache; only expressions that parsed).
    """
    if (remembered := fhirpath_cache.lookup(expression)) is not None:
        return remembered
    listener = _RaisingListener(expression)
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    tree = parser.expression()
    # The grammar's start rule does not demand EOF: trailing garbage ("a b c") would pass.
    stop = parser.getCurrentToken()
    if stop is not None and stop.type != FHIRPathParser.EOF:
        raise FhirPathSyntaxError(expression, f"unexpected {stop.text!r}", stop.column)
    ast_listener = ASTPathListener()
    try:
        ParseTreeWalker().walk(ast_listener, tree)
    except Exception as exc:  # fhirpathpy raises bare Exception for arity errors
        raise FhirPathSyntaxError(expression, str(exc), 0) from exc
    node: dict[str, Any] = ast_listener.parentStack[0]
    fhirpath_cache.remember(expression, node)
    return node


def _compiled(expression: str, options: dict[str, Any] | None) -> Evaluator:
    evaluator: Evaluator = set_paths(apply_parsed_path, parsedPath=_parsed(expression), model=R4_MODEL, options=options)
    return evaluator


@functools.lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Evaluator:
    """Check and compile an expression; the result is cached per expression text."""
    return _compiled(expression, None)


_ENV_NAME = re.compile(r"%(?:([A-Za-z_][A-Za-z0-9_]*)|`([^`]+)`)")
_BUILTIN_ENV = {"resource", "rootResource", "context", "ucum", "sct", "loinc"}


@functools.lru_cache(maxsize=4096)
def environment_names(expression: str) -> frozenset[str]:
    """The ``%variables`` an expression reads (FHIRPath's own constants excluded)."""
    names = {m.group(1) or m.group(2) for m in _ENV_NAME.finditer(expression)}
    return frozenset(n for n in names if n not in _BUILTIN_ENV and not n.startswith(("vs-", "ext-")))


def evaluate(expression: str, resource: Any, variables: Mapping[str, Any] | None = None) -> list[Any]:
    """Evaluate with environment variables (``%name`` or ``%`any.name```)."""
    return compile_expression(expression)(resource, dict(variables or {}))


# -- resolve() inside a Bundle --------------------------------------------------------------------
# fhirpathpy has no resolve(); a document Bundle is self-contained, so references are looked up
# among its entries (R4 bundle.html#references: fullUrl first, then Type/id relative to the base).

class BundleIndex:
    """Entries of one Bundle by fullUrl and by ``Type/id``."""

    def __init__(self, bundle: Any) -> None:
        self.by_url: dict[str, dict[str, Any]] = {}
        self.by_tail: dict[str, dict[str, Any]] = {}
        entries = bundle.get("entry") if isinstance(bundle, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and full_url:
                self.by_url[full_url] = resource
                tail = "/".join(full_url.rstrip("/").split("/")[-2:])
                self.by_tail.setdefault(tail, resource)
            if isinstance(resource.get("id"), str) and isinstance(resource.get("resourceType"), str):
                self.by_tail.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)

    def lookup(self, reference: str) -> dict[str, Any] | None:
        if reference in self.by_url:
            return self.by_url[reference]
        if reference.startswith(("urn:uuid:", "urn:oid:", "#")):
            return None
        return self.by_tail.get("/".join(reference.split("/_history/")[0].rstrip("/").split("/")[-2:]))


_CURRENT_BUNDLE: contextvars.ContextVar[BundleIndex | None] = contextvars.ContextVar("imgconf_bundle", default=None)


def _resolve_in_bundle(inputs: list[Any]) -> list[Any]:
    index = _CURRENT_BUNDLE.get()
    found = []
    for item in inputs:
        ref = item.get("reference") if isinstance(item, dict) else item
        target = index.lookup(ref) if index is not None and isinstance(ref, str) else None
        if target is not None:
            found.append(target)
    return found


_BUNDLE_FUNCTIONS = {"resolve": {"fn": _resolve_in_bundle, "arity": {0: []}}}


@functools.lru_cache(maxsize=1024)
def compile_in_bundle(expression: str) -> Evaluator:
    return _compiled(expression, {"userInvocationTable": _BUNDLE_FUNCTIONS})


def evaluate_in_bundle(
    expression: str, resource: Any, bundle: Any, variables: Mapping[str, Any] | None = None
) -> list[Any]:
    """Evaluate where ``resolve()`` finds References among the entries of ``bundle``."""
    token = _CURRENT_BUNDLE.set(bundle if isinstance(bundle, BundleIndex) else BundleIndex(bundle))
    try:
        return compile_in_bundle(expression)(resource, dict(variables or {}))
    finally:
        _CURRENT_BUNDLE.reset(token)


# -- bounded evaluation ---------------------------------------------------------------------------
# ``repeat()`` is FHIRPath's only construct that loops on its own output: ``(1).repeat($this + 1)``
# never ends in fhirpathpy (nor does any repeat over a projection that keeps producing new values).
# Every other function is bounded by its input. So repeat() is replaced by one with the same
# semantics and two bounds, and a check whose expression exceeds them fails with that message.

MAX_REPEAT_ITEMS = 10_000
MAX_EVALUATION_S = 5.0


class EvaluationLimitExceeded(RuntimeError):
    """A FHIRPath evaluation went past a bound (the check fails with this message, the run goes on)."""


def _bounded_repeat(ctx: Any, data: Any, expr: Callable[[Any], list[Any]]) -> list[Any]:
    if not isinstance(data, list):
        return []
    import time
    from collections import deque

    deadline = time.monotonic() + MAX_EVALUATION_S
    results: list[Any] = []
    queue = deque(data)
    seen: set[Any] = set()
    while queue:
        item = queue.popleft()
        fresh = [elem for elem in expr(item) if elem not in seen]  # as fhirpathpy: unseen results only
        for elem in fresh:
            seen.add(elem)
        results.extend(fresh)
        queue.extend(fresh)
        if len(results) > MAX_REPEAT_ITEMS:
            raise EvaluationLimitExceeded(f"evaluation exceeded {MAX_REPEAT_ITEMS:,} items in repeat(); stopped")
        if time.monotonic() > deadline:
            raise EvaluationLimitExceeded(f"evaluation exceeded {MAX_EVALUATION_S:g} s in repeat(); stopped")
    return results


def _install_bounds() -> None:
    from fhirpathpy.engine.invocations import invocation_registry

    entry = invocation_registry.get("repeat")
    if isinstance(entry, dict):  # the pinned fhirpathpy (2.2.4) registers repeat here; tests pin the behaviour
        entry["fn"] = _bounded_repeat


_install_bounds()

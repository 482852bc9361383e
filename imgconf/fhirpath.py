"""FHIRPath for the harness: strict syntax checking, compile once, evaluate many times.

fhirpathpy's parser recovers from syntax errors silently (``Bundle.entry.(`` compiles and yields
``[]``), which would turn a typo in a suite into a check that can never fail. So every expression is
first parsed with an error listener that raises, then compiled by fhirpathpy with the R4 model.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy import compile as fp_compile
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

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

    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802 (antlr API)
        raise FhirPathSyntaxError(self.expression, msg, column)


def check_syntax(expression: str) -> None:
    """Raise FhirPathSyntaxError unless the whole expression parses."""
    listener = _RaisingListener(expression)
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.expression()
    # The grammar's start rule does not demand EOF: trailing garbage ("a b c") would pass.
    stop = parser.getCurrentToken()
    if stop is not None and stop.type != FHIRPathParser.EOF:
        raise FhirPathSyntaxError(expression, f"unexpected {stop.text!r}", stop.column)


@functools.lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Evaluator:
    """Check and compile an expression; the result is cached per expression text."""
    check_syntax(expression)
    try:
        return fp_compile(expression, R4_MODEL)
    except Exception as exc:  # fhirpathpy raises bare Exception for arity errors
        raise FhirPathSyntaxError(expression, str(exc), 0) from exc


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

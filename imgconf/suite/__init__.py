"""The declarative suite format: YAML files validated by a JSON Schema shipped in this package."""

from imgconf.suite.loader import SuiteError, discover, load_suite, looks_like_suite
from imgconf.suite.model import Case, Expect, Request, Step, Suite

__all__ = ["Case", "Expect", "Request", "Step", "Suite", "SuiteError", "discover", "load_suite", "looks_like_suite"]

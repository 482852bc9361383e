"""FHIR R4 search semantics shared by the reference server and the harness's search oracle."""

from .match import local_references, matches, resource_matches
from .query import Criterion, Include, SearchQuery, parse_query
from .registry import SearchParam, get_param, params_for, resource_types
from .sort import sort_resources

__all__ = [
    "Criterion",
    "Include",
    "SearchParam",
    "SearchQuery",
    "get_param",
    "local_references",
    "matches",
    "params_for",
    "parse_query",
    "resource_matches",
    "resource_types",
    "sort_resources",
]

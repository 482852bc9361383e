"""What a case reads and writes on the target (:mod:`imgconf.data_claims` parts: a type's set of resources,
one resource), for running suite files side by side.

Read from the case with its ``${…}`` filled in where already known (``resolve``: saved by an earlier case),
erring on the side of "everything":
a URL that is a variable, an operation, a system-level request, a search that reaches other types
(``_include``, ``_revinclude``, ``_has``, ``_type``, a chain) or a Bundle sent to the base may touch
anything. A token request touches no data; nor do ``metadata`` and ``.well-known``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from imgconf.data_claims import EVERY_TYPE, Claims
from imgconf.suite.model import Case, Request

_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]+\Z")
_NO_DATA = {"metadata", ".well-known"}
# Search parameters whose results hold (or depend on) resources of other types.
_CROSS_TYPE = {"_include", "_revinclude", "_type", "_list", "_contained", "_containedType"}


# A URL held in a variable (``${report_url}``) filled in as a path relative to the target's base, or None
# when it cannot be known yet (saved by a step of the same case) or points elsewhere.
PathResolver = Callable[[str], "str | None"]


def _unknown(_path: str) -> str | None:
    return None


def case_claims(case: Case, resolve: PathResolver = _unknown) -> Claims:
    claims = Claims()
    for step in case.steps:
        claims = claims | request_claims(step.request, resolve)
    return claims


def request_claims(request: Request, resolve: PathResolver = _unknown) -> Claims:
    path = request.path.strip()
    if request.token is not None or path == "${smart.token_endpoint}":
        return Claims()  # the authorization server's token endpoint holds none of the FHIR server's data
    if "${" in path:
        resolved = resolve(path)
        if resolved is None and path.startswith("${"):
            return _anything(request)
        path = resolved if resolved is not None else path
    path, _, query = path.lstrip("/").partition("?")
    segments = [s for s in path.split("/") if s]
    if not segments:
        return _anything(request)  # the base: a transaction, a system search
    rtype = segments[0]
    if rtype in _NO_DATA and not request.writes:
        return Claims()
    if not _TYPE_NAME.match(rtype) or any(s.startswith("$") and not s.startswith("${") for s in segments[1:]):
        return _anything(request)  # an absolute URL, a system-level request, an operation (may read anything)
    one = None if len(segments) < 2 or segments[1] == "_history" or segments[1] == "_search" else segments[1]
    instance = None if one is None else f"{rtype}/{'*' if '${' in one else one}"  # an id not known yet: any
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    names += _names(request.params) + _names(request.form)
    if request.body and request.method == "POST":
        names += [name for name, _ in parse_qsl(request.body, keep_blank_values=True)]
    searched: set[str] = set()
    for name in names:
        searched |= _types_searched(rtype, name)
    conditional = any(k.lower() == "if-none-exist" for k, _ in request.headers)
    if not request.writes:
        # A read of one resource (its versions too) sees that resource; a search sees the set of its type.
        reads = {instance} if instance is not None and not names else {rtype, *searched}
        return Claims.of(reads=reads)
    writes = {rtype} if instance is None else {rtype, instance}
    if instance is None and request.method != "POST":
        writes.add(f"{rtype}/*")  # a conditional update or delete: whichever resource matches
    body_type = request.json.get("resourceType") if isinstance(request.json, dict) else None
    if isinstance(body_type, str) and body_type != rtype:  # stored as either type by a lenient server
        writes |= {body_type, f"{body_type}/*"} if _TYPE_NAME.match(body_type) else {EVERY_TYPE}
    reads = searched | ({rtype} if names or conditional else set())  # a conditional write searches first
    return Claims.of(reads=reads, writes=writes)


def _anything(request: Request) -> Claims:
    return Claims.everything() if request.writes else Claims.of(reads={EVERY_TYPE})


def _names(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    return [str(name) for name, _ in pairs]


def _types_searched(rtype: str, name: str) -> set[str]:
    """The other types whose data a search parameter of ``rtype`` reads: a one-level chain reads its targets."""
    head, dot, rest = name.partition(".")
    base, _, modifier = head.partition(":")
    if base in _CROSS_TYPE or base.startswith("_has") or "${" in name:
        return {EVERY_TYPE}
    if not dot:
        return set()
    from imgconf.searchparams.registry import get_param

    param = get_param(rtype, base)
    if "." in rest or param is None or param.type != "reference":
        return {EVERY_TYPE}  # a deeper chain, or a name the server may read any way it likes
    if modifier:
        return {modifier} if _TYPE_NAME.match(modifier) else {EVERY_TYPE}
    return set(param.targets) if param.targets else {EVERY_TYPE}

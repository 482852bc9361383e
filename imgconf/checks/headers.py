"""Response header expectations: present/absent, equals, contains, regular expression."""

from __future__ import annotations

import re

from imgconf.checks.base import CheckContext
from imgconf.results import CheckResult
from imgconf.suite.model import HeaderExpectation


def _judge(spec: HeaderExpectation, value: str | None) -> tuple[bool, str]:
    name = spec.name
    if spec.present is False:
        return value is None, (f"{name} is absent" if value is None else f"{name} is present ({value!r}) but must not be")
    if value is None:
        return False, f"{name} header is missing"
    if spec.equals is not None and value != spec.equals:
        return False, f"{name} is {value!r}, expected {spec.equals!r}"
    if spec.contains is not None and spec.contains not in value:
        return False, f"{name} is {value!r}, expected it to contain {spec.contains!r}"
    if spec.matches is not None and not re.search(spec.matches, value):
        return False, f"{name} is {value!r}, which does not match /{spec.matches}/"
    return True, f"{name}: {value!r}"


def check_headers(specs: tuple[HeaderExpectation, ...], ctx: CheckContext) -> list[CheckResult]:
    results = []
    for spec in specs:
        ok, reason = _judge(spec, ctx.response.header(spec.name))
        wanted = ", ".join(
            f"{k} {v!r}"
            for k, v in (("present", spec.present), ("equals", spec.equals), ("contains", spec.contains), ("matches", spec.matches))
            if v is not None
        )
        results.append(
            ctx.result("header", ok, reason, detail=f"{spec.name}: {wanted or 'present'}", requirement=spec.requirement, level=spec.level)
        )
    return results

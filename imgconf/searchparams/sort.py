"""`_sort` ordering (R4 search.html#sort): ascending uses each resource's lowest value,
descending its highest.

R4 does not say where resources without a value for a sort key go. The reference server puts them
last in both directions (its choice); the oracle judges only the order a key decides
(``order_violations``) and never the position of a resource that has no value for it.
"""

from __future__ import annotations

from typing import Any

from . import dates
from .extract import values as extract_values
from .match import string_parts, token_items
from .registry import get_param
from .text import fold


def _keys(resource: dict[str, Any], name: str) -> list[Any]:
    param = get_param(resource.get("resourceType", ""), name)
    if param is None:
        return []
    vals = extract_values(resource, param)
    if param.type == "date":
        return [r for v in vals if (r := dates.target_range(v)) is not None]
    if param.type == "string":
        return [fold(p) for v in vals for p in string_parts(v)]
    if param.type == "token":
        return [t.code for v in vals for t in token_items(v) if t.code is not None]
    if param.type == "reference":
        return [v.get("reference") for v in vals if isinstance(v, dict) and v.get("reference")]
    if param.type == "number":
        return [float(v) for v in vals if isinstance(v, (int, float))]
    return [str(v) for v in vals if isinstance(v, (str, int, float))]


def _sort_value(resource: dict[str, Any], name: str, desc: bool) -> Any | None:
    """The value a resource sorts by for one key (lowest ascending, highest descending); None: no value."""
    keys = _keys(resource, name)
    if not keys:
        return None
    if isinstance(keys[0], tuple):  # date ranges
        return max(k[1] for k in keys) if desc else min(k[0] for k in keys)
    return max(keys) if desc else min(keys)


def compare(a: dict[str, Any], b: dict[str, Any], sort: list[tuple[str, bool]]) -> int | None:
    """<0 when ``_sort`` puts a first, >0 when b, 0 for a tie; None when the keys that would decide
    are missing on either resource (R4 leaves that position open)."""
    for name, desc in sort:
        va, vb = _sort_value(a, name, desc), _sort_value(b, name, desc)
        if va is None or vb is None:
            return None
        if va != vb:
            return (1 if va > vb else -1) * (-1 if desc else 1)
    return 0


def lacks_sort_value(resource: dict[str, Any], sort: list[tuple[str, bool]]) -> bool:
    return any(_sort_value(resource, name, desc) is None for name, desc in sort)


def order_violations(resources: list[dict[str, Any]], sort: list[tuple[str, bool]]) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, that ``_sort`` orders the other way round. Every pair is compared, so
    resources without a sort value in between never hide a wrong order of the ones around them."""
    return [(i, j) for i in range(len(resources)) for j in range(i + 1, len(resources))
            if (c := compare(resources[i], resources[j], sort)) is not None and c > 0]


def sort_resources(
    resources: list[dict[str, Any]], sort: list[tuple[str, bool]]
) -> list[dict[str, Any]]:
    """Stable multi-key sort, resources without a value last (the reference server's choice);
    `sort` is [(param name, descending)] as parsed from `_sort`."""
    out = list(resources)
    for name, desc in reversed(sort):
        present: list[tuple[Any, dict[str, Any]]] = []
        missing: list[dict[str, Any]] = []
        for res in out:
            keys = _keys(res, name)
            if not keys:
                missing.append(res)
            elif keys and isinstance(keys[0], tuple):  # date ranges
                present.append((max(k[1] for k in keys) if desc else min(k[0] for k in keys), res))
            else:
                present.append((max(keys) if desc else min(keys), res))
        present.sort(key=lambda kr: kr[0], reverse=desc)
        out = [r for _, r in present] + missing
    return out

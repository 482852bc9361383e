"""`_sort` ordering (R4 search.html#sort): ascending uses each resource's lowest value,
descending its highest; resources without a value come last in both directions."""

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


def sort_resources(
    resources: list[dict[str, Any]], sort: list[tuple[str, bool]]
) -> list[dict[str, Any]]:
    """Stable multi-key sort; `sort` is [(param name, descending)] as parsed from `_sort`."""
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

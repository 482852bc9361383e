"""``imgconf matrix RUN...``: several runs (one per target) side by side on one page.

Rows are requirements (catalogue order), columns are servers, cells are the run's verdict for that
requirement, linking to the evidence in that run's report.html. Self-contained like report.html.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgconf import catalogue
from imgconf.compare import load_summary
from imgconf.report.html import fmt_time, template_environment
from imgconf.report.outcome import describe_selection


@dataclass
class Column:
    label: str
    summary: dict[str, Any]
    report_href: str | None  # report.html relative to the matrix page, None when absent


def _label(summary: dict[str, Any], fallback: str) -> str:
    run = summary["run"]
    software = (run.get("server_software") or "").strip()
    if run.get("embedded"):
        software = f"{software or 'reference server'} (embedded)"
    if not software or software.lower().startswith("unknown"):  # no CapabilityStatement: name the run's folder
        return f"{fallback} ({software})" if software else fallback
    return f"{software} {run.get('server_version') or ''}".strip()


def load_columns(runs: list[Path], out: Path) -> list[Column]:
    cols = []
    for run in runs:
        folder = run if run.is_dir() else run.parent
        summary = load_summary(run)
        report = folder / "report.html"
        href = Path(os.path.relpath(report.resolve(), out.resolve().parent)).as_posix() if report.exists() else None
        cols.append(Column(_label(summary, folder.name), summary, href))
    return cols


def _order(ref: str) -> tuple[int, int, str]:
    req = catalogue.get(ref)
    return (0, req.order, ref) if req else (1, 0, ref)


def matrix_rows(columns: list[Column]) -> list[dict[str, Any]]:
    ids = sorted({rid for c in columns for rid in c.summary.get("requirements", {})}, key=_order)
    rows = []
    for rid in ids:
        req = catalogue.get(rid)
        cells = []
        for c in columns:
            entry = c.summary.get("requirements", {}).get(rid)
            verdict = entry["verdict"] if entry else "absent"
            href = f"{c.report_href}#req-{rid}" if entry and c.report_href else None
            cells.append({"verdict": verdict, "href": href,
                          "cases": len(entry["cases"]) if entry else 0})
        judged = {x["verdict"] for x in cells if x["verdict"] != "absent"}
        rows.append({
            "id": rid,
            "level": req.level_text if req else (next(iter(
                c.summary["requirements"][rid]["level"] for c in columns if rid in c.summary.get("requirements", {})))),
            "title": req.title if req else "",
            "cells": cells,
            "differs": len(judged) > 1,
            "failing": bool(judged & {"fail", "error"}),
        })
    return rows


def render_matrix(columns: list[Column]) -> str:
    heads = []
    for c in columns:
        s = c.summary
        heads.append({
            "label": c.label, "href": c.report_href, "outcome": s.get("outcome", "fail"),
            "target": s["run"].get("target_url", ""), "started": fmt_time(s["run"].get("started_at", "")),
            "selection": describe_selection(s.get("selection") or {}), "cases": s["totals"]["cases"],
            "failed": s["totals"]["requirements"].get("fail", 0),
        })
    rows = matrix_rows(columns)
    return template_environment().get_template("matrix.html.j2").render(
        heads=heads, rows=rows, differing=sum(r["differs"] for r in rows), failing=sum(r["failing"] for r in rows),
    )


def write_matrix(runs: list[Path], out: Path) -> int:
    """Writes the page; returns the number of requirement rows."""
    columns = load_columns(runs, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_matrix(columns), encoding="utf-8")
    return len({rid for c in columns for rid in c.summary.get("requirements", {})})

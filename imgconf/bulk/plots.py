"""The HTML page of a data-quality report, with its bar charts as embedded PNGs (matplotlib, Agg)."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any

TOP = 25  # bars per chart; the JSON has every key
_LEVEL_COLOURS = {"SHALL": "#c0392b", "SHALL NOT": "#922b21", "SHOULD": "#d4a017", "MAY": "#5d8aa8", "INFO": "#7f8c8d"}


def _png(labels: list[str], series: dict[str, list[int]], title: str, xlabel: str) -> str:
    """A horizontal stacked bar chart as a ``data:image/png;base64,...`` URI."""
    import matplotlib as mpl

    mpl.use("Agg")  # no display: headless CI and workers
    import matplotlib.pyplot as plt

    height = max(2.0, 0.32 * len(labels) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    try:
        left = [0] * len(labels)
        for name, values in series.items():
            ax.barh(labels, values, left=left, label=name, color=_LEVEL_COLOURS.get(name))
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.invert_yaxis()  # largest first, at the top
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if len(series) > 1:
            ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _rule_chart(data: dict[str, Any]) -> str | None:
    rules = list(data["findings_by_rule"].items())[:TOP]
    if not rules:
        return None
    levels = [lv for lv in _LEVEL_COLOURS if any(lv in counts for _, counts in rules)]
    series = {lv: [counts.get(lv, 0) for _, counts in rules] for lv in levels}
    return _png([rule for rule, _ in rules], series, "Findings by rule (requirement id)", "findings")


def _table_chart(table: dict[str, dict[str, int]], title: str) -> str | None:
    rows = list(table.items())[:TOP]
    if not rows:
        return None
    series = {"SHALL / SHALL NOT": [c.get("mandatory", 0) for _, c in rows],
              "other levels": [c.get("findings", 0) - c.get("mandatory", 0) for _, c in rows]}
    return _png([key[:60] for key, _ in rows], series, title, "findings")


def _rows(table: dict[str, dict[str, int]], columns: list[str]) -> str:
    body = "".join("<tr><td>" + escape(key) + "</td>" + "".join(f"<td>{counts.get(c, 0)}</td>" for c in columns)
                   + "</tr>" for key, counts in table.items())
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def write_html(data: dict[str, Any], path: Path) -> None:
    totals = data["totals"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(data['title'])}</title>",
             ("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
              "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
              ".incomplete{background:#fdd;border:2px solid #c00;padding:1em}</style></head><body>"),
             f"<h1>{escape(data['title'])}</h1>"]
    if not data["complete"]:
        parts.append("<p class='incomplete' id='incomplete'><b>INCOMPLETE</b>: the run was interrupted; "
                     "these counts cover only the input read before it stopped.</p>")
    parts += [f"<p>{escape(note)}</p>" for note in data["notes"]]
    rate = data.get("resources_per_second")
    parts.append(f"<p>{totals['resources']} resources, {totals['failing_resources']} failing (SHALL / SHALL NOT), "
                 f"{totals['resources_with_findings']} with findings, {totals['unreadable']} unreadable; "
                 f"{totals['findings']} findings" + (f"; {rate} resources/s" if rate else "") + "</p>")
    charts = [("Findings by rule", _rule_chart(data)),
              ("Findings by modality (ImagingStudy)", _table_chart(data["by_modality"], "Findings by modality")),
              ("Findings by producer (meta.source)", _table_chart(data["by_producer"], "Findings by producer"))]
    for heading, uri in charts:
        parts.append(f"<h2>{escape(heading)}</h2>")
        parts.append(f"<img class='plot' alt='{escape(heading)}' src='{uri}'>" if uri else "<p>no findings</p>")
    parts.append("<h2>Findings by level</h2>" + _rows({"all": data["findings_by_level"]},
                                                       list(data["findings_by_level"])))
    parts.append("<h2>By resource type</h2>" + _rows(data["by_resource_type"],
                                                     ["resources", "failing", "with_findings", "findings"]))
    parts.append("<h2>Worst resources</h2><table><tr><th>source</th><th>resource</th><th>SHALL findings</th>"
                 "<th>findings</th></tr>" + "".join(
                     f"<tr><td>{escape(w['source'])}</td><td>{escape(w['resource'])}</td><td>{w['mandatory']}</td>"
                     f"<td>{w['findings']}</td></tr>" for w in data["worst_resources"]) + "</table>")
    parts.append("</body></html>\n")
    path.write_text("".join(parts), encoding="utf-8")

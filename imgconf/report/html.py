"""One self-contained HTML report: a certificate-style header, then evidence per requirement.

No external assets (fonts, scripts, images) so the file works offline as an email attachment.
Autoescaping is on: response bodies and headers come from the server under test and are untrusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from imgconf import catalogue
from imgconf.jsonsafe import loads_bounded
from imgconf.report.redact import redact_headers, redact_text
from imgconf.report.summary import (
    LEVELS, VERDICTS, Entry, Group, build_summary, group_by_id, sort_cases,
)
from imgconf.results import VERDICT_SEVERITY, CaseResult, Exchange, RunInfo

MAX_BODY_CHARS = 64 * 1024


@dataclass
class ExchangeView:
    method: str
    url: str
    status: int | None
    elapsed_ms: float
    error: str
    request_headers: dict[str, str]
    request_body: str
    request_note: str
    response_headers: dict[str, str]
    response_body: str
    response_note: str


def _body(text: str | None) -> tuple[str, str]:
    """Redact, pretty-print JSON, truncate; returns (body, note about truncation)."""
    if not text:
        return "", ""
    body = redact_text(text)
    if body.lstrip()[:1] in ("{", "["):
        try:
            body = json.dumps(loads_bounded(body), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    if len(body) > MAX_BODY_CHARS:
        note = f"Truncated: showing the first {MAX_BODY_CHARS:,} of {len(body):,} characters."
        return body[:MAX_BODY_CHARS], note
    return body, ""


def _exchange_view(ex: Exchange) -> ExchangeView:
    req_body, req_note = _body(ex.request_body)
    resp_body, resp_note = _body(ex.response_body)
    return ExchangeView(
        method=ex.method,
        url=redact_text(ex.url),
        status=ex.status,
        elapsed_ms=ex.elapsed_ms,
        error=redact_text(ex.error),
        request_headers=redact_headers(ex.request_headers),
        request_body=req_body,
        request_note=req_note,
        response_headers=redact_headers(ex.response_headers),
        response_body=resp_body,
        response_note=resp_note,
    )


def _exchange_index(e: Entry) -> int | None:
    idx = e.check.exchange if e.check else None
    return idx if idx is not None and 0 <= idx < len(e.case.exchanges) else None


def _group_view(group: Group, case_index: dict[int, int]) -> dict[str, Any]:
    req = catalogue.get(group.id)
    finding = catalogue.get_finding(group.id)

    # An exchange judged by several checks is printed once, with the worst of them, so that
    # filtering the report to failures still shows the evidence of every failure.
    owner: dict[tuple[int, int], int] = {}
    for i, e in enumerate(group.entries):
        idx = _exchange_index(e)
        if idx is None:
            continue
        key = (case_index[id(e.case)], idx)
        best = owner.get(key)
        if best is None or VERDICT_SEVERITY[e.verdict] > VERDICT_SEVERITY[group.entries[best].verdict]:
            owner[key] = i

    rows = []
    for i, e in enumerate(group.entries):
        idx = _exchange_index(e)
        mine = idx is not None and owner[(case_index[id(e.case)], idx)] == i
        rows.append({
            "case": e.case.case,
            "nodeid": e.case.nodeid,
            "check": e.check.check if e.check else "(case)",
            "level": e.level.value,
            "level_reason": e.case.level_reason or "",
            "verdict": e.verdict.value,
            "reason": redact_text(e.reason),
            "detail": redact_text(e.check.detail) if e.check else "",
            "exchange": _exchange_view(e.case.exchanges[idx]) if idx is not None and mine else None,
            "exchange_no": idx + 1 if idx is not None else None,
            "exchange_ref": idx + 1 if idx is not None and not mine else None,
        })
    return {
        "id": group.id,
        "known": req is not None or finding is not None,
        "level_text": req.level_text if req else "",
        "level": req.level.value if req else "",
        "section": req.section if req else "",
        "text": req.text if req else (finding.text if finding else ""),
        "check_text": req.check if req else "",
        "test": req.test if req else "",
        "basis": req.basis if req else "",
        "verdict": group.verdict.value,
        "counts": group.counts(),
        "rows": rows,
    }


def _fmt_time(iso: str) -> str:
    if not iso:
        return "—"
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    tz = dt.strftime("%Z") or ""
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (f" {tz}" if tz else "")


def _fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("imgconf.report", "templates"),
        autoescape=True,  # explicit: the template name ends in .j2, which select_autoescape misses
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(run: RunInfo, cases: list[CaseResult]) -> str:
    ordered = sort_cases(cases)
    summary = build_summary(run, ordered)
    req_groups, find_groups = group_by_id(ordered)
    case_index = {id(c): i for i, c in enumerate(ordered)}  # identity: node ids may repeat
    reqs = catalogue.requirements()
    gaps = [reqs[i] for i in summary["coverage"]]
    level_rows = [
        lvl.value for lvl in LEVELS
        if lvl.value in ("SHALL", "SHOULD", "MAY") or sum(summary["totals"]["checks_by_level"][lvl.value].values())
    ]
    findings = []
    for g in find_groups:
        f = catalogue.get_finding(g.id)
        assert f is not None
        # The catalogue text opens with the bold title; do not print it twice.
        body = f.text[len(f.title):].lstrip(". ") if f.text.startswith(f.title) else f.text
        findings.append({"finding": f, "body": body, "group": _group_view(g, case_index)})
    return _environment().get_template("report.html.j2").render(
        run=summary["run"],
        outcome=summary["outcome"],
        interrupted=summary.get("interrupted"),
        totals=summary["totals"],
        level_rows=level_rows,
        verdicts=[v.value for v in VERDICTS],
        started=_fmt_time(run.started_at),
        finished=_fmt_time(run.finished_at),
        duration=_fmt_duration(run.duration_s),
        groups=[_group_view(g, case_index) for g in req_groups],
        findings=findings,
        gaps=gaps,
        catalogue_sha=summary["catalogue"]["sha256"][:12],
        case_count=len(ordered),
        search_parameters=(run.options or {}).get("search_parameters") or {},
    )


def write_html(path: Path, run: RunInfo, cases: list[CaseResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, cases), encoding="utf-8")

"""One self-contained HTML report: a certificate-style header, then evidence per requirement.

No external assets (fonts, scripts, images) so the file works offline as an email attachment.
Autoescaping is on: response bodies and headers come from the server under test and are untrusted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from imgconf import catalogue
from imgconf.jsonsafe import loads_bounded
from imgconf.report.indented import indented_json
from imgconf.report.locate import Path as JsonPath, pretty_lines, resolve
from imgconf.report.outcome import describe_selection
from imgconf.report.redact import redact_headers, redact_text
from imgconf.report.summary import (
    LEVELS,
    VERDICTS,
    Entry,
    Group,
    build_summary,
    count_verdicts,
    group_by_id,
    sort_cases,
)
from imgconf.results import CaseResult, Exchange, RunInfo, Verdict, worst

MAX_BODY_CHARS = 64 * 1024
# Evidence no check found wanting is shortened: the report of a clean full run stays under 3 MB
# (issue 12), while every failure, warning and error keeps its body up to MAX_BODY_CHARS.
MAX_PASSING_BODY_CHARS = 2 * 1024


@dataclass
class ExchangeView:
    method: str
    url: str
    status: int | None
    elapsed_ms: float
    error: str
    request_headers: dict[str, str]
    request_body: Markup
    request_note: str
    response_headers: dict[str, str]
    response_body: Markup
    response_note: str
    marked: bool = False  # the response body carries <mark>s of failing locations: shown open


_TEXTUAL = ("json", "xml", "text/", "x-www-form-urlencoded", "javascript", "html", "csv")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def header_content_type(headers: dict[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), "")


def binary_summary(text: str, content_type: str) -> str | None:
    """"type, N bytes, SHA-256, first bytes in hex" for a body that is not text; None for text.

    The client keeps bodies as UTF-8 text with undecodable bytes replaced, so the size and hash are of
    the body as recorded, which the summary says.
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    declared_binary = bool(ctype) and not any(t in ctype for t in _TEXTUAL)
    if not declared_binary and not _CONTROL.search(text[:4096]):
        return None
    data = text.encode("utf-8", errors="surrogatepass")
    return (f"{ctype or 'no content type'}, {len(data):,} bytes as recorded, "
            f"SHA-256 {hashlib.sha256(data).hexdigest()}, first bytes: {data[:32].hex(' ')}")


def pre_text(text: str) -> Markup:
    """Escape for element content only (& < >): quotes need no escaping there, and escaping every \"
    of a JSON body made the report a third larger. Never use this inside an attribute."""
    return Markup(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _body(text: str | None, content_type: str = "", limit: int = MAX_BODY_CHARS) -> tuple[str, str]:
    """Redact, pretty-print JSON, truncate; returns (body, note about truncation)."""
    if not text:
        return "", ""
    if (summary := binary_summary(text, content_type)) is not None:
        return "", f"Binary body: {summary}."
    body = redact_text(text)
    if body.lstrip()[:1] in ("{", "["):
        with contextlib.suppress(ValueError):  # not JSON after all: shown as sent
            body = indented_json(loads_bounded(body))
    if len(body) > limit:
        why = "" if limit == MAX_BODY_CHARS else " (evidence of passing checks only is shortened)"
        note = f"Truncated: showing the first {limit:,} of {len(body):,} characters{why}."
        return body[:limit], note
    return body, ""


@dataclass
class LocationMark:
    """A location some failing checks named in one exchange's response body, and the rows to link to it."""

    location: str
    titles: list[str]
    sinks: list[list[tuple[str, str]]]  # each citing row's "marks": (anchor, location) added once resolved


def _marked_body(text: str | None, content_type: str, limit: int,
                 marks: list[LocationMark], ev_id: str) -> tuple[Markup, str] | None:
    """The redacted JSON body pretty-printed with the lines of each resolvable location in a <mark>;
    None when there is nothing to mark (not JSON, binary, or no location resolves)."""
    if not text or binary_summary(text, content_type) is not None:
        return None
    body = redact_text(text)  # highlight after redaction: the marks never see an unredacted byte
    try:
        document = loads_bounded(body)
    except ValueError:
        return None
    pretty, spans = pretty_lines(document)
    note = ""
    if len(pretty) > limit:
        note = f"Truncated: showing the first {limit:,} of {len(pretty):,} characters."
        pretty = pretty[:limit]
    lines = pretty.split("\n")
    whole = len(lines) - 1 if note else len(lines)  # a cut last line cannot close a mark
    by_path: dict[JsonPath, list[LocationMark]] = {}
    for m in marks:
        path = resolve(document, m.location)
        if path is not None and path in spans and spans[path][1] < whole:
            by_path.setdefault(path, []).append(m)
    if not by_path:
        return None
    # Spans of a tree nest or are disjoint: open outer first, close inner first.
    ordered = sorted(by_path, key=lambda p: (spans[p][0], -spans[p][1]))
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for n, path in enumerate(ordered):
        anchor = f"{ev_id}-at{n + 1}"
        first, last = spans[path]
        title = "; ".join(dict.fromkeys(t for m in by_path[path] for t in m.titles))
        opens.setdefault(first, []).append(f'<mark id="{anchor}" title="{escape(title)}">')
        closes.setdefault(last, []).insert(0, "</mark>")
        for m in by_path[path]:
            for sink in m.sinks:
                if (anchor, m.location) not in sink:
                    sink.append((anchor, m.location))
    out = []
    for i, line in enumerate(lines):
        out.append("".join(opens.get(i, ())) + str(pre_text(line)) + "".join(closes.get(i, ())))
    return Markup("\n".join(out)), note


def exchange_view(ex: Exchange, limit: int = MAX_BODY_CHARS,
                   marks: list[LocationMark] | None = None, ev_id: str = "") -> ExchangeView:
    req_body, req_note = _body(ex.request_body, header_content_type(ex.request_headers), limit)
    marked = _marked_body(ex.response_body, header_content_type(ex.response_headers), limit, marks, ev_id) if marks else None
    if marked is not None:
        return ExchangeView(
            method=ex.method, url=redact_text(ex.url), status=ex.status, elapsed_ms=ex.elapsed_ms,
            error=redact_text(ex.error), request_headers=redact_headers(ex.request_headers),
            request_body=pre_text(req_body), request_note=req_note,
            response_headers=redact_headers(ex.response_headers),
            response_body=marked[0], response_note=marked[1], marked=True,
        )
    resp_body, resp_note = _body(ex.response_body, header_content_type(ex.response_headers), limit)
    return ExchangeView(
        method=ex.method,
        url=redact_text(ex.url),
        status=ex.status,
        elapsed_ms=ex.elapsed_ms,
        error=redact_text(ex.error),
        request_headers=redact_headers(ex.request_headers),
        request_body=pre_text(req_body),
        request_note=req_note,
        response_headers=redact_headers(ex.response_headers),
        response_body=pre_text(resp_body),
        response_note=resp_note,
    )


def _exchange_index(e: Entry) -> int | None:
    if e.check is None:  # a case that errored: its last exchange is the evidence of the error
        return len(e.case.exchanges) - 1 if e.case.exchanges else None
    idx = e.check.exchange
    return idx if idx is not None and 0 <= idx < len(e.case.exchanges) else None


class EvidenceStore:
    """Each exchange rendered once, in the Evidence section, and linked from every row citing it.

    A case citing five requirements used to repeat its exchanges five times (half of the report's size).
    """

    def __init__(self, case_index: dict[int, int]) -> None:
        self.case_index = case_index
        self.items: dict[tuple[int, int], dict[str, Any]] = {}

    def cite(self, e: Entry, idx: int, group_id: str, row_marks: list[tuple[str, str]] | None = None) -> str:
        """The evidence id; a failing check's locations are remembered, and ``row_marks`` receives
        (anchor, location) for each one that is marked when the evidence is rendered."""
        key = (self.case_index[id(e.case)], idx)
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = {
                "id": f"ev-{key[0]}-{idx + 1}", "no": idx + 1, "case": e.case.case, "nodeid": e.case.nodeid,
                "exchange": e.case.exchanges[idx], "cited_by": [], "all_pass": True, "marks": {},
            }
        if group_id not in item["cited_by"]:
            item["cited_by"].append(group_id)
        if e.check is not None and e.verdict is not Verdict.PASS and row_marks is not None:
            title = f"{e.check.check} check, {e.verdict.value.upper()} ({', '.join(e.check.requirement)})"
            for loc in e.check.locations:
                mark = item["marks"].setdefault(loc, LocationMark(loc, [], []))
                if title not in mark.titles:
                    mark.titles.append(title)
                if not any(s is row_marks for s in mark.sinks):
                    mark.sinks.append(row_marks)
        item["all_pass"] = item["all_pass"] and e.verdict is Verdict.PASS
        return str(item["id"])

    def ordered(self) -> list[dict[str, Any]]:
        out = []
        for k in sorted(self.items):
            item = dict(self.items[k])
            limit = MAX_PASSING_BODY_CHARS if item.pop("all_pass") else MAX_BODY_CHARS
            marks = list(item.pop("marks").values())
            item["view"] = exchange_view(item.pop("exchange"), limit, marks, str(item["id"]))
            out.append(item)
        return out


def _group_view(group: Group, evidence: EvidenceStore) -> dict[str, Any]:
    req = catalogue.get(group.id)
    finding = catalogue.get_finding(group.id)
    rows = []
    for e in group.entries:
        idx = _exchange_index(e)
        marks: list[tuple[str, str]] = []  # filled when the evidence is rendered (EvidenceStore.ordered)
        rows.append({
            "case": e.case.case,
            "nodeid": e.case.nodeid,
            "suite": e.case.suite_id,
            "check": e.check.check if e.check else "(case)",
            "level": e.level.value,
            "level_reason": e.case.level_reason or "",
            "verdict": e.verdict.value,
            "reason": redact_text(e.reason),
            "detail": redact_text(e.check.detail) if e.check else "",
            "ev": evidence.cite(e, idx, group.id, marks) if idx is not None else None,
            "exchange_no": idx + 1 if idx is not None else None,
            "marks": marks,
        })
    return {
        "id": group.id,
        "rows": _merge_passing(rows),
        "known": req is not None or finding is not None,
        "level_text": req.level_text if req else "",
        "level": req.level.value if req else "",
        "title": req.title if req else (finding.title if finding else ""),
        "section": req.section if req else "",
        "text": req.text if req else (finding.text if finding else ""),
        "check_text": req.check if req else "",
        "test": req.test if req else "",
        "basis": req.basis if req else "",
        "verdict": group.verdict.value,
        "counts": group.counts(),
    }


def _merge_passing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The passing checks of one case under one requirement become one row naming them (the rows were
    most of a clean run's report and of its load time); every other verdict keeps its own row."""
    out: list[dict[str, Any]] = []
    for r in rows:
        r["evs"] = [(r["ev"], r["exchange_no"])] if r["ev"] else []
        prev = out[-1] if out else None
        if (r["verdict"] == "pass" and prev is not None and prev["verdict"] == "pass"
                and prev["nodeid"] == r["nodeid"] and prev["level"] == r["level"]):
            prev["checks"][r["check"]] = prev["checks"].get(r["check"], 0) + 1
            prev["evs"] += [e for e in r["evs"] if e not in prev["evs"]]
            prev["merged"] += 1
            continue
        r["checks"] = {r["check"]: 1}
        r["merged"] = 1
        out.append(r)
    for r in out:
        if r["merged"] > 1:
            r["check"] = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in r["checks"].items())
            r["reason"], r["detail"] = f"{r['merged']} checks passed", ""
    return out


_FIRST = ("fail", "warn")  # what the failures table lists; errors are the INCOMPLETE banner's


def failures_table(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requirements failed (FAIL) then warned (WARN), catalogue order within each, with the first reason."""
    out = []
    for verdict in _FIRST:
        for g in groups:
            if g["verdict"] != verdict:
                continue
            bad = [r for r in g["rows"] if r["verdict"] == verdict]
            out.append({
                "id": g["id"], "level": g["level_text"] or bad[0]["level"], "title": g["title"],
                "verdict": verdict, "cases": sorted({r["case"] for r in bad}),
                "reason": bad[0]["reason"], "ev": bad[0]["ev"],
            })
    return out


def shared_causes(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures of one case and one exchange cited under several requirements: one cause, named once."""
    clusters: dict[tuple[str, str], dict[str, Any]] = {}
    for g in groups:
        for r in g["rows"]:
            if r["verdict"] not in _FIRST:
                continue
            key = (r["nodeid"], r["ev"] or r["reason"])
            c = clusters.setdefault(key, {"case": r["case"], "nodeid": r["nodeid"], "ev": r["ev"],
                                          "exchange_no": r["exchange_no"], "requirements": [], "reasons": Counter()})
            if g["id"] not in c["requirements"]:
                c["requirements"].append(g["id"])
            c["reasons"][r["reason"]] += 1
    out = []
    for c in clusters.values():
        if len(c["requirements"]) > 1:
            c["reason"] = c.pop("reasons").most_common(1)[0][0]
            out.append(c)
    return sorted(out, key=lambda c: -len(c["requirements"]))


def by_suite(cases: list[CaseResult]) -> list[dict[str, Any]]:
    """Cases grouped by area, then suite, with their verdicts and cited requirements."""
    suites: dict[str, dict[str, Any]] = {}
    for c in cases:
        s = suites.setdefault(c.suite_id, {"id": c.suite_id, "title": c.suite, "area": c.area, "cases": []})
        s["cases"].append({"case": c.case, "verdict": c.verdict.value, "requirement": list(c.requirement)})
    out = sorted(suites.values(), key=lambda s: (s["area"], s["id"]))
    for s in out:
        s["counts"] = count_verdicts(Verdict(c["verdict"]) for c in s["cases"])
        s["verdict"] = worst([Verdict(c["verdict"]) for c in s["cases"]]).value
    return out


def fmt_time(iso: str) -> str:
    if not iso:
        return "—"
    try:
        dt = datetime.fromisoformat(iso)  # 3.11+ reads a trailing Z
    except ValueError:
        return iso
    tz = dt.strftime("%Z") or ""
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (f" {tz}" if tz else "")


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """jinja2's per-user cache of compiled templates (a private folder under the temporary directory);
    a cache that cannot be read or written only costs the compile, never the report."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError, ValueError, EOFError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _QuietBytecodeCache()  # creates and checks the folder (owner, mode 0700), or raises
    except (OSError, RuntimeError):
        return None


@functools.cache
def template_environment() -> jinja2.Environment:
    """One per process: a template is compiled once however many reports the process writes, and
    its compiled code is kept between processes (compiling report.html.j2 took ~0.2 s of every run)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("imgconf.report", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,  # explicit: the template name ends in .j2, which select_autoescape misses
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(run: RunInfo, cases: list[CaseResult], summary: dict[str, Any] | None = None) -> str:
    """The HTML report; ``summary`` is build_summary(run, cases) when the caller has it already."""
    ordered = sort_cases(cases)
    summary = summary if summary is not None else build_summary(run, ordered)
    req_groups, find_groups = group_by_id(ordered)
    case_index = {id(c): i for i, c in enumerate(ordered)}  # identity: node ids may repeat
    reqs = catalogue.requirements()
    gaps = [reqs[i] for i in summary["coverage"]]
    level_rows = [
        lvl.value for lvl in LEVELS
        if lvl.value in ("SHALL", "SHOULD", "MAY") or sum(summary["totals"]["checks_by_level"][lvl.value].values())
    ]
    evidence = EvidenceStore(case_index)
    groups = [_group_view(g, evidence) for g in req_groups]
    findings = []
    for g in find_groups:
        f = catalogue.get_finding(g.id)
        assert f is not None
        # The catalogue text opens with the bold title; do not print it twice.
        body = f.text[len(f.title):].lstrip(". ") if f.text.startswith(f.title) else f.text
        findings.append({"finding": f, "body": body, "group": _group_view(g, evidence)})
    filter_counts = {v: sum(1 for g in groups if g["counts"].get(v)) for v in (x.value for x in VERDICTS)}
    return template_environment().get_template("report.html.j2").render(
        run=summary["run"],
        outcome=summary["outcome"],
        interrupted=summary.get("interrupted"),
        selection=describe_selection(summary.get("selection") or {}),
        incomplete=summary.get("incomplete"),
        totals=summary["totals"],
        level_rows=level_rows,
        verdicts=[v.value for v in VERDICTS],
        started=fmt_time(run.started_at),
        finished=fmt_time(run.finished_at),
        duration=fmt_duration(run.duration_s),
        groups=groups,
        failures=failures_table(groups),
        shared=shared_causes(groups),
        suites=by_suite(ordered),
        filter_counts=filter_counts,
        evidence=evidence.ordered(),
        findings=findings,
        gaps=gaps,
        catalogue_sha=summary["catalogue"]["sha256"][:12],
        case_count=len(ordered),
        search_parameters=(run.options or {}).get("search_parameters") or {},
    )


def write_html(path: Path, run: RunInfo, cases: list[CaseResult], summary: dict[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, cases, summary), encoding="utf-8")

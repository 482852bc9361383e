"""Where `imgconf fuzz` results go: the same reports as `imgconf run` (summary.json, junit.xml, report.html).

- ``summary.json`` gets a ``fuzz`` section (merged into the summary `imgconf run` wrote in the folder, or a
  fresh summary with no cases that `imgconf compare` and `imgconf matrix` read). A SHALL finding makes the
  summary's outcome FAIL, as a failing SHALL check does; the outcome without fuzz is kept in the section so
  a later fuzz run into the same folder replaces, never compounds, its effect.
- ``junit.xml`` gets one testsuite "imgconf fuzz": one testcase per cause (SHALL: a <failure>; SHOULD: a
  ``warning`` property and system-out, as suite warnings are) plus one testcase for the run itself.
- ``report.html`` gets a fuzz section (findings, evidence, left-out parameters, counts) spliced at the markers
  report.html.j2 leaves for it; without a report.html a small report of the fuzz run alone is written.

A baseline never changes a verdict, exactly as with suite baselines: a known finding stays a failure in
junit.xml and the report, marked "known" with the baseline's reason; the gate is the baseline's outcome
(``fuzz.baseline`` in summary.json, and the exit status of `imgconf fuzz`).
Every string written goes through the report redaction (secrets by shape and by registered value).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from imgconf import __version__, catalogue
from imgconf.fuzz.baseline import is_failing_level
from imgconf.fuzz.model import FuzzFinding, FuzzRun
from imgconf.report.redact import redact_headers, redact_text

if TYPE_CHECKING:
    from imgconf.fuzz.baseline import BaselineOutcome

FUZZ_SUITE = "imgconf fuzz"
DEFAULT_RESOURCE_TYPES = ("ImagingStudy", "DocumentReference", "Patient")
_HEADER_KEYS = frozenset({"request_headers", "response_headers", "headers"})


class FuzzReportError(ValueError):
    """An existing report in the folder cannot be merged into (it is not imgconf's)."""


# -- what a finding says -----------------------------------------------------------------------

def reproduce_command(run: FuzzRun, finding: FuzzFinding | None = None) -> str:
    """The `imgconf fuzz` command line that generates the same queries again (same target, seed, budget)."""
    parts = ["imgconf", "fuzz"]
    if run.target_args is None:
        parts += ["--target", run.target]
    elif run.target_args:
        parts.append(run.target_args)
    if run.budget is not None:
        parts += ["--budget", str(run.budget)]
    elif run.seconds is not None:
        parts += ["--seconds", f"{run.seconds:g}"]
    parts += ["--seed", str(finding.seed if finding else run.seed)]
    if tuple(run.resource_types) != DEFAULT_RESOURCE_TYPES:
        for rtype in run.resource_types:
            parts += ["--resource", rtype]
    if not run.restricted_to_capability:
        parts.append("--probe-all")
    if run.actors_named:  # the same judgement needs the same actors (claimed ones are read again from /metadata)
        for actor in run.actors or ["none"]:
            parts += ["--actor", actor]
    return redact_text(" ".join(parts))


def query_url(run: FuzzRun, finding: FuzzFinding) -> str:
    """The shrunk query against the target, to paste into a browser or curl (POST: the form body after ``?``)."""
    q = finding.query
    url = f"{run.target.rstrip('/')}/{q.path}" + (f"?{q.query_string}" if q.params else "")
    return redact_text(("POST " if q.method == "POST" else "") + url)


def readable_query(finding: FuzzFinding) -> str:
    """The shrunk query as a person reads it: parameters not percent-encoded (the ``url`` is the pasteable one)."""
    q = finding.query
    where = "POST " if q.method == "POST" else ""
    return f"{where}{q.path}?" + "&".join(f"{k}={v}" for k, v in q.params) if q.params else f"{where}{q.path}"


def verdict_of(finding: FuzzFinding) -> str:
    """fail for a SHALL defect, warn for a SHOULD one — the suites' words."""
    return "fail" if is_failing_level(finding.defect.level) else "warn"


def fuzz_outcome(run: FuzzRun) -> str:
    """pass or fail: fail when a SHALL finding exists (known by a baseline or not — a baseline is no verdict)."""
    return "fail" if any(verdict_of(f) == "fail" for f in run.findings) else "pass"


def _redacted(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        if key in _HEADER_KEYS and all(isinstance(v, str) for v in node.values()):
            return redact_headers({str(k): v for k, v in node.items()})
        return {k: _redacted(v, str(k)) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_redacted(v, key) for v in node]
    if isinstance(node, str):
        return redact_text(node) if node else node
    return node


def _finding_json(run: FuzzRun, f: FuzzFinding) -> dict[str, Any]:
    data = f.to_json()
    expected, actual = list(f.expected_ids), list(f.actual_ids)
    data |= {
        "verdict": verdict_of(f),
        "missing": [i for i in expected if i not in set(actual)],
        "unexpected": [i for i in actual if i not in set(expected)] if f.defect.kind == "precision" else [],
        "readable": readable_query(f),
        "url": query_url(run, f),
        "reproduce": reproduce_command(run, f),
    }
    return data


def fuzz_section(run: FuzzRun, baseline: BaselineOutcome | None = None) -> dict[str, Any]:
    """summary.json's ``fuzz`` section: the run, its findings (redacted) and counts."""
    data = run.to_json()
    data["findings"] = [_finding_json(run, f) for f in run.findings]
    data["outcome"] = fuzz_outcome(run)
    data["counts"] = {
        "findings": len(run.findings),
        "SHALL": sum(1 for f in run.findings if verdict_of(f) == "fail"),
        "SHOULD": sum(1 for f in run.findings if verdict_of(f) == "warn"),
        "known": sum(1 for f in run.findings if f.known),
    }
    if baseline is not None:
        data["baseline"] = baseline.to_json()
    data["reproduce"] = reproduce_command(run)
    return dict(_redacted(data))


# -- summary.json ------------------------------------------------------------------------------

_REQUEST_LINE = ("method", "url", "status", "elapsed_ms", "error")


def request_lines_only(section: dict[str, Any]) -> dict[str, Any]:
    """The section with each finding's evidence cut to request lines: bodies and headers stay in report.html,
    as summary.json's cases keep them (a fuzz run's evidence is every page of every shrunk query)."""
    findings = [{**f, "evidence": [{k: ex.get(k) for k in _REQUEST_LINE} for ex in f.get("evidence") or []]}
                for f in section["findings"]]
    return {**section, "findings": findings}


def _fresh_summary(run: FuzzRun) -> dict[str, Any]:
    from imgconf.editions import DEFAULT_EDITION
    from imgconf.report.summary import build_summary
    from imgconf.results import RunInfo

    now = dt.datetime.now(dt.UTC)
    info = RunInfo(
        target_url=run.target, embedded=run.target_args == "", server_software="unknown", server_version="",
        fhir_version="", harness_version=__version__, edition=DEFAULT_EDITION,
        started_at=(now - dt.timedelta(seconds=run.duration_s)).isoformat(timespec="seconds"),
        finished_at=now.isoformat(timespec="seconds"), duration_s=round(run.duration_s, 3),
        options={"selection": {"fuzz_only": True}},  # no suite ran: at best PARTIAL, never PASS
    )
    return build_summary(info, [])


def _combined_outcome(without_fuzz: str, fuzz: str) -> str:
    if without_fuzz == "interrupted" or fuzz != "fail":
        return without_fuzz
    return "fail"


def merge_summary(path: Path, run: FuzzRun, section: dict[str, Any]) -> dict[str, Any]:
    """The folder's summary.json with ``section`` as its ``fuzz`` (replacing an earlier one), written back."""
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FuzzReportError(f"{path}: not a readable summary.json ({exc}); not overwritten") from None
        if not isinstance(data, dict) or "summary_version" not in data or "cases" not in data:
            raise FuzzReportError(f"{path}: not an imgconf summary.json; not overwritten")
        if data.get("selection") == {"fuzz_only": True} and not data["cases"]:
            data = _fresh_summary(run)  # an earlier fuzz-only folder: this run's target and times, not that one's
    else:
        data = _fresh_summary(run)
    previous = data.get("fuzz")
    without = previous.get("outcome_without_fuzz") if isinstance(previous, dict) else None
    section = dict(section, outcome_without_fuzz=without or data["outcome"])
    data["fuzz"] = section
    data["outcome"] = _combined_outcome(section["outcome_without_fuzz"], section["outcome"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


# -- junit.xml ---------------------------------------------------------------------------------

def _prop(parent: ET.Element, name: str, value: Any) -> None:
    from imgconf.report.junit import xml_text

    ET.SubElement(parent, "property", name=name, value=xml_text(str(value)))


def _failure_text(f: dict[str, Any]) -> str:
    lines = [
        f"[{', '.join(f['defect']['requirement'])} {f['defect']['level']}] {f['defect']['kind']}: {f['defect']['message']}",
        f"shrunk query: {f['readable']}",
        f"shape: {f['shape']}",
        f"expected ids ({len(f['expected_ids'])}): {', '.join(f['expected_ids']) or '-'}",
        f"returned ids ({len(f['actual_ids'])}): {', '.join(f['actual_ids']) or '-'}",
    ]
    if f["missing"]:
        lines.append(f"missing: {', '.join(f['missing'])}")
    if f["unexpected"]:
        lines.append(f"returned, not an expected fixture: {', '.join(f['unexpected'])}")
    lines += [f"query: {f['url']}", f"reproduce: {f['reproduce']}",
              f"{f['occurrences']} generated quer{'y' if f['occurrences'] == 1 else 'ies'} with this cause before shrinking"]
    if f.get("known"):
        lines.append(f"known (baseline): {f['known']}")
    return "\n".join(lines)


def fuzz_testsuite(summary: dict[str, Any]) -> ET.Element:
    """The "imgconf fuzz" <testsuite> of a summary with a ``fuzz`` section (already redacted)."""
    from imgconf.report.junit import run_properties, xml_text

    fuzz = summary["fuzz"]
    suite = ET.Element("testsuite", name=FUZZ_SUITE)
    props = ET.SubElement(suite, "properties")
    for name, value in run_properties(summary):
        _prop(props, name, value)
    for name in ("target", "seed", "budget", "seconds", "queries", "not_judged", "outcome"):
        if fuzz.get(name) is not None:
            _prop(props, f"imgconf_fuzz_{name}", fuzz[name])
    if (base := fuzz.get("baseline")):
        _prop(props, "imgconf_fuzz_baseline", f"{base['outcome']}: {len(base['known'])} known, {len(base['new'])} new, "
                                              f"{len(base['not_reached'])} not reached")
    counts = {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}
    run_case = ET.SubElement(suite, "testcase", classname=FUZZ_SUITE, name="generated search queries",
                             time=f"{fuzz['duration_s']:.3f}")
    left_out = [f"{rtype}: {item}" for rtype, items in fuzz.get("left_out", {}).items() for item in items]
    ET.SubElement(run_case, "system-out").text = xml_text(
        f"{fuzz['queries']} queries judged, {fuzz['not_judged']} not judged; seed {fuzz['seed']}; "
        f"reproduce: {fuzz['reproduce']}" + ("\nleft out of generation:\n" + "\n".join(left_out) if left_out else ""))
    for f in fuzz["findings"]:
        counts["tests"] += 1
        tc = ET.SubElement(suite, "testcase", classname=FUZZ_SUITE, name=xml_text(f["cause"]), time="0.000")
        tprops = ET.SubElement(tc, "properties")
        for req in f["defect"]["requirement"]:
            _prop(tprops, "requirement", req)
        _prop(tprops, "level", f["defect"]["level"])
        _prop(tprops, "verdict", f["verdict"])
        _prop(tprops, "shape", f["shape"])
        _prop(tprops, "seed", f["seed"])
        if f.get("known"):
            _prop(tprops, "baseline", f"known: {f['known']}")
        first_line = (f["defect"]["message"] or f["defect"]["kind"]).splitlines()[0]
        head = f"[{', '.join(f['defect']['requirement'])} {f['defect']['level']}] {first_line}"
        if f["verdict"] == "fail":
            ET.SubElement(tc, "failure", message=xml_text(head), type=f["defect"]["level"]).text = xml_text(_failure_text(f))
            counts["failures"] += 1
        else:  # a SHOULD finding: visible, not a failure (as suite warnings; the gate decides with --strict-should)
            _prop(tprops, "warning", head)
            ET.SubElement(tc, "system-out").text = xml_text("SHOULD warning " + _failure_text(f))
    for key, count in counts.items():
        suite.set(key, str(count))
    suite.set("time", f"{fuzz['duration_s']:.3f}")
    return suite


def _sum_totals(root: ET.Element) -> None:
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key) or 0) for s in root.iter("testsuite"))))


def merge_junit(path: Path, summary: dict[str, Any]) -> None:
    """junit.xml with the fuzz testsuite (replacing an earlier one); from the summary when there is none."""
    from imgconf.report.junit import build_junit

    root: ET.Element | None = None
    if path.exists():
        try:  # our own file (or pytest's --junitxml): parsed only to append a testsuite
            root = ET.parse(path).getroot()
        except ET.ParseError:
            root = None
        if root is not None and root.tag == "testsuite":  # a single-suite file: wrap it
            wrapper = ET.Element("testsuites", name="imgconf")
            wrapper.append(root)
            root = wrapper
        if root is not None:
            for old in [s for s in root.findall("testsuite") if s.get("name") == FUZZ_SUITE]:
                root.remove(old)
            root.append(fuzz_testsuite(summary))
            _sum_totals(root)
    if root is None:
        root = build_junit(summary)  # junit.py adds the fuzz testsuite of a summary that has one
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# -- report.html -------------------------------------------------------------------------------

def _exchange_views(evidence: list[dict[str, Any]]) -> list[Any]:
    from imgconf.report.html import exchange_view
    from imgconf.results import Exchange

    views = []
    for ex in evidence:
        exchange = Exchange(
            method=str(ex.get("method", "")), url=str(ex.get("url", "")),
            request_headers=dict(ex.get("request_headers") or {}), request_body=ex.get("request_body"),
            status=ex.get("status"), response_headers=dict(ex.get("response_headers") or {}),
            response_body=ex.get("response_body"), elapsed_ms=float(ex.get("elapsed_ms") or 0.0), error=ex.get("error"),
        )
        views.append(exchange_view(exchange))  # redacts again, truncates, pretty-prints JSON
    return views


def render_fuzz_section(summary: dict[str, Any]) -> Markup:
    """The fuzz <section> of report.html, from a summary's ``fuzz`` section."""
    from imgconf.report.html import fmt_duration, template_environment

    fuzz = summary["fuzz"]
    findings = []
    for f in fuzz["findings"]:
        reqs = [{"id": r, "title": (req.title if (req := catalogue.get(r)) else "")} for r in f["defect"]["requirement"]]
        findings.append({
            "verdict": f["verdict"], "level": f["defect"]["level"], "known": f.get("known"), "cause": f["cause"],
            "query": f["readable"], "message": f["defect"]["message"], "shape": f["shape"],
            "occurrences": f["occurrences"], "requirements": reqs, "expected_ids": f["expected_ids"],
            "actual_ids": f["actual_ids"], "missing": f["missing"], "unexpected": f["unexpected"], "url": f["url"],
            "reproduce": f["reproduce"], "evidence": _exchange_views(f.get("evidence") or []),
        })
    html = template_environment().get_template("fuzz_section.html.j2").render(
        fuzz=fuzz, findings=findings, baseline=fuzz.get("baseline"), duration=fmt_duration(fuzz["duration_s"]))
    return Markup(html)  # rendered by an autoescaping environment


def _region(name: str, content: str) -> str:
    return f"<!-- imgconf-fuzz-{name}:begin -->{content}<!-- imgconf-fuzz-{name}:end -->"


def splice(page: str, name: str, content: str, fallback: str | None = None) -> str | None:
    """``page`` with the fuzz region ``name`` replaced (or put at its marker, else before ``fallback``); None if nowhere."""
    region = re.compile(re.escape(f"<!-- imgconf-fuzz-{name}:begin -->") + ".*?"
                        + re.escape(f"<!-- imgconf-fuzz-{name}:end -->"), re.DOTALL)
    new = _region(name, content)
    if region.search(page):
        return region.sub(lambda _: new, page, count=1)
    marker = f"<!-- imgconf-fuzz-{name} -->"
    if marker in page:
        return page.replace(marker, marker + new, 1)
    if fallback is not None and fallback in page:
        at = page.rindex(fallback)
        return page[:at] + new + "\n" + page[at:]
    return None


def _alert(summary: dict[str, Any]) -> str:
    fuzz = summary["fuzz"]
    if fuzz["outcome"] != "fail" or fuzz.get("outcome_without_fuzz") == "fail":
        return ""
    n = fuzz["counts"]["SHALL"]
    return str(Markup('<div class="alert">Generative search testing (<a href="#fuzz">imgconf fuzz</a>) found {} SHALL '
                      'deviation(s): with it, this run\'s outcome is FAIL.</div>').format(n))


def merge_html(path: Path, summary: dict[str, Any]) -> Path:
    """The fuzz section in the folder's report.html, or a report of the fuzz run alone; returns the file written."""
    from imgconf.report.html import template_environment

    section = str(render_fuzz_section(summary))
    fuzz_only = summary.get("selection") == {"fuzz_only": True} and not summary["cases"]
    if path.exists() and not fuzz_only:  # a fuzz-only folder's page is written anew, header included
        page: str | None = path.read_text(encoding="utf-8")
        assert page is not None
        page = splice(page, "section", section, fallback="</main>")
        if page is not None:
            page = splice(page, "alert", _alert(summary)) or page
            page = splice(page, "nav", '<a href="#fuzz" style="margin-left:12px">Fuzz</a>') or page
            path.write_text(page, encoding="utf-8")
            return path
        path = path.with_name("fuzz-report.html")  # not a report imgconf wrote: leave it alone
    from imgconf.report.summary import VERDICTS

    fuzz = summary["fuzz"]
    html = template_environment().get_template("fuzz_report.html.j2").render(
        section=Markup(section), target=redact_text(fuzz["target"]), outcome=summary["outcome"],
        harness_version=__version__, verdicts=[v.value for v in VERDICTS],
        written=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


# -- all of them -------------------------------------------------------------------------------

def write_fuzz_reports(run: FuzzRun, reports_dir: Path, *, baseline: BaselineOutcome | None = None) -> list[Path]:
    """summary.json (``fuzz`` section), junit.xml (testsuite "imgconf fuzz") and report.html (fuzz section)
    in ``reports_dir``, merged into what `imgconf run` wrote there; returns the files written."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    section = fuzz_section(run, baseline)
    summary = merge_summary(reports_dir / "summary.json", run, request_lines_only(section))
    merge_junit(reports_dir / "junit.xml", summary)
    # The page shows the whole exchanges (as report.html does for the suites); summary.json keeps request lines.
    html = merge_html(reports_dir / "report.html", {**summary, "fuzz": {**summary["fuzz"], "findings": section["findings"]}})
    return [reports_dir / "summary.json", reports_dir / "junit.xml", html]

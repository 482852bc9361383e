"""junit.xml for CI, written from summary.json's data so that it counts what the report counts.

One testcase per case, classname = suite id; properties requirement (one per id), level, verdict.
A SHALL failure is a <failure>; a SHOULD warning is visible (system-out and a ``warning`` property)
but not a failure unless --strict-should; an infrastructure error is one line plus the request that
hit it, never a traceback; a case not run is <skipped> with its reason. The run's outcome, selection
and shared cause of errors are properties of every testsuite (CI tools read the first).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from imgconf.report.outcome import describe_selection

_INVALID_XML = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)], None)


def xml_text(text: str) -> str:
    """XML 1.0 cannot hold control characters; a server's error text may."""
    return (text or "").translate(_INVALID_XML)


def _prop(parent: ET.Element, name: str, value: Any) -> None:
    ET.SubElement(parent, "property", name=name, value=xml_text(str(value)))


def run_properties(summary: dict[str, Any]) -> list[tuple[str, str]]:
    run = summary["run"]
    props = [
        ("imgconf_outcome", summary["outcome"]),
        ("imgconf_target", run["target_url"]),
        ("imgconf_server", f"{run['server_software']} {run['server_version']}".strip()),
        ("imgconf_edition", run["edition"]),
        ("imgconf_harness_version", run["harness_version"]),
    ]
    if summary.get("selection"):
        props.append(("imgconf_selection", describe_selection(summary["selection"])))
    if (inc := summary.get("incomplete")):
        props.append(("imgconf_incomplete", f"{inc['errors']} error(s), {inc['not_run_unreachable']} not run; cause: {inc['cause']}"))
    if (stopped := summary.get("interrupted")):
        props.append(("imgconf_interrupted", f"{stopped['reason']}: {stopped['cases_run']} of {stopped['cases_total']} cases ran"))
    return props


def _evidence_line(case: dict[str, Any]) -> str:
    if not case["exchanges"]:
        return ""
    ex = case["exchanges"][-1]
    return f"{ex['method']} {ex['url']} -> {ex['status'] if ex['status'] is not None else ex['error']}"


def build_junit(summary: dict[str, Any]) -> ET.Element:
    strict = bool(summary["run"].get("options", {}).get("strict_should"))
    checks_by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ch in summary["checks"]:
        checks_by_case[ch["nodeid"]].append(ch)
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in summary["cases"]:
        by_suite[case["suite_id"]].append(case)

    root = ET.Element("testsuites", name="imgconf")
    totals: defaultdict[str, float] = defaultdict(int)
    for suite_id, cases in by_suite.items():
        suite = ET.SubElement(root, "testsuite", name=suite_id)
        props = ET.SubElement(suite, "properties")
        for name, value in run_properties(summary):
            _prop(props, name, value)
        counts: defaultdict[str, float] = defaultdict(int)
        for case in cases:
            counts["tests"] += 1
            counts["time"] += case["duration_s"]
            kind = _testcase(suite, case, checks_by_case.get(case["nodeid"], []), strict)
            if kind:
                counts[kind] += 1
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
            totals[key] += counts[key]
        suite.set("time", f"{counts['time']:.3f}")
    if summary.get("fuzz"):  # `imgconf fuzz` wrote into this summary: its testsuite too
        from imgconf.fuzz.report import fuzz_testsuite

        fuzz_suite = fuzz_testsuite(summary)
        root.append(fuzz_suite)
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(fuzz_suite.get(key) or 0)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    return root


def _testcase(suite: ET.Element, case: dict[str, Any], checks: list[dict[str, Any]], strict: bool) -> str | None:
    """Adds the <testcase>; returns which counter it adds to (failures, errors, skipped or None)."""
    tc = ET.SubElement(suite, "testcase", classname=case["suite_id"], name=xml_text(case["case"]),
                       time=f"{case['duration_s']:.3f}")
    props = ET.SubElement(tc, "properties")
    for req in case["requirement"]:
        _prop(props, "requirement", req)
    _prop(props, "level", case["level"])
    _prop(props, "verdict", case["verdict"])
    warnings = [c for c in checks if c["verdict"] == "warn"]
    for w in warnings:
        _prop(props, "warning", f"[{', '.join(w['requirement'])} {w['level']}] {w['reason']}")
    for c in checks:  # needed a response the step did not get: shown, never a failure (issue 8 §2)
        if c["verdict"] == "not-judged":
            _prop(props, "not-judged", f"[{', '.join(c['requirement'])} {c['level']}] {c['check']}: {c['reason']}")
    failing = [c for c in checks if c["verdict"] == "fail" or (strict and c["verdict"] == "warn")]
    kind: str | None = None
    if case["verdict"] == "error":
        line = (case.get("error") or "error").splitlines()[0]
        ET.SubElement(tc, "error", message=xml_text(line), type="infrastructure").text = xml_text(_evidence_line(case))
        kind = "errors"
    elif failing:
        first = failing[0]
        body = "\n".join(
            f"[{', '.join(c['requirement'])} {c['level']}] {c['check']}: {c['reason']}" for c in failing
        )
        ET.SubElement(tc, "failure", message=xml_text(f"[{', '.join(first['requirement'])} {first['level']}] {first['reason']}"),
                      type=first["level"]).text = xml_text(body)
        kind = "failures"
    elif case["verdict"] in ("skip", "not-judged"):
        ET.SubElement(tc, "skipped", message=xml_text(case.get("skipped_reason") or case["verdict"]))
        kind = "skipped"
    if warnings:
        ET.SubElement(tc, "system-out").text = xml_text("\n".join(
            f"SHOULD warning [{', '.join(w['requirement'])} {w['level']}] {w['check']}: {w['reason']}" for w in warnings
        ))
    return kind


def write_junit(path: Path, summary: dict[str, Any]) -> None:
    root = build_junit(summary)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)

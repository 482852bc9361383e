"""Issue 14: `imgconf fuzz` results go to the same reports (summary.json ``fuzz``, junit.xml, report.html)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from lxml import etree
from report_demo import demo_cases, demo_run

from imgconf import secret_registry
from imgconf.compare import compare, load_summary
from imgconf.fuzz.model import Defect, FuzzFinding, FuzzQuery, FuzzRun
from imgconf.fuzz.report import FUZZ_SUITE, FuzzReportError, reproduce_command, write_fuzz_reports
from imgconf.matrix import load_columns
from imgconf.report.html import write_html
from imgconf.report.junit import write_junit
from imgconf.report.summary import write_summary

BASE = "http://127.0.0.1:8765/fhir"


def _evidence(token: str = "") -> list[dict[str, object]]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return [{
        "method": "GET", "url": f"{BASE}/ImagingStudy?started=eq2024-03",
        "request_headers": {"Accept": "application/fhir+json", **auth}, "request_body": None,
        "status": 200, "response_headers": {"Content-Type": "application/fhir+json"},
        "response_body": json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 1,
                                     "entry": [{"resource": {"resourceType": "ImagingStudy", "id": "is-day"}}],
                                     "meta": {"tag": [{"code": f"echo {token}"}]} if token else {}}),
        "elapsed_ms": 4.2, "error": None,
    }]


def _run(token: str = "", *, should: bool = False) -> FuzzRun:
    eq = FuzzFinding(
        cause="ImagingStudy started:eq precision", shape="started=eq<date:month>",
        query=FuzzQuery("ImagingStudy", (("started", "eq2024-03"),)),
        defect=Defect("precision", ("REST-072",), "SHALL",
                      "eq matched a study started on 2024-04-01, outside March 2024" + (f" ({token})" if token else "")),
        expected_ids=["is-month"], actual_ids=["is-month", "is-day"], seed=7, occurrences=12,
        evidence=_evidence(token),
    )
    ne = FuzzFinding(
        cause="ImagingStudy modality:not recall", shape="modality:not=<token:code>",
        query=FuzzQuery("ImagingStudy", (("modality:not", "CT"), ("_count", "1"))),
        defect=Defect("recall", ("REST-046",), "SHALL", "a study without a modality was not returned"),
        expected_ids=["is-none", "is-mr"], actual_ids=["is-mr"], seed=7, occurrences=3,
    )
    findings = [eq, ne]
    if should:
        findings.append(FuzzFinding(
            cause="ImagingStudy _sort order", shape="_sort=-started,<sortkey>",
            query=FuzzQuery("ImagingStudy", (("_sort", "-started,_id"),)),
            defect=Defect("order", ("REST-086",), "SHOULD", "the second sort key was not applied"),
            expected_ids=["a", "b"], actual_ids=["b", "a"], seed=7))
    return FuzzRun(target=BASE, resource_types=["ImagingStudy", "DocumentReference", "Patient"], seed=7, budget=200,
                   seconds=None, queries=200, not_judged=9, duration_s=6.5,
                   left_out={"Patient": ["gender: not declared in the CapabilityStatement"]}, findings=findings,
                   target_args="--target " + BASE)


def _junit_cases(path: Path) -> dict[str, etree._Element]:
    root = etree.parse(str(path)).getroot()
    suite = next(s for s in root.iter("testsuite") if s.get("name") == FUZZ_SUITE)
    return {tc.get("name"): tc for tc in suite.iter("testcase")}


def test_fresh_folder_gets_summary_junit_and_report(tmp_path: Path) -> None:
    written = write_fuzz_reports(_run(), tmp_path)
    assert {p.name for p in written} == {"summary.json", "junit.xml", "report.html"}

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    fuzz = summary["fuzz"]
    assert fuzz["queries"] == 200 and fuzz["not_judged"] == 9 and fuzz["seed"] == 7
    assert [f["cause"] for f in fuzz["findings"]] == ["ImagingStudy started:eq precision", "ImagingStudy modality:not recall"]
    first = fuzz["findings"][0]
    assert first["query"]["display"] == "ImagingStudy?started=eq2024-03"
    assert first["unexpected"] == ["is-day"] and fuzz["findings"][1]["missing"] == ["is-none"]
    assert first["url"] == f"{BASE}/ImagingStudy?started=eq2024-03"
    # request lines only, as the suites' cases in summary.json; the whole exchange is in report.html
    assert first["evidence"] == [{"method": "GET", "url": f"{BASE}/ImagingStudy?started=eq2024-03", "status": 200,
                                  "elapsed_ms": 4.2, "error": None}]
    assert first["reproduce"] == f"imgconf fuzz --target {BASE} --budget 200 --seed 7"
    assert fuzz["counts"] == {"findings": 2, "SHALL": 2, "SHOULD": 0, "known": 0}
    # Only fuzz ran here: at best PARTIAL without it, FAIL with two SHALL findings.
    assert fuzz["outcome"] == "fail" and fuzz["outcome_without_fuzz"] == "partial" and summary["outcome"] == "fail"
    assert summary["selection"] == {"fuzz_only": True}
    # The rest of the tooling reads it: compare and matrix.
    assert compare(load_summary(tmp_path), load_summary(tmp_path)).ok
    assert load_columns([tmp_path], tmp_path / "matrix.html")[0].summary["fuzz"]["seed"] == 7

    cases = _junit_cases(tmp_path / "junit.xml")
    failing = {name: tc.find("failure") for name, tc in cases.items() if tc.find("failure") is not None}
    assert set(failing) == {"ImagingStudy started:eq precision", "ImagingStudy modality:not recall"}
    text = failing["ImagingStudy started:eq precision"].text
    for part in ("shrunk query: ImagingStudy?started=eq2024-03", "[REST-072 SHALL]", "expected ids (1): is-month",
                 "returned ids (2): is-month, is-day", f"reproduce: imgconf fuzz --target {BASE} --budget 200 --seed 7"):
        assert part in text
    assert failing["ImagingStudy started:eq precision"].get("type") == "SHALL"
    root = etree.parse(str(tmp_path / "junit.xml")).getroot()
    assert root.get("failures") == "2" and root.get("tests") == "3"  # two causes and the run itself

    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<section id="fuzz"' in html and "ImagingStudy started:eq precision" in html
    assert "gender: not declared in the CapabilityStatement" in html  # left_out
    assert f'200 generated search queries to <span class="mono">{BASE}</span>' in html and "9 not judged" in html
    assert "Only <span" in html and "<h4>Response</h4>" in html and "application/fhir+json" in html


def test_merged_into_an_imgconf_run_folder_and_replaced_on_rerun(tmp_path: Path) -> None:
    run_info, cases = demo_run(), demo_cases()
    write_summary(tmp_path / "summary.json", run_info, cases)
    write_html(tmp_path / "report.html", run_info, cases)
    write_junit(tmp_path / "junit.xml", json.loads((tmp_path / "summary.json").read_text(encoding="utf-8")))
    before = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    suites_before = [s.get("name") for s in etree.parse(str(tmp_path / "junit.xml")).getroot().iter("testsuite")]

    write_fuzz_reports(_run(), tmp_path)
    write_fuzz_reports(_run(should=True), tmp_path)  # a second fuzz run replaces the first, never doubles it

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["cases"] == before["cases"] and summary["totals"] == before["totals"]
    assert summary["fuzz"]["outcome_without_fuzz"] == before["outcome"]
    assert len(summary["fuzz"]["findings"]) == 3

    root = etree.parse(str(tmp_path / "junit.xml")).getroot()
    names = [s.get("name") for s in root.iter("testsuite")]
    assert names == [*suites_before, FUZZ_SUITE]
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root.iter("testsuite"))
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in root.iter("testsuite"))

    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count('<section id="fuzz"') == 1 and html.count('href="#fuzz"') >= 1
    assert html.index('<section id="fuzz"') < html.index("</main>")
    assert 'id="req-' in html  # the suites' report is still there


def test_a_second_fuzz_only_run_names_its_own_target(tmp_path: Path) -> None:
    write_fuzz_reports(_run(), tmp_path)
    other = _run()
    other.target, other.findings = "http://127.0.0.1:9999/fhir", []
    write_fuzz_reports(other, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["run"]["target_url"] == other.target == summary["fuzz"]["target"]
    assert summary["outcome"] == "partial"  # the first run's SHALL findings are gone with it
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count('<section id="fuzz"') == 1 and other.target in html and BASE not in html


def test_should_finding_is_a_warning_and_a_known_one_stays_a_failure(tmp_path: Path) -> None:
    run = _run(should=True)
    run.findings[0].known = "Medplum compares dates as overlap"  # what apply_baseline sets
    write_fuzz_reports(run, tmp_path)
    cases = _junit_cases(tmp_path / "junit.xml")
    sort = cases["ImagingStudy _sort order"]
    assert sort.find("failure") is None and "SHOULD warning" in sort.find("system-out").text
    props = {p.get("name"): p.get("value") for p in sort.iter("property")}
    assert props["warning"].startswith("[REST-086 SHOULD]") and props["verdict"] == "warn"
    known = cases["ImagingStudy started:eq precision"]
    # As with suite baselines, a baseline is no verdict: the deviation stays a failure, marked known.
    assert known.find("failure") is not None
    assert ("baseline", "known: Medplum compares dates as overlap") in [(p.get("name"), p.get("value")) for p in known.iter("property")]
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["fuzz"]["counts"] == {"findings": 3, "SHALL": 2, "SHOULD": 1, "known": 1}


def test_clean_run_passes_and_says_so(tmp_path: Path) -> None:
    run = _run()
    run.findings = []
    write_fuzz_reports(run, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["fuzz"]["outcome"] == "pass" and summary["outcome"] == "partial"  # fuzz alone: never PASS
    cases = _junit_cases(tmp_path / "junit.xml")
    assert list(cases) == ["generated search queries"] and cases["generated search queries"].find("failure") is None
    assert "No finding" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_no_registered_secret_in_any_file(tmp_path: Path) -> None:
    token = "tok" + secrets.token_hex(16)
    secret_registry.register(token)
    run = _run(token)
    run.target = f"{BASE}?access_token={token}"
    run.target_args = None
    written = write_fuzz_reports(run, tmp_path)
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert token not in text, path.name
    assert "[redacted]" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_server_text_is_escaped_in_the_report(tmp_path: Path) -> None:
    run = _run()
    run.findings[1].query = FuzzQuery("ImagingStudy", (("identifier", "<script>alert(1)</script>"),))
    run.findings[1].defect = Defect("recall", ("REST-046",), "SHALL", "<img src=x onerror=alert(1)>")
    write_fuzz_reports(run, tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html


@pytest.mark.parametrize(("target_args", "types", "probe_all", "expected"), [
    ("", ["ImagingStudy", "DocumentReference", "Patient"], False, "imgconf fuzz --budget 200 --seed 7"),
    ("--with-target medplum", ["Patient"], True,
     "imgconf fuzz --with-target medplum --budget 200 --seed 7 --resource Patient --probe-all"),
    (None, ["ImagingStudy", "DocumentReference", "Patient"], False, f"imgconf fuzz --target {BASE} --budget 200 --seed 7"),
])
def test_reproduce_command(target_args: str | None, types: list[str], probe_all: bool, expected: str) -> None:
    run = _run()
    run.target_args, run.resource_types, run.restricted_to_capability = target_args, types, not probe_all
    assert reproduce_command(run) == expected


def test_reproduce_command_repeats_actors_the_run_named_and_not_those_it_read() -> None:
    run = _run()
    run.target_args, run.actors = "--with-target medplum", ["mhd-responder", "pdqm-supplier"]
    assert "--actor" not in reproduce_command(run)  # claimed in /metadata: read again by the reproducing run
    run.actors_named = True
    assert reproduce_command(run).endswith("--actor mhd-responder --actor pdqm-supplier")
    run.actors = []
    assert reproduce_command(run).endswith("--actor none")


def test_a_summary_json_that_is_not_imgconfs_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"something": "else"}', encoding="utf-8")
    with pytest.raises(FuzzReportError, match=r"not an imgconf summary\.json; not overwritten"):
        write_fuzz_reports(_run(), tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8")) == {"something": "else"}

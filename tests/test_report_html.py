"""report.html: self-contained, escaped, redacted, grouped by requirement."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from imgconf.report import write_html, write_summary
from report_demo import demo_cases, demo_run
from imgconf.results import CaseResult, CheckResult, Exchange, Level, Verdict

ACCESS = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJhY2Nlc3MifQ.UExBTlRFRC1BQ0NFU1M"
ASSERTION = "eyJhbGciOiJSUzM4NCIsImtpZCI6ImsxIn0.eyJpc3MiOiJjbGllbnQifQ.UExBTlRFRC1BU1NFUlRJT04"
REFRESH = "PLANTED-REFRESH-7f3a"
JWK_D = "PLANTED-JWK-PRIVATE-EXPONENT"
PEM_BODY = "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQPLANTEDKEY"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"
COOKIE = "sessionid=PLANTED-COOKIE-99"
SECRETS = (ACCESS, ASSERTION, REFRESH, JWK_D, PEM_BODY, "PLANTED-COOKIE-99")


def leaky_case() -> CaseResult:
    """A SMART case whose recorded evidence was NOT redacted upstream."""
    token_request = Exchange(
        method="POST",
        url="https://auth.example.org/token",
        request_headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": COOKIE},
        request_body=("grant_type=client_credentials&scope=system%2FPatient.rs"
                      f"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                      f"&client_assertion={ASSERTION}"),
        status=200,
        response_headers={"Content-Type": "application/json", "Set-Cookie": COOKIE},
        response_body=json.dumps({"access_token": ACCESS, "token_type": "bearer", "expires_in": 300,
                                  "refresh_token": REFRESH, "scope": "system/Patient.rs"}),
        elapsed_ms=12.0,
    )
    jwks = Exchange(
        method="GET",
        url="https://client.example.org/.well-known/jwks.json",
        request_headers={"Authorization": f"Bearer {ACCESS}"},
        request_body=None,
        status=200,
        response_headers={"Content-Type": "application/json"},
        response_body=json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB-public", "e": "AQAB",
                                            "d": JWK_D}], "debug": PEM}),
        elapsed_ms=8.0,
    )
    evil = Exchange(
        method="GET",
        url="https://pacs.example.org/fhir/ImagingStudy/x",
        request_headers={"Accept": "application/fhir+json"},
        request_body=None,
        status=404,
        response_headers={"Content-Type": "text/html", "X-Evil": '"><script>alert(2)</script>'},
        response_body='<html><script>alert(1)</script><img src=x onerror=alert(3)></html>',
        elapsed_ms=5.0,
    )
    return CaseResult(
        suite_id="smart-backend", suite="SMART Backend Services", case="token success response",
        nodeid="suites/smart-backend.yaml::token-success", area="smart", requirement=["SMART-015"],
        level=Level.SHALL,
        checks=[
            CheckResult("status", ["SMART-015"], Level.SHALL, Verdict.PASS, "HTTP 200", "", 0),
            CheckResult("rule", ["SMART-015"], Level.SHALL, Verdict.FAIL,
                        "refresh_token issued", f"refresh_token={REFRESH}", 0),
            CheckResult("rule", ["SMART-030"], Level.SHALL, Verdict.PASS,
                        f"request carried Authorization: Bearer {ACCESS}", "", 1),
            CheckResult("status", ["REST-012"], Level.SHALL, Verdict.FAIL,
                        "<b>not bold</b> 404 without OperationOutcome", "", 2),
        ],
        exchanges=[token_request, jwks, evil],
        error=None,
    )


@pytest.fixture()
def report(tmp_path: Path) -> str:
    path = tmp_path / "report.html"
    write_html(path, demo_run(tls_verify=False), demo_cases() + [leaky_case()])
    return path.read_text(encoding="utf-8")


def test_no_planted_secret_reaches_html_or_summary(tmp_path: Path) -> None:
    cases = demo_cases() + [leaky_case()]
    write_html(tmp_path / "report.html", demo_run(), cases)
    write_summary(tmp_path / "summary.json", demo_run(), cases)
    for name in ("report.html", "summary.json"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {name}"
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "BEGIN PRIVATE KEY" not in html
    assert "[redacted]" in html
    assert "AQAB-public" in html  # public JWK members are kept as evidence


def test_untrusted_markup_is_escaped(report: str) -> None:
    assert "<script" not in report.lower()  # the report itself has no script and none gets in
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert "&lt;img src=x onerror=alert(3)&gt;" in report
    assert "&#34;&gt;&lt;script&gt;alert(2)" in report  # header value
    assert "&lt;b&gt;not bold&lt;/b&gt;" in report  # check reason
    assert "onerror=alert(3)>" not in report


def test_self_contained(report: str) -> None:
    assert not re.search(r"<(link|script|img|iframe|object|embed)\b", report, re.IGNORECASE)
    assert "@import" not in report and "url(" not in report
    assert not re.search(r"\bsrc\s*=", report.replace("&lt;img src=x", ""))
    assert report.startswith("<!DOCTYPE html>")


def test_certificate_header(report: str) -> None:
    for text in ("https://pacs.example.org/fhir", "ExamplePACS FHIR Gateway", "5.2.1", "4.0.1",
                 "imgconf 0.1.0", "EU imaging", "2026-07-14 09:30:12 UTC", "1 min 35 s"):
        assert text in report
    assert 'class="badge outcome-fail"' in report
    assert "TLS certificate verification was OFF" in report


def test_tls_banner_absent_when_verifying(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    write_html(path, demo_run(tls_verify=True), demo_cases())
    html = path.read_text(encoding="utf-8")
    assert "verification was OFF" not in html and "<dd>On</dd>" in html


def test_totals_table(report: str) -> None:
    shall = re.search(r"<tr><td><b>SHALL</b></td>(.*?)</tr>", report)
    assert shall is not None
    cells = re.findall(r">(\d+)</td>", shall.group(1))
    # pass, fail, warn, info, skip, not-judged, error, total: demo (3,1,0,1,0,0,0) + leaky case (2,2,0,0,0,0,0)
    assert cells == ["5", "3", "0", "1", "0", "0", "0", "9"]
    for level in ("SHOULD", "MAY"):
        assert f"<tr><td><b>{level}</b></td>" in report


def test_grouped_by_requirement_in_catalogue_order(report: str) -> None:
    ids = re.findall(r'<article class="group [^"]*" id="req-([^"]+)"', report)
    assert ids == ["IS-051", "IS-053", "IS-056", "REST-010", "REST-011", "REST-012",
                   "SMART-013", "SMART-015", "SMART-022", "SMART-030"]
    group = report.split('id="req-SMART-015"')[1].split("</article>")[0]
    assert "group v-fail" in report.split('id="req-SMART-015"')[0].rsplit("<article", 1)[1]
    assert "Success → 200 JSON with access_token" in group  # catalogue text
    assert "token success response" in group and "refresh_token issued" in group
    # Evidence is not inline: both checks of exchange #1 link to the one copy in the Evidence section.
    assert group.count("<details") == 0
    links = re.findall(r'href="#(ev-[0-9]+-1)"', group)
    assert len(links) == 2 and len(set(links)) == 1
    evidence = report.split('id="evidence"')[1]
    assert evidence.count(f'id="{links[0]}"') == 1


def test_evidence_stored_once_however_many_requirements_cite_it(report: str) -> None:
    evidence = report.split('<section id="evidence">')[1].split("</section>")[0]
    ids = re.findall(r'<div class="evi" id="(ev-[0-9]+-[0-9]+)"', evidence)
    assert ids and len(ids) == len(set(ids))
    # every link in the report resolves to a stored exchange
    assert set(re.findall(r'href="#(ev-[0-9]+-[0-9]+)"', report)) <= set(ids)


def test_evidence_is_pretty_printed_in_details(report: str) -> None:
    group = report.split('id="req-IS-051"')[1].split("</article>")[0]
    targets = re.findall(r'href="#(ev-[0-9]+-[0-9]+)"', group)
    assert len(set(targets)) == 2
    for target in set(targets):
        stored = report.split(f'<div class="evi" id="{target}">')[1].split('<div class="evi"')[0]
        assert '<details class="ex">' in stored and "Authorization: [redacted]" in stored
    # indented JSON, quotes left as they are inside <pre> (escaping them grew the report by a third)
    assert '"resourceType": "Bundle",' in report


def test_large_body_truncated_with_note(tmp_path: Path) -> None:
    big = json.dumps({"resourceType": "Bundle", "entry": [{"fullUrl": f"urn:uuid:{i:08d}"} for i in range(4000)]})
    case = CaseResult(
        suite_id="s", suite="S", case="big", nodeid="s::big", area="a", requirement=["REST-040"],
        level=Level.SHALL,
        checks=[CheckResult("status", ["REST-040"], Level.SHALL, Verdict.PASS, "ok", "", 0)],
        exchanges=[Exchange("GET", "https://h/fhir/ImagingStudy", {}, None, 200, {}, big, 1.0)],
    )
    path = tmp_path / "r.html"
    write_html(path, demo_run(), [case])
    html = path.read_text(encoding="utf-8")
    # evidence no check found wanting is shortened further
    assert "Truncated: showing the first 2,048 of" in html and "passing checks only" in html
    assert "urn:uuid:00003999" not in html
    assert len(html) < 100_000
    case.checks[0] = CheckResult("status", ["REST-040"], Level.SHALL, Verdict.FAIL, "bad", "", 0)
    write_html(path, demo_run(), [case])
    html = path.read_text(encoding="utf-8")
    assert "Truncated: showing the first 65,536 of" in html and "urn:uuid:00003999" not in html
    assert len(html) < 200_000


def test_binary_body_is_summarised_not_pasted(tmp_path: Path) -> None:
    dicom = "\x00" * 128 + "DICM" + "\x02\x00\x10\x00UI\ufffd\ufffd"
    case = CaseResult(
        suite_id="s", suite="S", case="wado", nodeid="s::wado", area="a", requirement=["REST-040"],
        level=Level.SHALL,
        checks=[CheckResult("status", ["REST-040"], Level.SHALL, Verdict.FAIL, "bad", "", 0)],
        exchanges=[Exchange("GET", "https://h/wado", {}, None, 200, {"Content-Type": "application/dicom"}, dicom, 1.0)],
    )
    path = tmp_path / "r.html"
    write_html(path, demo_run(), [case])
    html = path.read_text(encoding="utf-8")
    assert "Binary body: application/dicom, " in html and "SHA-256 " in html
    assert "first bytes: 00 00 00" in html
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", html)  # no control bytes in the HTML
    assert "DICM" not in html


def test_findings_and_coverage_sections(report: str) -> None:
    findings = report.split('id="findings"')[1].split("</section>")[0]
    assert 'id="find-FIND-05"' in findings and 'id="find-FIND-14"' in findings
    assert "Non-SMART scope strings" in findings
    coverage = report.split('id="coverage"')[1].split("</section>")[0]
    assert "<td class=\"id\">IS-001</td>" in coverage
    assert "<td class=\"id\">IS-051</td>" not in coverage


def test_empty_run_renders(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    write_html(path, demo_run(), [])
    html = path.read_text(encoding="utf-8")
    assert "No checks were run." in html and "No check reported a specification finding." in html


def test_declared_versus_tested_search_parameters(tmp_path: Path) -> None:
    run = demo_run()
    run.options["search_parameters"] = {
        "ImagingStudy": {
            "declared": ["modality", "patient"],
            "tested": ["modality", "started"],
            "tested_not_declared": ["started"],
            "declared_not_tested": ["patient"],
        }
    }
    out = tmp_path / "report.html"
    write_html(out, run, demo_cases())
    html = out.read_text()
    section = html[html.index('id="capability"'):html.index('id="coverage"')]
    assert "ImagingStudy" in section and "<b>started</b>" in section and "patient" in section


def test_a_summary_built_once_gives_the_same_report(tmp_path: Path) -> None:
    from imgconf.report.summary import build_summary

    run, cases = demo_run(tls_verify=False), demo_cases() + [leaky_case()]
    write_html(tmp_path / "fresh.html", run, cases)
    write_summary(tmp_path / "fresh.json", run, cases)
    summary = build_summary(run, cases)
    write_summary(tmp_path / "given.json", run, cases, summary)
    write_html(tmp_path / "given.html", run, cases, summary)
    assert (tmp_path / "given.html").read_bytes() == (tmp_path / "fresh.html").read_bytes()
    assert (tmp_path / "given.json").read_bytes() == (tmp_path / "fresh.json").read_bytes()


_COMPILES_IN_A_FRESH_PROCESS = """
import sys, jinja2
from pathlib import Path
compiled = []
original = jinja2.Environment.compile
jinja2.Environment.compile = lambda self, *a, **k: compiled.append(1) or original(self, *a, **k)
from imgconf.report import write_html
sys.path.insert(0, sys.argv[1])
from report_demo import demo_cases, demo_run
write_html(Path(sys.argv[2]), demo_run(), demo_cases())
print(len(compiled))
"""


def _compiles_in_a_fresh_process(tmp_path: Path, name: str) -> int:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}  # jinja2's cache folder lives under the temporary directory
    done = subprocess.run([sys.executable, "-c", _COMPILES_IN_A_FRESH_PROCESS, str(Path(__file__).parent),
                           str(tmp_path / name)], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def test_a_compiled_template_is_reused_by_the_next_process(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    assert _compiles_in_a_fresh_process(tmp_path, "first.html") > 0
    assert _compiles_in_a_fresh_process(tmp_path, "second.html") == 0
    assert (tmp_path / "first.html").read_bytes() == (tmp_path / "second.html").read_bytes()


def test_a_template_cache_that_cannot_be_used_costs_only_the_compile(tmp_path: Path) -> None:
    import jinja2

    from imgconf.report.html import _QuietBytecodeCache

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    cache = _QuietBytecodeCache(str(blocked))  # every read and write of it fails (not a directory)
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.j2": "{{ x }}!"}), bytecode_cache=cache)
    assert env.get_template("t.j2").render(x=1) == "1!"
    corrupt = tmp_path / "cache"
    corrupt.mkdir()
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.j2": "{{ x }}?"}),
                             bytecode_cache=_QuietBytecodeCache(str(corrupt)))
    env.get_template("t.j2")
    for entry in corrupt.iterdir():
        entry.write_bytes(b"garbage")  # a cache file cut short or from another jinja2
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.j2": "{{ x }}?"}),
                             bytecode_cache=_QuietBytecodeCache(str(corrupt)))
    assert env.get_template("t.j2").render(x=2) == "2?"

"""Issue 12 §5: imgconf matrix — rows requirements, columns servers, cells linking to each run's evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_support import imgconf_in_process  # the command's output and exit code; no child process needed
from imgconf.report import build_summary, write_html
from report_demo import demo_run
from imgconf.results import CaseResult, CheckResult, Level, Verdict


def _run(path: Path, software: str, verdicts: dict[str, Verdict]) -> Path:
    run = demo_run()
    run.server_software, run.target_url = software, f"https://{software.lower()}.example/fhir"
    cases = [CaseResult(suite_id="s", suite="S", case=f"case {rid}", nodeid=f"s::{rid}", area="a", requirement=[rid],
                        level=Level.SHALL, checks=[CheckResult("status", [rid], Level.SHALL, v, "why")])
             for rid, v in verdicts.items()]
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps(build_summary(run, cases)), encoding="utf-8")
    write_html(path / "report.html", run, cases)
    return path


def test_matrix_page_side_by_side_with_links(tmp_path: Path) -> None:
    a = _run(tmp_path / "runs" / "a", "Alpha", {"IS-001": Verdict.PASS, "REST-010": Verdict.FAIL})
    b = _run(tmp_path / "runs" / "b", "Beta<script>", {"IS-001": Verdict.PASS, "REST-010": Verdict.PASS,
                                                      "REST-011": Verdict.WARN})
    out = tmp_path / "wall" / "matrix.html"
    proc = imgconf_in_process("matrix", str(a), str(b / "summary.json"), "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = out.read_text()
    assert "Alpha" in html and "Beta&lt;script&gt;" in html and "<script" not in html
    rows = re.findall(r'<tr class="row[^"]*" id="m-([^"]+)"', html)
    assert rows == ["IS-001", "REST-010", "REST-011"]  # catalogue order, union of both runs
    rest010 = html.split('id="m-REST-010"')[1].split("</tr>")[0]
    assert 'class="cell c-fail"><a href="../runs/a/report.html#req-REST-010"' in rest010
    assert 'class="cell c-pass"><a href="../runs/b/report.html#req-REST-010"' in rest010
    assert 'differs' in html.split('id="m-REST-010"')[0].rsplit("<tr", 1)[1]
    rest011 = html.split('id="m-REST-011"')[1].split("</tr>")[0]
    assert 'class="cell c-absent">—' in rest011  # not run against Alpha: absent, not a verdict
    # every cell link points at an anchor that exists in that run's report
    for href in re.findall(r'href="(\.\./runs/[ab]/report\.html)#(req-[^"]+)"', html):
        assert f'id="{href[1]}"' in (out.parent / href[0]).read_text()
    assert "differing <b>1</b>" in html and "failing somewhere <b>1</b>" in html


def test_matrix_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    proc = imgconf_in_process("matrix", str(tmp_path), "-o", str(tmp_path / "m.html"))
    assert proc.returncode == 2 and "not a readable summary.json" in proc.stdout

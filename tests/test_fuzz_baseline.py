"""Issue 14 §3: a fuzz baseline keyed by the shrunk query's shape, defect kind and requirement (CI gate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from imgconf.fuzz.baseline import FuzzBaselineError, apply_baseline, load_fuzz_baseline, write_fuzz_baseline
from imgconf.fuzz.model import Defect, FuzzFinding, FuzzQuery, FuzzRun
from imgconf.fuzz.report import write_fuzz_reports

DATE_EQ = "ImagingStudy?started=eq<date:month>"
MOD_NOT = "ImagingStudy?modality:not=<token:code>"
SORT = "ImagingStudy?_sort=-started,_id"


def _finding(shape: str, kind: str, req: str, level: str = "SHALL", params: tuple[tuple[str, str], ...] = ()) -> FuzzFinding:
    return FuzzFinding(cause=f"ImagingStudy {shape} {kind}", shape=shape, query=FuzzQuery("ImagingStudy", params),
                       defect=Defect(kind, (req,), level, f"{kind} failed"), seed=3)


def _run(*findings: FuzzFinding, types: tuple[str, ...] = ("ImagingStudy", "DocumentReference", "Patient")) -> FuzzRun:
    return FuzzRun(target="http://127.0.0.1:1/fhir", resource_types=list(types), seed=3, budget=100, seconds=None,
                   queries=100, findings=list(findings))


def _write(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    path = tmp_path / "fuzz-baseline.yaml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    return path


def _entry(shape: str, defect: str, req: str | list[str], resource: str = "ImagingStudy",
           reason: str = "the server compares dates as overlap") -> dict[str, object]:
    return {"resource": resource, "shape": shape, "defect": defect, "requirement": req, "reason": reason,
            "clause": 'R4 search.html#prefix: "eq: the range of the search value fully contains the range of the target value"'}


def test_known_new_not_reached_and_not_run(tmp_path: Path) -> None:
    known = _finding(DATE_EQ, "precision", "REST-072", params=(("started", "eq2024-03"),))
    new = _finding(MOD_NOT, "recall", "REST-046")
    path = _write(tmp_path, [
        _entry(DATE_EQ, "precision", ["REST-071", "REST-072"]),  # a list matches a finding citing any of them
        _entry(SORT, "order", "REST-086"),  # nothing found: not reached
        _entry("DocumentReference?date=ge<date:day>", "precision", "REST-072", resource="DocumentReference"),
    ])
    outcome = apply_baseline(_run(known, new, types=("ImagingStudy", "Patient")), path)
    assert [(f.cause, e.line) for f, e in outcome.known] == [(known.cause, 1)]
    assert outcome.new == [new] and outcome.failing_new == [new]
    assert [e.shape for e in outcome.not_reached] == [SORT]
    assert [e.resource for e in outcome.not_run] == ["DocumentReference"]  # not fuzzed this run
    assert not outcome.ok  # the new finding
    assert known.known == "the server compares dates as overlap" and new.known is None
    lines = outcome.lines()
    assert lines[0].startswith("fuzz baseline: 1 known, 1 new (1 failing the gate), 1 not reached (not failing), 1 not run")
    assert any(line.startswith("  NEW ImagingStudy") for line in lines)
    assert any(line.startswith("  not reached (line ") and "not failing" in line for line in lines)


def test_a_known_cause_not_reached_does_not_fail_the_gate_and_says_so(tmp_path: Path) -> None:
    """A run samples the queries: an entry it did not meet is reported as not reached, never as a failure."""
    known = _finding(DATE_EQ, "precision", "REST-072")
    path = _write(tmp_path, [_entry(DATE_EQ, "precision", "REST-072"), _entry(SORT, "order", "REST-086")])
    outcome = apply_baseline(_run(known), path)
    assert outcome.ok and [e.shape for e in outcome.not_reached] == [SORT]
    data = outcome.to_json()
    assert data["outcome"] == "pass" and "stale" not in data
    assert [e["message"].split(":")[0] for e in data["not_reached"]] == ["not reached this run"]
    assert "not failing" in data["not_reached"][0]["message"]
    write_fuzz_reports(_run(known), tmp_path / "reports", baseline=outcome)
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text(encoding="utf-8"))["fuzz"]["baseline"]
    assert summary["outcome"] == "pass" and len(summary["not_reached"]) == 1
    assert "1 not reached (not failing)" in (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")


def test_a_new_finding_fails_the_gate_even_when_every_entry_is_reached(tmp_path: Path) -> None:
    known, new = _finding(DATE_EQ, "precision", "REST-072"), _finding(MOD_NOT, "recall", "REST-046")
    outcome = apply_baseline(_run(known, new), _write(tmp_path, [_entry(DATE_EQ, "precision", "REST-072")]))
    assert not outcome.ok and outcome.failing_new == [new] and not outcome.not_reached
    assert outcome.to_json()["outcome"] == "fail"


def test_gate_passes_when_every_finding_is_known(tmp_path: Path) -> None:
    finding = _finding(DATE_EQ, "precision", "REST-072")
    outcome = apply_baseline(_run(finding), _write(tmp_path, [_entry(DATE_EQ, "precision", "REST-072")]))
    assert outcome.ok and not outcome.new and not outcome.not_reached
    assert outcome.to_json()["outcome"] == "pass"


@pytest.mark.parametrize(("shape", "defect", "req"), [
    (MOD_NOT, "precision", "REST-072"),  # another shape
    (DATE_EQ, "recall", "REST-072"),  # another defect kind
    (DATE_EQ, "precision", "REST-046"),  # another requirement
])
def test_an_entry_covers_only_its_shape_defect_and_requirement(tmp_path: Path, shape: str, defect: str, req: str) -> None:
    finding = _finding(DATE_EQ, "precision", "REST-072")
    outcome = apply_baseline(_run(finding), _write(tmp_path, [_entry(shape, defect, req)]))
    assert outcome.new == [finding] and len(outcome.not_reached) == 1 and not outcome.ok


def test_a_reworded_reason_or_other_values_keep_matching(tmp_path: Path) -> None:
    first = _finding(DATE_EQ, "precision", "REST-072", params=(("started", "eq2024-03"),))
    again = _finding(DATE_EQ, "precision", "REST-072", params=(("started", "eq1999-12"),))  # another seed's values
    for reason in ("dates compared as overlap", "Reworded: eq behaves as overlap at month precision (ticket 12)"):
        path = _write(tmp_path, [_entry(DATE_EQ, "precision", "REST-072", reason=reason)])
        for finding in (first, again):
            outcome = apply_baseline(_run(finding), path)
            assert outcome.ok and finding.known == reason


def test_new_should_finding_fails_the_gate_only_when_strict(tmp_path: Path) -> None:
    should = _finding(SORT, "order", "REST-086", level="SHOULD")
    path = _write(tmp_path, [])
    lenient = apply_baseline(_run(should), path)
    assert lenient.new == [should] and lenient.failing_new == [] and lenient.ok
    strict = apply_baseline(_run(should), path, strict_should=True)
    assert strict.failing_new == [should] and not strict.ok


def test_written_baseline_is_refused_until_adjudicated(tmp_path: Path) -> None:
    run = _run(_finding(DATE_EQ, "precision", "REST-072", params=(("started", "eq2024-03"),)),
               _finding(MOD_NOT, "recall", "REST-046"))
    path = tmp_path / "known.yaml"
    assert write_fuzz_baseline(path, run) == 2
    with pytest.raises(FuzzBaselineError, match=rf"^{path}:9: entry 1: 'reason' is missing or empty"):
        load_fuzz_baseline(path)
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert entries[0]["shape"] == DATE_EQ and entries[0]["query"] == "ImagingStudy?started=eq2024-03"
    for e in entries:
        e["reason"] = "adjudicated"
        e["clause"] = 'R4 search.html: "…"'
    path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    outcome = apply_baseline(run, path)
    assert outcome.ok and len(outcome.known) == 2


@pytest.mark.parametrize(("text", "line", "message"), [
    ("- resource: ImagingStudy\n  shape: x\n  defect: precision\n  requirement: REST-072\n  reason: ok\n  colour: red\n",
     6, "unknown key"),
    (("- resource: ImagingStudy\n  shape: x\n  defect: precision\n  requirement: REST-072\n  reason: ok\n"
     "- resource: ImagingStudy\n  shape: y\n  defect: recall\n  requirement: REST-072\n  reason: ''\n"),
     10, "entry 2: 'reason' is missing or empty"),
    ("- resource: ImagingStudy\n  shape: x\n  defect: precision\n  requirement: REST-072\n  reason: 'TODO: adjudicate'\n",
     5, "placeholder"),
    ("- resource: ImagingStudy\n  shape: x\n  defect: precision\n  requirement: REST-9999\n  reason: ok\n",
     4, "REST-9999 is not in the requirement catalogue"),
    ("- resource: ImagingStudy\n  shape: x\n  defect: Precision!\n  requirement: REST-072\n  reason: ok\n",
     3, "is not a defect kind"),
    ("- resource: ImagingStudy\n  shape: x\n  defect: precision\n  requirement: REST-072\n  reason: ok\n  clause: ''\n",
     6, "'clause' is empty"),
    ("- resource: ImagingStudy\n  shape: [unclosed\n", 3, "not valid YAML"),
    ("- just a string\n", 1, "expected a mapping"),
    ("entries: []\n", 1, "expected a list of entries"),
])
def test_a_bad_file_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FuzzBaselineError) as info:
        load_fuzz_baseline(path)
    assert str(info.value).startswith(f"{path}:{line}:"), str(info.value)
    assert message in str(info.value)


def test_mapping_with_known_findings_and_empty_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("known_findings:\n" + yaml.safe_dump([_entry(DATE_EQ, "precision", "REST-072")]), encoding="utf-8")
    assert [e.line for e in load_fuzz_baseline(path)] == [2]
    path.write_text("# nothing accepted yet\n", encoding="utf-8")
    assert load_fuzz_baseline(path) == []
    path.write_text("[]\n", encoding="utf-8")
    assert load_fuzz_baseline(path) == []


def test_baseline_outcome_goes_to_summary_json(tmp_path: Path) -> None:
    known = _finding(DATE_EQ, "precision", "REST-072")
    run = _run(known, _finding(MOD_NOT, "recall", "REST-046"))
    outcome = apply_baseline(run, _write(tmp_path, [_entry(DATE_EQ, "precision", "REST-072")]))
    write_fuzz_reports(run, tmp_path / "reports", baseline=outcome)
    fuzz = json.loads((tmp_path / "reports" / "summary.json").read_text(encoding="utf-8"))["fuzz"]
    assert fuzz["baseline"]["outcome"] == "fail" and len(fuzz["baseline"]["known"]) == 1
    assert [n["cause"] for n in fuzz["baseline"]["new"]] == [f"ImagingStudy {MOD_NOT} recall"]
    assert fuzz["counts"]["known"] == 1 and fuzz["findings"][0]["known"] == "the server compares dates as overlap"
    assert "1 known, 1 new, 0 not reached (not failing)" in (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")


def test_written_baseline_holds_no_registered_secret(tmp_path: Path) -> None:
    from imgconf import secret_registry

    token = "sekret-" + "9f3b2c7d1e8a4b6c"
    secret_registry.register(token)
    finding = _finding(DATE_EQ, "precision", "REST-072", params=(("started", "eq2024-03"), ("access_token", token)))
    finding.defect = Defect("precision", ("REST-072",), "SHALL", f"server echoed {token}")
    path = tmp_path / "known.yaml"
    write_fuzz_baseline(path, _run(finding))
    assert token not in path.read_text(encoding="utf-8") and "[redacted]" in path.read_text(encoding="utf-8")


def _caused(cause_param: str, shape: str, kind: str, reqs: tuple[str, ...], rtype: str = "Patient") -> FuzzFinding:
    return FuzzFinding(cause=f"{rtype} {cause_param} {kind}", shape=shape, query=FuzzQuery(rtype, ()),
                       defect=Defect(kind, reqs, "SHALL", f"{kind} failed"), seed=0)


GENDER = "Patient?gender=<token:system|code>"


def _param_entry(parameter: str, req: str | list[str] = "REST-051", shape: str = GENDER) -> dict[str, object]:
    return {"resource": "Patient", "shape": shape, "parameter": parameter, "defect": "recall", "requirement": req,
            "reason": "code indexed without its implicit system", "clause": 'R4 search.html#token: "…"'}


def test_an_entry_with_the_cause_parameter_matches_despite_an_unrelated_extra_parameter(tmp_path: Path) -> None:
    """Values differ per run (server ids), so a run may end the same cause at gender plus an unrelated criterion."""
    alone = _caused("gender", GENDER, "recall", ("REST-051",))
    with_extra = _caused("gender", "Patient?active=<token:code>&gender=<token:system|code>", "recall", ("REST-051",))
    path = _write(tmp_path, [_param_entry("gender")])
    for finding in (alone, with_extra):
        outcome = apply_baseline(_run(finding), path)
        assert outcome.ok and [e.parameter for _f, e in outcome.known] == ["gender"] and not outcome.not_reached
    dated = _caused("started:ge", "ImagingStudy?modality=<token:code>&started=ge<date:day>", "precision",
                    ("REST-071", "REST-072"), rtype="ImagingStudy")
    entry = {**_entry("ImagingStudy?started=ge<date:day>", "precision", ["REST-071", "REST-072"]), "parameter": "started:ge"}
    assert apply_baseline(_run(dated), _write(tmp_path, [entry])).ok
    # without the parameter an entry keeps matching by its shape only
    plain = {k: v for k, v in _param_entry("gender").items() if k != "parameter"}
    assert apply_baseline(_run(with_extra), _write(tmp_path, [plain])).new == [with_extra]


@pytest.mark.parametrize(("finding", "why"), [
    (_caused("active", "Patient?active=<token:code>&gender=<token:system|code>", "recall", ("REST-051",)),
     "a defect of another parameter"),
    (_caused("gender:not", "Patient?active=<token:code>&gender:not=<token:code>", "recall", ("REST-051",)),
     "another modifier"),
    (_caused("gender", "Patient?active=<token:code>&gender=<token:code>", "recall", ("REST-050",)),
     "a requirement the entry does not list"),
    (_caused("gender", "Patient?active=<token:code>&gender=<token:code>", "recall", ("REST-050", "REST-051")),
     "one cited requirement listed, another not"),
    (_caused("gender", "Patient?active=<token:code>&gender=<token:code>", "precision", ("REST-051",)),
     "another defect kind"),
    (_caused("*", "Patient?active=<token:code>&gender=<token:code>", "recall", ("REST-051",)),
     "no single parameter to blame"),
])
def test_a_cause_parameter_entry_never_hides_another_defect(tmp_path: Path, finding: FuzzFinding, why: str) -> None:
    outcome = apply_baseline(_run(finding), _write(tmp_path, [_param_entry("gender")]))
    assert outcome.new == [finding], why
    assert len(outcome.not_reached) == 1 and not outcome.ok


def test_a_parameter_naming_no_parameter_is_refused_and_written_baselines_carry_it(tmp_path: Path) -> None:
    path = _write(tmp_path, [_param_entry("*")])
    with pytest.raises(FuzzBaselineError, match=r":3: entry 1: 'parameter' '\*' is not a cause parameter"):
        load_fuzz_baseline(path)
    run = _run(_caused("gender", GENDER, "recall", ("REST-051",)),
               _caused("*", "Patient?active=<token:code>&gender=<token:code>", "recall", ("REST-050",)))
    written = tmp_path / "written.yaml"
    write_fuzz_baseline(written, run)
    entries = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert [e.get("parameter") for e in entries] == ["gender", None]

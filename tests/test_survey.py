"""``imgconf survey``: a read-only crawl of a live server into the data-quality report (issue 15, item 3).

Real HTTP over loopback: the embedded reference server holds the imaging fixtures plus two studies that
share a series UID (DICOM-012 across studies); a recording proxy (FaultProxy, no fault) in front of it sees
every request the survey sends. Misbehaving servers are the same server behind FaultProxy with named faults.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from imgconf.bulk.survey import (
    STALE_PAGES_LIMIT,
    SURVEY_READ,
    Survey,
    SurveyError,
    SurveySettings,
    load_state,
    new_state,
    outcome,
    prepare,
    save_state,
)
from imgconf.bulk.surveyindex import MEMORY_UIDS
from imgconf.bulk.surveyseen import MEMORY_IDS, SEEN_DB
from imgconf.bulk.work import validate_lines
from imgconf.cli import app
from imgconf.faults import FaultProxy
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.registry import BY_NAME
from imgconf.faults.rewrite import bundles, edit_json, searches
from imgconf.offline import validate_paths
from imgconf.reference.server import EmbeddedServer
from imgconf.session import SessionOptions, TargetSession
from imgconf.validators.crossref import UidIndex
from imgconf.validators.samples import sample_imaging_study

TYPES = ("ImagingStudy", "DocumentReference")
FIXTURES = [
    "imagingstudy/ct-chest", "imagingstudy/ct-phantom-device", "imagingstudy/dx-entered-in-error",
    "imagingstudy/mg-screening", "imagingstudy/mr-brain", "imagingstudy/mr-group-research",
    "imagingstudy/nm-unknown", "imagingstudy/us-abdomen-registered", "imagingstudy/xa-cancelled",
    "documentreference/ct-chest-manifest-fhir", "documentreference/ct-chest-manifest-kos",
    "documentreference/ct-chest-report", "documentreference/jones-discharge", "documentreference/muller-mr-report",
]
SECRET = "survey-secret-token-4f9a2c71"


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmbeddedServer]:
    """The reference server with the fixtures and a DICOM-012 conflict: a second study reuses the series and
    instance UIDs of the first under another Study Instance UID."""
    with EmbeddedServer() as server:
        session = TargetSession(SessionOptions(target=server.base_url))
        try:
            session.fixtures.ensure(FIXTURES)
            first = sample_imaging_study()
            first.pop("id")
            second = copy.deepcopy(first)
            second["identifier"][0]["value"] = "urn:oid:1.2.826.0.1.3680043.8.498.99999"
            for study in (first, second):
                created = httpx.post(f"{server.base_url}/ImagingStudy", json=study, timeout=30)
                assert created.status_code == 201, created.text
            yield server
        finally:
            session.close()


def everything(server: EmbeddedServer, rtype: str) -> list[dict[str, Any]]:
    """What the server holds of one type, read in one page straight from it (not through the proxy)."""
    page = httpx.get(f"{server.base_url}/{rtype}", params={"_count": "1000"}, timeout=30).json()
    return [e["resource"] for e in page["entry"]]


def settings(target: str, **kw: Any) -> SurveySettings:
    return SurveySettings(target=target, resource_types=kw.pop("resource_types", TYPES), **kw)


def survey(target: str, out: Path, **kw: Any) -> tuple[Survey, float]:
    chosen = settings(target, **kw)
    state, folder, state_path = prepare(chosen, out_dir=out, resume=None)
    job = Survey(chosen, state, state_path=state_path, out_dir=folder)
    started = time.monotonic()
    job.run()
    return job, time.monotonic() - started


def problems(out: Path) -> list[dict[str, Any]]:
    return list(json.loads((out / "survey.json").read_text(encoding="utf-8"))["problems"])


def finding_keys(records: Any) -> Counter[tuple[str, str, str, str]]:
    """(resource, requirement, level, location) of every finding; messages may name the base URL."""
    return Counter((r["source"], f["requirement"], f["level"], f["location"]) for r in records for f in r["findings"])


# -- what it finds ---------------------------------------------------------------------------------------------

def test_survey_sends_only_gets_and_finds_what_validate_finds(upstream: EmbeddedServer, tmp_path: Path) -> None:
    out = tmp_path / "report"
    with FaultProxy(upstream.base_url, []) as proxy:
        proxy.state.log.clear()  # the proxy's own readiness probe
        done = CliRunner().invoke(app, ["survey", "--target", proxy.base_url, "--count", "4", "--report", str(out)])
        seen = list(proxy.state.log)
    # READ-ONLY: every request the server saw was a GET search of a surveyed type, paged by next links
    assert {method for method, _, _ in seen} == {"GET"}, seen
    assert {path for _, path, _ in seen} == set(TYPES), seen
    studies, documents = everything(upstream, "ImagingStudy"), everything(upstream, "DocumentReference")
    assert len(seen) == -(-len(studies) // 4) + -(-len(documents) // 4)  # ceil: every page once, no more

    # the same resources through `imgconf validate`'s engine: NDJSON, one UID index over all of it
    ndjson = tmp_path / "same.ndjson"
    ndjson.write_text("".join(json.dumps(r) + "\n" for r in studies + documents), encoding="utf-8")
    expected = [{"source": f"{r['resourceType']}/{r['id']}", "findings": [f.to_dict() for f in found]}
                for _, r, found in validate_paths([ndjson]) if r is not None and found]
    surveyed = [json.loads(line) for line in (out / "findings.ndjson").read_text(encoding="utf-8").splitlines()]
    assert finding_keys(surveyed) == finding_keys(expected)
    conflicts = [k for k in finding_keys(surveyed) if k[1] == "DICOM-012"]
    assert conflicts and {k[0] for k in conflicts} == {f"ImagingStudy/{studies[-1]['id']}"}  # the second study

    quality = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    lines = [(str(i), json.dumps(r).encode()) for i, r in enumerate(studies + documents)]
    same = validate_lines(lines, profile=None, index=UidIndex()).to_json()
    assert quality["totals"] == same["totals"]
    assert quality["totals"]["resources"] == len(studies) + len(documents)
    assert quality["findings_by_rule"] == same["findings_by_rule"]
    assert quality["complete"] is True
    assert (out / "quality.html").exists()
    summary = json.loads((out / "survey.json").read_text(encoding="utf-8"))
    assert summary["complete"] is True and summary["problems"] == []
    assert {t: v["validated"] for t, v in summary["types"].items()} == {
        "ImagingStudy": len(studies), "DocumentReference": len(documents)}
    assert done.exit_code == 1, done.output  # DICOM-012 is a SHALL finding
    assert "outcome: FAIL" in done.output


def test_max_bounds_each_type_and_rate_spaces_the_requests(upstream: EmbeddedServer, tmp_path: Path) -> None:
    with FaultProxy(upstream.base_url, []) as proxy:
        proxy.state.log.clear()
        job, elapsed = survey(proxy.base_url, tmp_path / "r", count=1, max_per_type=4, rate=4.0)
        seen = list(proxy.state.log)
    assert {t: p.validated for t, p in job.state.types.items()} == {"ImagingStudy": 4, "DocumentReference": 4}
    assert job.state.report.resources == 8
    assert len(seen) == job.state.requests == 8  # one resource per page; no page fetched beyond --max
    assert elapsed >= 7 / 4.0  # 8 requests at most 4 per second: 7 intervals of 0.25 s at least
    assert outcome(job.state, 4)[1] != 2  # --max reached is a complete survey of what was asked


def test_count_is_capped_by_max(upstream: EmbeddedServer, tmp_path: Path) -> None:
    with FaultProxy(upstream.base_url, []) as proxy:
        proxy.state.log.clear()
        job, _ = survey(proxy.base_url, tmp_path / "r", count=100, max_per_type=2, resource_types=("ImagingStudy",))
        seen = list(proxy.state.log)
    assert job.state.types["ImagingStudy"].validated == 2
    assert len(seen) == 1 and job.state.count == 2


# -- resumable -------------------------------------------------------------------------------------------------

class InterruptAfter:
    """A validator that is Ctrl-C'd after ``n`` resources (in the middle of a page) and records what it judged."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.judged: list[str] = []

    def __call__(self, resource: dict[str, Any]) -> list[Any]:
        from imgconf.validators import validate_resource

        if self.n is not None and len(self.judged) >= self.n:
            raise KeyboardInterrupt
        self.judged.append(f"{resource['resourceType']}/{resource['id']}")
        return validate_resource(resource)


def test_ctrl_c_leaves_a_resumable_state_and_a_partial_report(upstream: EmbeddedServer, tmp_path: Path) -> None:
    out = tmp_path / "r"
    with FaultProxy(upstream.base_url, []) as proxy:
        chosen = settings(proxy.base_url, count=3)
        state, folder, state_path = prepare(chosen, out_dir=out, resume=None)
        first = InterruptAfter(5)  # page 2 of ImagingStudy, its second entry
        Survey(chosen, state, state_path=state_path, out_dir=folder, validator=first).run()
        partial = json.loads((out / "quality.json").read_text(encoding="utf-8"))
        assert partial["complete"] is False and "interrupted" in partial["title"]
        assert any("interrupted" in note for note in partial["notes"])
        assert partial["totals"]["resources"] == 5
        assert json.loads((out / "survey.json").read_text(encoding="utf-8"))["interrupted"] is True
        assert outcome(load_state(state_path), None) == ("interrupted", 2)
        with pytest.raises(SurveyError, match="--resume"):  # a new survey would lose it
            prepare(chosen, out_dir=out, resume=None)

        resumed, folder, state_path = prepare(chosen, out_dir=None, resume=state_path)
        assert folder == out.resolve()
        where = resumed.types["ImagingStudy"]
        assert (where.pages, where.consumed, where.validated) == (1, 2, 5)  # page 2 is next, 2 of its entries done
        proxy.state.log.clear()
        second = InterruptAfter(None)
        Survey(chosen, resumed, state_path=state_path, out_dir=folder, validator=second).run()
        resumed_requests = len(proxy.state.log)
    studies, documents = len(everything(upstream, "ImagingStudy")), len(everything(upstream, "DocumentReference"))
    assert not set(first.judged) & set(second.judged)  # no resource validated twice
    assert len(first.judged) + len(second.judged) == studies + documents
    assert resumed_requests == -(-studies // 3) - 1 + -(-documents // 3)  # page 1 of ImagingStudy not read again
    total = studies + documents
    final = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert final["complete"] is True and final["totals"]["resources"] == total
    lines = (out / "findings.ndjson").read_text(encoding="utf-8").splitlines()
    assert len({json.loads(line)["source"] for line in lines}) == len(lines)  # each resource's findings once
    assert not list(out.glob("*.tmp"))


def test_resume_refuses_another_target_and_a_changed_state(upstream: EmbeddedServer, tmp_path: Path) -> None:
    chosen = settings(upstream.base_url)
    state = new_state(chosen, tmp_path)
    path = tmp_path / "survey-state.json"
    save_state(path, state)
    with pytest.raises(SurveyError, match="is a survey of"):
        prepare(settings("http://127.0.0.1:9/fhir"), out_dir=None, resume=path)
    assert load_state(path).types["ImagingStudy"].page == f"{upstream.base_url}/ImagingStudy?_count=100"
    original = json.loads(path.read_text(encoding="utf-8"))
    for edit in ({"accumulators": original["accumulators"][:-8] + "AAAAAAA="},  # a pickle this imgconf did not write
                 {"types": {**original["types"], "ImagingStudy": {**original["types"]["ImagingStudy"],
                                                                  "page": "http://elsewhere.example/x"}}}):
        path.write_text(json.dumps({**original, **edit}), encoding="utf-8")
        with pytest.raises(SurveyError, match="not resumed"):
            load_state(path)


# -- the UID index beyond memory: the disk spool (imgconf.bulk.surveyindex) ------------------------------------

def _uids_before_last_study(upstream: EmbeddedServer) -> int:
    """UIDs one in-memory index holds once every study but the last is in: a bound that puts the first of
    the two conflicting studies in memory and the second (the last) after it."""
    index = UidIndex()
    for study in everything(upstream, "ImagingStudy")[:-1]:
        index.add(study)
    return len(index.study_subject) + len(index.series_study) + len(index.instance_series)


def _findings(out: Path) -> list[str]:
    return sorted((out / "findings.ndjson").read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("bound", ["nothing in memory", "the first conflicting study in memory"])
def test_survey_beyond_its_memory_bound_finds_what_the_in_memory_index_finds(upstream: EmbeddedServer, tmp_path: Path,
                                                                              bound: str) -> None:
    """With a small ``memory_uids`` the claims go to the disk spool (conflicts found when the crawl ends, both
    studies spooled) or are judged against the frozen in-memory index (the first study in memory): either way
    the same findings, messages included, and the same quality report as the survey kept all in memory."""
    memory_uids = 0 if bound == "nothing in memory" else _uids_before_last_study(upstream)
    in_memory, _ = survey(upstream.base_url, tmp_path / "memory", count=4)
    spooled, _ = survey(upstream.base_url, tmp_path / "spool", count=4, memory_uids=memory_uids)
    assert in_memory.uids.spool is None  # the default bound: nothing spooled
    expected, got = _findings(tmp_path / "memory"), _findings(tmp_path / "spool")
    assert any('"DICOM-012"' in line for line in got)
    # the same resources with findings (a spooled conflict is a record of its own, as with validate -j)
    assert {json.loads(r)["source"] for r in got} == {json.loads(r)["source"] for r in expected}
    flat = [json.dumps(f, sort_keys=True) for r in map(json.loads, got) for f in r["findings"]]
    assert sorted(flat) == sorted(json.dumps(f, sort_keys=True) for r in map(json.loads, expected) for f in r["findings"])
    timing = ("elapsed_seconds", "resources_per_second")
    report, same = ({k: v for k, v in json.loads((tmp_path / run / "quality.json").read_text(encoding="utf-8")).items()
                     if k not in timing} for run in ("spool", "memory"))
    assert report == same
    store = tmp_path / "spool" / "uid-spool" / "resources.ndjson"
    last = everything(upstream, "ImagingStudy")[-1]["id"]
    stored = [json.loads(line)[0] for line in store.read_text(encoding="utf-8").splitlines()]
    if bound == "nothing in memory":
        assert len(stored) == len(everything(upstream, "ImagingStudy"))  # every study's claims spooled
    else:
        # only the last study's new Study UID went to the spool (one resource: no spooled conflict possible), so
        # its DICOM-012 findings came from the frozen in-memory index at once
        assert stored == [f"ImagingStudy/{last}"]
    assert spooled.state.report.by_level() == in_memory.state.report.by_level()
    assert outcome(spooled.state, None) == outcome(in_memory.state, None) == ("fail", 1)


def test_cli_memory_bounds_spill_ids_and_uids_to_disk_with_the_same_report(upstream: EmbeddedServer,
                                                                           tmp_path: Path) -> None:
    """``--memory-ids 2 --memory-uids 0``: every id past the second and every UID claim go to disk; the survey
    sends the same GETs and writes the same report as with the defaults (everything in memory)."""
    runner = CliRunner()
    logs: dict[str, list[Any]] = {}
    with FaultProxy(upstream.base_url, []) as proxy:
        for run, bounds in (("memory", []), ("disk", ["--memory-ids", "2", "--memory-uids", "0"])):
            proxy.state.log.clear()
            done = runner.invoke(app, ["survey", "--target", proxy.base_url, "--count", "4",
                                       "--report", str(tmp_path / run), *bounds])
            assert done.exit_code == 1, done.output  # complete; DICOM-012 is a SHALL finding
            logs[run] = list(proxy.state.log)
    assert logs["disk"] == logs["memory"] and {m for m, _, _ in logs["disk"]} == {"GET"}  # read-only, same pages
    total = len(everything(upstream, "ImagingStudy")) + len(everything(upstream, "DocumentReference"))
    state = load_state(tmp_path / "disk" / "survey-state.json")
    assert (len(state.seen), state.seen_spooled) == (2, total - 2)
    assert (tmp_path / "disk" / SEEN_DB).exists() and not (tmp_path / "memory" / SEEN_DB).exists()
    assert (tmp_path / "disk" / "uid-spool" / "resources.ndjson").exists()
    assert not (tmp_path / "memory" / "uid-spool").exists()
    assert _findings(tmp_path / "disk") != [] and sorted(_flat_findings(tmp_path / "disk")) == sorted(
        _flat_findings(tmp_path / "memory"))
    timing = ("elapsed_seconds", "resources_per_second")
    disk, memory = ({k: v for k, v in json.loads((tmp_path / run / "quality.json").read_text(encoding="utf-8")).items()
                     if k not in timing} for run in ("disk", "memory"))
    assert disk == memory
    helps = runner.invoke(app, ["survey", "--help"], terminal_width=200).output
    assert "--memory-ids" in helps and "--memory-uids" in helps


def test_cli_memory_defaults_are_the_modules_bounds() -> None:
    """cli.py cannot import the survey modules at start-up (imgconf --help < 0.3 s): its defaults are literals."""
    import inspect

    from imgconf.cli import survey as survey_command

    defaults = {name: param.default for name, param in inspect.signature(survey_command).parameters.items()}
    assert (defaults["memory_ids"], defaults["memory_uids"]) == (MEMORY_IDS, MEMORY_UIDS)


def _flat_findings(out: Path) -> list[str]:
    """Every finding of findings.ndjson with its resource (a spooled UID conflict is a record of its own)."""
    return [json.dumps([r["source"], f], sort_keys=True) for r in map(json.loads, _findings(out)) for f in r["findings"]]


def test_an_interrupted_spooled_survey_resumes_to_the_same_findings(upstream: EmbeddedServer, tmp_path: Path) -> None:
    """Ctrl-C mid-crawl with everything spooled: the spool is cut back to the checkpoint on resume, nothing is
    spooled twice, and the conflicts come out once, as in an uninterrupted survey; a removed spool is refused."""
    whole, _ = survey(upstream.base_url, tmp_path / "whole", count=3, memory_uids=0)
    out = tmp_path / "r"
    chosen = settings(upstream.base_url, count=3, memory_uids=0, memory_ids=2)  # the ids spill to disk too
    state, folder, state_path = prepare(chosen, out_dir=out, resume=None)
    first = InterruptAfter(7)
    Survey(chosen, state, state_path=state_path, out_dir=folder, validator=first).run()
    interrupted = load_state(state_path)
    assert interrupted.spool_sizes  # the checkpoint counts the spooled files
    assert (len(interrupted.seen), interrupted.seen_spooled) == (2, 5)  # and the ids on disk
    resumed, folder, state_path = prepare(chosen, out_dir=None, resume=state_path)
    second = InterruptAfter(None)
    Survey(chosen, resumed, state_path=state_path, out_dir=folder, validator=second).run()
    assert not set(first.judged) & set(second.judged)
    assert _findings(out) == _findings(tmp_path / "whole")
    store = out / "uid-spool" / "resources.ndjson"
    labels = [json.loads(line)[0] for line in store.read_text(encoding="utf-8").splitlines()]
    assert len(labels) == len(set(labels)) == len(everything(upstream, "ImagingStudy"))
    assert outcome(resumed, None) == outcome(whole.state, None)

    ids = out / SEEN_DB
    ids.rename(out / "elsewhere")
    with pytest.raises(SurveyError, match=r"cannot resume: .*seen-ids\.sqlite: missing"):
        prepare(chosen, out_dir=None, resume=state_path)
    (out / "elsewhere").rename(ids)
    store.unlink()
    with pytest.raises(SurveyError, match=r"cannot resume: .*resources\.ndjson: missing"):
        prepare(chosen, out_dir=None, resume=state_path)


# -- a misbehaving server: findings with evidence, never a traceback or a hang --------------------------------

def _offsite_next(bundle: dict[str, Any]) -> None:
    for link in bundle.get("link") or []:
        if link.get("relation") == "next":
            link["url"] = "http://127.0.0.2:9/fhir/ImagingStudy?page=2"


OFFSITE_NEXT = Fault("offsite-next", "next links on another origin", ("REST-043",),
                     on_response=edit_json(_offsite_next, calls=searches, body=bundles()))


@pytest.mark.parametrize(("fault", "requirement", "level", "pages"), [
    ("5xx-storm", SURVEY_READ, "INFO", 1),
    ("html-error-page", "REST-040", "SHALL", 1),
    ("bundle-type-collection", "REST-040", "SHALL", 1),
    ("connection-reset", SURVEY_READ, "INFO", 1),
    ("slow-response", SURVEY_READ, "INFO", 1),  # the request timeout (1 s) ends it
    ("next-link-loops", "REST-043", "SHOULD", 1),  # the next link is the page itself
    ("offsite-next", SURVEY_READ, "INFO", 1),
    ("redirect-loop", SURVEY_READ, "INFO", 6),  # the first request and httpx's 5 redirects, then it gives up
])
def test_misbehaving_server_is_a_finding(upstream: EmbeddedServer, tmp_path: Path, fault: str, requirement: str,
                                         level: str, pages: int) -> None:
    chosen = OFFSITE_NEXT if fault == "offsite-next" else BY_NAME[fault]
    with FaultProxy(upstream.base_url, [chosen]) as proxy:
        proxy.state.log.clear()
        job, elapsed = survey(proxy.base_url, tmp_path / "r", count=3, timeout=1.0, resource_types=("ImagingStudy",))
        seen = list(proxy.state.log)
    assert elapsed < 60
    assert len(seen) == pages and {m for m, _, _ in seen} == {"GET"}  # nothing off the origin, no retry storm
    found = problems(tmp_path / "r")
    assert [(p["requirement"], p["level"]) for p in found] == [(requirement, level)], found
    assert found[0]["page"].startswith(proxy.base_url)
    if requirement != "REST-043" and fault != "offsite-next":
        assert found[0]["evidence"]["method"] == "GET"  # the exchange as evidence
    quality = json.loads((tmp_path / "r" / "quality.json").read_text(encoding="utf-8"))
    assert quality["findings_by_rule"][requirement] == {level: 1}
    assert quality["complete"] is False and "INCOMPLETE" in quality["title"]
    assert outcome(job.state, None) == ("incomplete", 2)


def test_page_size_over_count_is_rest_085_and_fewer_is_legal(upstream: EmbeddedServer, tmp_path: Path) -> None:
    with FaultProxy(upstream.base_url, [BY_NAME["ignores-count"]]) as proxy:
        survey(proxy.base_url, tmp_path / "bad", count=3, resource_types=("ImagingStudy",))
    bad = problems(tmp_path / "bad")
    assert [(p["requirement"], p["level"]) for p in bad] == [("REST-085", "SHALL")]
    # the clean server's last page holds fewer than _count: legal, nothing said
    with FaultProxy(upstream.base_url, []) as proxy:
        job, _ = survey(proxy.base_url, tmp_path / "good", count=3, resource_types=("ImagingStudy",))
    assert len(everything(upstream, "ImagingStudy")) % 3 != 0
    assert problems(tmp_path / "good") == [] and "REST-085" not in job.state.report.by_rule


@pytest.mark.parametrize("memory_ids", [MEMORY_IDS, 0], ids=["ids in memory", "ids on disk"])
def test_a_resource_repeated_across_pages_is_validated_once(upstream: EmbeddedServer, tmp_path: Path,
                                                            memory_ids: int) -> None:
    first: list[dict[str, Any]] = []

    def repeat_first(body: dict[str, Any]) -> None:  # offset paging over data that changes under it
        entries = body.setdefault("entry", [])
        if not first:
            first.append(copy.deepcopy(entries[0]))
        else:
            entries[:0] = [copy.deepcopy(first[0]), copy.deepcopy(first[0])]

    repeats = Fault("repeats-first", "every later page repeats the first match, twice", ("REST-043",),
                    on_response=edit_json(repeat_first, calls=searches, body=bundles()))
    with FaultProxy(upstream.base_url, [repeats]) as proxy:
        job, _ = survey(proxy.base_url, tmp_path / "r", count=2, resource_types=("ImagingStudy",),
                        memory_ids=memory_ids)
    studies = len(everything(upstream, "ImagingStudy"))
    assert job.state.types["ImagingStudy"].validated == job.state.report.resources == studies
    assert job.state.seen_spooled == (studies if memory_ids == 0 else 0)  # the repeats were found where the ids are
    assert job.state.types["ImagingStudy"].pages == -(-studies // 2)
    # 2 + 2 repeats on a page asked with _count=2 is more than _count (REST-085), a deviation of its own
    assert {p["requirement"] for p in problems(tmp_path / "r")} == {"REST-085"}


def test_pages_without_anything_new_end_the_crawl(upstream: EmbeddedServer, tmp_path: Path) -> None:
    study = everything(upstream, "ImagingStudy")[0]
    rounds: list[int] = []

    def same_page(call: ProxyCall) -> ProxyResponse | None:  # a next link that changes, a page that does not
        if call.path != "ImagingStudy":  # not the proxy's own readiness probe (GET metadata)
            return None
        rounds.append(1)
        body = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": study, "search": {"mode": "match"}}],
                "link": [{"relation": "next", "url": f"{call.base}/ImagingStudy?_count=1&round={len(rounds)}"}]}
        return ProxyResponse(200, {"content-type": "application/fhir+json"}, json.dumps(body).encode())

    with FaultProxy(upstream.base_url, [Fault("same-page", "every page is the first", ("REST-043",),
                                              on_request=same_page)]) as proxy:
        job, _ = survey(proxy.base_url, tmp_path / "r", count=1, resource_types=("ImagingStudy",))
    assert len(rounds) == job.state.requests == 1 + STALE_PAGES_LIMIT
    assert job.state.report.resources == 1
    assert [(p["requirement"], p["level"]) for p in problems(tmp_path / "r")] == [(SURVEY_READ, "INFO")]
    assert outcome(job.state, None) == ("incomplete", 2)


def test_a_redirect_to_another_origin_is_not_followed(upstream: EmbeddedServer, tmp_path: Path) -> None:
    with FaultProxy(upstream.base_url, []) as elsewhere:
        def away(call: ProxyCall) -> ProxyResponse | None:
            return ProxyResponse(302, {"location": f"{elsewhere.base_url}/{call.path}"}, b"") if call.is_search else None

        with FaultProxy(upstream.base_url, [Fault("redirect-away", "searches redirect to another origin",
                                                   ("REST-040",), on_request=away)]) as proxy:
            elsewhere.state.log.clear()
            survey(proxy.base_url, tmp_path / "r", resource_types=("ImagingStudy",),
                   headers=(("Authorization", f"Bearer {SECRET}"),))
            assert elsewhere.state.log == []  # not one request, so no credential, left the target's origin
    found = problems(tmp_path / "r")
    assert len(found) == 1 and "not the target's origin" in found[0]["message"]


# -- secrets ---------------------------------------------------------------------------------------------------

def test_no_secret_in_state_report_or_console(upstream: EmbeddedServer, tmp_path: Path) -> None:
    out = tmp_path / "r"
    with FaultProxy(upstream.base_url, [BY_NAME["5xx-storm"]]) as proxy:  # failing pages carry request evidence
        done = CliRunner().invoke(app, ["survey", "--target", proxy.base_url, "--report", str(out),
                                        "--header", f"Authorization: Bearer {SECRET}"])
    assert done.exit_code == 2, done.output
    assert "outcome: INCOMPLETE" in done.output
    files = [p for p in out.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"survey-state.json", "quality.json", "quality.html", "survey.json"}
    for text in [done.output, *(p.read_text(encoding="utf-8", errors="replace") for p in files)]:
        assert SECRET not in text
    evidence = problems(out)[0]["evidence"]
    assert evidence["request_headers"].get("authorization") != f"Bearer {SECRET}"


def test_cli_resume_and_usage_errors(upstream: EmbeddedServer, tmp_path: Path) -> None:
    out = tmp_path / "r"
    runner = CliRunner()
    with FaultProxy(upstream.base_url, [BY_NAME["5xx-storm"]]) as proxy:
        first = runner.invoke(app, ["survey", "--target", proxy.base_url, "--report", str(out),
                                    "--resource", "ImagingStudy"])
        assert first.exit_code == 2 and "--resume" in first.output
        again = runner.invoke(app, ["survey", "--target", proxy.base_url, "--report", str(out)])
        assert again.exit_code == 2 and "holds a survey already" in again.output
        proxy.set_faults([])  # the server recovered: the resume reads what failed
        resumed = runner.invoke(app, ["survey", "--resume", str(out / "survey-state.json")])
    assert resumed.exit_code == 1, resumed.output  # complete now; DICOM-012 remains a SHALL finding
    summary = json.loads((out / "survey.json").read_text(encoding="utf-8"))
    assert summary["complete"] is True
    assert summary["types"]["ImagingStudy"]["validated"] == len(everything(upstream, "ImagingStudy"))
    none = runner.invoke(app, ["survey", "--report", str(tmp_path / "x")])
    assert none.exit_code == 2 and "no target" in none.output
    odd = runner.invoke(app, ["survey", "--target", upstream.base_url, "--resource", "ImagingStudy?_id=1",
                              "--report", str(tmp_path / "y")])
    assert odd.exit_code == 2 and "not a resource type name" in odd.output


def test_smart_preset_token_stays_in_memory(tmp_path: Path) -> None:
    """A --config preset's SMART client: the bearer token it fetches reaches the searches and nothing written or
    printed. The token request is the only non-GET, and it goes to the token endpoint."""
    from imgconf.auth.embedded import embedded_auth, ephemeral_client_config

    server_auth, harness = embedded_auth()
    tokens: list[str] = []

    def record_token(call: ProxyCall) -> None:
        if call.path == "ImagingStudy":
            tokens.append(call.headers.get("authorization", ""))

    out = tmp_path / "r"
    with EmbeddedServer(auth=server_auth) as server:
        session = TargetSession(SessionOptions(target=server.base_url, auth=harness))
        try:
            session.fixtures.ensure(["imagingstudy/ct-chest", "imagingstudy/mr-brain"])
            with FaultProxy(server.base_url, [Fault("records-token", "records the bearer token", ("SMART-031",),
                                                    on_request=record_token)]) as proxy:
                proxy.state.log.clear()
                with ephemeral_client_config(server_auth, proxy.base_url, tmp_path) as config:
                    done = CliRunner().invoke(app, ["survey", "--config", str(config), "--preset", "ephemeral",
                                                    "--resource", "ImagingStudy", "--report", str(out)])
                seen = list(proxy.state.log)
        finally:
            session.close()
    assert done.exit_code in (0, 1), done.output
    assert json.loads((out / "survey.json").read_text(encoding="utf-8"))["types"]["ImagingStudy"]["validated"] == 2
    assert {(m, p) for m, p, _ in seen if m != "GET"} == {("POST", "auth/token")}, seen
    assert tokens and all(t.startswith("Bearer ") and len(t) > 20 for t in tokens)
    token = tokens[0].removeprefix("Bearer ")
    for text in [done.output, *(p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir() if p.is_file())]:
        assert token not in text


@pytest.mark.slow  # Hypothesis sweeps / real processes and clusters: the full run, not the fast loop
def test_sigint_in_a_real_process_leaves_state_and_partial_report(upstream: EmbeddedServer, tmp_path: Path) -> None:
    """The CLI path end to end: Ctrl-C (SIGINT) while pages are read → exit 2, INTERRUPTED, a resumable state and
    a partial report that says so; the resume completes it with every resource counted once."""
    out = tmp_path / "r"
    args = [sys.executable, "-m", "imgconf.cli", "survey", "--target", upstream.base_url, "--count", "1",
            "--rate", "4", "--report", str(out)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "COLUMNS": "200"})
    lines: list[str] = []
    progressed = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if "ImagingStudy: 2 validated" in line:
                progressed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert progressed.wait(120), "".join(lines)
        child.send_signal(signal.SIGINT)
        assert child.wait(60) == 2, "".join(lines)
    finally:
        if child.poll() is None:
            child.kill()
    reader.join(10)
    output = "".join(lines)
    assert "outcome: INTERRUPTED" in output and "Traceback" not in output, output
    partial = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert partial["complete"] is False and "interrupted" in partial["title"]
    state = load_state(out / "survey-state.json")
    assert state.interrupted and 2 <= state.report.resources < len(everything(upstream, "ImagingStudy"))

    resumed = CliRunner().invoke(app, ["survey", "--resume", str(out / "survey-state.json")])
    assert resumed.exit_code == 1, resumed.output  # complete; DICOM-012 is SHALL
    final = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert final["complete"] is True
    assert final["totals"]["resources"] == len(everything(upstream, "ImagingStudy")) + len(
        everything(upstream, "DocumentReference"))

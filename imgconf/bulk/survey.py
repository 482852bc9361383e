"""``imgconf survey``: sweep a live server's imaging data, read-only, into the data-quality report.

For each resource type: ``GET [type]?_count=N``, then the ``next`` links (opaque, R4 search.html),
every match entry validated with the rules ``imgconf validate`` uses, and the cross-resource UID
rules (DICOM-012/013 over everything read: in memory up to ``memory_uids`` UIDs, then the disk spool,
imgconf.bulk.surveyindex), accumulated into one ``QualityReport``. The ids already validated (none is validated
twice) are bounded the same way: ``memory_ids`` in memory, then an SQLite table (imgconf.bulk.surveyseen).

Why it may be pointed at production:

* GET only: the survey sends nothing else, and its client is read-only (``TargetClient`` refuses a
  write before it leaves the harness).
* One origin: a ``next`` link on another origin is not followed (the report says so), and the
  transport refuses any request off the target's origin, redirect hops included — credentials and
  load go nowhere else. (A SMART token request goes to the preset's token endpoint, as in every run.)
* Bounded: every request has the client's whole-exchange deadline and body cap; ``rate`` spaces the
  requests; a failing page, a non-searchset answer, a ``next`` link back to a page already read or
  pages bringing nothing new end that type's crawl with evidence in the report — never a traceback, never a hang.
* Resumable: a state file (the page to read next per type, how much of it was validated, counts,
  the partial report and UID index) is checkpointed as it goes and on Ctrl-C/SIGTERM; ``--resume``
  continues there, and no resource is validated twice.
* No secret in the state, the report or the console: URLs are shown without userinfo and scrubbed
  of every registered secret; tokens live in memory only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import pickle
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from imgconf import secret_registry
from imgconf.auth.settings import AuthSettings
from imgconf.bounded import bounded_transport
from imgconf.bulk.quality import QualityReport, write_quality_report
from imgconf.bulk.surveyindex import MEMORY_UIDS, SpoolMissing, SurveyUidIndex
from imgconf.bulk.surveyseen import MEMORY_IDS, SEEN_DB, SurveySeen
from imgconf.client import DEFAULT_MAX_RESPONSE_BYTES, HttpResult, TargetClient, TargetUnreachable
from imgconf.credentials import origin, shown
from imgconf.results import Exchange
from imgconf.validators.crossref import UidIndex
from imgconf.validators.findings import MANDATORY, Finding

SPOOL_DIR = "uid-spool"  # in the report folder: the UID claims beyond memory_uids and their resources
SURVEY_READ = "SURVEY-READ"  # pseudo requirement: what the survey could not read (evidence, never a verdict)
STATE_FORMAT = "imgconf-survey-state/1"
DEFAULT_COUNT = 100
STALE_PAGES_LIMIT = 5  # pages in a row that bring no new resource: the crawl of that type stops
STATE_KEY_FILE = "survey-state.key"
_NOTE = "survey incomplete: "
MAX_PROBLEMS = 200
_PAGE = {"resourceType": "Bundle", "type": "searchset"}  # what a page finding is counted under in the report
EVIDENCE_CHARS = 4000
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")  # a type name only: nothing that changes the search URL

Validator = Callable[[dict[str, Any]], list[Finding]]


class SurveyError(Exception):
    """The survey cannot start (a state file that cannot be resumed, settings that contradict it)."""


class OffOriginRequest(httpx.TransportError):
    """A request (or a redirect hop) for another origin than the target's: never sent."""


class OriginOnlyTransport(httpx.BaseTransport):
    """Sends requests for one origin only; anything else fails before a byte leaves the harness."""

    def __init__(self, inner: httpx.BaseTransport, allowed: tuple[str, str, int | None]) -> None:
        self.inner = inner
        self.allowed = allowed

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if origin(request.url) != self.allowed:
            scheme, host, port = origin(request.url)
            raise OffOriginRequest(f"not sent: {scheme}://{host}:{port} is not the target's origin "
                                   "(the survey reads from the target only)", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class SurveySettings:
    target: str
    resource_types: tuple[str, ...]
    count: int = DEFAULT_COUNT  # _count asked on the first page of each type
    max_per_type: int | None = None  # resources validated per type at most
    rate: float | None = None  # requests per second at most
    timeout: float = 30.0
    verify_tls: bool = True
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    headers: tuple[tuple[str, str], ...] = ()
    auth: AuthSettings | None = None
    profile: str | None = None
    checkpoint_s: float = 5.0  # the state file is rewritten at most this often while a type is read
    memory_uids: int = MEMORY_UIDS  # UIDs the in-memory index holds; later claims go to the disk spool
    memory_ids: int = MEMORY_IDS  # ids of validated resources held in memory; later ones go to the disk table


@dataclass
class TypeProgress:
    """How far the crawl of one resource type got; everything here is JSON in the state file."""

    page: str | None  # the page to read next (None: nothing more to read)
    consumed: int = 0  # match entries of ``page`` already validated (a resume mid-page skips them)
    validated: int = 0
    pages: int = 0
    stale: int = 0  # pages in a row without a new resource
    stopped: str | None = None  # why reading ended before the last page (the crawl of this type is incomplete)
    visited: list[str] = field(default_factory=list)  # digests of the pages read (a next link back is a loop)

    def to_json(self) -> dict[str, Any]:
        return {"page": self.page, "consumed": self.consumed, "validated": self.validated, "pages": self.pages,
                "stale": self.stale, "stopped": self.stopped, "visited": self.visited}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TypeProgress:
        return cls(page=data["page"], consumed=int(data["consumed"]), validated=int(data["validated"]),
                   pages=int(data["pages"]), stale=int(data["stale"]), stopped=data["stopped"],
                   visited=list(data["visited"]))


@dataclass
class SurveyState:
    target: str  # as shown: no userinfo, no secret
    count: int
    out_dir: str  # the report folder (findings.ndjson there grows with the state)
    types: dict[str, TypeProgress]
    report: QualityReport
    index: UidIndex
    # "Type/id" of the resources validated (none is validated twice): the first memory_ids here, the rest in
    # the report folder's SEEN_DB (imgconf.bulk.surveyseen), seen_spooled of them at this checkpoint
    seen: set[str] = field(default_factory=set)
    requests: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)  # what could not be read, with redacted evidence
    findings_bytes: int = 0  # the length of findings.ndjson at this checkpoint (a resume cuts it back there)
    spool_sizes: list[int] = field(default_factory=list)  # the UID spool's file sizes at this checkpoint (idem)
    seen_spooled: int = 0  # ids in the SEEN_DB table at this checkpoint (a resume deletes the ones after)
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    elapsed_s: float = 0.0
    interrupted: bool = False

    def reached_max(self, rtype: str, max_per_type: int | None) -> bool:
        return max_per_type is not None and self.types[rtype].validated >= max_per_type

    def incomplete_reason(self, max_per_type: int | None) -> str | None:
        """None when every type was read to its last page or to --max, with nothing stopped early."""
        if self.interrupted:
            return "interrupted"
        for rtype, p in self.types.items():
            if p.stopped:
                return f"{rtype}: {p.stopped}"
            if p.page is not None and not self.reached_max(rtype, max_per_type):
                return f"{rtype}: not finished"
        return None

    def summary(self, max_per_type: int | None = None) -> dict[str, Any]:
        types = {}
        for rtype, p in self.types.items():
            status = ("stopped: " + p.stopped if p.stopped else "every page read" if p.page is None
                      else f"--max {max_per_type} reached" if self.reached_max(rtype, max_per_type) else "not finished")
            types[rtype] = {"validated": p.validated, "pages": p.pages, "status": status}
        why = self.incomplete_reason(max_per_type)
        return {"target": self.target, "complete": why is None, "incomplete": why, "interrupted": self.interrupted,
                "requests": self.requests, "elapsed_s": round(self.elapsed_s, 1), "started_at": self.started_at,
                "count": self.count, "max_per_type": max_per_type, "types": types, "problems": self.problems}


def new_state(settings: SurveySettings, out_dir: Path) -> SurveyState:
    base = _base_url(settings.target)
    count = max(1, min(settings.count, settings.max_per_type or settings.count))  # no page bigger than --max
    types = {t: TypeProgress(page=f"{base}/{t}?_count={count}") for t in settings.resource_types}
    return SurveyState(target=base, count=count, out_dir=str(out_dir.resolve()), types=types,
                       report=QualityReport(), index=UidIndex())


def _base_url(target: str) -> str:
    return (shown(target) or target).rstrip("/")  # userinfo goes to the client (Basic), never into a page URL


# -- the state file: progress as JSON, the accumulators pickled and authenticated ----------------------------

def save_state(path: Path, state: SurveyState) -> None:
    """Atomically (a crash leaves the previous checkpoint). The report, UID index and ids seen are pickled (they
    are picklable accumulators); an HMAC under a per-user key covers the whole file, so a resume never unpickles
    (or follows page links from) a file this user's imgconf did not write."""
    blob = pickle.dumps((state.report, state.index, state.seen), protocol=pickle.HIGHEST_PROTOCOL)
    data = {
        "format": STATE_FORMAT, "target": state.target, "count": state.count, "out_dir": state.out_dir,
        "types": {t: p.to_json() for t, p in state.types.items()}, "requests": state.requests,
        "problems": state.problems, "findings_bytes": state.findings_bytes, "spool_sizes": state.spool_sizes,
        "seen_spooled": state.seen_spooled, "started_at": state.started_at,
        "elapsed_s": state.elapsed_s, "interrupted": state.interrupted,
        "accumulators": base64.b64encode(blob).decode("ascii"),
    }
    data = json.loads(secret_registry.scrub(json.dumps(data)))  # no credential in any text of the state
    data["mac"] = _mac(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _mac(data: dict[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in data.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(_state_key(), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def load_state(path: Path) -> SurveyState:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SurveyError(f"{path}: cannot read the survey state ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise SurveyError(f"{path}: not an imgconf survey state ({STATE_FORMAT})")
    if not hmac.compare_digest(_mac(data), str(data.get("mac"))):
        raise SurveyError(f"{path}: the state was not written by this user's imgconf (or was changed): not resumed")
    try:
        blob = base64.b64decode(data["accumulators"], validate=True)
        report, index, seen = pickle.loads(blob)  # authenticated above: written by this user's imgconf
        return SurveyState(
            target=str(data["target"]), count=int(data["count"]), out_dir=str(data["out_dir"]),
            types={str(t): TypeProgress.from_json(p) for t, p in data["types"].items()},
            report=report, index=index, seen=seen, requests=int(data["requests"]), problems=list(data["problems"]),
            findings_bytes=int(data["findings_bytes"]), spool_sizes=[int(n) for n in data.get("spool_sizes", [])],
            seen_spooled=int(data.get("seen_spooled", 0)), started_at=str(data["started_at"]),
            elapsed_s=float(data["elapsed_s"]), interrupted=bool(data["interrupted"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
        raise SurveyError(f"{path}: a damaged survey state ({type(exc).__name__}: {exc})") from None


def _state_key() -> bytes:
    """32 random bytes in the user's imgconf cache directory (mode 0600), made on first use (complete or not at
    all: written aside, then linked into place)."""
    from imgconf.suite.index import cache_dir

    path = cache_dir() / STATE_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f"{STATE_KEY_FILE}.{secrets.token_hex(6)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(aside, path)
        except FileExistsError:  # another survey made it meanwhile: theirs is the key
            pass
        finally:
            aside.unlink()
    return path.read_bytes()


# -- pacing ---------------------------------------------------------------------------------------------------

class RateLimit:
    """At most ``rate`` requests per second: each request starts at least 1/rate s after the previous one."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next > now:
            self.sleep(self._next - now)
            now = time.monotonic()
        self._next = now + self.interval


# -- the crawl ------------------------------------------------------------------------------------------------

def default_validator(profile: str | None) -> Validator:
    """The rules ``imgconf validate`` applies to one resource (imgconf.bulk.work's switch point: the fast
    structural path once it is there)."""
    from imgconf.bulk.work import resource_validator

    validate = resource_validator()
    return lambda resource: list(validate(resource, profile=profile))


class Survey:
    """One survey run: ``run()`` crawls every type from where ``state`` stands and writes the reports."""

    def __init__(self, settings: SurveySettings, state: SurveyState, *, state_path: Path, out_dir: Path,
                 echo: Callable[[str], None] = lambda line: None, validator: Validator | None = None) -> None:
        self.settings = settings
        self.state = state
        self.state_path = state_path
        self.out_dir = out_dir
        self.echo = echo  # progress lines for the console (already free of secrets)
        self.validate = validator or default_validator(settings.profile)
        self.limit = RateLimit(settings.rate)
        self.uids = SurveyUidIndex(state.index, out_dir / SPOOL_DIR, memory_uids=settings.memory_uids,
                                   sizes=state.spool_sizes)
        self.seen = SurveySeen(state.seen, out_dir / SEEN_DB, memory_ids=settings.memory_ids,
                               spooled=state.seen_spooled)
        self._findings: IO[bytes] | None = None
        self._last_checkpoint = time.monotonic()
        self._clock_from = time.monotonic()

    # -- running ----------------------------------------------------------------------------------------------
    def run(self) -> SurveyState:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.state.interrupted = False
        self._findings = self._open_findings()
        client, smart = self._client()
        try:
            for rtype in self.state.types:
                self._crawl(client, rtype)
        except KeyboardInterrupt:  # Ctrl-C / SIGTERM: what was read stays, resumable
            self.state.interrupted = True
        finally:
            try:
                self.checkpoint()
                self._spooled_conflicts()  # after the checkpoint: a resume finds them again from the spool
                self.write_reports()
            finally:
                self.uids.close()
                self.seen.close()
                client.close()
                if smart is not None:
                    smart.close()
                self._findings.close()
        return self.state

    def _client(self) -> tuple[TargetClient, Any]:
        from imgconf.auth.request_auth import RequestAuth
        from imgconf.auth.smart import SmartClient

        base = self.settings.target
        smart = (SmartClient(self.settings.auth, _base_url(base), verify=self.settings.verify_tls,
                             timeout=self.settings.timeout, max_response_bytes=self.settings.max_response_bytes)
                 if self.settings.auth is not None else None)
        transport = OriginOnlyTransport(bounded_transport(self.settings.verify_tls), origin(_base_url(base)))
        client = TargetClient(base, timeout=self.settings.timeout, verify=self.settings.verify_tls,
                              auth=RequestAuth(smart), transport=transport, read_only=True,
                              max_response_bytes=self.settings.max_response_bytes,
                              extra_headers=self.settings.headers)
        return client, smart

    def _open_findings(self) -> IO[bytes]:
        """findings.ndjson, cut back to the last checkpoint (what came after it is validated again)."""
        path = self.out_dir / "findings.ndjson"
        fh = path.open("r+b" if path.exists() else "w+b")
        keep = min(self.state.findings_bytes, fh.seek(0, os.SEEK_END))  # never padded when the file was removed
        fh.truncate(keep)
        fh.seek(keep)
        return fh

    def checkpoint(self) -> None:
        now = time.monotonic()
        self.state.elapsed_s += now - self._clock_from
        self._clock_from = self._last_checkpoint = now
        if self._findings is not None:
            self._findings.flush()
            self.state.findings_bytes = self._findings.tell()
        self.state.spool_sizes = self.uids.checkpoint()
        self.state.seen_spooled = self.seen.checkpoint()  # committed before the state that counts it is written
        save_state(self.state_path, self.state)

    def _spooled_conflicts(self) -> None:
        """The DICOM-012/013 conflicts of the claims spooled to disk, added as ``imgconf validate -j`` adds its
        cross-resource findings (to resources already counted, which may have been failing already)."""
        for label, resource, findings, prior in self.uids.conflicts():
            self.state.report.add(label, resource, findings, counted=False, prior=prior)
            self._write_findings(label, resource, findings)

    def _maybe_checkpoint(self) -> None:
        if time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_s:
            self.checkpoint()

    def write_reports(self) -> list[Path]:
        """quality.json/.html (imgconf.bulk.quality) and survey.json (the crawl: per type, problems with
        evidence); a survey that did not read everything says so in both."""
        max_per_type = self.settings.max_per_type
        why = self.state.incomplete_reason(max_per_type)
        report = self.state.report
        report.elapsed = self.state.elapsed_s
        report.complete = why is None
        report.notes = [n for n in report.notes if not n.startswith(_NOTE)] + ([f"{_NOTE}{why}"] if why else [])
        title = f"imgconf survey of {self.state.target}" + (f" — INCOMPLETE ({why})" if why else "")
        written = write_quality_report(report, self.out_dir, title=secret_registry.scrub(title))
        for path in written:  # a server may echo a credential anywhere (meta.source, an id): never written
            text = path.read_text(encoding="utf-8")
            if (scrubbed := secret_registry.scrub(text)) != text:
                path.write_text(scrubbed, encoding="utf-8")
        survey_json = self.out_dir / "survey.json"
        survey_json.write_text(secret_registry.scrub(json.dumps(self.state.summary(max_per_type), indent=2)) + "\n",
                               encoding="utf-8")
        return [*written, survey_json]

    # -- one type ----------------------------------------------------------------------------------------------
    def _crawl(self, client: TargetClient, rtype: str) -> None:
        p = self.state.types[rtype]
        if p.page is not None:
            p.stopped = None  # a resume retries the page that failed (a loop or an off-origin link stays stopped)
        while p.page is not None and not self.state.reached_max(rtype, self.settings.max_per_type):
            url = p.page
            bundle = self._read_page(client, rtype, url)
            if bundle is None:
                return  # the problem is recorded; the page stays next for a resume
            new = 0
            for i, resource in enumerate(_match_entries(bundle, rtype)):
                if i < p.consumed:
                    continue
                if self.state.reached_max(rtype, self.settings.max_per_type):
                    return  # the rest of this page waits for a resume with a higher --max
                rid = resource.get("id")
                if isinstance(rid, str) and f"{rtype}/{rid}" in self.seen:
                    p.consumed = i + 1
                    continue  # the server repeated it (offset paging while data changes): validated already
                self._validate(rtype, resource, url, i)  # counts it and moves p.consumed past it
                new += 1
                self._maybe_checkpoint()
            p.pages += 1  # pages done (a page cut short by --max or Ctrl-C is read again, not counted twice)
            p.stale = 0 if new else p.stale + 1
            p.visited.append(_digest(url))
            p.consumed = 0
            p.page = self._next_page(rtype, url, bundle, p)
            self.echo(f"{rtype}: {p.validated} validated, {p.pages} page(s)")
            self._maybe_checkpoint()  # time-based: the state (UID index included) is not rewritten for every page

    def _read_page(self, client: TargetClient, rtype: str, url: str) -> dict[str, Any] | None:
        """The searchset Bundle of one page, or None after recording why there is none."""
        self.limit.wait()
        self.state.requests += 1
        try:
            result = client.send("GET", url)
        except TargetUnreachable as exc:  # transport error, timeout, body over the cap, off-origin redirect
            self._problem(rtype, url, SURVEY_READ, "INFO", f"no response: {exc}", _evidence(exc.exchange))
            return None
        if result.status != 200:
            self._problem(rtype, url, SURVEY_READ, "INFO", f"the search answered HTTP {result.status}"
                          f"{_head(result)}", _evidence(result.exchange))
            return None
        body = result.json
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get("type") != "searchset":
            what = (result.json_error or "no JSON object") if not isinstance(body, dict) else (
                f"resourceType {body.get('resourceType')!r}" if body.get("resourceType") != "Bundle"
                else f"a Bundle of type {body.get('type')!r}")
            # R4 search.html: a search answers a searchset Bundle (REST-040)
            self._problem(rtype, url, "REST-040", "SHALL", f"HTTP 200 to a search, but {what}, not a searchset "
                          f"Bundle{_head(result)}", _evidence(result.exchange))
            return None
        self._judge_page_size(rtype, url, body)
        return body

    def _judge_page_size(self, rtype: str, url: str, bundle: dict[str, Any]) -> None:
        """REST-085: a page asked with ``_count=n`` holds at most n matches (fewer is allowed)."""
        wanted = dict(parse_qsl(urlsplit(url).query)).get("_count", "")
        if not wanted.isdigit():
            return  # a next link is opaque: only a page whose URL asks _count is held to it
        matched = sum(1 for _ in _match_entries(bundle, rtype))
        if matched > int(wanted):
            self._problem(rtype, url, "REST-085", "SHALL", f"_count={wanted} asked, {matched} match entries on the page",
                          None, stop=False)

    def _next_page(self, rtype: str, url: str, bundle: dict[str, Any], p: TypeProgress) -> str | None:
        link = _next_link(bundle)
        if link is None:
            return None  # the last page
        link = str(httpx.URL(url).join(link))  # a relative next link is resolved against the page
        if origin(link) != origin(url):
            self._problem(rtype, url, SURVEY_READ, "INFO", f"the next link is on another origin ({_shown_origin(link)});"
                          " not followed: the survey reads from the target only", None)
            p.stopped = "next link on another origin, not followed"
            return None
        if _digest(link) in p.visited:
            # R4 search.html: following next returns the following page (REST-043, SHOULD)
            self._problem(rtype, url, "REST-043", "SHOULD", "the next link leads back to a page already read "
                          f"({shown(link)}); the crawl of {rtype} stopped there", None)
            p.stopped = "next links loop"
            return None
        if p.stale >= STALE_PAGES_LIMIT:
            self._problem(rtype, url, SURVEY_READ, "INFO", f"{p.stale} pages in a row brought no new {rtype}; the "
                          "crawl stopped (a next-link loop with changing URLs?)", None)
            p.stopped = f"{p.stale} pages without a new resource"
            return None
        scrubbed = secret_registry.scrub(link)
        if scrubbed != link:  # a credential in a next link is never written to the state
            self._problem(rtype, url, SURVEY_READ, "INFO", "the next link carries a credential; not stored, not followed", None)
            p.stopped = "next link carries a credential"
            return None
        return link

    def _validate(self, rtype: str, resource: dict[str, Any], page: str, i: int) -> None:
        rid = resource.get("id")
        label = secret_registry.scrub(f"{rtype}/{rid}" if isinstance(rid, str) else f"{shown(page)}#entry[{i}]")
        findings = self.validate(resource)  # the long part: a Ctrl-C here leaves the resource to the resume
        findings += self.uids.add(resource, label, findings)
        progress = self.state.types[rtype]
        self.state.report.add(label, resource, findings)
        progress.consumed, progress.validated = i + 1, progress.validated + 1
        if isinstance(rid, str):
            self.seen.add(f"{rtype}/{rid}")
        self._write_findings(label, resource, findings)

    def _write_findings(self, label: str, resource: dict[str, Any], findings: list[Finding]) -> None:
        if findings and self._findings is not None:
            rid = resource.get("id")
            record = {"source": label, "resourceType": resource.get("resourceType"), "id": rid if isinstance(rid, str) else None,
                      "findings": [f.to_dict() for f in findings]}
            self._findings.write(secret_registry.scrub(json.dumps(record, ensure_ascii=False)).encode("utf-8") + b"\n")

    def _problem(self, rtype: str, url: str, requirement: str, level: str, message: str,
                 evidence: dict[str, Any] | None, *, stop: bool = True) -> None:
        """A page the survey could not use (or a page-level deviation): in the report as a finding of the page,
        and in survey.json with the redacted exchange as evidence."""
        where = shown(url) or url
        message = secret_registry.scrub(message)
        # the page is no surveyed resource: its finding is counted (under Bundle), the resources are not
        self.state.report.add(f"{rtype} search page {where}", dict(_PAGE), [Finding(requirement, level, "Bundle", message)],
                              counted=False)
        if len(self.state.problems) < MAX_PROBLEMS:  # the report counts them all; survey.json keeps the first ones
            self.state.problems.append({"resourceType": rtype, "page": where, "requirement": requirement,
                                        "level": level, "message": message, "evidence": evidence})
        self.echo(f"{rtype}: {requirement} {level} {message}")
        if stop:  # the reason, short (it goes into titles): the whole message is in the report and survey.json
            self.state.types[rtype].stopped = message if len(message) <= 160 else message[:159] + "…"


def _match_entries(bundle: dict[str, Any], rtype: str) -> Iterator[dict[str, Any]]:
    """The match entries' resources (search.mode match, or no mode and the searched type), as the search oracle
    counts them; includes and OperationOutcomes are not the data surveyed."""
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        resource = entry["resource"]
        if resource.get("resourceType") == rtype and mode in ("match", None):
            yield resource


def _next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str) and link["url"]:
            return str(link["url"])
    return None


def _evidence(exchange: Exchange) -> dict[str, Any]:
    """The exchange as evidence (already redacted by the client), its body cut to a readable head."""
    data = exchange.to_dict()
    body = data.get("response_body")
    if isinstance(body, str) and len(body) > EVIDENCE_CHARS:
        data["response_body"] = body[:EVIDENCE_CHARS] + f"… [{len(body) - EVIDENCE_CHARS} more characters not kept]"
    return data


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]


def _shown_origin(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{quote(host, safe='.:[]')}:{port}"


def _head(result: HttpResult) -> str:
    text = result.text.strip()
    if not text:
        return ""
    return f" (Content-Type {result.header('content-type') or 'none'}; body starts {text[:160]!r})"


def outcome(state: SurveyState, max_per_type: int | None) -> tuple[str, int]:
    """The one word and the exit code: complete with no SHALL finding (0), SHALL findings (1), incomplete (2)."""
    if state.incomplete_reason(max_per_type) is not None:
        return ("interrupted" if state.interrupted else "incomplete"), 2
    failing = sum(n for level, n in state.report.by_level().items() if level in MANDATORY)
    return ("fail", 1) if failing else ("pass", 0)


def prepare(settings: SurveySettings, *, out_dir: Path | None, resume: Path | None) -> tuple[SurveyState, Path, Path]:
    """(state, report folder, state file): a new survey, or the one ``resume`` names (same target and types)."""
    odd = [t for t in settings.resource_types if not _TYPE_NAME.fullmatch(t)]
    if odd:
        raise SurveyError(f"--resource: {', '.join(odd)} is not a resource type name (e.g. ImagingStudy)")
    try:
        _state_key()  # a cache folder that cannot hold the key stops the survey here, not at its first checkpoint
    except OSError as exc:
        raise SurveyError(f"cannot keep the survey state's key in the imgconf cache folder ({exc})") from None
    if resume is not None:
        state = load_state(resume)
        if _base_url(settings.target) != state.target:
            raise SurveyError(f"{resume} is a survey of {state.target}, not of {_base_url(settings.target)}")
        if settings.resource_types and tuple(state.types) != settings.resource_types:
            raise SurveyError(f"{resume} surveys {', '.join(state.types)}; resume it with those types (or no --resource)")
        folder = out_dir or Path(state.out_dir)
        try:  # the UID spool and the table of ids the state counts on are still there (cut back to the checkpoint)
            SurveyUidIndex(state.index, folder / SPOOL_DIR, sizes=state.spool_sizes).close()
            SurveySeen(state.seen, folder / SEEN_DB, spooled=state.seen_spooled).close()
        except SpoolMissing as exc:
            raise SurveyError(f"{resume}: cannot resume: {exc}") from None
        return state, folder, resume
    folder = out_dir or Path("reports/survey")
    state_path = folder / "survey-state.json"
    if state_path.exists():
        raise SurveyError(f"{state_path} holds a survey already: continue it with --resume {state_path}, "
                          "or choose another --report folder")
    return new_state(settings, folder), folder, state_path

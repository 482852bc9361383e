"""pytest plugin: YAML suites become pytest items; results become reports.

Only hooks live here. Loading is ``imgconf.suite``, running a case is ``imgconf.engine``, the
target session is ``imgconf.session``, writing reports is ``imgconf.report``.

Verdicts map onto pytest so that CI reads them right: a SHALL failure fails the item (an
AssertionError subclass, so allure shows "failed"); a SHOULD failure passes with a
ConformanceWarning unless ``--strict-should``; an unreachable target is an error ("broken").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import time
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from imgconf import options
from imgconf.results import CaseResult, Level, RunInfo, Verdict
from imgconf.suite.discovery import looks_like_suite

if TYPE_CHECKING:
    from imgconf.data_claims import Claims
    from imgconf.session import TargetSession
    from imgconf.suite.model import Case, Suite

# pytest loads this module in every project where imgconf is installed: only light modules are
# imported here; the session, loader, checks and HTTP stack are imported once suites are collected.
SESSION_KEY: pytest.StashKey[TargetSession] = pytest.StashKey()
CASE_RESULTS_KEY: pytest.StashKey[list[CaseResult]] = pytest.StashKey()  # every case's result, as the controller received it
ROOTS_KEY = pytest.StashKey[list[Path]]()  # the configured suite roots (absolute)
RUNINFO_KEY = pytest.StashKey[dict[str, Any]]()
PRESET_KEY = pytest.StashKey[Any]()  # imgconf.config.Preset | None
BASELINE_KEY = pytest.StashKey[list[Any]]()  # imgconf.baseline.Entry, loaded before the run


class ConformanceWarning(UserWarning):
    """A SHOULD-level requirement the target does not meet."""


class TargetError(Exception):
    """The target could not be reached or could not take the fixtures (not a conformance verdict)."""


# -- options ---------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)  # every option is --imgconf-<name> (imgconf.options)


def suite_roots(config: pytest.Config) -> list[Path]:
    """The configured suite roots; none means imgconf stays out of this pytest run."""
    return config.stash.get(ROOTS_KEY, [])


def pytest_configure(config: pytest.Config) -> None:
    roots = [path.resolve() for path in options.get(config, "suites")]
    if not roots:  # installed but not asked: no markers, no run controls, no reports, no scheduling
        return
    config.stash[ROOTS_KEY] = roots
    if options.given(config, "suites") and config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args = [str(root) for root in roots]  # `pytest --imgconf-suites DIR` alone runs DIR
    for level in ("shall", "should", "may"):
        config.addinivalue_line("markers", f"{level}: cases at {level.upper()} level (imgconf)")
    for area in ("imagingstudy", "rest", "pdqm", "mhd", "smart", "documents", "manifests", "workflow"):
        config.addinivalue_line("markers", f"{area}: imgconf suites of area {area}")
    config.addinivalue_line("markers", "writes: cases that create, change or delete data on the target")
    config.stash[CASE_RESULTS_KEY] = []
    config.pluginmanager.register(_CaseResultCollector(config), "imgconf-case-results")
    from imgconf.config import ConfigError, configure_pytest

    try:  # before anything reads the options a preset may set (target, edition, read-only, …)
        config.stash[PRESET_KEY] = configure_pytest(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    from imgconf import runcontrol

    runcontrol.configure(config)
    if not config.pluginmanager.is_registered(runcontrol):
        config.pluginmanager.register(runcontrol, "imgconf-runcontrol")
    from imgconf import interruption

    if not config.pluginmanager.is_registered(interruption):
        config.pluginmanager.register(interruption, "imgconf-interruption")
    if (baseline := options.get(config, "baseline")) and not hasattr(config, "workerinput"):
        from imgconf.baseline import BaselineError, load_baseline

        try:  # a broken baseline stops the run before anything is sent to the target
            entries = load_baseline(baseline)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.stash[BASELINE_KEY] = entries


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Cases of one suite share saved variables: with ``--dist load`` (what ``-n`` means), each suite
    file goes to one worker while every other test is balanced one by one."""
    if not suite_roots(config) or config.getvalue("dist") != "load":
        return None
    from imgconf.xdist_scheduling import SuiteFileScheduling

    return SuiteFileScheduling(config, log, suite_roots(config))


# -- collection ------------------------------------------------------------------------------

def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    roots = suite_roots(parent.config)
    if roots and any(file_path == root or file_path.is_relative_to(root) for root in roots) and looks_like_suite(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from imgconf.suite.loader import load_suite

        selected = options.get(self.config, "suite")
        if selected:  # --suite X: another suite's file is neither validated nor collected (its id is peeked)
            from imgconf.suite.peek import peek_suite_id

            peeked = peek_suite_id(self.path)
            if peeked is not None and peeked not in selected:
                return
        suite = load_suite(self.path, fixture_library=_fixture_library(self.config))
        suite_marker = suite.id.replace("-", "_")
        self.config.addinivalue_line("markers", f"{suite_marker}: cases of suite {suite.id} (imgconf)")
        for tag in {t for c in suite.cases for t in c.tags}:
            self.config.addinivalue_line("markers", f"{tag.replace('-', '_')}: imgconf case tag")
        if selected and suite.id not in selected:
            return
        # A suite that needs a PACS (requires: [dicomweb]) is skipped, before any fixture is made, when the run has none.
        no_pacs = "dicomweb" in suite.requires and not options.get(self.config, "dicomweb")
        for case in suite.cases:
            # Node id suites/x.yaml::<case id> survives a reworded name; -k still matches the name.
            item = CaseItem.from_parent(self, name=case.key, suite=suite, case=case)
            item.extra_keyword_matches.add(case.name)
            if no_pacs:
                from imgconf.pacs import NO_PACS_REASON

                item.target_skip_reason = NO_PACS_REASON
            item.add_marker(_level_marker(case.level))
            item.add_marker(suite.area)
            item.add_marker(suite_marker)
            if case.writes:
                item.add_marker("writes")
            for tag in case.tags:
                item.add_marker(tag.replace("-", "_"))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from imgconf.suite.loader import SuiteError

        if isinstance(excinfo.value, SuiteError):
            return f"malformed suite: {excinfo.value}"
        return str(super().repr_failure(excinfo))


FIXTURE_LIBRARY_KEY = pytest.StashKey[dict[str, Any]]()


def _fixture_library(config: pytest.Config) -> dict[str, Any]:
    """Read once per session (every suite file's collection reads it; the loader only looks names up)."""
    if FIXTURE_LIBRARY_KEY not in config.stash:
        from imgconf.fixtures import library
        from imgconf.paths import fixtures_dir

        config.stash[FIXTURE_LIBRARY_KEY] = library(fixtures_dir())
    return config.stash[FIXTURE_LIBRARY_KEY]


def _level_marker(level: Level) -> str:
    if level.is_mandatory:
        return "shall"
    if level.is_recommended:
        return "should"
    return "may"


class CaseItem(pytest.Item):
    def __init__(self, *, suite: Suite, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.case = case
        self.case_result: CaseResult | None = None
        self.target_skip_reason: str | None = None  # set by a managed target's skip_areas or a missing PACS

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"{self.suite.id}: {self.case.name} [{', '.join(self.case.requirements)}]"

    def setup(self) -> None:
        # The exchange with the target happens here, so an unreachable target (or one that cannot
        # take the fixtures) is a pytest *error* — allure "broken" — never a conformance failure.
        chains = self.config.stash.get(CHAINS_KEY, None)
        if chains is not None and chains.scheduled(self):  # --imgconf-concurrency: its suite file's chain ran it
            from imgconf.concurrent_cases import NotRun

            try:
                result = chains.result(self)
            except NotRun as exc:
                pytest.skip(f"not run: {exc}")
        else:
            result = self.judge()
        self.case_result = result
        _allure_annotate(self, result)
        if result.verdict is Verdict.ERROR:
            raise TargetError(result.error)

    def judge(self) -> CaseResult:
        """The case's result from the target; on the main thread, or on a suite-file chain's thread."""
        from imgconf.engine import run_case

        session = _session(self.config)
        guard = _unreachable_guard(self.config)
        target_skip = self.target_skip_reason  # a managed target's skip_areas (imgconf.targets.skips)
        if guard.tripped or target_skip:  # a dead target: say so once per case instead of waiting out every connect
            result = CaseResult(suite_id=self.suite.id, suite=self.suite.title, case=self.case.name,
                                nodeid=self.nodeid, area=self.suite.area, requirement=list(self.case.requirements),
                                level=self.case.level, skipped_reason=target_skip or guard.not_run_reason(),
                                level_reason=self.case.level_reason, case_id=self.case.id)
        else:
            result = _without_secrets(run_case(self.case, self.suite, session, self.nodeid))
            guard.observe(result)
        return result

    def runtest(self) -> None:
        result = self.case_result
        assert result is not None
        if result.verdict in (Verdict.SKIP, Verdict.NOT_JUDGED):
            pytest.skip(result.skipped_reason or "not run")
        failing = [c for c in result.checks if c.verdict is Verdict.FAIL]
        warn = [c for c in result.checks if c.verdict is Verdict.WARN]
        if warn and options.get(self.config, "strict_should"):
            failing += warn
        if failing:
            from imgconf.checks.base import CheckFailure

            raise CheckFailure(_failure_text(result, failing))
        if warn:
            _allure_describe_warnings(self, warn)
        for check in warn:
            warnings.warn(ConformanceWarning(
                f"{self.suite.id} :: {self.case.name}: [{', '.join(check.requirement)} SHOULD] {check.reason}"), stacklevel=1)
        if result.skipped_reason:
            pytest.skip(result.skipped_reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from imgconf.checks.base import CheckFailure

        if isinstance(excinfo.value, (CheckFailure, TargetError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


UNREACHABLE_KEY = pytest.StashKey[Any]()  # imgconf.report.outcome.UnreachableGuard, one per process
CHAINS_KEY = pytest.StashKey[Any]()  # imgconf.concurrent_cases.CaseChains of a --imgconf-concurrency run


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """--imgconf-concurrency N: start the suite files' chains; pytest's own loop then sets the items up in order."""
    config = session.config
    workers = options.get(config, "concurrency") or 0
    if (workers < 2 or not suite_roots(config) or hasattr(config, "workerinput") or config.option.collectonly
            or getattr(config.option, "dist", "no") != "no"  # xdist: its workers take items one by one
            or (session.testsfailed and not config.option.continue_on_collection_errors)):
        return
    chains = _suite_file_chains(session.items)
    if not chains:
        return
    from imgconf.concurrent_cases import CaseChains

    target = _session(config)  # here, on the main thread: the server, the run note, the SIGTERM handler
    target.capability  # noqa: B018 — /metadata read once before the threads, which all record into it
    if target.capabilities() is not None:  # a target that answers at all (else each case finds out, as in a sequential run)
        _load_fixtures(target, {key for chain in chains for item in chain if not item.target_skip_reason
                                for key in item.suite.fixtures}, workers)
    # A case that writes a type runs while no other case reads or writes it; fixtures it still has to make
    # count as writing anything (no case sees the target's data change under it).
    runner: CaseChains[CaseItem, CaseResult] = CaseChains(
        workers, CaseItem.judge, lambda: _stopping(session), claims=lambda item: _claims_of(item, target))
    config.stash[CHAINS_KEY] = runner
    runner.start(chains, weight=lambda chain: sum(len(item.case.steps) for item in chain))


def _claims_of(item: CaseItem, target: TargetSession) -> Claims:
    """The resource types the case reads and writes, asked just before it runs (a URL saved by an earlier
    case of its file is known by then); anything it cannot tell counts as every type."""
    from imgconf.data_claims import Claims
    from imgconf.suite.claims import case_claims

    if not target.fixtures.ready(item.suite.fixtures):
        return Claims.everything()
    try:
        return case_claims(item.case, lambda path: _target_path(target, item.suite, path))
    except Exception:  # noqa: BLE001 — a case the claims cannot read runs alone, and says what is wrong when it runs
        return Claims.everything()


def _target_path(target: TargetSession, suite: Suite, path: str) -> str | None:
    """``path`` (a variable) filled in from the suite file's saved values, relative to the target's base."""
    from imgconf.engine import lookup_for
    from imgconf.suite.template import render

    if path.startswith("${fixture."):
        return None
    try:
        url = str(render(path, lookup_for(target, suite)))
    except Exception:  # noqa: BLE001 — not saved yet (a step of the same case saves it): not known
        return None
    base = target.client.base_url.rstrip("/") + "/"
    if url.startswith(base):
        return url[len(base):]
    return None if "://" in url else url


def _load_fixtures(target: TargetSession, keys: set[str], workers: int) -> None:
    """Every fixture the selected suites use, made before any case runs (N at a time; dependencies under
    their own locks): the writes of the case phase are then only those of cases that write. A target
    holds other data anyway, so suites never rely on a fixture being absent. A fixture that cannot be
    made is reported by each case that needs it, as in a sequential run."""
    from imgconf.concurrent_cases import map_concurrently

    def load(key: str) -> None:
        with contextlib.suppress(Exception):  # what went wrong happens again in the case that needs it, and is reported there
            target.fixtures.ensure([key])

    map_concurrently(load, sorted(keys), workers, "imgconf-fixtures")


def _suite_file_chains(items: list[pytest.Item]) -> list[list[CaseItem]]:
    """The selected cases of each suite file, in collection order. A case skipped by a marker is left out
    (pytest skips it before setup); a conditional skip ends its chain there: that case and the ones after
    it run the sequential way, as pytest reaches them."""
    chains: dict[pytest.Collector | None, list[CaseItem]] = {}
    cut: set[pytest.Collector | None] = set()
    for item in items:
        if not isinstance(item, CaseItem) or item.parent in cut:
            continue
        if item.get_closest_marker("skipif") is not None:
            cut.add(item.parent)
            continue
        if item.get_closest_marker("skip") is None:
            chains.setdefault(item.parent, []).append(item)
    return [chain for chain in chains.values() if chain]


def _stopping(session: pytest.Session) -> bool:
    """Whether a chain should start no further case: -x / --maxfail, Ctrl-C on the way, --run-timeout passed."""
    if session.shouldstop or session.shouldfail:
        return True
    limit = options.get(session.config, "run_timeout")
    started = session.config.stash.get(RUNINFO_KEY, {}).get("started")
    return bool(limit and started is not None and time.time() - started > limit)


def _unreachable_guard(config: pytest.Config) -> Any:
    from imgconf.report.outcome import UnreachableGuard

    if UNREACHABLE_KEY not in config.stash:
        config.stash[UNREACHABLE_KEY] = UnreachableGuard()
    return config.stash[UNREACHABLE_KEY]


def _without_secrets(result: CaseResult) -> CaseResult:
    """The one place a case result is redacted by value, before anything shows or sends it."""
    from imgconf.report.redact import scrub_strings
    from imgconf.secret_registry import known

    if not known():
        return result
    data = result.to_dict()
    for key in ("exchanges", "skipped_reason", "error"):  # what came from the server; names and ids stay
        data[key] = scrub_strings(data[key])
    for check in data["checks"]:
        check["reason"], check["detail"] = scrub_strings(check["reason"]), scrub_strings(check["detail"])
    return CaseResult.from_dict(data)


def _failure_text(result: CaseResult, failing: list[Any]) -> str:
    lines = [f"{result.suite} :: {result.case}"]
    for check in failing:
        lines.append(f"  [{', '.join(check.requirement)} {check.level.value}] {check.check}: {check.reason}")
        if check.exchange is not None and check.exchange < len(result.exchanges):
            ex = result.exchanges[check.exchange]
            lines.append(f"      {ex.method} {ex.url} -> {ex.status if ex.status is not None else ex.error}")
    not_judged = [c for c in result.checks if c.verdict is Verdict.NOT_JUDGED]
    if not_judged:  # shown, never counted as failures (one cause, one verdict)
        lines.append(f"  not judged ({len(not_judged)}): {not_judged[0].reason.removeprefix('not judged: ')}")
        lines += [f"    - {c.check}: {c.detail}" for c in not_judged]
    return "\n".join(lines)


# -- the target session ----------------------------------------------------------------------

def _session(config: pytest.Config) -> TargetSession:
    from imgconf import pacs, runcontrol
    from imgconf.session import SessionOptions, TargetSession

    if SESSION_KEY not in config.stash:
        workerinput = getattr(config, "workerinput", None)
        run_id = options.get(config, "run_id") or (workerinput["testrunuid"][:12] if workerinput else None)
        settings = SessionOptions(
            target=options.get(config, "target"),
            concurrency=max(1, options.get(config, "concurrency") or 1),
            timeout=options.get(config, "request_timeout"),
            verify_tls=not options.get(config, "insecure"),
            edition=options.get(config, "edition"),
            worker=workerinput["workerid"] if workerinput else None,
            auth=(preset.auth if (preset := config.stash.get(PRESET_KEY, None)) else None),
            dicomweb=pacs.resolve(options.get(config, "dicomweb"), preset.dicomweb if preset else None),
            **runcontrol.session_options(config),
        )
        if run_id:
            settings.run_id = run_id
        config.stash[SESSION_KEY] = session = TargetSession(settings)
        _note_run(config, session)
        _install_sigterm()
    return config.stash[SESSION_KEY]


def _reports_dir(config: pytest.Config) -> Path:
    return Path(options.get(config, "reports_dir"))


def _note_run(config: pytest.Config, session: TargetSession) -> None:
    """reports/.imgconf-runs.json: the run tag and target, for `imgconf cleanup` after a hard stop."""
    from imgconf import runstate

    try:
        runstate.record_start(_reports_dir(config), session.run_tag, session.base_url,
                              read_only=session.options.read_only, embedded=session.embedded is not None)
    except OSError as exc:  # a read-only checkout: the run goes on, without the way back
        warnings.warn(f"imgconf: cannot note the run tag in {_reports_dir(config)}: {exc}", stacklevel=1)


def _install_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C does, so teardown still removes the run's data."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        pass


# -- results ---------------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, CaseItem) and call.when == "setup":
        _allure_title(item)
    if isinstance(item, CaseItem) and item.case_result is not None and (
        call.when == "call" or (call.when == "setup" and report.failed)
    ):
        # Custom report attributes survive pytest-xdist's serialisation back to the controller
        # (TestReport takes extra attributes at run time; its type declares none).
        report.imgconf_case = item.case_result.to_dict()  # type: ignore[attr-defined]
    return report


class _CaseResultCollector:
    """Keeps each case's result on the config (reports arrive here from xdist workers too)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        case = getattr(report, "imgconf_case", None)
        if case is not None:
            self.config.stash[CASE_RESULTS_KEY].append(CaseResult.from_dict(case))


def pytest_sessionstart(session: pytest.Session) -> None:
    if not suite_roots(session.config):
        return
    session.config.stash[CASE_RESULTS_KEY] = []
    session.config.stash[RUNINFO_KEY] = {"started": time.time()}


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook
def pytest_testnodedown(node: Any, error: Any) -> None:
    info = node.workeroutput.get("imgconf_run")
    if info:
        node.config.stash[RUNINFO_KEY].setdefault("workers", []).append(info)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not suite_roots(config):
        return
    if (chains := config.stash.get(CHAINS_KEY, None)) is not None:
        chains.stop()  # Ctrl-C, -x: no case starts any more, the ones in flight end before teardown begins
    results = config.stash[CASE_RESULTS_KEY].copy()
    target = config.stash.get(SESSION_KEY, None)
    info = None
    if target is not None:
        info, _ = _finish_session(config, target)
        if hasattr(config, "workeroutput"):
            config.workeroutput["imgconf_run"] = info.to_dict()
    if not hasattr(config, "workerinput"):
        _apply_baseline(session, results)
    if hasattr(config, "workerinput") or options.get(config, "no_reports") or not results:
        return
    if info is None:
        workers = config.stash[RUNINFO_KEY].get("workers") or []
        info = _merge_worker_info(workers) if workers else _fallback_info(config)
    started = config.stash[RUNINFO_KEY]["started"]
    info.duration_s = round(time.time() - started, 2)
    info.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    info.options.update({"strict_should": options.get(config, "strict_should")})
    from imgconf.report.outcome import selection_of

    info.options["selection"] = selection_of(config)
    from imgconf import runcontrol

    info.options.update(runcontrol.report_options(config))
    from imgconf.interruption import interruption

    if (stopped := interruption(config)) is not None:
        info.options["interrupted"] = stopped
    if chains is not None:  # how many cases that only read ran twice, a write having overlapped their first run
        info.options["concurrency_rereads"] = chains.rereads
    _write_reports(config, info, results)


def _finish_session(config: pytest.Config, target: TargetSession) -> tuple[RunInfo, int | None]:
    """Run facts, then teardown — each step runs whatever the server sent (a hostile /metadata,
    a nested DELETE answer) and a second Ctrl-C cuts teardown short without losing the report."""
    from imgconf import runstate

    try:
        info = target.run_info()
    except Exception as exc:  # noqa: BLE001 — the facts are optional, teardown and the report are not
        info = _fallback_info(config)
        info.options["run_info_error"] = f"{type(exc).__name__}: {exc}"
        info.options["run_tag"] = target.run_tag
    remaining: int | None
    try:
        remaining = target.close()
    except KeyboardInterrupt:
        remaining = None
        info.options["teardown_interrupted"] = f"teardown was cut short; imgconf cleanup --run-tag {target.run_tag} removes the rest"
    except Exception as exc:  # noqa: BLE001
        remaining = None
        info.options["teardown_interrupted"] = f"teardown failed ({type(exc).__name__}: {exc}); imgconf cleanup --run-tag {target.run_tag}"
    info.options["teardown_remaining"] = remaining
    with contextlib.suppress(OSError):  # a read-only checkout: the report says what is left all the same
        runstate.record_end(_reports_dir(config), target.run_tag, remaining)
    return info, remaining


def _merge_worker_info(workers: list[dict[str, Any]]) -> RunInfo:
    """One RunInfo from the xdist workers: what each tested and what each left behind, summed up."""
    info = RunInfo(**workers[0])
    merged: dict[str, dict[str, set[str]]] = {}
    for worker in workers:
        for rtype, sets in (worker.get("options", {}).get("search_parameters") or {}).items():
            into = merged.setdefault(rtype, {k: set() for k in sets})
            for key, values in sets.items():
                into.setdefault(key, set()).update(values)
    for sets in merged.values():
        sets["declared_not_tested"] -= sets.get("tested", set())
    info.options["search_parameters"] = {t: {k: sorted(v) for k, v in s.items()} for t, s in sorted(merged.items())}
    info.options["teardown_remaining"] = sum(w.get("options", {}).get("teardown_remaining") or 0 for w in workers)
    info.options["run_tag"] = ", ".join(w.get("options", {}).get("run_tag", "") for w in workers)
    return info


def _fallback_info(config: pytest.Config) -> RunInfo:
    from imgconf import __version__

    return RunInfo(
        target_url=options.get(config, "target") or "embedded reference server",
        embedded=not options.get(config, "target"),
        server_software="unknown",
        server_version="",
        fhir_version="",
        harness_version=__version__,
        edition=options.get(config, "edition"),
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        tls_verify=not options.get(config, "insecure"),
    )


def _write_reports(config: pytest.Config, info: RunInfo, cases: list[CaseResult]) -> None:
    from imgconf.report.html import write_html
    from imgconf.report.summary import build_summary, write_summary

    out = _reports_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    summary = build_summary(info, cases)  # once for both: it walks every check of every case
    write_summary(out / "summary.json", info, cases, summary)
    write_html(out / "report.html", info, cases, summary)
    config.stash[RUNINFO_KEY]["written"] = [str(out / "summary.json"), str(out / "report.html")]
    _write_ci_reports(config, out, summary)


def _write_ci_reports(config: pytest.Config, out: Path, summary: dict[str, Any]) -> None:
    """junit.xml from the summary (summary.json: the same counts as the report), unless pytest's own
    --junitxml writes that very file; allure's environment and categories when allure results are written."""
    from imgconf.report.allure_files import write_allure_files
    from imgconf.report.junit import write_junit

    xmlpath = getattr(config.option, "xmlpath", None)
    if not xmlpath or Path(config.invocation_params.dir, xmlpath).resolve() != (out / "junit.xml").resolve():
        write_junit(out / "junit.xml", summary)
        config.stash[RUNINFO_KEY]["written"].append(str(out / "junit.xml"))
    if (allure_dir := config.getoption("allure_report_dir", None)):
        write_allure_files(Path(config.invocation_params.dir, allure_dir), summary)


def _apply_baseline(session: pytest.Session, cases: list[CaseResult]) -> None:
    """--write-baseline / --baseline: the exit status says whether verdicts changed, not whether any failed."""
    from imgconf.baseline import compare, write_baseline

    config = session.config
    strict = options.get(config, "strict_should")
    if (out := options.get(config, "write_baseline")):
        count = write_baseline(out, cases, strict_should=strict)
        config.stash[RUNINFO_KEY]["baseline_written"] = f"{out}: {count} known failure(s) written; fill in every reason"
    entries = config.stash.get(BASELINE_KEY, None)
    if entries is None or session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    comparison = compare(entries, cases, strict_should=strict)
    config.stash[RUNINFO_KEY]["baseline"] = comparison
    if not options.get(config, "no_reports"):
        out_dir = _reports_dir(config)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "baseline.json").write_text(json.dumps(comparison.to_dict(), indent=2), encoding="utf-8")
    session.exitstatus = pytest.ExitCode.OK if comparison.ok else pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if (written_baseline := config.stash.get(RUNINFO_KEY, {}).get("baseline_written")):
        terminalreporter.write_line(written_baseline)
    if (comparison := config.stash.get(RUNINFO_KEY, {}).get("baseline")) is not None:
        terminalreporter.write_sep("-", "imgconf baseline")
        for line in comparison.lines():
            terminalreporter.write_line(line)
    written = config.stash.get(RUNINFO_KEY, {}).get("written")
    if written:
        terminalreporter.write_sep("-", "imgconf reports")
        for path in written:
            terminalreporter.write_line(path)


# -- allure ----------------------------------------------------------------------------------

def _allure_describe_warnings(item: CaseItem, warned: list[Any]) -> None:
    """In the call phase: allure-pytest sets the description from the docstring after setup."""
    if not item.config.pluginmanager.hasplugin("allure_pytest") or not item.config.getoption("allure_report_dir", None):
        return
    import allure

    from imgconf.report.allure_files import WARNING_TAG

    allure.dynamic.description("\n\n".join(
        f"**{WARNING_TAG}** [{', '.join(c.requirement)} {c.level.value}] {c.check}: {c.reason}" for c in warned))


def _allure_title(item: CaseItem) -> None:
    """The case's name as the allure title. Set once setup is over: allure-pytest names the result
    after the item (the case id) at the end of setup, which would overwrite a title set during it."""
    if not item.config.pluginmanager.hasplugin("allure_pytest") or not item.config.getoption("allure_report_dir", None):
        return
    import allure

    allure.dynamic.title(item.case.name)


def _allure_annotate(item: CaseItem, result: CaseResult) -> None:
    """Labels, links and evidence for allure; a no-op when allure-pytest is not reporting."""
    if not item.config.pluginmanager.hasplugin("allure_pytest") or not item.config.getoption("allure_report_dir", None):
        return
    import allure

    allure.dynamic.feature(item.suite.area)
    allure.dynamic.story(item.suite.title)
    allure.dynamic.tag(item.case.level.value)
    allure.dynamic.severity(
        allure.severity_level.CRITICAL if item.case.level.is_mandatory
        else allure.severity_level.NORMAL if item.case.level.is_recommended
        else allure.severity_level.MINOR
    )
    from imgconf.report.allure_files import WARNING_TAG, exchange_text

    for req in item.case.requirements:
        allure.dynamic.label("requirement", req)
        allure.dynamic.link(f"report.html#req-{req}", link_type="requirement", name=req)
    if any(c.verdict is Verdict.WARN for c in result.checks):  # a pass, but not a clean one
        allure.dynamic.tag(WARNING_TAG)
    for i, ex in enumerate(result.exchanges):
        text = exchange_text(ex)  # pretty-printed JSON, binary bodies summarised, redacted
        allure.attach(text, name=f"exchange {i + 1}: {ex.method} {ex.status}", attachment_type=allure.attachment_type.TEXT)

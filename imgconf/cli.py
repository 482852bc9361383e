"""``imgconf`` command line: run suites, serve the reference server, list suites, validate files."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from imgconf import __version__, options
from imgconf.editions import DEFAULT_EDITION
from imgconf.paths import suites_dir
from imgconf.terminal import plain

app = typer.Typer(
    name="imgconf",
    help="Does this FHIR server handle imaging data correctly? Conformance suites for ImagingStudy and imaging reports.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

CONSOLE_VERDICTS = ("pass", "fail", "warn", "info", "skip", "not-judged", "error")  # not-judged: needed a response that already failed
VERDICT_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "info": "cyan", "skip": "dim", "not-judged": "dim",
                 "error": "magenta"}


def _version(value: bool) -> None:
    if value:
        console.print(f"imgconf {__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = None,
) -> None:
    """imgconf — FHIR imaging conformance harness."""


@app.command()
@options.with_run_options  # --target, --suite, --edition, … : one parameter per row of imgconf.options
def run(
    keyword: Annotated[str | None, typer.Option("-k", help="pytest -k expression over case names.")] = None,
    marker: Annotated[str | None, typer.Option("-m", help="pytest -m expression, e.g. 'shall and imagingstudy'.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-n", help="Parallel workers (pytest-xdist); 0 runs in-process.")] = 0,
    suites_path: Annotated[list[Path] | None, typer.Option(
        "--suites", help="Suite files or folders (default: the bundled suites).")] = None,
    with_target: Annotated[str | None, typer.Option(
        "--with-target", help="Build if needed, start, test and stop a named server (imgconf targets list).")] = None,
    with_pacs: Annotated[str | None, typer.Option(
        "--with-pacs", metavar="NAME",
        help="Start a PACS (imgconf targets list: orthanc), load the generated DICOM studies, use it as --dicomweb, stop it at the end.",
    )] = None,
    **values: Any,
) -> None:
    """Run the conformance suites and write summary.json, report.html, junit.xml and allure results."""
    from imgconf.fixtures import RUN_TAG_SYSTEM
    from imgconf.progress import ProgressPlugin

    reports_dir = Path(values["reports_dir"] or options.BY_NAME["reports_dir"].default).resolve()
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = [p.resolve() for p in (suites_path or [suites_dir()])]
    values.update(reports_dir=reports_dir, suites=paths)  # the suite paths are the run's suite roots, and all it collects
    args: list[str] = [
        # The run is configured by these options alone, never by a pytest ini the user happens to be in.
        "-c", os.devnull,
        "--rootdir", str(paths[0].parent),
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        # A run judges a target, it tests no Python: no assertion rewriting of the plugin's modules (0.3-0.6 CPU-s
        # where bytecode is not cached) and no forced garbage collection at the end hunting unraisable exceptions.
        "--assert=plain",
        "-p", "no:unraisableexception",
        "--alluredir", str(reports_dir / "allure-results"),
        "--clean-alluredir",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]
    config, target = values["config"], values["target"]
    chosen = _preset_or_exit(config, values["preset"])
    if chosen:
        values["preset"] = chosen.name
    managed = _start_managed_target(with_target, target or config) if with_target else None
    if managed is not None:
        values["target"] = target = managed.base_url
        values["header"] = [*(values["header"] or []), *managed.request_headers]
    if with_pacs and values["dicomweb"]:
        console.print("[bold red]--with-pacs starts its own PACS: give it without --dicomweb[/]")
        _stop_servers(managed)
        raise typer.Exit(2)
    if keyword:
        args += ["-k", keyword]
    if marker:
        args += ["-m", marker]
    if workers and (values["concurrency"] or 0) > 1:  # one process runs suite files side by side, or xdist workers do
        console.print("[bold red]--concurrency runs suite files side by side in one process: give it without -n/--workers[/]")
        _stop_servers(managed)
        raise typer.Exit(2)
    if workers:
        args += ["-n", str(workers)]
    if values["read_only"]:
        console.print("[bold]Read-only run: cases that write are not run; nothing is created or deleted.[/]")
    if values["insecure"]:
        console.print("[bold yellow]TLS certificate verification is OFF for this run (--insecure).[/]")
    from imgconf.credentials import shown  # a URL's userinfo is never printed

    shown_target = shown(target or (chosen.url if chosen else None)) or "embedded reference server (SMART auth on)"
    shown_edition = values["edition"] or (chosen.edition if chosen else None) or DEFAULT_EDITION
    via = f" [preset {chosen.name}{', SMART client ' + chosen.auth.client_id if chosen and chosen.auth else ''}]" if chosen else ""
    console.print(f"imgconf {__version__} → {plain(shown_target)} (edition {shown_edition}){via}")
    if (pacs_root := values["dicomweb"] or (chosen.dicomweb.root if chosen and chosen.dicomweb else None)):
        console.print(f"PACS (DICOMweb, read only): {plain(shown(pacs_root) or '')}")
    elif with_pacs:
        console.print(f"PACS (DICOMweb, read only): {with_pacs}, started for this run", markup=False)
    run_id = values["run_id"] = values["run_id"] or uuid.uuid4().hex[:12]
    args += options.pytest_argv(values)
    shown_tag = run_id + ("-gw<N>" if workers else "")
    console.print(f"run tag: {RUN_TAG_SYSTEM}|{shown_tag} (noted in {reports_dir / '.imgconf-runs.json'}; "
                  f"after a hard stop: imgconf cleanup --run-tag {shown_tag})", markup=False, soft_wrap=True)
    progress = ProgressPlugin(console)
    _sigterm_interrupts()
    code = _run_pytest(args, progress, managed, with_pacs)
    progress.close()
    _print_summary(reports_dir, progress, int(code))
    if int(code) == 5 and values["suite"]:  # pytest: nothing collected — most often a mistyped suite id
        _print_unknown_suites(paths, values["suite"])
    _print_baseline(reports_dir, values["baseline"], values["write_baseline"])
    raise typer.Exit(int(code))


def _print_unknown_suites(paths: list[Path], wanted: list[str]) -> None:
    from imgconf.suite.index import list_suites

    known = {str(row["id"]) for row in list_suites(paths).rows}
    for name in sorted(set(wanted) - known):
        console.print(f"no suite with id {name!r} under {', '.join(str(p) for p in paths)} (imgconf list shows the ids)",
                      markup=False, soft_wrap=True)


def _start_managed_target(name: str, conflicting: object) -> Any:
    """Build (if needed) and start a named target; exit 2 with the reason when it cannot start."""
    from imgconf.targets import TargetUnavailable, get_target

    if conflicting:
        console.print("[bold red]--with-target starts its own server: give it without --target/--config[/]")
        raise typer.Exit(2)
    _sigterm_interrupts()  # SIGTERM while the server starts must still stop it
    try:
        managed = get_target(name)
        if managed.needs_build() and managed.unavailable() is None:
            console.print(f"building target {name} (once) …")
        console.print(f"starting target {name}: {managed.description}", markup=False)
        managed.start()
    except TargetUnavailable as exc:
        console.print(f"[bold red]{plain(str(exc))}[/]")
        raise typer.Exit(2) from None
    console.print(f"target {name} ready at {managed.base_url} after {managed.started_in:.1f} s", markup=False)
    return managed


def _start_pacs(pacs: Any) -> None:
    """Start a PACS of PACS_REGISTRY and load the generated studies; exit 2 when it cannot (the caller stops it,
    and whatever else it started)."""
    from imgconf.targets import TargetUnavailable
    from imgconf.targets.pacs_run import start_and_load

    console.print(f"starting PACS {pacs.name} …", markup=False)
    try:
        instances = start_and_load(pacs)
    except TargetUnavailable as exc:
        console.print(f"[bold red]{plain(str(exc))}[/]")
        raise typer.Exit(2) from None
    console.print(f"PACS {pacs.name} ready at {pacs.dicomweb_root} after {pacs.started_in or 0:.1f} s: "
                  f"{instances} DICOM instances loaded (the cross-check only reads it)", markup=False)


def _pacs_or_exit(name: str) -> Any:
    from imgconf.targets import TargetUnavailable
    from imgconf.targets.pacs_run import pacs_server

    try:
        return pacs_server(name)
    except TargetUnavailable as exc:
        console.print(f"[bold red]{plain(str(exc))}[/]")
        raise typer.Exit(2) from None


def _stop_servers(*servers: Any) -> None:
    """Stop every started server (a FHIR target, a PACS), each even when stopping another one failed."""
    if not servers:
        return
    head, *rest = servers
    try:
        if head is not None:
            was_running = head.running  # a PACS that never started is stopped silently (its temp dir removed)
            head.stop()
            if was_running:
                console.print(f"{'PACS' if getattr(head, 'kind', '') == 'pacs' else 'target'} {head.name} stopped", markup=False)
    finally:
        _stop_servers(*rest)


def _run_pytest(args: list[str], progress: Any, managed: Any, with_pacs: str | None = None) -> int:
    """pytest.main; a managed target is stopped afterwards whatever happens (Ctrl-C and SIGTERM included), and so is
    the PACS of --with-pacs, started here, inside that guarantee, and passed on as the dicomweb option."""
    import pytest

    plugins: list[Any] = [progress]
    if managed is not None:
        from imgconf.targets.skips import AreaSkips

        plugins.append(AreaSkips(managed.skip_areas))
    pacs = None
    try:
        if with_pacs:
            pacs = _pacs_or_exit(with_pacs)  # held before it starts: an interruption from here on still stops it
            _start_pacs(pacs)
            args = [*args, *options.pytest_argv({"dicomweb": pacs.dicomweb_root})]
        return int(pytest.main(args, plugins=plugins))
    finally:
        _stop_servers(managed, pacs)


def _sigterm_interrupts() -> None:
    """SIGTERM from the start of the run is Ctrl-C: the run ends INTERRUPTED, with teardown (the plugin
    installs the same once a target session exists; this covers the time before)."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, handler)


def _print_baseline(reports_dir: Path, baseline: Path | None, write_baseline: Path | None) -> None:
    if write_baseline:
        console.print(f"baseline written to {write_baseline}: fill in every reason before using it with --baseline")
    result = reports_dir / "baseline.json"
    if not baseline or not result.exists():
        return
    data = json.loads(result.read_text(encoding="utf-8"))
    console.print(
        f"baseline {baseline}: {len(data['known'])} known failure(s), {len(data['regressions'])} regression(s), "
        f"{len(data['stale'])} stale, {len(data['not_run'])} not run → "
        + ("[green]verdicts as expected[/]" if data["outcome"] == "pass" else "[bold red]verdicts changed[/]")
    )
    for f in data["regressions"]:
        console.print(f"  [bold red]REGRESSION[/] {plain(f['case_key'])} · {plain(f['check'])} "
                      f"{plain('[' + ', '.join(f['requirements']) + ']')}: {plain(f['reason'])}")
    for s in data["stale"]:
        console.print(f"  [yellow]STALE[/] {plain(s['entry'])}: {plain(s['message'])}")


def _preset_or_exit(config: Path | None, preset: str | None) -> Any:
    """Load the preset up front so a bad config stops the run with one clear line (file: key: problem)."""
    from imgconf.config import ConfigError, load_preset

    if config is None:
        if preset:
            console.print(f"[bold red]--preset {preset} needs --config FILE[/]")
            raise typer.Exit(2)
        return None
    try:
        return load_preset(config, preset)
    except ConfigError as exc:
        # one unwrapped line (a tester greps it) and no markup parsing of the message
        console.print(f"config error: {exc}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _print_summary(reports_dir: Path, progress: Any, code: int = 0) -> None:
    for line in progress.problems:
        console.print(line)
    summary_path = reports_dir / "summary.json"
    if not summary_path.exists() or not progress.cases_seen:
        console.print("[bold red]No case ran; no report written.[/]")
        if code == 2:  # pytest.ExitCode.INTERRUPTED
            console.print("outcome: [bold red]INTERRUPTED[/] (0 cases ran)")
        return
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    run = summary["run"]
    # Server text (software name, version) is shown as text: never markup, never control sequences.
    table = Table(title=plain(f"{run['server_software']} {run['server_version']} at {run['target_url']}"))
    table.add_column("level")
    for verdict in CONSOLE_VERDICTS:
        table.add_column(verdict, justify="right", style=VERDICT_STYLE[verdict])
    by_level = summary["totals"].get("checks_by_level", {})
    for level, counts in by_level.items():
        if any(counts.values()):
            table.add_row(level, *(str(counts.get(v, 0)) for v in CONSOLE_VERDICTS))
    console.print(table)
    cases = summary["totals"].get("cases", {})
    console.print(
        "cases: " + ", ".join(f"[{VERDICT_STYLE.get(k, '')}]{v} {k}[/]" for k, v in sorted(cases.items()) if v)
        + f" in {run.get('duration_s', 0)} s"
    )
    outcome = summary.get("outcome", "fail")
    stopped = summary.get("interrupted")
    if code == 2 and outcome == "pass":  # interrupted before the run could say so: never PASS
        outcome = "interrupted"
    detail = (f" ({plain(stopped['reason'])}: {stopped['cases_run']} of {stopped['cases_total']} cases ran)"
              if stopped else "")
    if (selection := summary.get("selection")):
        from imgconf.report.outcome import describe_selection

        console.print(f"selection: {plain(describe_selection(selection))} (not every case ran: at best PARTIAL)")
    if (incomplete := summary.get("incomplete")):
        console.print(f"[bold red]infrastructure errors[/]: {incomplete['errors']} case(s), "
                      f"{incomplete['not_run_unreachable']} not run; cause: {plain(incomplete['cause'])}")
    style = {"pass": "green", "partial": "yellow"}.get(outcome, "bold red")
    console.print(f"outcome: [{style}]{outcome.upper()}[/]{detail}")
    for name in ("report.html", "summary.json", "junit.xml", "allure-results"):
        console.print(f"  {reports_dir / name}")


@app.command("cleanup")
def cleanup_command(
    target: Annotated[str | None, typer.Option(help="FHIR base URL (default: the target noted for --run-tag in the reports dir).")] = None,
    run_tag: Annotated[list[str] | None, typer.Option(
        "--run-tag", help="Run tag to remove (repeatable), as printed at the start of imgconf run.")] = None,
    all_imgconf: Annotated[bool, typer.Option(
        "--all-imgconf", help="Remove every imgconf run's data found on the target (older than --min-age).")] = False,
    min_age: Annotated[float, typer.Option(
        help="With --all-imgconf: leave runs alone whose newest resource is younger than this many minutes.")] = 30.0,
    reports_dir: Annotated[Path, typer.Option(help="Where imgconf run noted its run tags (.imgconf-runs.json).")] = Path("reports"),
    request_timeout: Annotated[float, typer.Option(help="Seconds per HTTP request.")] = 30.0,
    insecure: Annotated[bool, typer.Option(help="Do not verify TLS certificates.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config file with target presets (SMART auth for the target).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Preset name in --config.")] = None,
    header: Annotated[list[str] | None, typer.Option(
        "--header", help="'Name: value' sent on every request to the target (repeatable).")] = None,
) -> None:
    """Remove what a hard-stopped run left on a target (resources tagged urn:imgconf:run|TAG), newest first."""
    import datetime as dt

    from imgconf import runstate
    from imgconf.cleanup import cleanup as run_cleanup
    from imgconf.fixtures import library
    from imgconf.paths import fixtures_dir
    from imgconf.runcontrol import RunControlError, parse_headers
    from imgconf.session import SessionOptions, TargetSession

    tags = list(dict.fromkeys(run_tag or []))
    if not tags and not all_imgconf:
        console.print("[bold red]say what to remove: --run-tag TAG (repeatable) or --all-imgconf[/]")
        raise typer.Exit(2)
    notes = {t: runstate.find_run(reports_dir.resolve(), t) for t in tags}
    for tag, note in notes.items():
        if note and note.get("embedded"):
            console.print(f"run {plain(tag)} used the embedded reference server, which ended with it: nothing to remove")
            tags.remove(tag)
    if not tags and not all_imgconf:
        raise typer.Exit(0)
    noted = [n["target"] for n in notes.values() if n and not n.get("embedded") and n.get("target")]
    url = target or (noted[0] if noted else None)
    if not url:
        console.print("[bold red]no target: give --target URL (the run tag is not noted in "
                      f"{plain(reports_dir / runstate.STATE_FILE)})[/]")
        raise typer.Exit(2)
    chosen = _preset_or_exit(config, preset)
    try:
        headers = parse_headers(header or [])
    except RunControlError as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    read_only = [t for t, n in notes.items() if n and n.get("read_only")]
    session = TargetSession(SessionOptions(
        target=url, timeout=request_timeout, verify_tls=not insecure, headers=headers,
        auth=chosen.auth if chosen else None,
    ))
    console.print(f"imgconf cleanup → {plain(session.base_url)}: "
                  + (", ".join(plain(t) for t in tags) if tags else "") + (" every imgconf run" if all_imgconf else ""))
    fixture_types = {kind for t in library(fixtures_dir()).values() if isinstance(kind := t.get("resourceType"), str)}
    try:
        report = run_cleanup(session.client, tags=tags, all_imgconf=all_imgconf, extra_types=fixture_types,
                             read_only_tags=read_only, min_age=dt.timedelta(minutes=min_age),
                             progress=lambda line: console.print(f"  {plain(line)}"))
    finally:
        session.close()
    for tag, count in sorted(report.deleted.items()):
        left = report.left.get(tag) or []
        console.print(f"  run {plain(tag)}: {count} deleted, {len(left)} left" + (f" ({plain(', '.join(left[:5]))})" if left else ""))
    for tag, why in sorted(report.skipped.items()):
        console.print(f"  run {plain(tag)}: left alone — {plain(why)}")
    if not report.deleted and not report.skipped:
        console.print("  nothing tagged by imgconf found")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def mutate(
    target: Annotated[str | None, typer.Option(
        help="Upstream FHIR base URL behind the fault proxy (default: the embedded reference server).")] = None,
    fault: Annotated[list[str] | None, typer.Option("--fault", help="Inject only these faults (repeatable).")] = None,
    suite: Annotated[list[str] | None, typer.Option(help="Run only these suite ids (repeatable).")] = None,
    suites_path: Annotated[list[Path] | None, typer.Option(
        "--suites", help="Suite files or folders (default: the bundled suites).")] = None,
    json_out: Annotated[Path, typer.Option("--json", help="Where the JSON report goes.")] = Path("reports/mutation.json"),
    list_faults: Annotated[bool, typer.Option("--list", help="List the fault catalogue and exit.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config file with target presets (SMART auth for a --target).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Preset name in --config.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Every fault against every suite (the periodic check); also reports fault declarations "
                       "that are too narrow or no longer catch.")] = False,
    with_pacs: Annotated[str | None, typer.Option(
        "--with-pacs", metavar="NAME",
        help="Start a PACS (orthanc) when a selected fault's suites need one (the DICOMweb cross-check), as "
             "imgconf run --with-pacs does; without it those faults are reported 'not run: no PACS'.")] = None,
    fuzz: Annotated[bool, typer.Option(
        "--fuzz", help="Also run imgconf fuzz against every search fault: caught by the suites, by fuzzing, both "
                       "or neither.")] = False,
    fuzz_budget: Annotated[int, typer.Option(
        "--fuzz-budget", min=1, help="Generated queries per resource type a fuzz run searches (with --fuzz): the "
        "types a fault can change (Fault.search_types; all three if it names none), one after the other; each "
        "fault's run ends at its first new finding.")] = 300,
    fuzz_seed: Annotated[int, typer.Option("--fuzz-seed", help="Seed of every fuzz run (with --fuzz).")] = 0,
    fuzz_only: Annotated[bool, typer.Option(
        "--fuzz-only", help="Only the search faults, judged only by fuzzing (no suite runs).")] = False,
) -> None:
    """Inject every catalogued fault through a proxy; report which checks catch each (mutation score).

    Each fault runs against the suites it declares (Fault.suites; all suites if it declares none);
    --full runs every fault against every suite. --fuzz: search faults are fuzzed too (imgconf fuzz)."""
    from imgconf.credentials import shown  # a URL's userinfo is never printed
    from imgconf.faults import MUTATION_FAULTS
    from imgconf.mutate import FuzzMutation, MutationError, mutate as run_mutation, select_faults, write_json

    if list_faults:
        table = Table(title=f"{len(MUTATION_FAULTS)} faults")
        for col in ("fault", "requirements", "suites", "description"):
            table.add_column(col)
        for f in MUTATION_FAULTS:
            table.add_row(f.name, ", ".join(f.requirements), "(all)" if f.suites is None else ", ".join(f.suites), f.description)
        console.print(table)
        return
    try:
        chosen = select_faults(fault) if fault else list(MUTATION_FAULTS)
    except KeyError as exc:
        console.print(f"[bold red]{exc.args[0]}[/]")
        raise typer.Exit(2) from None
    extra: list[str] = []  # --suite ids go to mutate(): it intersects them with each fault's suites
    fuzz_auth = None
    if config:  # the user's credentials for a remote target (the embedded one gets an ephemeral client)
        extra += options.pytest_argv({"config": config, "preset": preset})
        if (fuzz or fuzz_only) and target:
            from imgconf.config import ConfigError, load_preset

            try:
                fuzz_auth = load_preset(config, preset).auth
            except ConfigError as exc:
                console.print(f"[bold red]{plain(str(exc))}[/]")
                raise typer.Exit(2) from None
    fuzzing = FuzzMutation(budget=fuzz_budget, seed=fuzz_seed) if fuzz or fuzz_only else None
    paths = [p.resolve() for p in (suites_path or [suites_dir()])]
    console.print(f"imgconf mutate: {len(chosen)} faults → {shown(target) or 'embedded reference server'}"
                  + (" (full: every fault × every suite)" if full else " (each fault × its declared suites)"))

    def progress(name: str, result: Any) -> None:
        if result is None:
            console.print(f"  {plain(name)}: done")  # "no fault", then "no fault: fuzz"
        elif result.not_run:
            console.print(f"  {name}: [yellow]not run[/] — {plain(result.not_run)}")
        else:
            if result.fault.benign:
                mark = "[bold red]FAILED ON A LEGAL VARIATION[/]" if result.caught else "[green]legal variation, stayed green[/]"
            else:
                mark = ("[green]caught[/]" if result.caught
                        else f"[bold red]NOT CAUGHT[/]{' — ' + result.incomplete if result.incomplete else ''}")
            fuzzed = ""
            if result.fuzz is not None:
                fuzzed = (f"; fuzz: {result.fuzz.error}" if result.fuzz.error else
                          f"; fuzz: {len(result.fuzz_caught_by)} new finding(s) in {result.fuzz.queries} queries, "
                          f"{result.fuzz.duration_s:.1f} s")
            elif fuzzing and result.fault.not_fuzzable:
                fuzzed = f"; not fuzzable: {result.fault.not_fuzzable}"
            console.print(f"  {name}: {mark} ({len(result.caught_by)} check(s), {len(result.suites_run)} suite(s), "
                          f"{result.duration_s:.1f} s{fuzzed})")

    try:
        report = run_mutation(paths, target=target, faults=chosen, extra_args=extra, progress=progress,
                              only_suites=suite or [], full=full, pacs=with_pacs, fuzz=fuzzing, fuzz_only=fuzz_only,
                              fuzz_auth=fuzz_auth)
    except MutationError as exc:
        console.print(f"[bold red]{plain(str(exc))}[/]")
        raise typer.Exit(2) from None
    counts = report.attribution_counts()
    fuzz_title = f"; only fuzzing caught {counts['fuzz']}" if fuzzing else ""
    table = Table(title=f"mutation score {report.caught}/{len(report.scored)} = {report.score:.0%}{fuzz_title}")
    for col in ("fault", "tied to", "caught", "requirements that caught it", "cases"):
        table.add_column(col)
    if fuzzing:
        table.add_column("caught by")
    for r in report.scored:
        d = r.to_dict()
        cases = sorted({c["case"] for c in d["caught_by"]})
        row = [
            r.fault.name, ", ".join(r.fault.requirements),
            ("[green]yes[/]" if r.caught else "[bold red]NO[/]") + ("" if r.on_target or not r.caught else " (other ids)"),
            ", ".join(d["requirements_that_caught"][:6]) + (" …" if len(d["requirements_that_caught"]) > 6 else ""),
            f"{len(cases)}: " + "; ".join(c.split("::", 1)[1] for c in cases[:2]) + (" …" if len(cases) > 2 else ""),
        ]
        if fuzzing:  # suites / fuzz / both / neither; "(not fuzzed)": not a search fault; "(not fuzzable: why)"
            row.append(r.attribution_label)
        table.add_row(*row)
    console.print(table)
    if fuzzing:
        unfuzzable = f" ({len(report.not_fuzzable)} search fault(s) not fuzzable)" if report.not_fuzzable else ""
        console.print(f"caught by suites and fuzzing {counts['both']}, suites only {counts['suites']}, "
                      f"fuzzing only {counts['fuzz']}, neither {counts['neither']}{unfuzzable}")
        for finding in report.fuzz_false_positives:
            console.print(f"  [red]FALSE POSITIVE (fuzz, no fault)[/] {finding.cause}: {plain(finding.query.display())}")
    fps = report.false_positives
    console.print(f"no-fault run: {len(report.baseline.cases)} cases, "
                  + ("[green]green (0 false positives)[/]" if not fps else f"[bold red]{len(fps)} false positive(s)[/]"))
    for case, check, verdict, reqs in fps:
        console.print(f"  [red]FALSE POSITIVE[/] {case} · {check} {verdict} [{', '.join(reqs)}]")
    for r in report.benign_failures:
        console.print(f"  [red]FALSE POSITIVE[/] with legal variation {r.fault.name}: " + "; ".join(c for c, *_ in r.caught_by[:3]))
    if report.not_run:  # their suites need a PACS: neither caught nor failed, not in the score
        console.print(f"[yellow]{len(report.not_run)} fault(s) not run[/]: {plain(report.not_run[0].not_run or '')}")
    for problem in report.declaration_problems:  # only a --full run sees them
        console.print(f"  [red]{problem}[/] (Fault.suites in imgconf/faults/)")
    write_json(report, json_out.resolve())
    console.print(f"score {report.score:.1%} in {report.duration_s:.0f} s → {json_out}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def fuzz(
    target: Annotated[str | None, typer.Option(
        help="FHIR base URL (default: the embedded reference server, started for the run).")] = None,
    with_target: Annotated[str | None, typer.Option(
        "--with-target", help="Build if needed, start, fuzz and stop a named server (imgconf targets list).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file with target presets (URL, SMART auth).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Preset name in --config.")] = None,
    budget: Annotated[int | None, typer.Option(
        min=1, help="Generated queries to judge (default 200; with --seconds: no budget unless given).")] = None,
    seconds: Annotated[float | None, typer.Option(min=0.1, help="Stop generating after this many seconds.")] = None,
    per_type: Annotated[bool, typer.Option(
        "--per-type", help="--budget queries for each resource type in turn (from the same seed), not shared by "
        "them (--seconds still bounds the whole run).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the generation: the same seed generates the same queries.")] = 0,
    resource: Annotated[list[str] | None, typer.Option(
        "--resource", help="Resource type to fuzz (repeatable): ImagingStudy, DocumentReference, Patient (default: all).")] = None,
    probe_all: Annotated[bool, typer.Option(
        "--probe-all", help="Generate every parameter the harness knows, not only those the CapabilityStatement declares.")] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where summary.json, junit.xml and report.html go (fuzz section).")] = Path("reports"),
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="Known findings (YAML, each with its reason): exit 0 when only they are found.")] = None,
    write_baseline: Annotated[Path | None, typer.Option(
        "--write-baseline", help="Write the findings as a baseline to adjudicate (every reason empty on purpose).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the run (FuzzRun) as JSON here.")] = None,
    header: Annotated[list[str] | None, typer.Option(
        "--header", help="'Name: value' sent on every request to the target (repeatable).")] = None,
    request_timeout: Annotated[float, typer.Option(help="Seconds per HTTP request.")] = 30.0,
    insecure: Annotated[bool, typer.Option(help="Do not verify TLS certificates.")] = False,
    strict_should: Annotated[bool, typer.Option(
        "--strict-should", help="SHOULD findings fail the run too (default: they warn).")] = False,
    actor: Annotated[list[str] | None, typer.Option(
        "--actor", help="IHE actor to judge the target as (repeatable): mhd-responder, pdqm-supplier; 'none': plain R4. "
        "Their parameters (MHD-003, PDQ-002/004) are never taken as leniently ignored. "
        "Default: the actors its CapabilityStatement instantiates.")] = None,
) -> None:
    """Generate R4 searches over loaded fixtures, judge each with the search oracle, shrink every failure.

    Exit 0: no finding (or only the baseline's); 1: new findings; 2: usage error, unreachable target or
    nothing generated (no CapabilityStatement declares a fuzzed type's search: see --probe-all)."""
    import time

    from imgconf.credentials import shown
    from imgconf.fixtures import FixtureError
    from imgconf.fuzz.actors import ACTORS, unknown_actors
    from imgconf.fuzz.fixtures import FUZZ_TYPES
    from imgconf.fuzz.runner import FuzzSettings, TargetUnavailable, run_fuzz
    from imgconf.runcontrol import RunControlError, parse_headers

    types = tuple(dict.fromkeys(resource or FUZZ_TYPES))
    if (unknown := [t for t in types if t not in FUZZ_TYPES]):
        console.print(f"--resource: imgconf fuzz searches {', '.join(FUZZ_TYPES)}; not {plain(', '.join(unknown))}",
                      style="bold red", markup=False)
        raise typer.Exit(2)
    if with_target and target:
        console.print("[bold red]--with-target starts its own server: give it without --target[/]")
        raise typer.Exit(2)
    try:
        headers = parse_headers(header or [])
    except RunControlError as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    actors = tuple(dict.fromkeys(a for a in actor or [] if a != "none")) if actor else None
    if actors and (unknown := unknown_actors(actors)):
        console.print(f"--actor: {plain(', '.join(unknown))} unknown; known: {', '.join(ACTORS)}, none",
                      style="bold red", markup=False)
        raise typer.Exit(2)
    chosen = _preset_or_exit(config, preset)
    settings = FuzzSettings(budget=budget if budget is not None else (None if seconds else 200), seconds=seconds,
                            seed=seed, resource_types=types, probe_all=probe_all, per_type=per_type, actors=actors)
    managed = _start_managed_target(with_target, None) if with_target else None
    url = managed.base_url if managed is not None else (target or (chosen.url if chosen else None))
    if managed is not None:
        headers += [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in managed.request_headers)]
    each = " per type" if per_type else ""
    limit = " and ".join(x for x in (f"budget {settings.budget}{each}" if settings.budget else "",
                                     f"{seconds:g} s" if seconds else "") if x)
    console.print(f"imgconf fuzz → {plain(shown(url) or 'embedded reference server (SMART auth on)')}: "
                  f"{', '.join(types)}, seed {seed}, {limit}", markup=False, soft_wrap=True)
    clock = {"last": 0.0, "start": 0.0}

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if not clock["start"]:  # the rate counts from the first query (fixtures are loaded by then)
            clock["start"] = clock["last"] = now
        if now - clock["last"] >= 5 or done == total:
            clock["last"] = now
            rate = done / max(now - clock["start"], 1e-6)
            console.print(f"  {done}{f'/{total}' if total else ''} queries, {rate:.0f} queries/s", markup=False)

    _sigterm_interrupts()
    try:
        run = run_fuzz(url, settings, auth=chosen.auth if chosen else None, headers=headers, progress=progress,
                       reports_dir=reports_dir.resolve(), timeout=request_timeout,
                       verify_tls=not insecure and not (chosen and chosen.verify_tls is False))
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: generation stopped; the fuzz fixtures were removed from the target")
        raise typer.Exit(130) from None
    except (FixtureError, TargetUnavailable) as exc:
        console.print(f"cannot fuzz {plain(shown(url) or 'the embedded server')}: {exc}", style="bold red",
                      markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        _stop_servers(managed)
    run.target_args = (f"--with-target {with_target}" if with_target else f"--target {shown(url)}" if target
                       else f"--config {config} --preset {chosen.name}" if chosen else "")
    raise typer.Exit(_fuzz_results(run, reports_dir.resolve(), baseline, write_baseline, json_out, strict_should))


def _fuzz_results(run: Any, reports_dir: Path, baseline: Path | None, write_baseline: Path | None,
                  json_out: Path | None, strict_should: bool) -> int:
    """Print, report and gate one fuzz run; the exit code."""
    from imgconf.fuzz.actors import ACTORS
    from imgconf.fuzz.baseline import FuzzBaselineError, apply_baseline, is_failing_level, write_fuzz_baseline
    from imgconf.fuzz.report import FuzzReportError, reproduce_command, write_fuzz_reports

    console.print(f"{run.queries} queries judged, {run.not_judged} not judged (refused with 4xx: R4 lets a server "
                  f"refuse a search it cannot perform) in {run.duration_s:.1f} s", markup=False, soft_wrap=True)
    judged_as = ", ".join(ACTORS.get(a, a) for a in run.actors) or "plain R4 (no IHE actor claimed or named)"
    console.print(f"judged as: {judged_as}", markup=False, soft_wrap=True)
    for rtype, why in run.left_out.items():
        if why:
            console.print(f"left out of generation for {rtype} ({len(why)}):", markup=False)
            for line in why:
                console.print(f"  - {plain(line)}", markup=False, soft_wrap=True)
    outcome = None
    if baseline:
        try:
            outcome = apply_baseline(run, baseline, strict_should=strict_should)
        except FuzzBaselineError as exc:
            console.print(f"baseline: {exc}", style="bold red", markup=False, soft_wrap=True)
            return 2
    console.print(f"{len(run.findings)} finding(s), one per cause:", markup=False)
    for f in run.findings:
        failing = is_failing_level(f.defect.level, strict_should=strict_should)
        word = "known" if f.known else ("FAIL" if failing else "warn")
        console.print(f"[{'dim' if f.known else 'bold red' if failing else 'yellow'}]{word}[/] {plain(f.cause)} "
                      f"[{plain(', '.join(f.defect.requirement))} {f.defect.level}] ({f.occurrences} generated queries)")
        console.print(f"  query:    {plain(f.query.display())}", markup=False, soft_wrap=True)
        console.print(f"  why:      {plain(f.defect.message)}", markup=False, soft_wrap=True)
        console.print(f"  expected: {', '.join(f.expected_ids) or 'none'}", markup=False, soft_wrap=True)
        console.print(f"  returned: {', '.join(f.actual_ids) or 'none'}", markup=False, soft_wrap=True)
        console.print(f"  reproduce: {plain(reproduce_command(run, f))}", markup=False, soft_wrap=True)
    for line in outcome.lines() if outcome else []:
        console.print(plain(line), markup=False, soft_wrap=True)
    try:
        for path in write_fuzz_reports(run, reports_dir, baseline=outcome):
            console.print(f"  {path}", markup=False)
    except FuzzReportError as exc:
        console.print(f"reports not written: {exc}", style="bold red", markup=False, soft_wrap=True)
    if write_baseline:
        count = write_fuzz_baseline(write_baseline, run)
        console.print(f"baseline with {count} entr{'y' if count == 1 else 'ies'} written to {write_baseline}: "
                      "adjudicate each against the R4 text and fill in every reason", markup=False)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        from imgconf.report.redact import scrub_strings

        # exchanges are redacted already; every secret the run holds is scrubbed by value once more
        json_out.write_text(json.dumps(scrub_strings(run.to_json()), indent=2) + "\n", encoding="utf-8")
    if not run.queries and not run.not_judged:  # nothing was asked: no verdict (the reasons are listed above)
        console.print("[bold red]nothing was generated[/]: see what was left out and why (--probe-all generates "
                      "every parameter the harness knows)")
        return 2
    if outcome is not None:
        return 0 if outcome.ok else 1
    return 1 if any(is_failing_level(f.defect.level, strict_should=strict_should) for f in run.findings) else 0


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    db: Annotated[Path | None, typer.Option(help="SQLite file (default: a temporary one).")] = None,
    auth: Annotated[bool, typer.Option(
        "--auth", help="Require SMART Backend Services bearer tokens (token endpoint at /fhir/auth/token).")] = False,
    register_client: Annotated[list[str] | None, typer.Option(
        "--register-client", metavar="ID=JWKS_FILE", help="With --auth: a client id and its public JWKS file (repeatable).")] = None,
) -> None:
    """Run the embedded reference FHIR server in the foreground (base URL http://HOST:PORT/fhir)."""
    from imgconf.reference.server import serve as run_server

    server_auth = _server_auth(auth, register_client or [])
    console.print(f"imgconf reference server on http://{host}:{port}/fhir (Ctrl-C stops it)"
                  + (f"; SMART auth on, {len(server_auth.clients)} client(s) registered" if server_auth else ""))
    run_server(host, port, db, auth=server_auth)


def _server_auth(enabled: bool, registrations: list[str]) -> Any:
    from imgconf.reference.auth import ReferenceAuth, RegisteredClient

    if registrations and not enabled:
        console.print("[bold red]--register-client needs --auth[/]")
        raise typer.Exit(2)
    if not enabled:
        return None
    server_auth = ReferenceAuth()
    for spec in registrations:
        client_id, sep, file = spec.partition("=")
        try:
            document = json.loads(Path(file).read_text(encoding="utf-8")) if sep and client_id else None
        except (OSError, ValueError) as exc:
            console.print(f"[bold red]--register-client {spec}: cannot read a JWKS from {file}: {exc}[/]")
            raise typer.Exit(2) from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            console.print(f"[bold red]--register-client {spec}: expected ID=JWKS_FILE with a {{\"keys\": [...]}} document[/]")
            raise typer.Exit(2)
        public = [{k: v for k, v in key.items() if k not in ("d", "p", "q", "dp", "dq", "qi")} for key in document["keys"]]
        server_auth.register(RegisteredClient(client_id, {"keys": public}))
    if not server_auth.clients:
        console.print("[yellow]SMART auth is on but no client is registered: every token request will fail "
                      "(use --register-client ID=JWKS_FILE)[/]")
    return server_auth


targets_app = typer.Typer(help="FHIR servers imgconf can build, start and stop itself (imgconf run --with-target NAME).",
                          no_args_is_help=True)
app.add_typer(targets_app, name="targets")


@targets_app.command("list")
def targets_list() -> None:
    """The named targets, what each is, and whether it can start here."""
    from imgconf.targets import PACS_REGISTRY, REGISTRY

    table = Table(title="imgconf targets (imgconf run --with-target NAME; a PACS: --with-pacs NAME)")
    for column in ("name", "kind", "server", "status"):
        table.add_column(column)
    for kind, registry in (("FHIR", REGISTRY), ("PACS", PACS_REGISTRY)):
        for name, factory in sorted(registry.items()):
            managed = factory()
            table.add_row(name, kind, managed.description, managed.status())
    console.print(table)


@app.command("list")
def list_suites(
    cases: Annotated[bool, typer.Option("--cases", help="List every case.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    suites_path: Annotated[list[Path] | None, typer.Option("--suites", help="Suite files or folders.")] = None,
) -> None:
    """List suites, their cases and the requirement ids they cite."""
    from imgconf.suite.index import list_suites as suite_listing  # rows remembered per suite: see there

    listing = suite_listing(list(suites_path or [suites_dir()]))
    for error in listing.errors:
        console.print(f"[red]{error}[/]")
    rows = listing.rows
    failed = bool(listing.errors)
    if as_json:
        console.print_json(json.dumps(rows))
    else:
        table = Table(title="imgconf suites")
        for col in ("suite", "area", "cases", "requirements"):
            table.add_column(col)
        for row in rows:
            table.add_row(row["id"], row["area"], str(len(row["cases"])), ", ".join(row["requirements"]))
            if cases:
                for case in row["cases"]:
                    table.add_row("", "", f"  {case['name']}", f"{case['level']} {', '.join(case['requirements'])}")
        console.print(table)
        total = sum(len(r["cases"]) for r in rows)
        reqs = {q for r in rows for q in r["requirements"]}
        console.print(f"{len(rows)} suites, {total} cases, {len(reqs)} requirement ids")
    if failed:
        raise typer.Exit(2)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="JSON resources, Bundles, NDJSON files or folders.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the findings as JSON here.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text (default), json or junit.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the json/junit report here "
                                                   "instead of stdout.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the summary line only.")] = False,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Judge DocumentReferences as mhd or eu-imaging-report even without a meta.profile "
        "claim (default: R4 alone unless the resource claims the profile).")] = None,
    dicomweb: Annotated[str | None, typer.Option(
        "--dicomweb", metavar="URL", help="Also cross-check ImagingStudies (Endpoints contained or among the files) "
        "and KOS manifests (.dcm files, DocumentReferences with the KOS inline) with this PACS's DICOMweb root "
        "(read-only: GET only; user:password@ in the URL for Basic auth).")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=0, help="Bulk mode: validate on N processes (0: every core), streamed in chunks, with a "
        "progress bar; cross-resource UID conflicts are reported after the per-resource findings.")] = None,
    summary: Annotated[bool, typer.Option(
        "--summary", help="Bulk mode: no finding per resource; counts per rule and level and the worst resources.")
    ] = False,
    report_dir: Annotated[Path | None, typer.Option(
        "--report", metavar="DIR", help="Bulk mode: write a data-quality report (quality.json, quality.html with "
        "plots by rule, modality and producer) into DIR.")] = None,
    dask: Annotated[str | None, typer.Option(
        "--dask", metavar="SCHEDULER", help="Bulk mode on a Dask cluster: 'local' (-j worker processes, default every "
        "core, all on 127.0.0.1) or a scheduler's tcp://host:port (its workers read the same paths). NDJSON is split "
        "into line-aligned byte ranges. Needs the 'dask' extra.")] = None,
    partition_mb: Annotated[float, typer.Option(
        "--partition-mb", min=0.001, help="With --dask: MB of NDJSON (or of small JSON files) per task.")] = 64.0,
) -> None:
    """Validate imaging resources offline with the same rules the live checks use."""
    from imgconf.offline import FORMATS, run_validate

    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format is one of {', '.join(FORMATS)}")
    if profile not in (None, "r4", "mhd", "eu-imaging-report"):
        raise typer.BadParameter("--profile is one of r4, mhd, eu-imaging-report")
    if dicomweb and (jobs is not None or summary or report_dir is not None):
        raise typer.BadParameter("--dicomweb runs without -j / --summary / --report")
    if dask is not None:  # imgconf.bulk.dask_run: dask/distributed are imported only there
        if dicomweb or (jobs is not None and dask != "local"):
            raise typer.BadParameter("--dask runs without --dicomweb; -j sets the workers of --dask local only")
        from imgconf.bulk.dask_run import run_dask

        raise typer.Exit(run_dask(list(paths), scheduler=dask, workers=jobs or None, partition_mb=partition_mb,
                                  console=console, profile=None if profile == "r4" else profile, fmt=fmt,
                                  output=output, json_out=json_out, report_dir=report_dir, quiet=quiet,
                                  summary=summary))
    raise typer.Exit(run_validate(list(paths), json_out=json_out, console=console, quiet=quiet, fmt=fmt,
                                  output=output, profile=None if profile == "r4" else profile, dicomweb=dicomweb,
                                  jobs=jobs, summary_only=summary, report_dir=report_dir))


@app.command()
def survey(
    target: Annotated[str | None, typer.Option(help="FHIR base URL to survey (default: the --config preset's url).")] = None,
    resource: Annotated[str | None, typer.Option(
        "--resource", help="Comma-separated resource types (default ImagingStudy,DocumentReference; "
                           "with --resume: the state's).")] = None,
    max_per_type: Annotated[int | None, typer.Option("--max", min=1, help="At most this many resources per type.")] = None,
    count: Annotated[int, typer.Option("--count", min=1, help="_count asked for each search page.")] = 100,
    rate: Annotated[float | None, typer.Option("--rate", min=0.001, help="At most this many requests per second.")] = None,
    resume: Annotated[Path | None, typer.Option(
        "--resume", metavar="STATE", help="Continue the survey this state file describes (survey-state.json).")] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", metavar="DIR", help="Report folder: quality.json/.html, survey.json, findings.ndjson and "
                                        "survey-state.json (default reports/survey; with --resume: the state's).")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Judge DocumentReferences as mhd or eu-imaging-report even without a meta.profile claim.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file with target presets (SMART auth).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Preset name in --config.")] = None,
    header: Annotated[list[str] | None, typer.Option(
        "--header", help="'Name: value' sent on every request to the target (repeatable).")] = None,
    request_timeout: Annotated[float | None, typer.Option(help="Seconds per HTTP request (whole exchange).")] = None,
    insecure: Annotated[bool, typer.Option(help="Do not verify TLS certificates.")] = False,
    memory_ids: Annotated[int, typer.Option(
        "--memory-ids", min=0, metavar="N", help="Ids of validated resources kept in memory (~140 bytes each); "
                                                 "later ones go to seen-ids.sqlite in the report folder.")] = 500_000,
    memory_uids: Annotated[int, typer.Option(
        "--memory-uids", min=0, metavar="N", help="UIDs the DICOM-012/013 index keeps in memory (~60 bytes each); "
                                                  "later claims go to uid-spool/ in the report folder.")] = 1_000_000,
) -> None:
    """Sweep a server's data READ-ONLY (GET searches, next links on its origin) into the data-quality report.

    Exit 0: all read, no SHALL finding; 1: SHALL findings; 2: incomplete (--resume STATE continues)."""
    from imgconf.bulk.survey import Survey, SurveyError, SurveySettings, load_state, outcome, prepare
    from imgconf.credentials import shown
    from imgconf.runcontrol import RunControlError, parse_headers

    chosen = _preset_or_exit(config, preset)
    try:
        headers = parse_headers(header or [])
        url = target or (chosen.url if chosen else None) or (load_state(resume).target if resume else None)
        if not url:
            raise SurveyError("no target: give --target URL (or a --config preset with a url)")
        types = tuple(t.strip() for t in (resource or ("" if resume else "ImagingStudy,DocumentReference")).split(",")
                      if t.strip())
        if profile not in (None, "r4", "mhd", "eu-imaging-report"):
            raise SurveyError("--profile is one of r4, mhd, eu-imaging-report")
        timeout = request_timeout or (chosen.timeout if chosen and chosen.timeout else 30.0)
        settings = SurveySettings(
            target=url, resource_types=types, count=count, max_per_type=max_per_type, rate=rate, timeout=timeout,
            verify_tls=not insecure and not (chosen and chosen.verify_tls is False), headers=tuple(headers),
            auth=chosen.auth if chosen else None, profile=None if profile == "r4" else profile,
            memory_ids=memory_ids, memory_uids=memory_uids)
        state, out_dir, state_path = prepare(settings, out_dir=report, resume=resume)
    except (SurveyError, RunControlError) as exc:
        console.print(f"survey: {exc}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    done = {t: p.validated for t, p in state.types.items()}
    console.print(f"imgconf survey (read-only) → {plain(shown(state.target) or '')}: {', '.join(state.types)}"
                  + (f", at most {max_per_type} per type" if max_per_type else "")
                  + (f", {rate:g} requests/s" if rate else "")
                  + (f"; resuming ({', '.join(f'{t} {n}' for t, n in done.items())} already validated)" if resume else ""))
    _sigterm_interrupts()
    job = Survey(settings, state, state_path=state_path, out_dir=out_dir,
                 echo=lambda line: console.print(plain(line), soft_wrap=True))
    job.run()
    word, code = outcome(state, max_per_type)
    totals = state.report.to_json()["totals"]
    console.print(f"{totals['resources']} resource(s), {totals['failing_resources']} failing, "
                  f"{totals['findings']} finding(s); {state.requests} request(s) in {state.elapsed_s:.1f} s")
    style = {"pass": "green", "fail": "bold red"}.get(word, "yellow")
    why = state.incomplete_reason(max_per_type)
    console.print(f"outcome: [{style}]{word.upper()}[/]" + (f" ({plain(why)}; --resume {plain(state_path)})" if why else ""))
    for name in ("quality.html", "quality.json", "survey.json", "findings.ndjson"):
        console.print(f"  {plain(out_dir / name)}")
    raise typer.Exit(code)


@app.command("compare")
def compare_command(
    old: Annotated[Path, typer.Argument(help="The earlier run: its summary.json or reports folder.")],
    new: Annotated[Path, typer.Argument(help="The later run: its summary.json or reports folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the comparison as JSON here.")] = None,
) -> None:
    """Regressions, progressions, new and removed cases between two runs; exit 1 on a regression."""
    from imgconf.compare import CompareError, compare, load_summary

    try:
        result = compare(load_summary(old), load_summary(new))
    except CompareError as exc:
        console.print(f"compare: {exc}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for line in result.lines():
        console.print(plain(line), markup=False, soft_wrap=True)
    if json_out:
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    raise typer.Exit(0 if result.ok else 1)


@app.command("matrix")
def matrix_command(
    runs: Annotated[list[Path], typer.Argument(help="Reports folders (or summary.json files), one per target.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML page to write.")] = Path("reports/matrix.html"),
) -> None:
    """Several runs side by side: rows requirements, columns servers, cells linking to each run's evidence."""
    from imgconf.compare import CompareError
    from imgconf.matrix import write_matrix

    try:
        count = write_matrix(list(runs), output)
    except CompareError as exc:
        console.print(f"matrix: {exc}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"{output}: {count} requirements × {len(runs)} runs", markup=False, soft_wrap=True)


if __name__ == "__main__":
    app()

"""Run-wide controls the plugin registers: --read-only, --var/--vars-file, --header, --run-timeout,
--max-response-mb.

- ``--read-only`` deselects every case marked ``writes`` and binds fixtures to existing resources
  the user names (``--var fixture.patient/jones.id=123``); a suite whose fixtures are not all bound is
  skipped with the exact ``--var`` it needs. The HTTP client refuses writes as a second guard.
- ``--run-timeout S`` stops starting new cases after S seconds (remaining ones are not run, the run
  ends as interrupted, teardown still happens); a watchdog interrupts a case still hanging after
  S + request timeout + grace, the way Ctrl-C does, so the same cleanup path runs.
"""

from __future__ import annotations

import _thread
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from imgconf import options, secret_registry
from imgconf.credentials import split_userinfo

WATCHDOG_GRACE_S = 10.0
_STATE = pytest.StashKey[dict[str, Any]]()


class RunControlError(ValueError):
    pass


def parse_assignments(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            raise RunControlError(f"--var {raw!r}: expected NAME=VALUE, e.g. fixture.patient/jones.id=123")
        out[name.strip()] = value
    return out


def load_vars_file(path: Path) -> dict[str, str]:
    from imgconf.localinput import MAX_VARS_BYTES, LocalInputError, read_capped, safe_yaml

    try:
        data = safe_yaml(path, read_capped(path, MAX_VARS_BYTES, "vars file"))
    except LocalInputError as exc:  # too big, or an alias bomb: refused with file:line
        raise RunControlError(f"--vars-file {exc}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise RunControlError(f"--vars-file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise RunControlError(f"--vars-file {path}: expected a mapping of variable names to values")
    return {k: str(v) for k, v in data.items()}


def parse_headers(values: list[str]) -> list[tuple[str, str]]:
    """``Name: value`` pairs; every value is registered as a secret the moment it is read.

    A malformed one is named by its position only: it may well be a token without its header name.
    """
    out = []
    for number, raw in enumerate(values, 1):
        name, sep, value = raw.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            secret_registry.register(raw)
            raise RunControlError(f"--header number {number} of {len(values)}: expected 'Name: value', "
                                  "e.g. 'Authorization: Bearer …' (its text is not shown: it may hold a credential)")
        secret_registry.register_header(name, value)
        out.append((name.strip(), value.strip()))
    return out


def strip_target_credentials(config: pytest.Config, headers: list[tuple[str, str]]) -> None:
    """``--target http://user:pw@host/fhir``: the URL everyone sees loses its userinfo; the userinfo
    becomes a Basic Authorization header (unless one was given), bound to the target's origin."""
    target = options.get(config, "target")
    if not target:
        return
    try:
        clean, basic = split_userinfo(target)
    except (httpx.InvalidURL, ValueError):  # the session reports the unusable URL itself
        return
    options.apply(config, "target", clean)
    if basic is not None and not any(k.lower() == "authorization" for k, _ in headers):
        headers.append(basic)


def session_options(config: pytest.Config) -> dict[str, Any]:
    """The SessionOptions fields these controls set (validated at configure time)."""
    state = config.stash[_STATE]
    return {
        "read_only": state["read_only"],
        "variables": dict(state["variables"]),
        "headers": list(state["headers"]),
        "max_response_bytes": state["max_response_bytes"],
    }


def report_options(config: pytest.Config) -> dict[str, Any]:
    """What the run report states about these controls (header names only, never values)."""
    state = config.stash[_STATE]
    return {
        "read_only": state["read_only"],
        "extra_headers": sorted({name for name, _ in state["headers"]}),  # the target's origin only, never elsewhere
        "run_timeout_s": state["run_timeout"],
        "run_timeout_reached": state.get("timed_out", False),
        "max_response_bytes": state["max_response_bytes"],
    }


# -- hooks (this module is registered as a plugin by imgconf.plugin) --------------------------

def configure(config: pytest.Config) -> None:
    try:
        variables: dict[str, str] = {}
        if (vars_file := options.get(config, "vars_file")):
            variables.update(load_vars_file(vars_file))
        variables.update(parse_assignments(options.get(config, "var")))
        headers = parse_headers(options.get(config, "header"))
    except RunControlError as exc:
        raise pytest.UsageError(str(exc)) from None
    strip_target_credentials(config, headers)
    config.stash[_STATE] = {
        "read_only": bool(options.get(config, "read_only")),
        "variables": variables,
        "headers": headers,
        "run_timeout": options.get(config, "run_timeout"),
        "max_response_bytes": int(options.get(config, "max_response_mb") * 1024 * 1024),
    }


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[_STATE]
    if not state["read_only"]:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (dropped if item.get_closest_marker("writes") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    for item in items:
        suite = getattr(item, "suite", None)
        unbound = [k for k in getattr(suite, "fixtures", ()) if f"fixture.{k}.id" not in state["variables"]]
        if unbound:
            needed = " ".join(f"--var fixture.{k}.id=<id>" for k in unbound)
            item.add_marker(pytest.mark.skip(reason=f"read-only: bind the suite's fixtures to existing data: {needed}"))


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash[_STATE]
    state["started"] = time.monotonic()
    limit = state["run_timeout"]
    if limit and threading.current_thread() is threading.main_thread():
        grace = float(options.get(session.config, "request_timeout")) + WATCHDOG_GRACE_S
        watchdog = threading.Timer(limit + grace, _interrupt, args=(state,))
        watchdog.daemon = True
        watchdog.start()
        state["watchdog"] = watchdog


def _interrupt(state: dict[str, Any]) -> None:
    state["timed_out"] = True
    _thread.interrupt_main()  # KeyboardInterrupt in the main thread: the Ctrl-C teardown path


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash[_STATE]
    limit = state["run_timeout"]
    if limit and time.monotonic() - state["started"] > limit:
        state["timed_out"] = True
        item.session.shouldstop = f"--run-timeout {limit:g} s reached; the remaining cases were not run"
        pytest.skip(item.session.shouldstop)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, {})
    watchdog = state.get("watchdog")
    if watchdog is not None:
        watchdog.cancel()
    if state.get("timed_out"):
        session.exitstatus = pytest.ExitCode.INTERRUPTED

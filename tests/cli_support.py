"""`imgconf` commands run in the test process, for tests about what a command prints and returns.

Why: a child `python -m imgconf.cli ...` costs ~1.5 CPU-s of interpreter start and imports before the command
does anything; the same command through click's test runner costs only the command. Tests about the process
boundary itself (start-up imports, signals, `imgconf run`'s own pytest session, exit on Ctrl-C) keep a real child.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path


def imgconf_in_process(*args: str, cwd: Path | None = None, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `imgconf ARGS` through typer's CliRunner and answer as `subprocess.run(..., capture_output=True, text=True)`
    would: exit code, stdout and stderr apart. An exception the command lets escape is raised here, where a child
    process would have printed a traceback and exited 1 (a test expecting exit 1 must not pass on a crash)."""
    from typer.testing import CliRunner

    from imgconf.cli import app

    env = {"COLUMNS": str(columns)} if columns else None
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(["imgconf", *args], result.exit_code, result.stdout, result.stderr)



def interrupt_after_cases(proc: subprocess.Popen[str], reports: Path, cases: int = 3) -> str:
    """Ctrl-C (SIGINT) a child `imgconf run` once ``cases`` cases have ended (allure writes a result file as each
    ends); its whole output. The child is killed if anything here fails, so no run outlives the test."""
    import signal
    import time

    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((reports / "allure-results").glob("*-result.json"))) >= cases:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        return str(proc.communicate(timeout=120)[0])
    finally:
        if proc.poll() is None:
            proc.kill()

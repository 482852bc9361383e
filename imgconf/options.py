"""The run options, declared once: pytest's ``--imgconf-*`` options, their ini keys, and ``imgconf run``.

Each option is one :class:`RunOption` row. :func:`register` adds the rows to pytest's parser
(``--imgconf-<name>`` plus ini key ``imgconf_<name>``), :func:`get` resolves a value (command line,
then a preset a user named (written over the command-line slot by :func:`apply`), then the ini file,
then the row's default), :func:`typer_parameters` gives ``imgconf run`` its parameters and
:func:`pytest_argv` turns that command's values back into pytest arguments — all from the same rows.

This module is imported by ``imgconf --help``: keep it cheap (typer is imported only when asked).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, TypeVar

from imgconf.editions import DEFAULT_EDITION, EDITIONS

if TYPE_CHECKING:
    import pytest

Kind = Literal["value", "append", "flag", "choices"]
F = TypeVar("F", bound=Callable[..., Any])

PYTEST_PREFIX = "--imgconf-"
INI_PREFIX = "imgconf_"


@dataclass(frozen=True)
class RunOption:
    """One run option. ``cli`` is its ``imgconf run`` flag (None: pytest and ini only)."""

    name: str  # python name; pytest dest is imgconf_<name>
    help: str
    kind: Kind = "value"
    value_type: type = str  # str, int, float or Path (a Path is resolved: command line to the invocation dir, ini to the ini file's dir)
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    cli: str | None = None
    ini: bool = True

    @property
    def pytest_flag(self) -> str:
        return PYTEST_PREFIX + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return INI_PREFIX + self.name

    @property
    def ini_name(self) -> str:
        return INI_PREFIX + self.name

    @property
    def help_text(self) -> str:
        if self.kind in ("value", "choices") and self.default is not None:
            return f"{self.help} Default: {self.default:g}." if isinstance(self.default, float) else f"{self.help} Default: {self.default}."
        return self.help


def _cli(name: str) -> str:
    return "--" + name.replace("_", "-")


OPTIONS: tuple[RunOption, ...] = (
    RunOption("target", "FHIR base URL to test. Without it the embedded reference server is started on loopback.",
              metavar="URL", cli=_cli("target")),
    RunOption("dicomweb", "DICOMweb root (QIDO-RS/WADO-RS) of the PACS behind the target's ImagingStudy endpoints, for the "
              "read-only cross-check (suite dicomweb-crosscheck; ${pacs.dicomweb}); credentials: the preset's dicomweb table.",
              metavar="URL", cli=_cli("dicomweb")),
    RunOption("suites", "A folder or file of imgconf suites (repeatable). Only YAML files under these roots with a top-level "
              "'suite:' key are collected; named alone (no test paths), these roots are what the run collects.",
              kind="append", value_type=Path, metavar="PATH"),
    RunOption("suite", "Run only this suite (by id, repeatable).", kind="append", metavar="ID", cli=_cli("suite")),
    RunOption("edition", f"Document-code edition (catalogue §H): {', '.join(sorted(EDITIONS))}; a preset's edition wins over the default.",
              kind="choices", choices=tuple(sorted(EDITIONS)), default=DEFAULT_EDITION, cli=_cli("edition")),
    RunOption("request_timeout", "Seconds for each HTTP request to the target (a preset's timeout wins over the default).",
              value_type=float, default=30.0, metavar="SECONDS", cli=_cli("request_timeout")),
    RunOption("insecure", "Do not verify the target's TLS certificate (stated in the report).", kind="flag", cli=_cli("insecure")),
    RunOption("config", "Config file (TOML or YAML) with named target presets: URL, SMART auth, edition, timeouts.",
              value_type=Path, metavar="FILE", cli=_cli("config")),
    RunOption("preset", "The preset of the config file to run against (default: its default_preset).",
              metavar="NAME", cli=_cli("preset")),
    RunOption("strict_should", "Fail the run on SHOULD-level failures too.", kind="flag", cli=_cli("strict_should")),
    RunOption("reports_dir", "Where summary.json, report.html and junit.xml are written.",
              value_type=Path, default="reports", metavar="DIR", cli=_cli("reports_dir")),
    RunOption("no_reports", "Do not write summary.json and report.html.", kind="flag", cli=_cli("no_reports")),
    RunOption("read_only", "Run only cases that write nothing; bind fixtures to existing data with the variable "
              "fixture.<key>.id=ID.", kind="flag", cli=_cli("read_only")),
    RunOption("var", "Bind a variable, NAME=VALUE (repeatable), e.g. fixture.patient/jones.id=123; wins over every other source.",
              kind="append", metavar="NAME=VALUE", cli=_cli("var")),
    RunOption("vars_file", "YAML mapping of variable names to values (existing data for a read-only run); single variables win.",
              value_type=Path, metavar="FILE", cli=_cli("vars_file")),
    RunOption("header", "Send this header on every request (repeatable), e.g. 'Authorization: Bearer …' (redacted in reports).",
              kind="append", metavar="'NAME: VALUE'", cli=_cli("header")),
    RunOption("run_timeout", "Stop starting cases after this many seconds; the run ends as interrupted, with teardown.",
              value_type=float, metavar="SECONDS", cli=_cli("run_timeout")),
    RunOption("concurrency", "Run up to N suite files at the same time in this one process (a suite file's cases still run "
              "in order; reports keep the collection order) and delete the run's data N at a time: for a distant target. "
              "0 or 1: one case after another. Not combined with -n.", value_type=int, default=0, metavar="N",
              cli=_cli("concurrency")),
    RunOption("max_response_mb", "Stop reading a response body beyond this size; the case is an error.",
              value_type=float, default=20.0, metavar="MB", cli=_cli("max_response_mb")),
    RunOption("run_id", "Run tag to use (imgconf run chooses and prints one); xdist workers add -gwN.",
              metavar="ID", cli=_cli("run_id"), ini=False),
    RunOption("baseline", "Known failures (YAML/JSON, each with a reason): fail only on regressions and on stale entries.",
              value_type=Path, metavar="FILE", cli=_cli("baseline")),
    RunOption("write_baseline", "Write this run's failures as a baseline (reasons left empty for you to fill in).",
              value_type=Path, metavar="FILE", cli=_cli("write_baseline"), ini=False),
)
BY_NAME: Mapping[str, RunOption] = {option.name: option for option in OPTIONS}


# -- pytest ---------------------------------------------------------------------------------------

def register(parser: pytest.Parser) -> None:
    """Every row as ``--imgconf-<name>`` (and ``imgconf_<name>`` in the ini file where it has one).

    Command-line defaults are "not given" (None, or False for a flag): :func:`get` supplies the
    real default after the ini file, so a value in the ini file is never hidden by a default."""
    group = parser.getgroup("imgconf", "FHIR imaging conformance (imgconf)")
    for option in OPTIONS:
        if option.kind == "flag":
            group.addoption(option.pytest_flag, dest=option.dest, action="store_true", default=False, help=option.help_text)
        elif option.kind == "append":
            group.addoption(option.pytest_flag, dest=option.dest, action="append", default=None,
                            metavar=option.metavar, help=option.help_text)
        else:
            group.addoption(option.pytest_flag, dest=option.dest, default=None, metavar=option.metavar,
                            type=option.value_type if option.value_type in (float, int) else None,
                            choices=list(option.choices) or None, help=option.help_text)
        if option.ini:
            parser.addini(option.ini_name, option.help_text, type=_ini_type(option))


def _ini_type(option: RunOption) -> Literal["string", "paths", "linelist", "bool"]:
    if option.kind == "flag":
        return "bool"
    if option.kind == "append":
        return "paths" if option.value_type is Path else "linelist"
    return "string"


def given(config: pytest.Config, name: str) -> bool:
    """Whether the command line (or a preset applied over it) set this option."""
    value = getattr(config.option, BY_NAME[name].dest, None)
    return value not in (None, False, [])


def apply(config: pytest.Config, name: str, value: Any) -> None:
    """Set an option as if it had been given on the command line (a preset's values)."""
    setattr(config.option, BY_NAME[name].dest, value)


def get(config: pytest.Config, name: str) -> Any:
    """The option's value: command line, else ini file, else the row's default (paths made absolute)."""
    option = BY_NAME[name]
    if given(config, name):
        return _convert(option, getattr(config.option, option.dest), Path(config.invocation_params.dir))
    if option.ini and (value := config.getini(option.ini_name)) not in (None, "", [], False):
        base = config.inipath.parent if config.inipath else config.rootpath
        return _convert(option, value, base)
    if option.kind == "flag":
        return False
    if option.kind == "append":
        return []
    return _convert(option, option.default, Path(config.invocation_params.dir))


def _convert(option: RunOption, value: Any, base: Path) -> Any:
    if value is None or option.kind == "flag":
        return bool(value) if option.kind == "flag" else None
    if option.kind == "append":
        return [_one(option, v, base) for v in value]
    return _one(option, value, base)


def _one(option: RunOption, value: Any, base: Path) -> Any:
    if option.value_type is Path:
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else base / path
    if option.value_type in (float, int):
        try:
            return option.value_type(value)
        except ValueError:
            import pytest

            raise pytest.UsageError(f"{option.ini_name}: expected a number, got {value!r}") from None
    if option.choices and str(value) not in option.choices:
        import pytest

        raise pytest.UsageError(f"{option.ini_name}: {value!r} is not one of {', '.join(option.choices)}")
    return str(value)


# -- imgconf run ----------------------------------------------------------------------------------

def typer_parameters() -> list[inspect.Parameter]:
    """``imgconf run``'s parameters for every row with a ``cli`` flag, all defaulting to "not given"
    (the plugin then applies preset, ini and default exactly as for a pytest run)."""
    import typer

    params = []
    for option in OPTIONS:
        if option.cli is None:
            continue
        info = typer.Option(option.cli, help=option.help_text, metavar=option.metavar)
        annotation: Any
        # Optional[...] rather than `X | None`: these annotations are built at run time for typer to read.
        if option.choices:  # typer turns a Literal into a choice
            annotation, default = Annotated[Optional[Literal[option.choices]], info], None  # noqa: UP045
        elif option.kind == "flag":
            annotation, default = Annotated[bool, info], False
        elif option.kind == "append":
            annotation, default = Annotated[Optional[list[option.value_type]], info], None  # type: ignore[name-defined]  # noqa: UP045
        else:
            annotation, default = Annotated[Optional[option.value_type], info], None  # noqa: UP045
        params.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    return params


def pytest_argv(values: Mapping[str, Any]) -> list[str]:
    """pytest arguments for the given option values (name -> value; None, False and [] are "not given")."""
    argv: list[str] = []
    for option in OPTIONS:
        value = values.get(option.name)
        if value in (None, False, []):
            continue
        if option.kind == "flag":
            argv.append(option.pytest_flag)
            continue
        for one in (value if option.kind == "append" else [value]):
            argv += [option.pytest_flag, str(one.resolve()) if isinstance(one, Path) else str(one)]
    return argv


def with_run_options(func: F) -> F:
    """Decorator: give a ``def f(..., **options)`` command the table's parameters (typer reads the
    signature), so the command declares none of them itself."""
    own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    func.__signature__ = inspect.Signature([*own, *typer_parameters()])  # type: ignore[attr-defined]
    return func

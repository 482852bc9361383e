"""One table of run options (imgconf.options) feeds pytest, the ini file and `imgconf run`."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from imgconf import options
from imgconf.editions import DEFAULT_EDITION


def test_every_pytest_option_is_prefixed_and_every_ini_key_too() -> None:
    for option in options.OPTIONS:
        assert option.pytest_flag.startswith("--imgconf-") and option.ini_name.startswith("imgconf_")


def test_command_line_wins_over_ini_which_wins_over_the_default(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nimgconf_request_timeout = 5\nimgconf_reports_dir = out\nimgconf_header =\n  X-A: 1\n")
    from_ini = pytester.parseconfig()
    assert options.get(from_ini, "request_timeout") == 5.0
    assert options.get(from_ini, "reports_dir") == pytester.path / "out"  # relative to the ini file
    assert options.get(from_ini, "header") == ["X-A: 1"]
    assert options.get(from_ini, "edition") == DEFAULT_EDITION and options.get(from_ini, "max_response_mb") == 20.0
    assert options.get(from_ini, "insecure") is False and options.get(from_ini, "suite") == []
    given = pytester.parseconfig("--imgconf-request-timeout", "7", "--imgconf-header", "X-B: 2")
    assert options.get(given, "request_timeout") == 7.0 and options.get(given, "header") == ["X-B: 2"]


def test_a_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nimgconf_edition = draft-1999\nimgconf_run_timeout = soon\n")
    config = pytester.parseconfig()
    with pytest.raises(pytest.UsageError, match="imgconf_edition: 'draft-1999' is not one of"):
        options.get(config, "edition")
    with pytest.raises(pytest.UsageError, match="imgconf_run_timeout: expected a number"):
        options.get(config, "run_timeout")


def test_imgconf_run_arguments_parse_back_to_the_same_values(pytester: pytest.Pytester, tmp_path: Path) -> None:
    values: dict[str, Any] = {
        "target": "http://127.0.0.1:9/fhir", "suite": ["a", "b"], "edition": "eu-api-current", "request_timeout": 3.5,
        "insecure": True, "config": tmp_path / "c.toml", "preset": "p", "strict_should": True,
        "reports_dir": tmp_path / "r", "no_reports": True, "read_only": True, "var": ["x=1"], "vars_file": tmp_path / "v.yaml",
        "header": ["X-A: 1"], "run_timeout": 9.0, "max_response_mb": 2.0, "run_id": "abc", "baseline": tmp_path / "b.yaml",
        "write_baseline": tmp_path / "w.yaml", "suites": [tmp_path], "dicomweb": "http://127.0.0.1:9/dicom-web",
        "concurrency": 4,
    }
    assert set(values) == set(options.BY_NAME)  # every row is exercised
    config = pytester.parseconfig(*options.pytest_argv(values))
    assert {name: options.get(config, name) for name in values} == values


def test_imgconf_run_takes_its_parameters_from_the_table() -> None:
    from imgconf.cli import run

    params = inspect.signature(run).parameters
    for option in options.OPTIONS:
        if option.cli is None:
            assert option.name not in params
            continue
        info = params[option.name].annotation.__metadata__[0]
        assert (info.default, *info.param_decls) == (option.cli,) and info.help == option.help_text  # Option('--x'): its name
        assert params[option.name].default in (None, False)  # "not given": the plugin applies preset, ini, default

"""Load a YAML suite: parse, validate against the JSON Schema, compile, and build the model.

Every problem becomes a SuiteError that names the file and the line, so a malformed suite fails
collection with a message a suite author can act on instead of a Python traceback.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import yaml

from imgconf.checks import registry
from imgconf.fhirpath import FhirPathSyntaxError, compile_expression
from imgconf.localinput import MAX_SUITE_BYTES, LocalInputError, check_aliases, read_capped
from imgconf.results import Level
from imgconf.suite.discovery import SUITE_MARKER, discover, looks_like_suite  # noqa: F401  (re-exported: discovery is cheap, see there)
from imgconf.suite.levels import case_violations
from imgconf.suite.model import (
    AuthOverride,
    Case,
    Expect,
    HeaderExpectation,
    Request,
    Save,
    Step,
    Suite,
    TokenRequest,
)
from imgconf.suite.template import names_in, variables_in

Path_ = tuple[str | int, ...]

# Namespaces the harness fills at run time; anything else must be a suite variable or saved earlier.
BUILTIN_PREFIXES = ("fixture.", "uid.", "run.", "edition.", "target.", "smart.", "pacs.")
BUILTIN_NAMES = {"base"}


class SuiteError(Exception):
    """A suite file that cannot be used, with the place to fix it."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


def suite_schema() -> dict[str, Any]:
    """schema.json (the suite, the request, the engine's core expectations) with the fragment of every
    registered check kind added under ``$defs.expect.properties``."""
    return _assembled_schema(registry.generation())


@functools.cache
def _assembled_schema(_generation: int) -> dict[str, Any]:
    text = resources.files("imgconf.suite").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    schema["$defs"]["expect"]["properties"].update(registry.expectation_schemas())
    return schema


@functools.cache
def _validator(_generation: int) -> jsonschema.Draft202012Validator:
    schema = _assembled_schema(_generation)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@functools.cache
def _fast_validator(_generation: int) -> jsonschema_rs.Draft202012Validator:
    """The same schema compiled by jsonschema-rs (~100x the speed), used only to prove a suite valid; its
    formats are jsonschema's own FormatChecker, so "regex" means a Python regular expression here too."""
    schema = _assembled_schema(_generation)
    checker = jsonschema.FormatChecker()
    formats: dict[str, Callable[..., bool]] = {name: functools.partial(_conforms, checker, name) for name in _format_names(schema)}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True, formats=formats)


def _conforms(checker: jsonschema.FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


def _format_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_format_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_format_names(v) for v in schema))
    return set()


def _with_text_keys(value: Any) -> Any:
    """YAML reads ``on_status: {404: …}`` with int keys, which jsonschema-rs does not take: as text."""
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: _with_text_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_text_keys(v) for v in value]
    return value


def _proved_valid(data: Any) -> bool:
    """True when jsonschema-rs accepts the suite; anything else (an error, a value it cannot take, such as
    a YAML date) is left to jsonschema, whose first error is the one reported, as before."""
    try:
        return bool(_fast_validator(registry.generation()).is_valid(_with_text_keys(data)))
    except ValueError:
        return False


def _positions(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    """Record the 1-based line of every mapping key and sequence item."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            out[path + (key,)] = key_node.start_mark.line + 1
            _positions(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, path + (i,), out)


def _line_for(positions: dict[Path_, int], path: Path_) -> int | None:
    path = tuple(path)
    while path not in positions and path:
        path = path[:-1]
    return positions.get(path)


# libyaml composes nodes by C recursion with no depth limit (a 200,000-deep "[[[…" crashes the
# interpreter), so the C loader only takes a text whose nesting is provably shallow: block nesting
# needs a wider indent per level (depth <= the longest line), flow nesting an opening bracket per level.
_C_LOADER_MAX_DEPTH = 2000  # composed fine by libyaml on an 8 MB stack at 5,000


def _nesting_bound(text: str) -> int:
    longest_line = max(map(len, text.splitlines()), default=0)
    return longest_line + text.count("[") + text.count("{") + 1


def parse_yaml(path: Path, text: str) -> tuple[Any, dict[Path_, int]]:
    """The document and the line of every key and item. libyaml's C parser reads the text (8x the speed
    of PyYAML's own); any problem with the text is reported by PyYAML's pure-Python parser instead, so
    a malformed suite gets the same message and line from either."""
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is not None and _nesting_bound(text) <= _C_LOADER_MAX_DEPTH:
        try:
            return _parse_with(c_loader(text), path, words_errors=False)
        except yaml.YAMLError:
            pass  # reported below, as PyYAML words it
    return _parse_with(yaml.SafeLoader(text), path, words_errors=True)


def _parse_with(
    loader: yaml.SafeLoader | yaml.CSafeLoader, path: Path, *, words_errors: bool
) -> tuple[Any, dict[Path_, int]]:
    try:
        node = loader.get_single_node()
        if node is None:
            raise SuiteError(path, 1, "the file is empty")
        check_aliases(path, node)  # an alias bomb is refused before it is expanded
        positions: dict[Path_, int] = {}
        _positions(node, (), positions)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        if not words_errors:
            raise
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise SuiteError(path, line, f"YAML syntax error: {problem}") from None
    except LocalInputError as exc:
        raise SuiteError(path, exc.line, exc.message) from None
    except RecursionError:
        raise SuiteError(path, None, "YAML nested too deep to read") from None
    finally:
        loader.dispose()
    return data, positions


def _schema_message(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message}"
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[-1] != "cases":
        return f"{where}: value does not match any allowed form ({_short(error.instance)})"
    return f"{where}: {error.message}"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _schema_errors(path: Path, data: Any, positions: dict[Path_, int]) -> None:
    if _proved_valid(data):
        return
    errors = sorted(_validator(registry.generation()).iter_errors(data), key=lambda e: (_line_for(positions, e.absolute_path) or 0))
    if not errors:
        return
    error = errors[0]
    error_path: Path_ = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            error_path = error_path + (extra[0],)
            allowed_list = ", ".join(sorted(allowed))
            raise SuiteError(
                path,
                _line_for(positions, error_path),
                f"unknown key {extra[0]!r} at {'/'.join(map(str, error.absolute_path)) or 'top level'} "
                f"(allowed: {allowed_list})",
            )
    raise SuiteError(path, _line_for(positions, error_path), _schema_message(error))


def _level(value: str | None, default: Level) -> Level:
    return Level(value) if value else default


def _pairs(mapping: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    pairs: list[tuple[str, Any]] = []
    for key, value in (mapping or {}).items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item if isinstance(item, str) else _scalar_text(item)))
    return tuple(pairs)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _request(raw: dict[str, Any]) -> Request:
    headers = tuple((k, v) for k, v in (raw.get("headers") or {}).items())
    return Request(
        method=raw.get("method", "POST" if "token" in raw else "GET"),
        path=raw.get("path", ""),
        params=_pairs(raw.get("params")),
        headers=headers,
        json=raw.get("json"),
        has_json="json" in raw,
        form=_pairs(raw.get("form")),
        body=raw.get("body"),
        tag=raw.get("tag", True),
        auth=_auth_override(raw.get("auth")),
        token=TokenRequest(**raw["token"]) if "token" in raw else None,
    )


def _auth_override(raw: Any) -> AuthOverride | None:
    if raw is None:
        return None
    if raw == "none":
        return AuthOverride("none")
    if "scopes" in raw:
        return AuthOverride("scopes", scopes=tuple(raw["scopes"].split()))
    return AuthOverride("token", token=raw["token"])


def _compile(path: Path, line: int | None, expr: str) -> None:
    try:
        compile_expression(expr)
    except FhirPathSyntaxError as exc:
        raise SuiteError(path, line, str(exc)) from None


def _expect(
    path: Path, raw: dict[str, Any] | None, positions: dict[Path_, int], at: Path_, fixtures: set[str]
) -> Expect:
    raw = raw or {}
    status = raw.get("status")
    statuses = tuple(status) if isinstance(status, list) else ((status,) if status is not None else ())

    headers: list[HeaderExpectation] = []
    for name, spec in (raw.get("headers") or {}).items():
        line = _line_for(positions, at + ("headers", name))
        if isinstance(spec, str):
            headers.append(HeaderExpectation(name=name, equals=spec))
            continue
        if "matches" in spec:
            try:
                re.compile(spec["matches"])
            except re.error as exc:
                raise SuiteError(path, line, f"header {name}: bad regular expression: {exc}") from None
        headers.append(
            HeaderExpectation(
                name=name,
                present=spec.get("present"),
                equals=spec.get("equals"),
                contains=spec.get("contains"),
                matches=spec.get("matches"),
                requirement=tuple(spec.get("requirement", ())),
                level=Level(spec["level"]) if spec.get("level") else None,
            )
        )

    checks = _check_kinds(path, raw, positions, at, fixtures)
    on_status = _status_branches(path, raw.get("on_status"), statuses, positions, at, fixtures)
    return Expect(
        on_status=on_status,
        status=statuses,
        headers=tuple(headers),
        resource=raw.get("resource"),
        checks=checks,
    )


def _check_kinds(path: Path, raw: dict[str, Any], positions: dict[Path_, int], at: Path_, fixtures: set[str]) -> dict[str, Any]:
    """Each check kind under ``expect:`` parsed by its own module (imgconf.checks.registry)."""
    context = registry.ParseContext(fixtures=frozenset(fixtures))
    checks: dict[str, Any] = {}
    for kind in registry.kinds():
        if kind.key not in raw:
            continue
        try:
            spec = kind.parse(raw[kind.key], context)
        except registry.SpecError as exc:
            raise SuiteError(path, _line_for(positions, at + (kind.key, *exc.at)), exc.message) from None
        if spec is not None:
            checks[kind.key] = spec
    return checks


def _status_branches(
    path: Path, raw: dict[Any, Any] | None, statuses: tuple[int, ...], positions: dict[Path_, int], at: Path_,
    fixtures: set[str],
) -> tuple[tuple[int, Expect], ...]:
    """``on_status``: one branch of expectations per status the server may legally choose."""
    branches: list[tuple[int, Expect]] = []
    for key, branch in (raw or {}).items():
        line = _line_for(positions, at + ("on_status", str(key)))
        code = int(key)
        if code not in statuses:
            raise SuiteError(path, line, f"on_status {code}: {code} is not among the expected statuses {list(statuses)}")
        nested = sorted({"status", "on_status"} & set(branch or {}))
        if nested:
            raise SuiteError(path, line, f"on_status {code}: a branch cannot set {', '.join(nested)} (the branch is its status)")
        branches.append((code, _expect(path, branch, positions, at + ("on_status", str(key)), fixtures)))
    return tuple(branches)


def _saves(path: Path, raw: dict[str, Any] | None, positions: dict[Path_, int], at: Path_) -> tuple[Save, ...]:
    saves = []
    for name, spec in (raw or {}).items():
        if "fhirpath" in spec:
            _compile(path, _line_for(positions, at + (name,)), spec["fhirpath"])
        saves.append(
            Save(name=name, fhirpath=spec.get("fhirpath"), header=spec.get("header"), location_id=bool(spec.get("location_id")))
        )
    return tuple(saves)


def _check_known_requirements(path: Path, data: dict[str, Any], positions: dict[Path_, int]) -> None:
    try:
        from imgconf.catalogue import is_known
    except ImportError:  # catalogue not built (a partial checkout): schema pattern still applies
        return

    def walk(value: Any, at: Path_) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in ("requirements", "requirement") and isinstance(inner, list):
                    for i, req in enumerate(inner):
                        if isinstance(req, str) and not is_known(req):
                            raise SuiteError(
                                path,
                                _line_for(positions, at + (key, i)),
                                f"unknown requirement id {req!r} (not in the requirements catalogue)",
                            )
                else:
                    walk(inner, at + (key,))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, at + (i,))

    walk(data, ())


ENFORCE_LEVELS = True  # imgconf.suite.levels: no judgement stricter than the requirements it cites


def _check_levels(path: Path, case: Case, raw_case: dict[str, Any], positions: dict[Path_, int], at: Path_) -> None:
    """Reject a case judged stricter than a requirement it cites, unless level_reason says why."""
    if not ENFORCE_LEVELS or case.level_reason:
        return
    expects = [
        ((at + ("steps", j) if "steps" in raw_case else at) + ("expect",), step.expect)
        for j, step in enumerate(case.steps)
    ]
    violations = case_violations(case.level, case.requirements, expects)
    if violations:
        first = violations[0]
        where = first.at or (at + ("level",) if "level" in raw_case else at + ("requirements",) if "requirements" in raw_case else at)
        raise SuiteError(path, _line_for(positions, where), first.message(case.name))


def _fixture_closure(keys: tuple[str, ...], library: Mapping[str, Any] | None) -> set[str]:
    """The suite's fixtures plus everything they depend on (those are loaded too)."""
    from imgconf.fixtures import fixture_dependencies

    closure: set[str] = set()
    pending = list(keys)
    while pending:
        key = pending.pop()
        if key in closure:
            continue
        closure.add(key)
        if library is not None and key in library:
            pending.extend(fixture_dependencies(library[key]))
    return closure


def load_suite(path: Path, *, fixture_library: Mapping[str, Any] | None = None) -> Suite:
    """Load and fully validate one suite file."""
    path = Path(path)
    try:
        text = read_capped(path, MAX_SUITE_BYTES, "suite file")
    except LocalInputError as exc:
        raise SuiteError(path, None, exc.message) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(path, None, f"cannot read suite: {exc}") from None
    data, positions = parse_yaml(path, text)
    if not isinstance(data, dict):
        raise SuiteError(path, 1, "a suite is a YAML mapping with keys suite, area, requirements, cases")
    _schema_errors(path, data, positions)
    _check_known_requirements(path, data, positions)

    fixtures = tuple(data.get("fixtures", ()))
    if fixture_library is not None:
        for i, key in enumerate(fixtures):
            if key not in fixture_library:
                raise SuiteError(path, _line_for(positions, ("fixtures", i)), f"unknown fixture {key!r}")

    usable_fixtures = _fixture_closure(fixtures, fixture_library)
    suite_level = Level(data.get("level", "SHALL"))
    suite_reqs = tuple(data["requirements"])
    variables = dict(data.get("variables", {}))
    defined = set(variables)
    seen_names: dict[str, int] = {}
    seen_keys: dict[str, int] = {}  # case id, or the name of a case without one
    cases: list[Case] = []
    for i, raw_case in enumerate(data["cases"]):
        at: Path_ = ("cases", i)
        line = _line_for(positions, at) or 0
        name = raw_case["name"]
        if name in seen_names:
            raise SuiteError(path, line, f"duplicate case name {name!r} (first at line {seen_names[name]})")
        seen_names[name] = line
        case_id: str | None = raw_case.get("id")
        key, key_line = (case_id, _line_for(positions, at + ("id",)) or line) if case_id else (name, line)
        if key in seen_keys:  # an id is a case's key (baselines, node ids): it may clash with no other key
            raise SuiteError(path, key_line, f"duplicate case id {key!r} (first at line {seen_keys[key]}); ids are unique")
        seen_keys[key] = key_line
        raw_steps = raw_case.get("steps") or [
            {k: raw_case[k] for k in ("request", "expect", "save") if k in raw_case}
        ]
        steps: list[Step] = []
        for j, raw_step in enumerate(raw_steps):
            step_at = at + ("steps", j) if "steps" in raw_case else at
            request = _request(raw_step["request"])
            for var in sorted(variables_in(request)):
                if var in defined or var in BUILTIN_NAMES or var.startswith(BUILTIN_PREFIXES):
                    continue
                raise SuiteError(
                    path,
                    _line_for(positions, step_at + ("request",)),
                    f"case {name!r} uses ${{{var}}}, which no earlier case saves and the suite does not define",
                )
            if var_fixture_missing := _undeclared_fixture(request, usable_fixtures):
                raise SuiteError(
                    path,
                    _line_for(positions, step_at + ("request",)),
                    f"case {name!r} uses fixture {var_fixture_missing!r}, which is not in the suite's fixtures list",
                )
            saves = _saves(path, raw_step.get("save"), positions, step_at + ("save",))
            defined |= {s.name for s in saves}
            steps.append(
                Step(
                    name=raw_step.get("name", name),
                    request=request,
                    expect=_expect(path, raw_step.get("expect"), positions, step_at + ("expect",), set(fixtures)),
                    save=saves,
                    line=_line_for(positions, step_at) or line,
                )
            )
        case = Case(
            name=name,
            description=raw_case.get("description", ""),
            requirements=tuple(raw_case.get("requirements", suite_reqs)),
            level=_level(raw_case.get("level"), suite_level),
            tags=tuple(raw_case.get("tags", ())),
            steps=tuple(steps),
            line=line,
            level_reason=raw_case.get("level_reason"),
            id=case_id,
        )
        _check_levels(path, case, raw_case, positions, at)
        cases.append(case)

    writes = data.get("writes", bool(fixtures) or any(c.writes for c in cases))
    return Suite(
        id=data.get("id", path.stem.removesuffix(".suite")),
        title=data["suite"],
        description=data.get("description", ""),
        area=data["area"],
        requirements=suite_reqs,
        level=suite_level,
        fixtures=fixtures,
        variables=variables,
        cases=tuple(cases),
        path=path,
        writes=writes,
        requires=_requires(data, usable_fixtures, fixture_library),
    )


def _requires(data: dict[str, Any], fixtures: set[str], library: Mapping[str, Any] | None) -> tuple[str, ...]:
    """``requires:`` as declared, plus ``dicomweb`` where the suite cannot run without a PACS: area dicomweb,
    or ``${pacs.*}`` in the suite or a fixture it loads (those would not render without one)."""
    declared = list(data.get("requires", ()))
    used = names_in(data["cases"]) | names_in(data.get("variables", {}))
    used |= {n for key in fixtures if library is not None and key in library for n in names_in(library[key])}
    if data["area"] == "dicomweb" or any(n.startswith("pacs.") for n in used):
        declared.append("dicomweb")
    return tuple(dict.fromkeys(declared))


def _undeclared_fixture(request: Request, fixtures: set[str]) -> str | None:
    for var in variables_in(request):
        if var.startswith("fixture."):
            key = var.removeprefix("fixture.").rsplit(".", 1)[0]
            if key not in fixtures:
                return key
    return None

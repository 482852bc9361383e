"""The SMART suites against the reference server in auth mode, clean and behind named faults.

Real HTTP: the harness authenticates with a client key from a --config preset; misbehaving servers
are the reference server behind imgconf.faults.FaultProxy. The suites run in process through the
engine with the preset's settings, summary.json built from the results (tests/suite_run.py): twenty
child pytest processes cost more than the SMART exchanges themselves. The test that no secret reaches
any output file stays a real pytest process (its subject is what the process writes and prints).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smart_support import SmartTarget, start_smart_target
from suite_roots import BUNDLED
from suite_run import exit_would_fail, run_suites_summary

from imgconf.config import load_preset
from imgconf.faults import BY_NAME, FaultProxy
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.paths import suites_dir
from imgconf.session import SessionOptions

SMART = suites_dir() / "smart"
DISCOVERY, TOKEN, SCOPES, ENFORCEMENT = (str(SMART / f"{n}.yaml") for n in ("discovery", "token", "scopes", "enforcement"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartTarget]:
    t = start_smart_target(tmp_path_factory.mktemp("smart-keys"))
    try:
        yield t
    finally:
        t.server.stop()


def run_preset(config: Path, *suites: str) -> dict[str, Any]:
    """The suites with the settings of the config's preset 'target' (as ``--imgconf-config FILE
    --imgconf-preset target`` gives them to the session); summary.json's content."""
    preset = load_preset(config, "target")
    options = SessionOptions(target=preset.url, auth=preset.auth, read_only=bool(preset.read_only))
    return run_suites_summary(options, *suites)


def run(tmp_path: Path, target: SmartTarget, url: str, *suites: str) -> dict[str, Any]:
    return run_preset(target.write_config(tmp_path / "imgconf.toml", url), *suites)


def verdicts(data: dict[str, Any]) -> dict[str, str]:
    return {c["case"]: c["verdict"] for c in data["cases"]}


def bad_checks(data: dict[str, Any], case: str) -> set[str]:
    return {c["check"] for c in data["checks"] if c["case"] == case and c["verdict"] in ("fail", "warn")}


def test_smart_suites_are_green_against_a_configured_target(tmp_path: Path, target: SmartTarget) -> None:
    data = run(tmp_path, target, target.base_url, str(SMART))
    assert not exit_would_fail(data), [(c["case"], c["verdict"]) for c in data["cases"] if c["verdict"] in ("fail", "error")]
    assert data["outcome"] == "pass" and len(data["cases"]) >= 40
    assert set(verdicts(data).values()) <= {"pass", "info"}
    assert data["run"]["target_url"] == target.base_url and data["run"]["embedded"] is False


def test_smart_cases_are_skipped_without_a_client(target: SmartTarget) -> None:
    data = run_suites_summary(SessionOptions(target=target.base_url), DISCOVERY)  # no preset: no SMART client
    assert not exit_would_fail(data) and set(verdicts(data).values()) == {"skip"}
    assert "no SMART client configured" in data["cases"][0]["skipped_reason"]


# Faults that touch different cases share one run (fewer suite runs); each expectation still
# names the case its fault must fail and the check kind that must catch it.
FAULT_RUNS = [
    (["accepts-request-without-token"], ENFORCEMENT, [
        ("Patient search without a token is 401 with WWW-Authenticate", "status"),
        ("Binary read without a token is 401", "fhirpath"),
    ]),
    (["grants-insufficient-scope"], ENFORCEMENT, [
        ("DocumentReference search with only system/Patient.rs is refused", "fhirpath"),
        ("a search-only scope cannot read an instance", "status"),
        ("a read/search token cannot create", "status"),
    ]),
    (["accepts-invalid-token", "missing-www-authenticate"], ENFORCEMENT, [
        ("an invalid token is 401 invalid_token", "fhirpath"),
        ("an invalid token cannot read a document", "status"),
        ("Patient search without a token is 401 with WWW-Authenticate", "header"),
    ]),
    (["insufficient-scope-as-401"], ENFORCEMENT, [
        ("DocumentReference search with only system/Patient.rs is refused", "status"),
    ]),
    (["token-endpoint-accepts-replay", "token-errors-not-json"], TOKEN, [
        # a 200 token answer where 400 was due: one status failure, the error body is not judged (issue 8 §2)
        ("replayed assertion is refused", "status"),
        ("authorization_code grant is unsupported", "oauth-error"),
    ]),
    (["token-endpoint-accepts-any-assertion"], TOKEN, [
        ("assertion signed with an unregistered key is refused", "status"),
        ("assertion for another audience is refused", "status"),
        ("assertion without jti is refused", "status"),
    ]),
    (["token-without-scope", "token-type-mac", "widens-granted-scope"], TOKEN, [
        ("ES384 assertion gets a bearer token", "token-response"),
        ("RS384 assertion gets a bearer token", "token-response"),
        ("a narrow request is not widened", "token-response"),
    ]),
    (["discovery-missing-pkce", "discovery-relative-token-endpoint", "discovery-no-client-credentials",
      "discovery-no-asymmetric-auth", "discovery-as-fhir-json"], DISCOVERY, [
        ("code_challenge_methods_supported has S256 and not plain (FIND-20)", "fhirpath"),
        ("token_endpoint is present and absolute", "fhirpath"),
        ("every endpoint URL in the document is absolute", "fhirpath"),
        ("grant_types_supported includes client_credentials", "fhirpath"),
        ("capabilities include client-confidential-asymmetric", "fhirpath"),
        ("token endpoint authenticates with private_key_jwt", "fhirpath"),
        ("well-known answers 200 JSON without a token", "header"),
    ]),
    (["discovery-pkce-plain", "discovery-non-smart-scopes", "capability-non-smart-scopes"], SCOPES + "," + DISCOVERY, [
        ("code_challenge_methods_supported has S256 and not plain (FIND-20)", "fhirpath"),
        ("scopes_supported lists only SMART v1 or v2 scopes", "scopes"),
        ("CapabilityStatement names only SMART scopes", "scopes"),
    ]),
]


def test_spec_findings_are_reported_as_findings(tmp_path: Path, target: SmartTarget) -> None:
    faults = [BY_NAME[f] for f in ("discovery-missing-pkce", "capability-non-smart-scopes")]
    with FaultProxy(target.base_url, faults) as proxy:
        data = run(tmp_path, target, proxy.base_url, DISCOVERY, SCOPES)
    found = {f["id"]: f for f in data["findings"]}
    assert {"FIND-05", "FIND-20"} <= set(found), sorted(found)
    reasons = [c["reason"] for c in data["checks"] if "FIND-05" in c["requirement"] and c["verdict"] == "fail"]
    assert any("system/DocumentReference.search" in r and "FIND-05" in r for r in reasons), reasons


@pytest.mark.parametrize(("faults", "suites", "expected"), FAULT_RUNS, ids=["+".join(f) for f, _, _ in FAULT_RUNS])
def test_a_misbehaving_server_fails_the_right_smart_case(
    tmp_path: Path, target: SmartTarget, faults: list[str], suites: str, expected: list[tuple[str, str]]
) -> None:
    with FaultProxy(target.base_url, [BY_NAME[f] for f in faults]) as proxy:
        data = run(tmp_path, target, proxy.base_url, *suites.split(","))
    for case, check in expected:
        assert verdicts(data)[case] == "fail", f"{faults}: {case}: {verdicts(data)[case]}"
        assert check in bad_checks(data, case), f"{faults}: {case}: failing checks were {bad_checks(data, case)}"
    assert exit_would_fail(data) and data["outcome"] == "fail"


@pytest.mark.parametrize(
    ("fault", "suite", "case", "check"),
    [
        ("token-long-lived", TOKEN, "ES384 assertion gets a bearer token", "token-response"),
        ("token-with-refresh-token", TOKEN, "ES384 assertion gets a bearer token", "token-response"),
        ("insufficient-scope-as-401", ENFORCEMENT, "the refusal names insufficient_scope", "status"),
    ],
)
def test_should_level_smart_faults_warn(tmp_path: Path, target: SmartTarget, fault: str, suite: str, case: str, check: str) -> None:
    with FaultProxy(target.base_url, [BY_NAME[fault]]) as proxy:
        data = run(tmp_path, target, proxy.base_url, suite)
    assert verdicts(data)[case] == "warn"
    assert check in bad_checks(data, case)


def _refuse_every_token(call: ProxyCall) -> ProxyResponse | None:
    if call.path.strip("/") == "auth/token":
        return ProxyResponse(401, {"content-type": "application/json"}, b'{"error": "invalid_client"}')
    return None


def test_replay_is_not_judged_when_the_first_use_is_refused(tmp_path: Path, target: SmartTarget) -> None:
    """A server refusing every assertion must not pass the replay case by accident."""
    refuse = Fault("refuses-every-assertion", "test-only", ("SMART-013",), on_request=_refuse_every_token)
    with FaultProxy(target.base_url, [refuse]) as proxy:
        data = run(tmp_path, target, proxy.base_url, TOKEN)
    assert verdicts(data)["replayed assertion is refused"] == "fail"
    assert "token-request" in bad_checks(data, "replayed assertion is refused")
    assert verdicts(data)["ES384 assertion gets a bearer token"] == "fail"


def test_v1_only_server_gets_v1_scopes_and_stays_green(tmp_path: Path, target: SmartTarget) -> None:
    with FaultProxy(target.base_url, [BY_NAME["discovery-v1-only"]]) as proxy:
        data = run(tmp_path, target, proxy.base_url, TOKEN, ENFORCEMENT)
    assert not exit_would_fail(data), [(c["case"], c["verdict"]) for c in data["cases"] if c["verdict"] in ("fail", "error")]
    reasons = [c["reason"] for c in data["checks"] if c["case"] == "document-consumer scopes are granted within the request"]
    assert any("system/DocumentReference.read" in r for r in reasons), reasons
    assert not any("system/DocumentReference.rs" in r for r in reasons)


def test_no_secret_reaches_any_output_file(pytester: pytest.Pytester, target: SmartTarget) -> None:
    """Tokens, assertions and the private key never reach summary, HTML, junit, allure or the console."""
    with FaultProxy(target.base_url, [BY_NAME["grants-insufficient-scope"]]) as proxy:  # failures print evidence too
        config = target.write_config(pytester.path / "imgconf.toml", proxy.base_url)
        result = pytester.runpytest_subprocess(
            *BUNDLED, str(SMART), "--imgconf-config", str(config), "--junitxml=reports/junit.xml", "--alluredir=reports/allure",
            "-p", "no:cacheprovider",
        )
    issued = list(target.auth._tokens)
    assert len(issued) >= 5
    key_doc = json.loads((target.key_dir / "client.jwks").read_text())
    secrets = issued + [k["d"] for k in key_doc["keys"]]
    pem_body = (target.key_dir / "client-es384.pem").read_text().splitlines()[1]
    secrets.append(pem_body)
    outputs = [p for p in (pytester.path / "reports").rglob("*") if p.is_file()]
    assert len(outputs) > 10
    texts = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in outputs}
    texts["stdout"] = result.stdout.str() + result.stderr.str()
    jwt_like = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {name}"
        assert not jwt_like.search(text), f"a JWT (client assertion) leaked into {name}"
    html = texts[str(pytester.path / "reports" / "report.html")]
    assert "[redacted]" in html


def _refuse_imaging_study(call: ProxyCall) -> ProxyResponse | None:
    if call.method == "GET" and call.path.startswith("ImagingStudy/"):
        body = b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden"}]}'
        return ProxyResponse(403, {"content-type": "application/fhir+json", "www-authenticate": 'Bearer error="insufficient_scope"'}, body)
    return None


def test_manifest_study_retrieval_fails_when_the_scope_is_not_honoured(tmp_path: Path, target: SmartTarget) -> None:
    refuse = Fault("refuses-imaging-study", "test-only", ("SMART-024",), on_request=_refuse_imaging_study)
    with FaultProxy(target.base_url, [refuse]) as proxy:
        data = run(tmp_path, target, proxy.base_url, ENFORCEMENT)
    case = "adding system/ImagingStudy.r retrieves the manifest's ImagingStudy"
    assert verdicts(data)[case] == "fail" and "status" in bad_checks(data, case)
    assert verdicts(data)["consumer scopes cannot follow a FHIR manifest to its ImagingStudy (FIND-12)"] == "info"


def test_read_only_preset_still_sends_token_requests(tmp_path: Path, target: SmartTarget) -> None:
    config = target.write_config(tmp_path / "imgconf.toml", target.base_url)
    config.write_text(config.read_text().replace("[presets.target.auth]", "read_only = true\n[presets.target.auth]"))
    assert load_preset(config, "target").read_only is True  # the session below runs read-only
    # (the token suite declares `writes: false` and no fixtures: a read-only pytest run keeps all its cases)
    data = run_preset(config, TOKEN)
    assert not exit_would_fail(data), [(c["case"], c["verdict"]) for c in data["cases"] if c["verdict"] in ("fail", "error")]
    assert verdicts(data)["ES384 assertion gets a bearer token"] == "pass"
    assert verdicts(data)["replayed assertion is refused"] == "pass"

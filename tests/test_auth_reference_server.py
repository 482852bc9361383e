"""The reference server's auth mode over real HTTP: discovery, the token endpoint, enforcement."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from imgconf.auth import SmartClient, assertion
from imgconf.auth.assertion import ASSERTION_TYPE
from imgconf.reference.auth import required_permission
from imgconf.reference.server import EmbeddedServer
from smart_support import CLIENT_ID, SmartTarget, start_smart_target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartTarget]:
    t = start_smart_target(tmp_path_factory.mktemp("keys"), allowed_scopes="system/Patient.rs system/DocumentReference.rs system/Binary.r")
    try:
        yield t
    finally:
        t.server.stop()


def token_url(t: SmartTarget) -> str:
    return t.base_url + "/auth/token"


def post_token(t: SmartTarget, signed: str, scope: str = "system/Patient.rs", **extra: str) -> httpx.Response:
    form = {"scope": scope, "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed, **extra}
    return httpx.post(token_url(t), data=form)


def test_discovery_document(target: SmartTarget) -> None:
    response = httpx.get(target.base_url + "/.well-known/smart-configuration", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["token_endpoint"] == token_url(target)
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"client-confidential-asymmetric", "permission-v1", "permission-v2"} <= set(doc["capabilities"])
    assert doc["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(doc["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert "system/DocumentReference.rs" in doc["scopes_supported"]
    security = httpx.get(target.base_url + "/metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_valid_assertion_gets_a_narrowed_token(target: SmartTarget) -> None:
    response = post_token(target, assertion.build(CLIENT_ID, token_url(target), target.rs384),
                          scope="system/Patient.rs system/Observation.rs")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] <= 300 and "refresh_token" not in body
    assert body["scope"] == "system/Patient.rs"  # SMART-016: never more than pre-authorised


@pytest.mark.parametrize("defect", sorted(set(assertion.DEFECTS) - {"replayed"}))
def test_defective_assertions_are_invalid_client(target: SmartTarget, defect: str) -> None:
    response = post_token(target, assertion.build_defective(defect, CLIENT_ID, token_url(target), target.es384))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client" and response.json()["error_description"]


def test_replayed_jti_is_refused(target: SmartTarget) -> None:
    signed = assertion.build(CLIENT_ID, token_url(target), target.es384)
    assert post_token(target, signed).status_code == 200
    again = post_token(target, signed)
    assert again.status_code == 401 and "replayed" in again.json()["error_description"]


def test_rfc6749_error_codes(target: SmartTarget) -> None:
    signed = lambda: assertion.build(CLIENT_ID, token_url(target), target.es384)  # noqa: E731
    assert post_token(target, signed(), grant_type="authorization_code").json()["error"] == "unsupported_grant_type"
    bad_scope = post_token(target, signed(), scope="system/DocumentReference.search")
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    not_allowed = post_token(target, signed(), scope="system/Observation.rs")
    assert not_allowed.status_code == 400 and not_allowed.json()["error"] == "invalid_scope"
    assert post_token(target, signed(), scope="").json()["error"] == "invalid_request"
    as_json = httpx.post(token_url(target), json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


def test_enforcement(target: SmartTarget) -> None:
    base = target.base_url
    missing = httpx.get(base + "/Patient")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["resourceType"] == "OperationOutcome"
    invalid = httpx.get(base + "/Patient", headers={"Authorization": "Bearer nope"})
    assert invalid.status_code == 401 and 'error="invalid_token"' in invalid.headers["www-authenticate"]
    smart = SmartClient(target.settings(("system/Patient.rs",)), base)
    try:
        with httpx.Client(auth=smart.auth()) as http:
            assert http.get(base + "/Patient").status_code == 200
            refused = http.get(base + "/DocumentReference")
            assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["www-authenticate"]
            assert http.post(base + "/Patient", json={"resourceType": "Patient"}).status_code == 403
        assert httpx.get(base + "/metadata").status_code == 200  # public
    finally:
        smart.close()


def test_expired_token_is_invalid(target: SmartTarget) -> None:
    smart = SmartClient(target.settings(("system/Patient.rs",)), target.base_url)
    try:
        token = smart.token().access_token
        with target.auth._lock:
            target.auth._tokens[token].expires_at = 0
        expired = httpx.get(target.base_url + "/Patient", headers={"Authorization": f"Bearer {token}"})
        assert expired.status_code == 401 and "expired" in expired.headers["www-authenticate"]
    finally:
        smart.close()


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/Patient", ("Patient", "s")),
        ("GET", "/Patient/1", ("Patient", "r")),
        ("GET", "/Patient/1/_history/2", ("Patient", "r")),
        ("GET", "/Patient/1/DocumentReference", ("DocumentReference", "s")),
        ("POST", "/DocumentReference/_search", ("DocumentReference", "s")),
        ("POST", "/DocumentReference", ("DocumentReference", "c")),
        ("PUT", "/Binary/1", ("Binary", "u")),
        ("DELETE", "/Binary/1", ("Binary", "d")),
        ("GET", "/metadata", None),
        ("GET", "/.well-known/smart-configuration", None),
        ("POST", "/auth/token", None),
    ],
)
def test_permission_map(method: str, path: str, needed: tuple[str, str] | None) -> None:
    assert required_permission(method, path) == needed


def test_auth_is_off_by_default() -> None:
    with EmbeddedServer() as server:
        assert httpx.get(server.base_url + "/Patient").status_code == 200
        assert httpx.get(server.base_url + "/.well-known/smart-configuration").status_code == 404

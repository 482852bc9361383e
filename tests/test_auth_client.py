"""The harness's SMART client: the assertion it signs, the token cache, v1 fallback, SMART-034."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from imgconf.auth import AuthSettings, SigningKey, SmartClient, TokenError
from imgconf.auth import assertion
from imgconf.faults import BY_NAME, FaultProxy
from smart_support import CLIENT_ID, SmartTarget, start_smart_target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartTarget]:
    t = start_smart_target(tmp_path_factory.mktemp("keys"))
    try:
        yield t
    finally:
        t.server.stop()


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_assertion_header_and_claims(alg: str) -> None:
    key = SigningKey.generate(alg, kid=f"kid-{alg}")
    aud = "https://auth.example.org/token"
    first = assertion.build("client-1", aud, key)
    second = assertion.build("client-1", aud, key)
    header = jwt.get_unverified_header(first)
    assert header == {"alg": alg, "kid": f"kid-{alg}", "typ": "JWT"}  # SMART-011
    public = key.private_key.public_key()
    claims = jwt.decode(first, public, algorithms=[alg], audience=aud, issuer="client-1")
    assert claims["sub"] == claims["iss"] == "client-1"  # SMART-012
    assert claims["aud"] == aud
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["jti"] != jwt.decode(second, public, algorithms=[alg], audience=aud)["jti"]  # fresh per request


@pytest.mark.parametrize("defect", sorted(assertion.DEFECTS))
def test_each_defect_changes_one_thing(defect: str) -> None:
    key = SigningKey.generate("ES384", kid="k1")
    aud = "https://auth.example.org/token"
    token = assertion.build_defective(defect, "client-1", aud, key)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    expected = {
        "bad-signature": lambda: header["kid"] == "k1",
        "wrong-aud": lambda: claims["aud"] != aud,
        "exp-too-far": lambda: claims["exp"] - claims["iat"] > 300,
        "expired": lambda: claims["exp"] < time.time(),
        "unknown-kid": lambda: header["kid"] != "k1",
        "missing-kid": lambda: "kid" not in header,
        "wrong-sub": lambda: claims["sub"] != claims["iss"] == "client-1",
        "unknown-client": lambda: claims["iss"] == claims["sub"] != "client-1",
        "alg-none": lambda: header["alg"] == "none",
        "missing-jti": lambda: "jti" not in claims,
        "replayed": lambda: header["alg"] == "ES384" and claims["iss"] == "client-1",
    }[defect]
    assert expected()
    if defect == "bad-signature":
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, key.private_key.public_key(), algorithms=["ES384"], audience=aud)


def test_token_is_cached_until_it_expires(target: SmartTarget) -> None:
    smart = SmartClient(target.settings(), target.base_url)
    try:
        first = smart.token()
        assert smart.token() is first and smart.token_requests == 1
        assert first.granted == "system/*.cruds"
        other = smart.token(["system/Patient.rs"])  # another scope set is another token
        assert other.access_token != first.access_token and smart.token_requests == 2
        first.expires_at = time.monotonic() - 1  # as if five minutes had passed
        renewed = smart.token()
        assert renewed.access_token != first.access_token and smart.token_requests == 3
    finally:
        smart.close()


def test_bearer_auth_renews_once_on_invalid_token(target: SmartTarget) -> None:
    smart = SmartClient(target.settings(), target.base_url)
    try:
        with httpx.Client(auth=smart.auth()) as http:
            assert http.get(target.base_url + "/Patient").status_code == 200
            with target.auth._lock:
                target.auth._tokens.clear()  # the server forgets every token (restart, revocation)
            assert http.get(target.base_url + "/Patient").status_code == 200
        assert smart.token_requests == 2
    finally:
        smart.close()


def test_token_goes_only_to_the_target(target: SmartTarget) -> None:
    """SMART-034: no token on requests to other servers (e.g. a followed absolute reference)."""
    smart = SmartClient(target.settings(), target.base_url)
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: (seen.append(r), httpx.Response(200))[1])  # a *different* server
    try:
        with httpx.Client(auth=smart.auth(), transport=transport) as other:
            other.get("https://elsewhere.example.org/fhir/Patient/1")
            other.get(target.base_url + "-other/Patient")
        assert all("authorization" not in r.headers for r in seen)
        assert smart.serves(target.base_url + "/Patient?x=1") and not smart.serves(target.base_url + "x/Patient")
    finally:
        smart.close()


def test_v1_fallback_when_only_permission_v1_is_advertised(target: SmartTarget) -> None:
    with FaultProxy(target.base_url, [BY_NAME["discovery-v1-only"]]) as proxy:
        target.auth.accept_audience(proxy.base_url + "/auth/token")
        smart = SmartClient(AuthSettings(CLIENT_ID, (target.es384,)), proxy.base_url)
        try:
            assert smart.configuration().v1_only
            token = smart.token()  # default: the SMART-024 workflow scopes
            assert token.requested == "system/Patient.read system/DocumentReference.read system/Binary.read system/Bundle.read"
            assert token.granted == token.requested
        finally:
            smart.close()
    direct = SmartClient(AuthSettings(CLIENT_ID, (target.es384,)), target.base_url)
    try:
        assert direct.scopes_for() == "system/Patient.rs system/DocumentReference.rs system/Binary.r system/Bundle.r"
    finally:
        direct.close()


def test_token_failures_are_http_errors_without_secrets(target: SmartTarget, tmp_path: Path) -> None:
    stranger = AuthSettings("not-registered", (SigningKey.generate("ES384"),))
    smart = SmartClient(stranger, target.base_url)
    try:
        with pytest.raises(TokenError) as err:
            smart.token()
        assert isinstance(err.value, httpx.HTTPError)  # the TargetClient reports it as an error, not a crash
        assert "401" in str(err.value) and "invalid_client" in str(err.value) and "eyJ" not in str(err.value)
    finally:
        smart.close()
    nowhere = SmartClient(target.settings(), "http://127.0.0.1:9/fhir", timeout=2)
    with pytest.raises(TokenError, match="SMART discovery"):
        nowhere.token()
    nowhere.close()


def test_token_url_override_skips_discovery(target: SmartTarget) -> None:
    settings = AuthSettings(CLIENT_ID, (target.rs384,), scopes=("system/Patient.rs",), token_url=target.base_url + "/auth/token")
    smart = SmartClient(settings, "http://127.0.0.1:9/fhir", timeout=2)  # discovery would fail there
    try:
        assert smart.token().granted == "system/Patient.rs"
    finally:
        smart.close()


def test_ephemeral_client_config_for_in_process_runs(tmp_path: Path) -> None:
    """What imgconf mutate needs: an auth-mode upstream behind a proxy, a client with no key on disk."""
    import os

    from imgconf.auth.embedded import ephemeral_client_config
    from imgconf.config import load_preset
    from imgconf.reference.auth import ReferenceAuth
    from imgconf.reference.server import EmbeddedServer

    server_auth = ReferenceAuth()
    with EmbeddedServer(auth=server_auth) as server, FaultProxy(server.base_url, []) as proxy:
        with ephemeral_client_config(server_auth, proxy.base_url, tmp_path) as config:
            assert "PRIVATE KEY" not in config.read_text()
            preset = load_preset(config)
            smart = SmartClient(preset.auth, preset.url)
            try:
                assert smart.token().granted == "system/*.cruds"
            finally:
                smart.close()
            variable = preset.auth.source and next(v for v in os.environ if v.startswith("IMGCONF_EPHEMERAL_KEY_"))
        assert variable not in os.environ and not config.exists() and not server_auth.clients

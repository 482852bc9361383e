"""Report-side redaction: the last line of defence before files leave the building."""

from __future__ import annotations

import json

from imgconf.report.redact import REDACTED, redact_headers, redact_text

JWT = "eyJhbGciOiJSUzM4NCIsImtpZCI6ImsxIn0.eyJpc3MiOiJjbGllbnQifQ.c2lnbmF0dXJlLXBsYW50ZWQ"


def test_headers() -> None:
    out = redact_headers({
        "Authorization": f"Bearer {JWT}",
        "proxy-authorization": "Basic dXNlcjpwYXNz",
        "Cookie": "session=abc",
        "Set-Cookie": "session=abc; HttpOnly",
        "X-API-Key": "k-123",
        "X-Auth-Token": "t-456",
        "Content-Type": "application/fhir+json",
        "WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"',
    })
    for name in ("Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-API-Key", "X-Auth-Token"):
        assert out[name] == REDACTED
    assert out["Content-Type"] == "application/fhir+json"
    # Auth-params are evidence for SMART-031 and carry no secret.
    assert out["WWW-Authenticate"] == 'Bearer realm="fhir", error="invalid_token"'


def test_token_response_json() -> None:
    body = json.dumps({"access_token": JWT, "token_type": "bearer", "expires_in": 300,
                       "refresh_token": "r-789", "id_token": JWT, "scope": "system/Patient.rs"})
    out = redact_text(body)
    assert JWT not in out and "r-789" not in out
    data = json.loads(out)
    assert data["access_token"] == data["refresh_token"] == data["id_token"] == REDACTED
    assert data["scope"] == "system/Patient.rs" and data["expires_in"] == 300


def test_untouched_json_keeps_its_text() -> None:
    body = '{"resourceType":"Patient","id":"p1"}'
    assert redact_text(body) == body


def test_jwk_private_members_nested() -> None:
    jwks = {"keys": [{"kty": "RSA", "kid": "k1", "n": "public-n", "e": "AQAB", "d": "PRIV-D",
                      "p": "PRIV-P", "q": "PRIV-Q", "dp": "PRIV-DP", "dq": "PRIV-DQ", "qi": "PRIV-QI"}]}
    out = redact_text(json.dumps(jwks))
    assert "PRIV-" not in out
    key = json.loads(out)["keys"][0]
    assert key["n"] == "public-n" and key["e"] == "AQAB" and key["d"] == REDACTED


def test_form_body_keeps_encoding() -> None:
    body = ("grant_type=client_credentials&scope=system/Patient.rs"
            "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
            f"&client_assertion={JWT}&client_secret=s3cr3t")
    out = redact_text(body)
    assert JWT not in out and "s3cr3t" not in out
    assert out.startswith("grant_type=client_credentials&scope=system/Patient.rs&client_assertion_type=urn%3Aietf")
    assert f"client_assertion={REDACTED}" in out


def test_pem_private_key_and_truncated_pem() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA"
    out = redact_text(f"key:\n{pem}\nafter\n{rsa}")
    assert "MIIE" not in out and "after" in out
    cert = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----"
    assert redact_text(cert) == cert  # public material stays as evidence


def test_bearer_in_free_text() -> None:
    out = redact_text(f"upstream said: Authorization: Bearer {JWT} was rejected; Missing Bearer token.")
    assert JWT not in out and "Bearer [redacted] was rejected" in out
    assert out.endswith("Missing Bearer token.")


def test_secrets_in_truncated_json_and_urls() -> None:
    assert "abc123" not in redact_text('{"token_type":"bearer","access_token":"abc123')
    assert redact_text("https://h/fhir/Patient?access_token=abc123&_count=1") == (
        f"https://h/fhir/Patient?access_token={REDACTED}&_count=1"
    )
    assert json.loads(redact_text('{"password": 123456}')) == {"password": REDACTED}
    assert "123456" not in redact_text('{"password": 123456, "truncated')


def test_none_and_empty() -> None:
    assert redact_text(None) == ""
    assert redact_text("") == ""
    assert redact_headers({}) == {}

"""The private_key_jwt client assertion (SMART-011/012, RFC 7523 §3) and its deliberate defects.

A valid assertion: header ``alg`` RS384|ES384, ``kid``, ``typ: JWT``; claims ``iss = sub =
client_id``, ``aud`` = token endpoint, ``exp`` at most 5 minutes after ``iat``, fresh ``jti``.
The defects are what the token-endpoint negative cases send; each must be refused by the server.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from imgconf import secret_registry
from imgconf.auth.keys import SigningKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME_S = 240  # SMART-012 allows exp at most 300 s ahead; the harness stays inside with room for clock skew

# name -> what is wrong with it (shown in suites and reports)
DEFECTS: dict[str, str] = {
    "bad-signature": "signed with a key the server has never seen, under the registered kid",
    "wrong-aud": "aud is not the token endpoint URL",
    "exp-too-far": "exp is one hour after iat (more than 5 minutes)",
    "expired": "exp is in the past",
    "unknown-kid": "kid names no key in the registered JWKS",
    "missing-kid": "no kid in the JWT header",
    "wrong-sub": "sub differs from iss (both must be the client_id)",
    "unknown-client": "iss = sub = a client_id the server does not know",
    "alg-none": "unsigned JWT (alg none)",
    "missing-jti": "no jti claim",
    "replayed": "the same assertion (same jti) sent a second time",
}


def claims(client_id: str, audience: str, *, now: float | None = None, lifetime: int = LIFETIME_S) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,  # fresh per request (SMART-012); replay is rejected (SMART-013)
    }


def sign(payload: dict[str, Any], key: SigningKey, *, kid: str | None = None, with_kid: bool = True) -> str:
    headers: dict[str, Any] = {"typ": "JWT"}
    if with_kid:
        headers["kid"] = kid if kid is not None else key.kid
    signed = jwt.encode(payload, key.private_key, algorithm=key.alg, headers=headers)
    secret_registry.register(signed)  # a signed assertion buys a token: redacted wherever it shows up
    return signed


def build(client_id: str, audience: str, key: SigningKey, *, now: float | None = None) -> str:
    """A valid assertion."""
    return sign(claims(client_id, audience, now=now), key)


def build_defective(defect: str, client_id: str, audience: str, key: SigningKey) -> str:
    """An assertion with exactly one defect from DEFECTS (``replayed`` is built valid and sent twice)."""
    payload = claims(client_id, audience)
    if defect == "replayed":
        return sign(payload, key)
    if defect == "bad-signature":
        return sign(payload, SigningKey.generate(key.alg, kid=key.kid))
    if defect == "wrong-aud":
        payload["aud"] = audience.rstrip("/") + "/not-the-token-endpoint"
    elif defect == "exp-too-far":
        payload["exp"] = payload["iat"] + 3600
    elif defect == "expired":
        payload["iat"] -= 600
        payload["exp"] = payload["iat"] + 120
    elif defect == "unknown-kid":
        return sign(payload, key, kid="imgconf-unregistered-" + uuid.uuid4().hex[:8])
    elif defect == "missing-kid":
        return sign(payload, key, with_kid=False)
    elif defect == "wrong-sub":
        payload["sub"] = client_id + "-other"
    elif defect == "unknown-client":
        payload["iss"] = payload["sub"] = "imgconf-unknown-" + uuid.uuid4().hex[:8]
    elif defect == "alg-none":
        return jwt.encode(payload, "", algorithm="none", headers={"typ": "JWT", "kid": key.kid})
    elif defect == "missing-jti":
        del payload["jti"]
    else:
        raise ValueError(f"unknown assertion defect {defect!r} (known: {', '.join(DEFECTS)})")
    return sign(payload, key)

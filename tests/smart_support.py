"""Shared helpers for the SMART tests: a reference server in auth mode with a known client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imgconf.auth import AuthSettings, SigningKey, jwks
from imgconf.auth.keys import private_pem
from imgconf.reference.auth import ReferenceAuth, RegisteredClient
from imgconf.reference.server import EmbeddedServer

CLIENT_ID = "imgconf-test-client"


@dataclass
class SmartTarget:
    server: EmbeddedServer
    auth: ReferenceAuth
    es384: SigningKey
    rs384: SigningKey
    key_dir: Path

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def settings(self, scopes: tuple[str, ...] = ("system/*.cruds",)) -> AuthSettings:
        return AuthSettings(CLIENT_ID, (self.es384, self.rs384), scopes=scopes)

    def write_config(self, path: Path, url: str, *, scopes: str = "system/*.cruds") -> Path:
        """A TOML config whose preset 'target' points at ``url`` with this client."""
        if url != self.base_url:
            self.auth.accept_audience(url + "/auth/token")  # the token URL as the harness sees it
        path.write_text(
            "[presets.target]\n"
            f'url = "{url}"\n'
            "[presets.target.auth]\n"
            f'client_id = "{CLIENT_ID}"\n'
            f'key_file = "{self.key_dir / "client.jwks"}"\n'
            f'scopes = "{scopes}"\n',
            encoding="utf-8",
        )
        return path


def start_smart_target(key_dir: Path, allowed_scopes: str = "system/*.cruds") -> SmartTarget:
    es, rs = SigningKey.generate("ES384", kid="test-es384"), SigningKey.generate("RS384", kid="test-rs384")
    auth = ReferenceAuth()
    auth.register(RegisteredClient(CLIENT_ID, jwks([es, rs]), allowed_scopes=allowed_scopes))
    server = EmbeddedServer(auth=auth).start()
    key_dir.mkdir(parents=True, exist_ok=True)
    # Test-only private keys, written into a temporary directory.
    private = {"keys": [json.loads(_private_jwk(k)) for k in (es, rs)]}
    (key_dir / "client.jwks").write_text(json.dumps(private), encoding="utf-8")
    (key_dir / "client-es384.pem").write_bytes(private_pem(es))
    return SmartTarget(server, auth, es, rs, key_dir)


def _private_jwk(key: SigningKey) -> str:
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    jwk = json.loads((RSAAlgorithm if key.alg == "RS384" else ECAlgorithm).to_jwk(key.private_key))
    jwk.update(kid=key.kid, alg=key.alg)
    return json.dumps(jwk)

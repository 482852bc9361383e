"""Auth for the embedded target: a fresh client key pair per run, registered on the reference
server before it starts, so ``imgconf run`` with no target exercises SMART end to end with
nothing to configure. The keys live in memory only and die with the run."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from imgconf.auth.keys import SigningKey, jwks
from imgconf.auth.settings import AuthSettings

if TYPE_CHECKING:
    from imgconf.reference.auth import ReferenceAuth

# The harness loads and removes fixtures on its own server, so its session token may write.
EMBEDDED_SCOPES = ("system/*.cruds",)


def embedded_auth() -> tuple[ReferenceAuth, AuthSettings]:
    from imgconf.reference.auth import ReferenceAuth, RegisteredClient

    keys = (SigningKey.generate("ES384"), SigningKey.generate("RS384"))  # SMART-011: the client does both
    client_id = f"imgconf-harness-{uuid.uuid4().hex[:8]}"
    server_auth = ReferenceAuth()
    server_auth.register(RegisteredClient(client_id, jwks(keys), allowed_scopes="system/*.cruds"))
    return server_auth, AuthSettings(client_id, keys, scopes=EMBEDDED_SCOPES, source="embedded target (ephemeral key pair)")


@contextlib.contextmanager
def ephemeral_client_config(server_auth: ReferenceAuth, target_url: str, directory: Path) -> Iterator[Path]:
    """A ``--config`` file (preset ``ephemeral``) for a run against ``target_url`` — typically a
    FaultProxy in front of an auth-mode reference server — with a fresh client registered on
    ``server_auth``. The private key travels in an environment variable of this process only
    (``key_env``); the file holds no key material. In-process runs (imgconf mutate) use it."""
    from imgconf.auth.keys import private_pem
    from imgconf.reference.auth import RegisteredClient

    key = SigningKey.generate("ES384")
    client_id = f"imgconf-ephemeral-{uuid.uuid4().hex[:8]}"
    server_auth.register(RegisteredClient(client_id, jwks([key])))
    server_auth.accept_audience(target_url.rstrip("/") + "/auth/token")  # the token URL as the run sees it
    variable = f"IMGCONF_EPHEMERAL_KEY_{uuid.uuid4().hex[:8].upper()}"
    path = Path(directory) / f"{client_id}.toml"
    path.write_text(
        f'[presets.ephemeral]\nurl = "{target_url}"\n[presets.ephemeral.auth]\n'
        f'client_id = "{client_id}"\nkey_env = "{variable}"\nscopes = "{" ".join(EMBEDDED_SCOPES)}"\n',
        encoding="utf-8",
    )
    os.environ[variable] = private_pem(key).decode()
    try:
        yield path
    finally:
        os.environ.pop(variable, None)
        path.unlink(missing_ok=True)
        server_auth.clients.pop(client_id, None)

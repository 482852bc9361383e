"""Auth for the embedded target: a fresh client key pair per run, registered on the reference
server before it starts, so ``imgconf run`` with no target exercises SMART end to end with
nothing to configure. The keys live in memory only and die with the run."""

from __future__ import annotations

import uuid
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

"""What the harness needs to authenticate as a SMART backend client (built from a config preset)."""

from __future__ import annotations

from dataclasses import dataclass

from imgconf.auth.keys import SigningKey

# SMART-024: the imaging document workflow, SMART v2 …
WORKFLOW_SCOPES = ("system/Patient.rs", "system/DocumentReference.rs", "system/Binary.r", "system/Bundle.r")
# … and the same in v1 (what to_v1 produces from the list above).
WORKFLOW_SCOPES_V1 = ("system/Patient.read", "system/DocumentReference.read", "system/Binary.read", "system/Bundle.read")


@dataclass(frozen=True)
class AuthSettings:
    client_id: str
    keys: tuple[SigningKey, ...]  # the first signs by default; others (another alg) for SMART-011 cases
    scopes: tuple[str, ...] = WORKFLOW_SCOPES
    token_url: str | None = None  # overrides the discovered token_endpoint
    source: str = ""  # where the settings came from (config file and preset), for messages

    def key(self, alg: str | None = None) -> SigningKey | None:
        if alg is None:
            return self.keys[0] if self.keys else None
        return next((k for k in self.keys if k.alg == alg), None)

    def __repr__(self) -> str:
        return f"AuthSettings(client_id={self.client_id!r}, keys={list(self.keys)!r}, scopes={self.scopes!r}, source={self.source!r})"

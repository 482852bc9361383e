"""SMART Backend Services for the harness: keys, assertions, discovery, tokens, httpx auth."""

from imgconf.auth.keys import SigningKey, jwks, load_key_file
from imgconf.auth.settings import WORKFLOW_SCOPES, WORKFLOW_SCOPES_V1, AuthSettings
from imgconf.auth.smart import BearerAuth, SmartClient, StaticBearer, TokenError

__all__ = [
    "WORKFLOW_SCOPES",
    "WORKFLOW_SCOPES_V1",
    "AuthSettings",
    "BearerAuth",
    "SigningKey",
    "SmartClient",
    "StaticBearer",
    "TokenError",
    "jwks",
    "load_key_file",
]

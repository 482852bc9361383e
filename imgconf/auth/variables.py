"""``${smart.*}`` suite variables (what a suite may know about the SMART client: never a secret)."""

from __future__ import annotations

from imgconf.auth.settings import WORKFLOW_SCOPES
from imgconf.auth.smart import SmartClient, TokenError
from imgconf.suite.template import MissingVariable


def smart_variable(smart: SmartClient, name: str) -> str:
    if name == "client_id":
        return smart.settings.client_id
    try:
        if name == "token_endpoint":
            return smart.token_endpoint()
        if name == "scopes":  # what the session token asks for (v1 spelling on a v1-only server)
            return smart.scopes_for()
        if name == "workflow_scopes":  # SMART-024, v1 fallback applied
            return smart.scopes_for(WORKFLOW_SCOPES)
    except TokenError as exc:  # discovery failed: the step is skipped with this reason
        raise MissingVariable(f"smart.{name} ({exc})") from None
    raise MissingVariable(f"smart.{name}")

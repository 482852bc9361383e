"""Engine glue for SMART: which cases need a SMART client, and running a token-endpoint step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imgconf.auth.smart import TokenError
from imgconf.auth.token_request import TokenSend, send_token_request
from imgconf.suite.template import render
from imgconf.validators.smart import v1_exact

if TYPE_CHECKING:
    from imgconf.session import TargetSession
    from imgconf.suite.model import Case, Suite, TokenRequest

NO_CLIENT = "no SMART client configured for this target (a --config preset with an auth section)"


def needs_smart(case: Case, suite: Suite) -> bool:
    return suite.area == "smart" or any(s.request.auth is not None or s.request.token is not None for s in case.steps)


def auth_gate(case: Case, suite: Suite, session: TargetSession) -> str | None:
    """A skip reason when the case needs SMART and the session has no client."""
    smart = getattr(session, "smart", None)
    if not needs_smart(case, suite):
        return None
    if smart is None:
        return NO_CLIENT
    wanted = [s for step in case.steps if step.request.auth is not None for s in step.request.auth.scopes]
    if wanted and not all(v1_exact(s) for s in wanted):
        try:
            v1_only = smart.configuration().v1_only
        except TokenError:
            return None  # the request itself will report the broken discovery
        if v1_only:
            inexact = ", ".join(s for s in wanted if not v1_exact(s))
            return f"the server takes only SMART v1 scopes, which cannot express {inexact} without widening it"
    return None


def token_step(session: TargetSession, spec: TokenRequest, lookup: Callable[[str], Any]) -> TokenSend:
    if session.smart is None:
        return TokenSend(skip=NO_CLIENT)
    return send_token_request(spec, session.smart, session.client, session.request_auth, lambda v: render(v, lookup))

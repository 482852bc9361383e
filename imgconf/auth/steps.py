"""Engine glue for SMART: which cases need a SMART client, and running a token-endpoint step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imgconf.auth.token_request import TokenSend, send_token_request
from imgconf.suite.template import render

if TYPE_CHECKING:
    from imgconf.session import TargetSession
    from imgconf.suite.model import Case, Suite, TokenRequest

NO_CLIENT = "no SMART client configured for this target (a --config preset with an auth section)"


def needs_smart(case: Case, suite: Suite) -> bool:
    return suite.area == "smart" or any(s.request.auth is not None or s.request.token is not None for s in case.steps)


def auth_gate(case: Case, suite: Suite, session: TargetSession) -> str | None:
    """A skip reason when the case needs SMART and the session has no client."""
    if needs_smart(case, suite) and getattr(session, "smart", None) is None:
        return NO_CLIENT
    return None


def token_step(session: TargetSession, spec: TokenRequest, lookup: Callable[[str], Any]) -> TokenSend:
    if session.smart is None:
        return TokenSend(skip=NO_CLIENT)
    return send_token_request(spec, session.smart, session.client, session.request_auth, lambda v: render(v, lookup))

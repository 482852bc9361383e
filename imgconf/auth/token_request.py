"""Token-endpoint requests written in suites (``request: {token: {...}}``): the harness builds the
form and the assertion (valid, or with one defect from assertion.DEFECTS); the suite states what
the server must answer. Sent through the TargetClient, so the exchange is evidence (redacted)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imgconf import secret_registry
from imgconf.auth import assertion
from imgconf.auth.smart import SmartClient, TokenError
from imgconf.client import HttpResult
from imgconf.results import Exchange

if TYPE_CHECKING:
    from imgconf.auth.request_auth import RequestAuth
    from imgconf.client import TargetClient
    from imgconf.suite.model import TokenRequest


@dataclass
class TokenSend:
    result: HttpResult | None = None
    form: list[tuple[str, str]] = field(default_factory=list)
    before: list[Exchange] = field(default_factory=list)  # e.g. the first use of a replayed assertion
    problem: str | None = None  # a precondition the server failed (judged as a failed check)
    skip: str | None = None  # the harness cannot build this request (no key for the alg, …)


def send_token_request(
    spec: TokenRequest, smart: SmartClient, client: TargetClient, request_auth: RequestAuth,
    render: Callable[[Any], Any],
) -> TokenSend:
    key = smart.settings.key(spec.alg)
    if key is None:
        return TokenSend(skip=f"no {spec.alg} signing key configured for client {smart.settings.client_id!r}")
    try:
        url = smart.token_endpoint()
        scope = str(render(spec.scope)) if spec.scope is not None else smart.scopes_for()
    except TokenError as exc:
        return TokenSend(skip=f"no token endpoint: {exc}")
    client_id = smart.settings.client_id

    def form_with(signed: str) -> list[tuple[str, str]]:
        form = smart.token_form(scope, signed, spec.grant_type)
        if spec.assertion_type is not None:
            form = [(k, spec.assertion_type if k == "client_assertion_type" else v) for k, v in form]
        return form

    if spec.assertion == "valid":
        signed = assertion.build(client_id, url, key)
    else:
        signed = assertion.build_defective(spec.assertion, client_id, url, key)
    out = TokenSend(form=form_with(signed))
    # A token request changes no data on the FHIR server, so a --read-only run still sends it.
    read_only, client.read_only = getattr(client, "read_only", False), False
    try:
        _send_token_form(client, request_auth, url, spec.assertion == "replayed", out)
    finally:
        client.read_only = read_only
    return out


def _send_token_form(client: TargetClient, request_auth: RequestAuth, url: str, replay: bool, out: TokenSend) -> None:
    with request_auth.without_token():  # a token endpoint takes the assertion, not a bearer token
        if replay:
            first = client.send("POST", url, form=out.form, headers={"Accept": "application/json"})
            out.before.append(first.exchange)
            if first.status != 200:
                out.problem = (f"the first use of the assertion was refused (status {first.status}), "
                               "so refusing the replay proves nothing")
        out.result = client.send("POST", url, form=out.form, headers={"Accept": "application/json"})
        _register_issued(out.result)


def _register_issued(result: HttpResult) -> None:
    """A token the server issued to a suite step is a live credential too: redact it by value."""
    body = result.json if result.status == 200 else None
    if isinstance(body, dict):
        for name in ("access_token", "refresh_token", "id_token"):
            if isinstance(body.get(name), str):
                secret_registry.register(body[name])

"""The building blocks of named faults: which calls a fault touches, and how it rewrites them.

A fault module says *what* a server gets wrong ("the modality parameter is ignored"); the walking of
query lists, headers, JSON bodies and Bundle entries lives here once, so two faults that do the
same kind of thing do it the same way. Every ``drop_*``/``rename_*``/``rewrite_*`` function returns
a request hook (``Fault.on_request``), every ``set_*``/``edit_*`` one a response hook
(``Fault.on_response``). Edits happen in place on the call or response the proxy passes through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlencode

from imgconf.faults.model import ProxyCall, ProxyResponse, ResponseHook

CallTest = Callable[[ProxyCall], bool]
NameTest = Callable[[str], bool]  # on a search parameter's name as sent, modifier included ("status:not")
RequestEdit = Callable[[ProxyCall], None]
RequestAnswer = Callable[[ProxyCall], ProxyResponse | None]  # a request hook that may answer in the server's stead
JsonObject = dict[str, Any]
JsonEdit = Callable[[JsonObject], object]  # edits in place; a return value (dict.pop's, say) is ignored
CallJsonEdit = Callable[[ProxyCall, JsonObject], object]
BodyTest = Callable[[JsonObject], bool]
Keep = Callable[[JsonObject, str], bool]  # would the faulty server match this resource with this value?

FHIR_JSON = "application/fhir+json; charset=utf-8"


# -- which calls ---------------------------------------------------------------------------------

def every_call(call: ProxyCall) -> bool:
    return True


def searches(call: ProxyCall) -> bool:
    return call.is_search


def creates(call: ProxyCall) -> bool:
    return call.is_create


def path_is(*paths: str) -> CallTest:
    """Calls to one of these paths (relative to the FHIR base, e.g. "metadata")."""
    def test(call: ProxyCall) -> bool:
        return call.path.strip("/") in paths
    return test


def reads(resource_type: str | None = None) -> CallTest:
    """GET [type]/[id] (of ``resource_type``, or of any type)."""
    def test(call: ProxyCall) -> bool:
        parts = call.segments
        return (call.method == "GET" and len(parts) == 2 and not parts[1].startswith("_")
                and (resource_type is None or parts[0] == resource_type))
    return test


def instance_history(call: ProxyCall) -> bool:
    """GET [type]/[id]/_history."""
    parts = call.segments
    return call.method == "GET" and len(parts) == 3 and parts[2] == "_history"


# -- which search parameters ---------------------------------------------------------------------

def named(*names: str) -> NameTest:
    """Exactly these names, modifier included: ``named("family:exact")`` leaves ``family`` alone."""
    def test(name: str) -> bool:
        return name in names
    return test


def with_any_modifier(*names: str) -> NameTest:
    """These parameters whatever their modifier: ``status``, ``status:not``, ``status:missing``."""
    def test(name: str) -> bool:
        return name.split(":")[0] in names
    return test


def modified_by(modifier: str) -> NameTest:
    """Any parameter sent with this modifier (``missing`` finds ``series:missing``)."""
    def test(name: str) -> bool:
        return name.endswith(":" + modifier)
    return test


# -- search requests -----------------------------------------------------------------------------

Pairs = list[tuple[str, str]]


def edit_search_params(call: ProxyCall, edit: Callable[[Pairs], Pairs]) -> None:
    """``edit`` the parameters of a search wherever they are: the URL query and a POST _search form.

    Without the form, a POST _search was answered faithfully and only its next pages (GET links) were
    faulty: ignores-sort gave duplicates across pages (REST-043), not an ignored _sort."""
    call.query = edit(call.query)
    form = form_params(call)
    if form is not None:
        edited = edit(form)
        if edited != form:
            call.body = urlencode(edited).encode()


def drop_params(which: NameTest) -> RequestEdit:
    """The server ignores these parameters of a search: they never reach it."""
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            edit_search_params(call, lambda pairs: [(k, v) for k, v in pairs if not which(k)])
    return hook


def ignore_params(*names: str) -> RequestEdit:
    """The server ignores these search parameters, whatever their modifier."""
    return drop_params(with_any_modifier(*names))


def rename_params(rename: Callable[[str], str]) -> RequestEdit:
    """The server reads every search parameter name as ``rename(name)``."""
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            edit_search_params(call, lambda pairs: [(rename(k), v) for k, v in pairs])
    return hook


def rename_param(old: str, new: str) -> RequestEdit:
    """The server reads parameter ``old`` (exactly as sent) as ``new``."""
    return rename_params(lambda name: new if name == old else name)


def rewrite_values(which: NameTest, rewrite: Callable[[str], str]) -> RequestEdit:
    """The server reads the values of these search parameters as ``rewrite(value)``."""
    def hook(call: ProxyCall) -> None:
        if call.is_search:
            edit_search_params(call, lambda pairs: [(k, rewrite(v) if which(k) else v) for k, v in pairs])
    return hook


def form_params(call: ProxyCall) -> list[tuple[str, str]] | None:
    """The parameters of a form-encoded POST body (POST _search, the token request), else None."""
    ctype = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if call.method == "POST" and ctype == "application/x-www-form-urlencoded":
        return parse_qsl(call.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return None


def drop_request_header(name: str, *, calls: CallTest = every_call,
                        values: Callable[[str], bool] = lambda value: True) -> RequestEdit:
    """The server ignores request header ``name`` (any case) on these calls, when its value passes ``values``."""
    def hook(call: ProxyCall) -> None:
        if not calls(call):
            return
        for key in [k for k in call.headers if k.lower() == name.lower()]:
            if values(call.headers[key]):
                del call.headers[key]
    return hook


# -- responses -----------------------------------------------------------------------------------

def set_status(new: int, *, calls: CallTest = every_call, was: int | None = None) -> ResponseHook:
    """Responses to these calls (that had status ``was``) answer ``new`` instead."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if calls(call) and (was is None or response.status == was):
            response.status = new
        return response
    return hook


def drop_response_header(name: str, *, calls: CallTest = every_call, status: int | None = None) -> ResponseHook:
    """Responses to these calls (with this status) come without header ``name``."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if calls(call) and (status is None or response.status == status):
            response.headers.pop(name.lower(), None)
        return response
    return hook


def outcome_response(status: int, code: str, diagnostics: str, *, severity: str = "error",
                     headers: dict[str, str] | None = None) -> ProxyResponse:
    """An answer the server gives itself: ``status`` with a one-issue OperationOutcome."""
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}
    return ProxyResponse(status, {"content-type": FHIR_JSON, **(headers or {})}, json.dumps(outcome).encode("utf-8"))


def any_object(body: JsonObject) -> bool:
    return True


def bundles(bundle_type: str | None = None) -> BodyTest:
    """Bundles (of this ``Bundle.type``)."""
    def test(body: JsonObject) -> bool:
        return body.get("resourceType") == "Bundle" and (bundle_type is None or body.get("type") == bundle_type)
    return test


def edit_json_with_call(edit: CallJsonEdit, *, calls: CallTest = every_call, status: int | None = None,
                        body: BodyTest = any_object) -> ResponseHook:
    """``edit(call, body)`` the JSON object answered to these calls (with this status, passing ``body``)."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if not calls(call) or (status is not None and response.status != status):
            return response
        parsed = response.json()
        if isinstance(parsed, dict) and body(parsed):
            edit(call, parsed)
            response.set_json(parsed)
        return response
    return hook


def edit_json(edit: JsonEdit, *, calls: CallTest = every_call, status: int | None = None,
              body: BodyTest = any_object) -> ResponseHook:
    """``edit(body)`` the JSON object answered to these calls (with this status, passing ``body``)."""
    return edit_json_with_call(lambda _call, parsed: edit(parsed), calls=calls, status=status, body=body)


def resources_in(body: object) -> list[JsonObject]:
    """The resource a JSON body is, or the entry resources when it is a Bundle."""
    if not isinstance(body, dict):
        return []
    if body.get("resourceType") != "Bundle":
        return [body]
    return [e["resource"] for e in body.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def edit_resources(resource_type: str, edit: JsonEdit) -> ResponseHook:
    """``edit`` every ``resource_type`` resource a FHIR JSON response carries (itself, or as Bundle entries)."""
    def hook(call: ProxyCall, response: ProxyResponse) -> ProxyResponse:
        if not response.headers.get("content-type", "").startswith("application/fhir+json"):
            return response  # a document served as itself (Binary content) is not a resource to edit
        body = response.json()
        targets = [r for r in resources_in(body) if r.get("resourceType") == resource_type]
        for resource in targets:
            edit(resource)
        if targets:
            response.set_json(body)
        return response
    return hook


# -- a parameter the server applies by its own (wrong) rule -------------------------------------

class Hooks(TypedDict):
    """Both hooks of a fault, for ``Fault(..., **hooks)``."""

    on_request: RequestEdit
    on_response: ResponseHook


def match_by_own_rule(name: str, keep: Keep, *, resource_type: str | None = None, recount_total: bool = False) -> Hooks:
    """A server that matches search parameter ``name`` by the rule ``keep`` instead of the right one.

    The parameter is withheld from the upstream search and applied to the returned Bundle: a match
    stays when, for every occurrence of the parameter, ``keep`` accepts one of its comma-separated
    values. Other entries (includes, outcomes) stay. Bundle.total: the matches kept on a single page, left out
    over several; ``recount_total`` also sets it where the upstream gave none. ``resource_type`` limits the
    fault to searches of that type (in a compartment too: ``Patient/1/ImagingStudy`` searches ImagingStudy).
    """
    note = f"withheld:{name}"

    def on_request(call: ProxyCall) -> None:
        if not call.is_search or (resource_type is not None and call.searched_type != resource_type):
            return
        wanted = [v for k, v in call.query + (form_params(call) or []) if k == name]
        if wanted:
            edit_search_params(call, lambda pairs: [(k, v) for k, v in pairs if k != name])
            call.notes[note] = wanted

    def filter_matches(call: ProxyCall, bundle: JsonObject) -> None:
        wanted = call.notes[note]
        if not isinstance(wanted, list):
            return
        entries = bundle.get("entry") or []
        bundle["entry"] = [
            e for e in entries
            if (e.get("search") or {}).get("mode", "match") != "match"
            or all(any(keep(e.get("resource") or {}, v) for v in value.split(",")) for value in wanted)
        ]
        # A match the rule drops that a kept one references was no include upstream (a server includes no
        # match again): it becomes one, or _include would look broken (REST-083), which the fault does not mean.
        if any(k.split(":")[0] == "_include" for k, _ in call.query + (form_params(call) or [])):
            text = json.dumps([e.get("resource") for e in bundle["entry"]])
            for e in entries:
                resource = e.get("resource") or {}
                referenced = f'{resource.get("resourceType")}/{resource.get("id")}"' in text  # "[base/]Type/id"
                if referenced and e not in bundle["entry"]:
                    bundle["entry"].append({**e, "search": {"mode": "include"}})
        # R4 Bundle.total counts the match entries only (includes are not matches: that is total-counts-includes,
        # its own fault). The upstream's total counted the search without the withheld parameter: a stale or
        # per-page total is a REST-041 defect of its own, not this fault's. One page holds every match: its
        # total is what the rule kept; over several pages the count is unknown, and R4 lets a server omit it.
        kept = sum(1 for e in bundle["entry"] if (e.get("search") or {}).get("mode", "match") == "match")
        one_page = not any(isinstance(link, dict) and link.get("relation") in ("next", "previous")
                           for link in bundle.get("link") or [])
        # The upstream's links lack the withheld parameter: put it back, or the next page would be the
        # unfiltered search (every resource a wrong match: a precision failure the fault does not mean).
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and isinstance(link.get("url"), str):
                joiner = "&" if "?" in link["url"] else "?"
                link["url"] += joiner + urlencode([(name, value) for value in wanted])
        if one_page and (recount_total or "total" in bundle):
            bundle["total"] = kept
        elif not one_page:
            bundle.pop("total", None)

    return {"on_request": on_request,
            "on_response": edit_json_with_call(filter_matches, calls=lambda call: note in call.notes, body=bundles())}

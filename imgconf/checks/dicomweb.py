"""Does the PACS agree with the FHIR server? ``expect: {dicomweb: {studies: all, instances: 1}}``

For every ImagingStudy in the response (a read, or the matches of a searchset) with a ``dicom-wado-rs``
Endpoint, the Endpoints are resolved (contained, included in the Bundle, else read from the target: those
reads are the case's evidence too) and :func:`imgconf.dicomweb.crosscheck.crosscheck_study` compares the
resource with the PACS of the run option ``dicomweb`` (``--dicomweb URL``, a preset, ``--with-pacs``).

Each comparison is judged at the catalogue level of the requirement it cites, never above the case's own
level (a case for production servers may lower it, e.g. to SHOULD). A PACS that does not answer is an
error of the case, not a verdict on the FHIR server; without a PACS the check is skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imgconf.checks.registry import CheckKind, ParseContext, register, waits_for
from imgconf.results import CheckResult, Level, Verdict

if TYPE_CHECKING:
    from imgconf.checks.base import CheckContext
    from imgconf.dicomweb.crosscheck import CrossCheck

_RANK = {Level.SHALL: 3, Level.SHALL_NOT: 3, Level.SHOULD: 2, Level.SHOULD_NOT: 2, Level.MAY: 1, Level.INFO: 0}


@dataclass(frozen=True)
class DicomWebExpectation:
    studies: str = "all"  # "all" | "first": which ImagingStudies of the response are cross-checked
    instances: int = 1  # listed instances retrieved by WADO-RS per study (0: none)
    # "all": every study with a WADO-RS endpoint is expected in the PACS (fixtures made for it); "pacs": only
    # studies whose WADO-RS endpoint is on the PACS's origin (a production server may front several PACS)
    endpoints: str = "all"


_SCHEMA: dict[str, Any] = {
    "description": "Cross-check every ImagingStudy of the response with the run's DICOMweb PACS (QIDO-RS, WADO-RS "
                   "metadata and retrieve; read-only): true, or {studies: all|first, instances: N}.",
    "oneOf": [
        {"type": "boolean"},
        {"type": "object", "additionalProperties": False, "properties": {
            "studies": {"enum": ["all", "first"]},
            "instances": {"type": "integer", "minimum": 0, "maximum": 50},
            "endpoints": {"enum": ["all", "pacs"], "description": "pacs: cross-check only the studies whose "
                          "WADO-RS endpoint is on the PACS's origin (others are reported as INFO)"},
        }},
    ],
}


def _parse_spec(raw: Any, _ctx: ParseContext) -> DicomWebExpectation | None:
    if raw is False:
        return None
    return DicomWebExpectation() if raw is True else DicomWebExpectation(**raw)  # the schema admitted true or the fields


def _pacs(ctx: CheckContext) -> tuple[str, str | None] | None:
    """(DICOMweb root, Authorization header or None) of the run's PACS; None without one."""
    access = getattr(ctx.session, "dicomweb", None) if ctx.session is not None else None
    root = getattr(access, "root", None)
    if isinstance(root, str) and root:
        authorization = getattr(access, "authorization", None)
        return root, authorization if isinstance(authorization, str) else None
    try:
        value = ctx.value("pacs.dicomweb")
    except Exception:  # noqa: BLE001 - MissingVariable/KeyError: no PACS in this run
        return None
    return (str(value), None) if value else None


def _studies(body: Any) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """[(FHIRPath of the study in the body, study)], Endpoints included in a Bundle by reference key."""
    if not isinstance(body, dict):
        return [], {}
    if body.get("resourceType") == "ImagingStudy":
        return [("ImagingStudy", body)], {}
    studies: list[tuple[str, dict[str, Any]]] = []
    endpoints: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(body.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        mode = (entry.get("search") or {}).get("mode", "match") if isinstance(entry.get("search"), dict) else "match"
        if resource.get("resourceType") == "ImagingStudy" and mode == "match":
            studies.append((f"Bundle.entry[{index}].resource", resource))
        elif resource.get("resourceType") == "Endpoint" and resource.get("id"):
            endpoints[f"Endpoint/{resource['id']}"] = resource
            if isinstance(entry.get("fullUrl"), str):
                endpoints[entry["fullUrl"]] = resource
    return studies, endpoints


def _resolve(references: list[str], known: dict[str, dict[str, Any]], ctx: CheckContext) -> dict[str, dict[str, Any]]:
    """Endpoints by reference: included ones, else read from the target (relative or on its base URL)."""
    from imgconf.client import TargetUnreachable

    resolved: dict[str, dict[str, Any]] = {}
    session = ctx.session
    base = session.base_url.rstrip("/") + "/" if session is not None else None
    for reference in references:
        relative = reference.removeprefix(base) if base and reference.startswith(base) else reference
        if reference in known or relative in known:
            resolved[reference] = known.get(reference) or known[relative]
            continue
        if session is None or relative.startswith(("http://", "https://")) or not relative.startswith("Endpoint/"):
            continue  # another server's Endpoint: not fetched (left unresolved, reported by the cross-check)
        try:
            answer = session.client.send("GET", relative)
        except TargetUnreachable as exc:
            ctx.extra_exchanges.append(exc.exchange)
            continue
        ctx.extra_exchanges.append(answer.exchange)
        resource = answer.resource if answer.status == 200 else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Endpoint":
            resolved[reference] = resource
            known[relative] = resource
    return resolved


def _on_origin(address: Any, wanted: tuple[str, str, int | None]) -> bool:
    from imgconf.credentials import origin

    try:
        return isinstance(address, str) and origin(address) == wanted
    except Exception:  # noqa: BLE001 - httpx.InvalidURL and friends: a server's address that is no URL
        return False


def _result(ctx: CheckContext, cc: CrossCheck, prefix: str, exchange: int | None) -> CheckResult:
    level = cc.level if _RANK[cc.level] <= _RANK[ctx.level] else ctx.level  # the case's level is a ceiling
    location = prefix + cc.location.removeprefix("ImagingStudy")
    result = ctx.result(cc.check, cc.ok, cc.message, detail=location, requirement=cc.requirement, level=level,
                        exchange=exchange)
    if exchange is None or exchange == ctx.exchange:  # the location is in the FHIR response the result points at
        result.exchange = ctx.exchange
        result.locations = [location]
    if cc.not_judged:
        return dataclasses.replace(result, verdict=Verdict.NOT_JUDGED)
    return result


def check_dicomweb(spec: DicomWebExpectation, ctx: CheckContext) -> list[CheckResult]:
    from imgconf.checks.base import describe
    from imgconf.credentials import origin
    from imgconf.dicomweb.client import DicomWebClient, DicomWebUnreachable
    from imgconf.dicomweb.crosscheck import WADO_RS, crosscheck_study, endpoint_references
    from imgconf.pacs import NO_PACS_REASON

    pacs = _pacs(ctx)
    if pacs is None:
        skipped = ctx.result("dicomweb", True, NO_PACS_REASON, level=Level.INFO)
        return [dataclasses.replace(skipped, verdict=Verdict.SKIP)]
    studies, included = _studies(ctx.response.json)
    if spec.studies == "first":
        studies = studies[:1]
    results: list[CheckResult] = []
    session = ctx.session
    timeout = float(getattr(getattr(session, "options", None), "timeout", 30.0) or 30.0)
    verify = bool(getattr(getattr(session, "options", None), "verify_tls", True))
    checked = 0
    pacs_origin = origin(pacs[0])
    with DicomWebClient(pacs[0], authorization=pacs[1], timeout=timeout, verify=verify) as client:
        for prefix, study in studies:
            endpoints = _resolve(endpoint_references(study), included, ctx)
            wado = [e for e in list(endpoints.values()) + list(study.get("contained") or [])
                    if isinstance(e, dict) and (e.get("connectionType") or {}).get("code") == WADO_RS]
            if not wado:
                continue  # no WADO-RS endpoint: nothing points into a PACS
            if spec.endpoints == "pacs" and not any(_on_origin(e.get("address"), pacs_origin) for e in wado):
                results.append(ctx.result("dicomweb", True, f"{describe(study)}: its WADO-RS endpoint "
                                          f"{wado[0].get('address')!r} is not on the PACS given ({client.root}): "
                                          "not cross-checked", level=Level.INFO, detail=prefix))
                continue
            checked += 1
            first_exchange = len(client.exchanges)
            base = ctx.exchange + 1 + len(ctx.extra_exchanges)
            try:
                found = crosscheck_study(study, endpoints, client, instances=spec.instances)
            except DicomWebUnreachable as exc:
                ctx.extra_exchanges.extend(client.exchanges[first_exchange:])
                error = ctx.result("dicomweb", False, f"PACS problem, not a verdict on the FHIR server: {exc}", level=Level.INFO,
                                   exchange=ctx.exchange + len(ctx.extra_exchanges))
                results.append(dataclasses.replace(error, verdict=Verdict.ERROR))
                break
            ctx.extra_exchanges.extend(client.exchanges[first_exchange:])
            for cc in found:
                index = None if cc.exchange is None else base + cc.exchange - first_exchange
                results.append(_result(ctx, cc, prefix, index))
    if checked == 0:
        results.append(ctx.result("dicomweb", True, f"no ImagingStudy with a resolvable dicom-wado-rs Endpoint among "
                                  f"{len(studies)} in the response: nothing to cross-check", level=Level.INFO))
    return results


DICOMWEB = register(CheckKind[DicomWebExpectation](
    key="dicomweb",
    schema=_SCHEMA,
    parse=_parse_spec,
    run=check_dicomweb,
    order=35,  # after image_urls (30): the URLs it builds are then tried on the PACS
    awaiting=waits_for("dicomweb", "the cross-check with the PACS"),
))

"""Can a client fetch the images from what the server returned? (IS-044..IS-048, ``expect: {image_urls: true}``)

For every ImagingStudy in the response (a read, or the matches of a searchset with the endpoints
included by ``_include=ImagingStudy:endpoint``), the Endpoint serving each series is resolved with
the series-over-study rule (IS-048) and the retrieval URLs are built by the spec's construction rule:
only the study identifier loses its ``urn:oid:`` prefix; the address, ``series.uid`` and
``instance.uid`` are used as stored. Each URL is compared with the one the shared tolerant builders
of ``imgconf.validators.endpoint`` make, and its UIDs are checked against PS3.5: a URL that only
works after a client repairs the data (trailing slash, prefixed series UID) fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from imgconf.checks.registry import CheckKind, parse_flag, register, waits_for
from imgconf.results import CheckResult

if TYPE_CHECKING:
    from imgconf.checks.base import CheckContext

WADO_RS, WADO_URI, IID = "dicom-wado-rs", "dicom-wado-uri", "ihe-iid"
_DICOM_UID = "urn:dicom:uid"


def _studies_and_endpoints(body: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    if not isinstance(body, dict):
        return [], {}
    if body.get("resourceType") == "ImagingStudy":
        return [body], {}
    studies, endpoints = [], {}
    for entry in body.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "ImagingStudy" and (entry.get("search") or {}).get("mode", "match") == "match":
            studies.append(resource)
        elif resource.get("resourceType") == "Endpoint" and resource.get("id"):
            endpoints[f"Endpoint/{resource['id']}"] = resource
            if isinstance(entry.get("fullUrl"), str):
                endpoints[entry["fullUrl"]] = resource
    return studies, endpoints


def _study_uid(study: dict[str, Any]) -> str | None:
    for ident in study.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == _DICOM_UID and isinstance(ident.get("value"), str):
            return ident["value"]
    return None


def _url_problem(raw: str, repaired: str, uids: list[str]) -> str | None:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{raw}: not an absolute http(s) URL"
    if raw != repaired:
        return f"{raw}: works only after repair (a tolerant client builds {repaired})"
    from imgconf.validators.uid import is_valid_uid  # imgconf.validators is heavy: only when judged

    bad = [u for u in uids if not is_valid_uid(u)]
    if bad:
        return f"{raw}: {', '.join(repr(u) for u in bad)} is not a DICOM UID"
    return None


def _unresolved(study: dict[str, Any], endpoints: dict[str, dict[str, Any]], base: str) -> list[str]:
    refs = list(study.get("endpoint") or []) + [
        r for s in study.get("series") or [] if isinstance(s, dict) for r in s.get("endpoint") or []]
    missing = []
    for ref in refs:
        key = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(key, str) and not key.startswith("#") and key not in endpoints \
                and key.removeprefix(base.rstrip("/") + "/") not in endpoints:
            missing.append(key)
    return missing


def check_image_urls(ctx: CheckContext) -> list[CheckResult]:
    from imgconf.validators.endpoint import (  # heavy: only when judged
        connection_type_code,
        iid_study_url,
        resolve_endpoint,
        wado_rs_instance_url,
        wado_rs_metadata_url,
        wado_uri_url,
    )
    from imgconf.validators.uid import strip_urn_oid

    body = ctx.response.json
    studies, endpoints = _studies_and_endpoints(body)
    if not studies:
        return [ctx.result("image-url", False, "no ImagingStudy in the response to build retrieval URLs from",
                           requirement=("IS-044",))]
    base = ctx.session.base_url if ctx.session is not None else ""
    # A reference by absolute URL on the server's base resolves like the relative one.
    endpoints = {**endpoints, **{f"{base.rstrip('/')}/{k}": v for k, v in endpoints.items() if k.startswith("Endpoint/")}}
    built: dict[str, list[str]] = {"IS-044": [], "IS-045": [], "IS-046": [], "IS-047": [], "IS-048": []}
    problems: dict[str, list[str]] = {k: [] for k in built}

    def judge(req: str, raw: str, repaired: str, uids: list[str]) -> None:
        built[req].append(raw)
        if (problem := _url_problem(raw, repaired, uids)) is not None:
            problems[req].append(problem)

    for study in studies:
        label = f"ImagingStudy/{study.get('id')}"
        missing = _unresolved(study, endpoints, base)
        built["IS-048"].append(label)
        if missing:
            problems["IS-048"].append(f"{label}: endpoint(s) {', '.join(missing)} not in the response")
        value = _study_uid(study)
        if value is None:
            problems["IS-044"].append(f"{label}: no urn:dicom:uid identifier, so no retrieval URL can be built")
            continue
        study_uid = str(strip_urn_oid(value))
        iid = resolve_endpoint(study, None, IID, endpoints)
        if iid is not None and isinstance(iid.get("address"), str):
            raw = f"{iid['address']}?requestType=STUDY&studyUID={study_uid}"
            judge("IS-047", raw, iid_study_url(iid["address"], value), [study_uid])
        for series in study.get("series") or []:
            if not isinstance(series, dict) or not isinstance(series.get("uid"), str):
                continue
            suid = series["uid"]
            for ctype in (WADO_RS, WADO_URI):
                endpoint = resolve_endpoint(study, series, ctype, endpoints)
                address = endpoint.get("address") if endpoint else None
                if not isinstance(address, str) or connection_type_code(endpoint) != ctype:
                    continue
                if ctype == WADO_RS:
                    raw = f"{address}/studies/{study_uid}/series/{suid}/metadata"
                    judge("IS-045", raw, wado_rs_metadata_url(address, value, suid), [study_uid, suid])
                for instance in series.get("instance") or []:
                    iuid = instance.get("uid") if isinstance(instance, dict) else None
                    if not isinstance(iuid, str):
                        continue
                    if ctype == WADO_RS:
                        raw = f"{address}/studies/{study_uid}/series/{suid}/instances/{iuid}"
                        judge("IS-044", raw, wado_rs_instance_url(address, value, suid, iuid), [study_uid, suid, iuid])
                    else:
                        raw = f"{address}?requestType=WADO&studyUID={study_uid}&seriesUID={suid}&objectUID={iuid}"
                        judge("IS-046", raw, wado_uri_url(address, value, suid, iuid), [study_uid, suid, iuid])

    results = []
    for req, urls in built.items():
        bad = problems[req]
        if not urls and not bad:
            continue
        what = "studies with every endpoint resolved" if req == "IS-048" else "URLs"
        results.append(ctx.result(
            "image-url", not bad,
            (f"{len(urls)} {what}; e.g. {urls[0]}" if not bad
             else f"{len(bad)} problem(s) over {len(urls)} {what}: " + "; ".join(bad[:3])),
            requirement=(req,), detail=f"{req} retrieval URLs",
        ))
    return results


IMAGE_URLS = register(CheckKind[bool](
    key="image_urls",
    schema={"type": "boolean", "description": "Build the WADO-RS, WADO-URI and IID retrieval URLs of every ImagingStudy in the "
            "response (endpoints resolved series-over-study, included Endpoints) and check them (IS-044..048)."},
    parse=parse_flag,
    run=lambda _spec, ctx: check_image_urls(ctx),
    order=30,
    awaiting=waits_for("image-url", "retrieval URLs"),
))

"""DICOM UID syntax (PS3.5 §9.1) and the FHIR ``id`` / ``oid`` datatypes (IS-023..027)."""

from __future__ import annotations

import re

URN_OID = "urn:oid:"
MAX_UID_LEN = 64

_COMPONENT = re.compile(r"0|[1-9][0-9]*")  # used with fullmatch
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # IS-024
# fast path; details below. Possessive (*+, ++): a valid UID never needs a digit given back, and
# not trying to is a quarter faster on the thousands of instance UIDs of a bulk input.
VALID_UID = re.compile(r"(?:0|[1-9][0-9]*+)(?:\.(?:0|[1-9][0-9]*+))++")


def strip_urn_oid(value: object) -> object:
    """``urn:oid:1.2.3`` -> ``1.2.3``; anything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(URN_OID):
        return value[len(URN_OID) :]
    return value


def uid_problems(uid: object) -> list[str]:
    """Every PS3.5 §9.1 violation of ``uid`` (an empty list means a valid UID); any JSON value may come."""
    if not isinstance(uid, str):
        return [f"a UID is a string, got {type(uid).__name__}"]
    if len(uid) <= MAX_UID_LEN and VALID_UID.fullmatch(uid):
        return []
    if uid == "":
        return ["empty UID"]
    problems: list[str] = []
    if len(uid) > MAX_UID_LEN:
        problems.append(f"longer than {MAX_UID_LEN} characters ({len(uid)})")
    if any(c.isspace() or c == "\0" for c in uid):
        problems.append("contains whitespace or NUL padding")
    if uid.startswith("."):
        problems.append("leading '.'")
    if uid.endswith("."):
        problems.append("trailing '.'")
    parts = uid.split(".")
    if ".." in uid:
        problems.append("empty component ('..')")
    if len(parts) < 2:
        problems.append("fewer than two components")
    for part in parts:
        if part == "" or _COMPONENT.fullmatch(part):
            continue
        if part.isdigit() and part.isascii():
            problems.append(f"component {part!r} has a leading zero")
        else:
            problems.append(f"component {part!r} is not numeric")
    return problems or ["not a valid UID"]  # the fast path rejected it for a reason not listed above


def is_valid_uid(uid: object) -> bool:
    return isinstance(uid, str) and len(uid) <= MAX_UID_LEN and VALID_UID.fullmatch(uid) is not None


def is_fhir_id(value: object) -> bool:
    """FHIR R4 ``id`` datatype (IS-024)."""
    return isinstance(value, str) and _FHIR_ID.fullmatch(value) is not None


def first_arc_ok(uid: str) -> bool:
    """ISO OIDs start with 0, 1 or 2 (IS-025); only meaningful for a syntactically valid UID."""
    return uid.split(".", 1)[0] in ("0", "1", "2")

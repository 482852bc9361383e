"""PS3.5 §9.1 UID syntax and the FHIR id datatype (IS-023..026), with the §I fixture values."""

from __future__ import annotations

import pytest

from imgconf.validators.uid import first_arc_ok, is_fhir_id, is_valid_uid, strip_urn_oid, uid_problems

UID_64 = "1.2.826.0.1.3680043.8.498.11111111111111111111111111111111111111"
UID_65 = "1.2.826.0.1.3680043.8.498.111111111111111111111111111111111111111"
UUID_UID = "2.25.305673917864789044468808924468805112372"
UID_61 = "1.3.46.670589.58.10.10562925256214266678.11674839624289915183"


def test_fixture_lengths() -> None:
    assert (len(UID_64), len(UID_65), len(UUID_UID), len(UID_61)) == (64, 65, 44, 61)


@pytest.mark.parametrize("uid", [UID_64, UUID_UID, UID_61, "1.2", "0.0", "1.2.840.10008.5.1.4.1.1.2", "2.0.10"])
def test_valid_uids(uid: str) -> None:
    assert uid_problems(uid) == []
    assert is_valid_uid(uid)


@pytest.mark.parametrize(
    ("uid", "problem"),
    [
        (UID_65, "longer than 64"),
        ("1.2.840.01", "leading zero"),
        ("1.2..3", "empty component"),
        ("1.2.3.", "trailing '.'"),
        (".1.2", "leading '.'"),
        ("1", "fewer than two components"),
        ("", "empty UID"),
        ("1.2. 3", "whitespace"),
        ("1.2.3\0", "NUL"),
        ("1.2.a", "not numeric"),
        ("urn:oid:1.2.3", "not numeric"),
        ("1.٣", "not numeric"),  # a Unicode digit is not a DICOM digit
    ],
)
def test_invalid_uids(uid: str, problem: str) -> None:
    problems = uid_problems(uid)
    assert any(problem in p for p in problems), problems
    assert not is_valid_uid(uid)


def test_non_string_uid() -> None:
    assert uid_problems(12) == ["a UID is a string, got int"]  # type: ignore[arg-type]
    assert not is_valid_uid(None)


def test_strip_urn_oid() -> None:
    assert strip_urn_oid("urn:oid:1.2.3") == "1.2.3"
    assert strip_urn_oid("1.2.3") == "1.2.3"
    assert strip_urn_oid(None) is None


def test_fhir_id_datatype() -> None:
    assert is_fhir_id(UID_64)
    assert not is_fhir_id(UID_65)
    assert not is_fhir_id("urn:oid:1.2.3.4")
    assert not is_fhir_id("")


def test_first_arc() -> None:
    assert first_arc_ok("2.25.1") and first_arc_ok("0.1") and first_arc_ok("1.2")
    assert not first_arc_ok("3.1.2")

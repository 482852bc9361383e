"""SMART scope grammar (SMART-020..023) and the §I fixture verdicts."""

from __future__ import annotations

import pytest

from imgconf.validators.smart import classify, covered, parse, scope_findings, scopes_in_text, to_v1, v1_exact, why_invalid


@pytest.mark.parametrize(
    ("scope", "kind"),
    [
        ("system/DocumentReference.rs", "v2"),  # §I: pass (v2)
        ("system/DocumentReference.read", "v1"),  # §I: pass (v1)
        ("system/DocumentReference.search", "invalid"),  # §I: fail (undefined)
        ("system/DocumentReference.sr", "invalid"),  # §I: fail (out of order)
        ("system/DocumentReference.create", "invalid"),
        ("system/DocumentReference.dus", "invalid"),
        ("system/*.cruds", "v2"),
        ("system/*.*", "v1"),
        ("patient/Observation.rs?category=laboratory", "v2"),
        ("user/Binary.r", "v2"),
        ("system/Binary.write", "v1"),
        ("system/Patient.", "invalid"),
        ("system/patient.rs", "invalid"),
        ("admin/Patient.rs", "invalid"),
        ("openid", "non-resource"),
        ("launch/patient", "non-resource"),
    ],
)
def test_classify(scope: str, kind: str) -> None:
    assert classify(scope) == kind


def test_v1_names_mean_v2_letters() -> None:
    assert parse("system/Patient.read").permissions == "rs"
    assert parse("system/Patient.write").permissions == "cud"
    assert parse("system/*.*").permissions == "cruds"
    assert parse("system/Patient.search") is None


def test_v1_fallback_spelling() -> None:
    assert [to_v1(s) for s in ("system/Patient.rs", "system/DocumentReference.rs", "system/Binary.r", "system/Bundle.r")] == [
        "system/Patient.read", "system/DocumentReference.read", "system/Binary.read", "system/Bundle.read"]  # SMART-024
    assert to_v1("system/DocumentReference.c") == "system/DocumentReference.write"
    assert to_v1("system/*.cruds") == "system/*.*"
    assert v1_exact("system/Patient.rs") and not v1_exact("system/Patient.s") and not v1_exact("system/Patient.r")


def test_coverage_is_per_permission_letter() -> None:
    granted = [parse("system/Patient.r"), parse("system/Patient.s")]
    assert covered(parse("system/Patient.rs"), granted)  # SMART-023: r + s = rs
    assert not covered(parse("system/Patient.ru"), granted)
    assert covered(parse("system/DocumentReference.rs"), [parse("system/*.read")])
    assert not covered(parse("system/*.rs"), [parse("system/Patient.rs")])
    assert not covered(parse("patient/Patient.rs"), [parse("system/Patient.rs")])


def test_findings_and_explanations() -> None:
    findings = scope_findings(["system/Patient.rs", "system/DocumentReference.search", "system/Binary.sr"], "scopes_supported")
    assert [(f.requirement, f.location, f.value) for f in findings] == [
        ("SMART-022", "scopes_supported[1]", "system/DocumentReference.search"),
        ("SMART-022", "scopes_supported[2]", "system/Binary.sr"),
    ]
    assert "FIND-05" in why_invalid("system/DocumentReference.search")
    assert "in-order" in why_invalid("system/Binary.sr")


def test_scopes_in_free_text() -> None:
    text = "Consumers use system/DocumentReference.search and system/Patient.read; see also system/Binary.r."
    assert scopes_in_text(text) == ["system/DocumentReference.search", "system/Patient.read", "system/Binary.r"]

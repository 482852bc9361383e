"""Query parsing: escapes, AND/OR, result parameters, unknown vs invalid, registry coverage."""

from __future__ import annotations

from imgconf.searchparams import get_param, params_for, parse_query, sort_resources
from imgconf.searchparams.text import split_unescaped, unescape

IS_R4 = {
    "basedon": ("reference", "ImagingStudy.basedOn"), "bodysite": ("token", "ImagingStudy.series.bodySite"),
    "dicom-class": ("token", "ImagingStudy.series.instance.sopClass"), "encounter": ("reference", "ImagingStudy.encounter"),
    "endpoint": ("reference", "ImagingStudy.endpoint | ImagingStudy.series.endpoint"),
    "identifier": ("token", "ImagingStudy.identifier"), "instance": ("token", "ImagingStudy.series.instance.uid"),
    "interpreter": ("reference", "ImagingStudy.interpreter"), "modality": ("token", "ImagingStudy.series.modality"),
    "patient": ("reference", "ImagingStudy.subject"), "performer": ("reference", "ImagingStudy.series.performer.actor"),
    "reason": ("token", "ImagingStudy.reasonCode"), "referrer": ("reference", "ImagingStudy.referrer"),
    "series": ("token", "ImagingStudy.series.uid"), "started": ("date", "ImagingStudy.started"),
    "status": ("token", "ImagingStudy.status"), "subject": ("reference", "ImagingStudy.subject"),
}


def test_imaging_study_table_is_exactly_r4() -> None:  # §A.5, IS-050
    specific = {n: (p.type, p.expression) for n, p in params_for("ImagingStudy").items() if not n.startswith("_")}
    assert specific == IS_R4
    assert get_param("ImagingStudy", "patient").targets == ("Patient",)
    assert "resolve() is Patient" in get_param("ImagingStudy", "patient").r4_expression
    assert get_param("ImagingStudy", "based-on") is None and get_param("ImagingStudy", "body-site") is None


def test_registry_coverage() -> None:
    mhd = {"patient", "status", "type", "category", "setting", "facility", "event", "period", "date", "creation",
           "format", "identifier", "related", "security-label", "relatesto", "relation", "author", "authenticator",
           "custodian", "description", "encounter", "contenttype", "language", "location", "subject"}
    assert mhd <= set(params_for("DocumentReference"))
    assert get_param("DocumentReference", "setting").expression == "DocumentReference.context.practiceSetting"
    assert get_param("DocumentReference", "identifier").expression == \
        "DocumentReference.masterIdentifier | DocumentReference.identifier"
    assert get_param("DocumentReference", "context.practiceSetting") is None  # MHD-014
    pdqm = {"_id", "active", "family", "given", "name", "identifier", "telecom", "birthdate", "address",
            "address-city", "address-country", "address-postalcode", "address-state", "gender",
            "mothersMaidenName", "link"}
    assert pdqm <= set(params_for("Patient"))
    assert {"_id", "status", "connection-type", "identifier", "name", "organization", "payload-type"} <= set(params_for("Endpoint"))
    assert set(params_for("Binary")) >= {"_id"}
    assert {"identifier", "type", "composition", "timestamp"} <= set(params_for("Bundle"))
    assert {"family", "given", "name", "identifier"} <= set(params_for("Practitioner"))
    for rtype in ("ImagingStudy", "Patient"):
        assert {"_id", "_lastUpdated", "_tag", "_profile", "_security"} <= set(params_for(rtype))
        assert get_param(rtype, "_lastUpdated").expression == f"{rtype}.meta.lastUpdated"


def test_escapes() -> None:  # REST-057
    assert split_unescaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    assert unescape(r"a\,b\|c\$d\\e") == "a,b|c$d\\e"
    crit = parse_query("Patient", [("family", r"a\,b,c")]).criteria[0]
    assert crit.values == ["a,b", "c"]


def test_and_or_structure() -> None:
    q = parse_query("ImagingStudy", [("modality", "CT,MR"), ("modality", "US")])
    assert [c.values for c in q.criteria] == [["CT", "MR"], ["US"]]


def test_chain_and_modifiers_parsed() -> None:
    q = parse_query("ImagingStudy", [("patient.identifier", "urn:mrn|1"), ("subject:Patient", "1"),
                                     ("started:missing", "true")])
    c1, c2, c3 = q.criteria
    assert (c1.name, c1.chain, c1.modifier) == ("patient", ["identifier"], None)
    assert (c2.name, c2.modifier, c2.chain) == ("subject", "Patient", [])
    assert (c3.name, c3.modifier, c3.values) == ("started", "missing", ["true"])
    assert parse_query("ImagingStudy", [("started:missing", "yes")]).invalid


def test_result_parameters() -> None:
    q = parse_query("ImagingStudy", [
        ("_count", "10"), ("_sort", "-started,_lastUpdated,bogus"), ("_include", "ImagingStudy:subject:Patient"),
        ("_include:iterate", "Patient:link"), ("_revinclude", "DocumentReference:related"),
        ("_summary", "data"), ("_elements", "status,started"), ("_total", "accurate"), ("_format", "json"),
    ])
    assert q.count == 10
    assert q.sort == [("started", True), ("_lastUpdated", False)]
    assert [(i.source_type, i.param, i.target_type, i.iterate) for i in q.include] == [
        ("ImagingStudy", "subject", "Patient", False), ("Patient", "link", None, True)]
    assert q.revinclude[0].reverse and q.revinclude[0].param == "related"
    assert (q.summary, q.elements, q.total, q.format) == ("data", ["status", "started"], "accurate", "json")
    assert [n for n, _ in q.unknown] == ["_sort"]  # bogus sort key dropped


def test_unknown_vs_invalid() -> None:
    q = parse_query("ImagingStudy", [("foo", "1"), ("_lastupdated", "2020"), ("_count", "x"), ("_summary", "maybe"),
                                     ("_include", "Patient:link"), ("_has", "x"), ("started", "bad")])
    assert {n for n, _ in q.unknown} == {"foo", "_lastupdated", "_count", "_summary", "_include", "_has", "started"}
    assert {n for n, _ in q.invalid} == {"_count", "_summary", "started"}
    assert q.criteria == [] and q.used_pairs() == []


def test_used_pairs_round_trip() -> None:
    pairs = [("patient", "1"), ("modality", r"CT,M\,R"), ("_sort", "-started"), ("_count", "5")]
    q = parse_query("ImagingStudy", pairs + [("junk", "x")])
    assert sorted(q.used_pairs()) == sorted(pairs)


def test_sort_missing_last() -> None:
    def s(i: str, started: str | None) -> dict:
        r = {"resourceType": "ImagingStudy", "id": i, "status": "available", "subject": {"reference": "Patient/1"}}
        return r | ({"started": started} if started else {})
    rs = [s("a", "2014"), s("b", None), s("c", "2013-06-01"), s("d", "2015-01-01T10:00:00Z")]
    assert [r["id"] for r in sort_resources(rs, [("started", False)])] == ["c", "a", "d", "b"]
    assert [r["id"] for r in sort_resources(rs, [("started", True)])] == ["d", "a", "c", "b"]
    pats = [{"resourceType": "Patient", "id": i, "name": [{"family": f}]} for i, f in (("1", "Zeta"), ("2", "Ärger"), ("3", "beta"))]
    assert [r["id"] for r in sort_resources(pats, [("family", False)])] == ["2", "3", "1"]


def test_parse_criterion_is_total() -> None:
    from imgconf.searchparams.query import parse_criterion
    assert parse_criterion("DiagnosticReport", "nosuch", "1") is None
    assert parse_criterion("ImagingStudy", "started", "notadate") is None
    crit = parse_criterion("ImagingStudy", "subject", "Patient/1")
    assert crit is not None and crit.param is not None and crit.param.name == "subject"


def test_compartment_params_exist_in_registry() -> None:
    from imgconf.searchparams.compartments import PATIENT_COMPARTMENT
    for rtype, names in PATIENT_COMPARTMENT.items():
        for name in names:
            param = get_param(rtype, name)
            assert param is not None and param.type == "reference", (rtype, name)
            assert not param.targets or "Patient" in param.targets, (rtype, name)


def test_sort_comparison_judges_only_what_the_keys_decide() -> None:
    from imgconf.searchparams.sort import compare, order_violations

    def study(i: str, status: str | None, started: str | None) -> dict:
        r: dict = {"resourceType": "ImagingStudy", "id": i}
        if status:
            r["status"] = status
        if started:
            r["started"] = started
        return r

    a, b = study("a", "available", "2020-01-01"), study("b", "available", "2021-01-01")
    none = study("n", "available", None)
    assert compare(a, b, [("started", False)]) < 0 and compare(a, b, [("started", True)]) > 0
    assert compare(a, none, [("started", False)]) is None  # R4: the position of a missing value is open
    assert compare(a, a, [("started", False)]) == 0
    # two keys: the first decides when it differs, the second breaks ties, a missing second key leaves it open
    c = study("c", "cancelled", "2019-01-01")
    assert compare(a, c, [("status", False), ("started", True)]) < 0
    assert compare(a, b, [("status", False), ("started", True)]) > 0
    assert compare(a, none, [("status", False), ("started", True)]) is None
    assert order_violations([b, none, a], [("started", False)]) == [(0, 2)]
    assert order_violations([none, a, none, b, none], [("started", False)]) == []

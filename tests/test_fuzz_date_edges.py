"""sa/eb against a date inside a wide target: the values the generator gives them show sa-as-gt / eb-as-lt.

Real HTTP against the reference server; the misbehaviour is the fault ``date-sa-eb-as-gt-lt`` in FaultProxy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fuzz_support import loaded_through, proxied_reference

from imgconf.faults import FaultProxy
from imgconf.faults.registry import BY_NAME
from imgconf.fuzz.judge import judge_query
from imgconf.fuzz.model import FuzzQuery
from imgconf.fuzz.strategies import EDGE_PREFIXES
from imgconf.session import TargetSession

# mr-group-research started 2020-07, nm-unknown 2019: the generator's values inside them (strategies._inside)
INSIDE = ("2020-07-16", "2019-07-02")


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    with proxied_reference() as p:
        yield p


@pytest.fixture(scope="module")
def loaded(proxy: FaultProxy) -> Iterator[TargetSession]:
    with loaded_through(proxy, ("ImagingStudy",)) as session:
        yield session


def test_sa_eb_inside_a_wide_target_pass_on_the_reference_server(loaded: TargetSession, proxy: FaultProxy) -> None:
    """The legal answer: the target that only overlaps the value is not 'after'/'before' it."""
    proxy.set_faults([])
    for prefix in EDGE_PREFIXES:
        for value in INSIDE:
            judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("started", prefix + value),)))
            assert judged.judged and judged.status == 200, (prefix, value)
            assert judged.defects == [], (prefix, value, judged.defects)


def test_sa_as_gt_and_eb_as_lt_are_precision_defects_citing_rest_072(loaded: TargetSession, proxy: FaultProxy) -> None:
    proxy.set_faults([BY_NAME["date-sa-eb-as-gt-lt"]])
    try:
        for prefix in EDGE_PREFIXES:
            for value in INSIDE:
                judged = judge_query(loaded, FuzzQuery("ImagingStudy", (("started", prefix + value),)))
                precision = [f for f in judged.failures if f.defect.kind == "precision"]
                assert precision, (prefix, value, judged.failures)
                assert precision[0].culprit == "started", (prefix, value)
                assert "REST-072" in precision[0].defect.requirement and precision[0].defect.level == "SHALL"
                assert set(judged.actual_ids) > set(judged.expected_ids)
    finally:
        proxy.set_faults([])

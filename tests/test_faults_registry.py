"""One registry of every named fault (imgconf.faults.registry): unique names, one lookup, and the
split between mutation faults and the transport faults the mutation run leaves out."""

from __future__ import annotations

import dataclasses

import pytest

from imgconf.faults import ALL_FAULTS, BY_NAME, MUTATION_FAULTS, RELIABILITY_FAULTS, fault
from imgconf.faults.registry import duplicate_names
from imgconf.mutate import select_faults


def test_every_fault_name_is_unique_across_all_fault_modules() -> None:
    assert duplicate_names() == []
    assert len(BY_NAME) == len(ALL_FAULTS)


def test_a_second_fault_with_a_taken_name_is_reported() -> None:
    taken = MUTATION_FAULTS[0]
    assert duplicate_names((*ALL_FAULTS, dataclasses.replace(taken, description="another bug"))) == [taken.name]


def test_all_faults_are_the_mutation_faults_and_the_transport_faults() -> None:
    assert ALL_FAULTS == MUTATION_FAULTS + RELIABILITY_FAULTS
    assert {f.name for f in MUTATION_FAULTS}.isdisjoint(f.name for f in RELIABILITY_FAULTS)
    assert fault("no-etag") is BY_NAME["no-etag"] and fault("slow-response") is BY_NAME["slow-response"]


def test_every_mutation_fault_declares_the_suites_that_catch_it_or_says_all() -> None:
    # None (every suite) is a declaration too; only discovery-v1-only needs it (each run's token request)
    undeclared = [f.name for f in MUTATION_FAULTS if f.suites is None]
    assert undeclared == ["discovery-v1-only"]


def test_an_unknown_name_names_the_command_that_lists_the_faults() -> None:
    with pytest.raises(KeyError, match=r"unknown fault 'no-such-fault'; `imgconf mutate --list`"):
        fault("no-such-fault")


def test_the_mutation_run_refuses_a_transport_fault_by_name() -> None:
    assert [f.name for f in select_faults(["no-etag", "ignores-modality"])] == ["no-etag", "ignores-modality"]
    with pytest.raises(KeyError, match="transport fault"):
        select_faults(["slow-response"])

"""Every named fault, in one place: what ``imgconf mutate``, ``imgconf mutate --list`` and the tests use.

A new fault module adds its tuple here (and nowhere else). Fault names are unique across all modules
(tests/test_faults_registry.py), so ``fault(name)`` and ``BY_NAME`` never shadow one fault by another.
"""

from __future__ import annotations

from collections import Counter

from imgconf.faults.dicomweb import DICOMWEB_FAULTS
from imgconf.faults.documents import DOCUMENT_FAULTS
from imgconf.faults.imagingstudy import IMAGINGSTUDY_FAULTS
from imgconf.faults.matching import MATCHING_FAULTS
from imgconf.faults.model import Fault
from imgconf.faults.representation import REPRESENTATION_FAULTS
from imgconf.faults.rest import REST_FAULTS
from imgconf.faults.smart import SMART_FAULTS
from imgconf.faults.transport import RELIABILITY_FAULTS

__all__ = ["ALL_FAULTS", "BY_NAME", "MUTATION_FAULTS", "RELIABILITY_FAULTS", "duplicate_names", "fault"]

# The conformance faults: each must be caught by a suite check (or, when ``benign``, must not be).
MUTATION_FAULTS: tuple[Fault, ...] = (
    *IMAGINGSTUDY_FAULTS,  # ImagingStudy REST, search and representation (imagingstudy.py)
    *SMART_FAULTS,  # catalogue §D (smart.py)
    *DOCUMENT_FAULTS,  # catalogue §C/§E/§F: PDQm, MHD, manifests, EU report (documents.py)
    *REST_FAULTS,  # REST interactions, result parameters, formats, history (rest.py)
    *MATCHING_FAULTS,  # string and token matching rules (matching.py)
    *REPRESENTATION_FAULTS,  # JSON representation and Bundle invariants (representation.py)
    *DICOMWEB_FAULTS,  # FHIR disagreeing with the PACS behind it: only the DICOMweb cross-check sees it (dicomweb.py)
)

# Every fault: the conformance ones and the transport faults that test that the harness survives
# a broken server (transport.py; tests/test_reliability.py). Those are not mutation faults: no
# conformance check is meant to catch them.
ALL_FAULTS: tuple[Fault, ...] = MUTATION_FAULTS + RELIABILITY_FAULTS

BY_NAME: dict[str, Fault] = {f.name: f for f in ALL_FAULTS}


def fault(name: str) -> Fault:
    """The fault called ``name``; KeyError naming the command that lists them."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown fault {name!r}; `imgconf mutate --list` shows them") from None


def duplicate_names(faults: tuple[Fault, ...] = ALL_FAULTS) -> list[str]:
    """Names given to more than one fault (none, in a sound registry)."""
    return sorted(name for name, count in Counter(f.name for f in faults).items() if count > 1)

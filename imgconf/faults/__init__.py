"""Fault injection: a proxy that turns any target into a misbehaving one, and the named faults.

``imgconf.faults.registry`` holds every fault; ``imgconf.faults.rewrite`` the building blocks of
their hooks. ARCHITECTURE.md "How to add a fault" says how to add one.
"""

from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.proxy import FaultProxy
from imgconf.faults.registry import (
           ALL_FAULTS,
           BY_NAME,
           MUTATION_FAULTS,
           RELIABILITY_FAULTS,
           fault,
)

__all__ = ["ALL_FAULTS", "BY_NAME", "MUTATION_FAULTS", "RELIABILITY_FAULTS", "Fault", "FaultProxy", "ProxyCall",
           "ProxyResponse", "fault"]

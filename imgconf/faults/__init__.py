"""Fault injection: a proxy that turns any target into a misbehaving one, and a catalogue of faults."""

from imgconf.faults.catalogue import BY_NAME, FAULTS
from imgconf.faults.model import Fault, ProxyCall, ProxyResponse
from imgconf.faults.proxy import FaultProxy

__all__ = ["BY_NAME", "FAULTS", "Fault", "FaultProxy", "ProxyCall", "ProxyResponse"]

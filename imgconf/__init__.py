"""imgconf — does this FHIR server handle imaging data correctly?"""

__version__ = "0.1.0"

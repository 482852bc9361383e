"""Patient compartment membership (R4 compartmentdefinition-patient), shared by server and oracle.

``GET [base]/Patient/[id]/[type]`` returns the resources of ``type`` whose compartment
parameters reference that patient; with several parameters, any one of them qualifies (OR).
"""

from __future__ import annotations

PATIENT_COMPARTMENT: dict[str, tuple[str, ...]] = {
    "ImagingStudy": ("subject",),  # IS-056
    "DocumentReference": ("subject", "author"),  # REST-100
    "Patient": ("link",),
    "ServiceRequest": ("subject", "performer"),
    "Encounter": ("patient",),
    "DiagnosticReport": ("subject",),
    "Composition": ("subject", "author", "attester"),
    "Provenance": ("patient",),
    "Group": ("member",),
}


def compartment_params(compartment: str, resource_type: str) -> tuple[str, ...]:
    """The search parameters that put ``resource_type`` in a compartment; () when it is not in it."""
    if compartment != "Patient":
        return ()
    return PATIENT_COMPARTMENT.get(resource_type, ())

"""Comparing a FHIR ImagingStudy with the DICOM study its PACS holds (read-only DICOMweb)."""

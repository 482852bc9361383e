"""Generated DICOM content (pydicom), loading it into a PACS, and the FHIR ImagingStudy a server should make of it."""

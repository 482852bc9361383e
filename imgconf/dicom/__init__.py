"""Generated DICOM content (pydicom), loading it into a PACS, and the FHIR ImagingStudy a server should make of it."""

# The seed of the studies `imgconf run --with-pacs orthanc` loads and the PACS fixtures
# (fixtures/imagingstudy/pacs-*.json, tools/build_pacs_fixtures.py) describe: change both together.
IMGCONF_DICOM_SEED = 13

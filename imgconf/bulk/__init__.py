"""Bulk validation: millions of resources from NDJSON/folders on all cores, in flat memory.

``work``: one chunk of input lines -> findings + a ``QualityReport`` (runs in worker processes).
``quality``: the mergeable data-quality accumulator and its JSON/HTML report.
``uidspool``: the disk-backed cross-resource UID index (DICOM-012/013) spanning all workers.
``pool``: the ``imgconf validate -j N`` driver (chunking, bounded queue, progress, printing).
"""

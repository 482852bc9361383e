"""Imported once by the -j forkserver before it forks workers: builds the validators' lazy state
(compiled JSON schema, model validators) so that every worker shares it copy-on-write instead of
building a private copy (~25 MB per worker)."""

from __future__ import annotations

from imgconf.bulk.work import resource_validator
from imgconf.validators.samples import sample_endpoint, sample_imaging_study

_validate = resource_validator()
_validate(sample_imaging_study(3, 20))
_validate(sample_endpoint())

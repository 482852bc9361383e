#!/usr/bin/env python3
"""Write imgconf/validators/fast_r4_schema.json, the schema tier of the fast structural path.

Usage: python tools/build_fast_schema.py

The schema is derived from the fhir.resources R4B models (imgconf.validators.fastschema.build_schema)
and committed so that a process need not import ~100 model modules to validate clean resources.
Run it after upgrading fhir.resources; tests/test_fast_path.py fails while the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imgconf.validators.fastschema import SCHEMA_FILE, schema_text


def main() -> None:
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE} ({SCHEMA_FILE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

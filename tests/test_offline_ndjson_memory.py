"""NDJSON is streamed: peak memory stays flat however many lines the file has."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from imgconf.offline import iter_resources, run_validate
from imgconf.validators.samples import sample_endpoint, sample_imaging_study


def make_ndjson(path: Path, lines: int, resource: dict[str, Any]) -> Path:
    line = json.dumps(resource) + "\n"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(lines):
            fh.write(line.replace('"id": "wado"', f'"id": "e{i}"', 1))
    return path


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_iter_resources_streams_a_large_file(tmp_path: Path) -> None:
    study = sample_imaging_study(3, 20)  # ~8 kB per line
    path = make_ndjson(tmp_path / "big.ndjson", 4000, study)
    size = path.stat().st_size
    assert size > 20_000_000

    def consume() -> None:
        n = 0
        for _, _resource in iter_resources(path):
            n += 1
        assert n == 4000

    peak = peak_bytes(consume)
    assert peak < 2_000_000, f"peak {peak} bytes while reading a {size} byte file"


def test_validation_and_json_report_stay_flat(tmp_path: Path) -> None:
    # Every line has a finding (IS-041), so every line is printed and written to the report.
    endpoint = sample_endpoint(address="https://pacs.example.org/wado-rs/")
    # Peaks are tens of kB: at 1,000 lines even 250 bytes kept per resource would cross the bound below.
    small = make_ndjson(tmp_path / "small.ndjson", 200, endpoint)
    large = make_ndjson(tmp_path / "large.ndjson", 1000, endpoint)
    warm = make_ndjson(tmp_path / "warm.ndjson", 20, endpoint)  # a few lines load every lazy validator and cache
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        out = Console(file=devnull)
        assert run_validate([warm], json_out=tmp_path / "warm.json", console=out) == 1  # warm caches first

        def run(path: Path) -> Callable[[], object]:
            return lambda: run_validate([path], json_out=tmp_path / f"{path.stem}.json", console=out)

        peak_small, peak_large = peak_bytes(run(small)), peak_bytes(run(large))
    report = json.loads((tmp_path / "large.json").read_text(encoding="utf-8"))
    assert len(report["results"]) == 1000
    # Five times the lines, (nearly) the same peak: nothing accumulates per resource.
    assert peak_large < peak_small * 1.5 + 200_000, (peak_small, peak_large)
    assert peak_large < 3_000_000

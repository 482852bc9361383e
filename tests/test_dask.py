"""``imgconf validate --dask``: NDJSON split into line-aligned byte ranges over a local Dask cluster gives
the same quality report and findings as ``imgconf validate`` without Dask, cross-resource UID conflicts
(DICOM-012/013) included when the two resources lie in different partitions; the cluster listens on
loopback only and is gone afterwards."""

from __future__ import annotations

import json
import os
import random
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imgconf.bulk import dask_run
from imgconf.bulk.dask_run import Partition, line_ranges, plan_partitions
from imgconf.cli import app
from imgconf.validators.samples import sample_imaging_study

DEFECTS = Path(__file__).resolve().parent / "data" / "producers" / "defects"
PARTITION_MB = 0.004  # ~4 KB: about three lines per partition


def _study(n: int) -> dict[str, Any]:
    """A valid study with UIDs of its own (the sample's, made unique per line)."""
    text = json.dumps(sample_imaging_study(2, 3))
    for root in ("1.2.826.0.1.3680043.8.498.10001", "1.2.826.0.1.3680043.8.498.20001",
                 "1.2.826.0.1.3680043.8.498.30001"):
        text = text.replace(root, f"{root}.{n}")
    study: dict[str, Any] = json.loads(text)
    study["id"] = f"s{n}"
    return study


def _ndjson(path: Path) -> dict[str, int]:
    """Valid studies with the merged-patients defects planted far apart (lines 2, 14, 27), a Bundle whose
    entry repeats a series UID of line 2, an unreadable line and a blank one. Returns the planted lines."""
    merged = (DEFECTS / "merged-patients.ndjson").read_text(encoding="utf-8").splitlines()
    planted = {"first": 2, "subject": 14, "series": 27, "bundle": 33, "bad": 20, "blank": 8}
    rows = [json.dumps(_study(n)) for n in range(1, 41)]
    rows[planted["first"] - 1], rows[planted["subject"] - 1], rows[planted["series"] - 1] = merged[:3]
    again = json.loads(merged[0])
    again["identifier"][0]["value"] = "urn:oid:1.2.826.0.1.3680043.8.498.10099"  # another study, same series UID
    rows[planted["bundle"] - 1] = json.dumps({"resourceType": "Bundle", "type": "collection",
                                              "entry": [{"fullUrl": "urn:uuid:0f4b1f8e-2f6e-4e4a-9a57-4c1c0a1b2c3d",
                                                         "resource": again}]})
    rows[planted["bad"] - 1] = '{"resourceType": "ImagingStudy", '
    rows[planted["blank"] - 1] = ""
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return planted


def _partition_of(parts: list[Partition], line: int) -> int:
    return next(p.no for p in parts if p.first_line <= line and
                (p.no + 1 == len(parts) or parts[p.no + 1].first_line > line))


def _findings(report: Path) -> set[tuple[str, str, str, str, str]]:
    data = json.loads(report.read_text(encoding="utf-8"))
    return {(r["source"], f["requirement"], f["level"], f["location"], f["message"])
            for r in data["results"] for f in r["findings"]}


def _descendants() -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _listening(pids: set[int]) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets these processes listen on (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    found: set[tuple[str, int]] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, port = cols[1].split(":")
            addr = ".".join(str(int(hexaddr[i:i + 2], 16)) for i in (6, 4, 2, 0)) if width == 8 else hexaddr
            found.add((addr, int(port, 16)))
    return found


def test_line_ranges_are_line_aligned_and_numbered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(15)
    for _ in range(200):
        data = b"\n".join(b"x" * rng.randrange(0, 30) for _ in range(rng.randrange(0, 40)))
        data += b"\n" if rng.random() < 0.5 else b""
        path = tmp_path / "f.ndjson"
        path.write_bytes(data)
        monkeypatch.setattr(dask_run, "_BLOCK", rng.choice([1, 7, 64, 1 << 20]))  # ranges across read blocks
        size, max_lines = rng.randrange(1, 100), rng.randrange(1, 8)
        ranges = list(line_ranges(path, size, max_lines=max_lines))
        assert [r[0] for r in ranges[1:]] == [r[1] for r in ranges[:-1]]
        assert (ranges[0][0] if ranges else 0) == 0 and (ranges[-1][1] if ranges else 0) == len(data)
        for start, end, first_line in ranges:
            chunk = data[start:end]
            assert first_line == data[:start].count(b"\n") + 1
            assert chunk.endswith(b"\n") or end == len(data)
            assert chunk.count(b"\n") + (not chunk.endswith(b"\n")) <= max_lines
        for start, end, _ in ranges[:-1]:  # cut as soon as the size or the line count is reached
            assert end - start >= size or data[start:end].count(b"\n") == max_lines
            assert data[start:end - 1].rfind(b"\n") < start + size - 1 or data[start:end].count(b"\n") == max_lines


def test_folders_keep_input_order_and_small_json_files_share_a_task(tmp_path: Path) -> None:
    for name in ("a.json", "b.json", "d.json"):
        (tmp_path / name).write_text(json.dumps(_study(1)), encoding="utf-8")
    (tmp_path / "c.ndjson").write_text("".join(json.dumps(_study(n)) + "\n" for n in range(6)), encoding="utf-8")
    size = 2 * (tmp_path / "a.json").stat().st_size  # two small files per task; c.ndjson in three ranges
    plan = list(plan_partitions([tmp_path, tmp_path / "gone.json"], size))
    parts = [p for p in plan if isinstance(p, Partition)]
    assert [p.no for p in parts] == list(range(len(parts)))
    assert parts[0].files == (str(tmp_path / "a.json"), str(tmp_path / "b.json"))  # before c.ndjson, as read
    assert all(p.path == str(tmp_path / "c.ndjson") for p in parts[1:-1]) and len(parts) > 3
    assert parts[-1].files == (str(tmp_path / "d.json"),)
    assert plan[-1] == dask_run.Unreadable(str(tmp_path / "gone.json"), "no such file or directory")


def test_relative_paths_stay_the_labels_and_workers_read_them_from_the_clients_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c.ndjson").write_text(json.dumps(_study(1)) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    part = next(p for p in plan_partitions([Path("c.ndjson")], 1 << 20) if isinstance(p, Partition))
    monkeypatch.chdir("/")  # a worker elsewhere
    result = dask_run.validate_partition(part, None, True, True)
    assert [f.label for f in result.flagged] == ["c.ndjson:1"] and result.flagged[0].findings == []


def test_input_a_worker_cannot_read_is_a_finding(tmp_path: Path) -> None:
    gone = dask_run.validate_partition(Partition(0, 100, path=str(tmp_path / "gone.ndjson"), end=100, first_line=1),
                                       None, False, True)
    assert [(f.label, f.findings[0].requirement) for f in gone.flagged] == [(f"{tmp_path}/gone.ndjson:1", "INPUT-READ")]
    assert (gone.quality.resources, gone.quality.unreadable, gone.quality.failing) == (1, 1, 1)
    bad = {"resourceType": "ImagingStudy", "status": "nonsense"}
    (tmp_path / "a.json").write_text(json.dumps(bad), encoding="utf-8")
    (tmp_path / "c.json").write_text(json.dumps(bad), encoding="utf-8")
    files = (str(tmp_path / "a.json"), str(tmp_path / "b.json"), str(tmp_path / "c.json"))
    mixed = dask_run.validate_partition(Partition(0, 100, files=files), None, False, True)
    assert [f.label for f in mixed.flagged] == list(files)  # in input order
    assert mixed.flagged[1].findings[0].requirement == "INPUT-READ" and not mixed.flagged[1].readable
    assert mixed.quality.resources == 3


def test_without_the_dask_extra_the_error_says_how_to_get_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # import distributed -> ImportError
    (tmp_path / "a.ndjson").write_text(json.dumps(_study(1)) + "\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["validate", "--dask", "local", str(tmp_path / "a.ndjson")])
    assert run.exit_code == 2
    assert "pip install 'imgconf[dask]'" in run.output


def test_an_unreachable_scheduler_is_an_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_run, "CONNECT_TIMEOUT", "1s")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "a.ndjson").write_text(json.dumps(_study(1)) + "\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["validate", "--dask", f"tcp://127.0.0.1:{port}", str(tmp_path / "a.ndjson")])
    assert run.exit_code == 2 and f"the Dask scheduler tcp://127.0.0.1:{port} did not answer" in run.output
    assert CliRunner().invoke(app, ["validate", "--dask", "127.0.0.1:8786", str(tmp_path / "a.ndjson")]).exit_code == 2


@pytest.mark.slow  # Hypothesis sweeps / real processes and clusters: the full run, not the fast loop
def test_local_cluster_finds_what_validate_finds_across_partitions(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "studies.ndjson"
    planted = _ndjson(data)
    parts = [p for p in plan_partitions([data], int(PARTITION_MB * (1 << 20))) if isinstance(p, Partition)]
    assert len(parts) >= 8
    conflicts = {planted[k] for k in ("first", "subject", "series", "bundle")}
    assert len({_partition_of(parts, line) for line in conflicts}) == len(conflicts)  # all in different partitions

    seen: dict[str, Any] = {}
    real_client = dask_run.dask_client

    @contextmanager
    def observed(scheduler: str, *, workers: int | None = None) -> Iterator[Any]:
        with real_client(scheduler, workers=workers) as local:
            pids = _descendants() - seen["before"]
            seen.update(workers=len(local.nthreads()), pids=pids, listening=_listening(pids | {os.getpid()}),
                        address=local.scheduler.address)
            with real_client(local.scheduler.address) as remote:  # --dask tcp://host:port, on the same cluster
                yield remote

    seen["before"] = _descendants()
    monkeypatch.setattr(dask_run, "dask_client", observed)
    runner = CliRunner()
    dask = runner.invoke(app, ["validate", "--dask", "local", "-j", "2", "--partition-mb", str(PARTITION_MB),
                               "--json", str(tmp_path / "dask.json"), "--report", str(tmp_path / "dask"),
                               "--quiet", str(data)])
    assert dask.exit_code == 1, dask.output  # DICOM-012 is a SHALL
    plain = runner.invoke(app, ["validate", "--json", str(tmp_path / "plain.json"), "--quiet", str(data)])
    bulk = runner.invoke(app, ["validate", "-j", "1", "--report", str(tmp_path / "bulk"), "--quiet", str(data)])
    assert (plain.exit_code, bulk.exit_code) == (1, 1)

    # the cluster: two worker processes, everything on loopback, nothing left afterwards
    assert seen["workers"] == 2 and seen["pids"] and seen["address"].startswith("tcp://127.0.0.1:")
    assert seen["listening"] and {addr for addr, _ in seen["listening"]} == {"127.0.0.1"}
    left = {pid for pid in _descendants() & seen["pids"]
            if not re.search(r"multiprocessing\.(resource_tracker|forkserver)", Path(f"/proc/{pid}/cmdline").read_text())}
    assert not left  # (the stdlib's forkserver and resource tracker serve this process as long as it lives)
    assert not (_listening(seen["pids"] | {os.getpid()}) & seen["listening"])

    # the same findings, messages naming the first place in another partition included
    found = _findings(tmp_path / "dask.json")
    assert found == _findings(tmp_path / "plain.json")
    cross = {(source.rsplit(":", 1)[1], rule) for source, rule, *_ in found if rule in ("DICOM-012", "DICOM-013")}
    assert cross == {(str(planted["subject"]), "DICOM-013"), (str(planted["series"]), "DICOM-012"),
                     (f"{planted['bundle']}#entry[0]", "DICOM-012")}
    assert any(f"{data}:{planted['first']} ImagingStudy.series[0]" in f[4] for f in found if f[1] == "DICOM-012")
    assert {f[1] for f in found if f[0] == f"{data}:{planted['bad']}"} == {"INPUT-READ"}

    # the same quality report (counts per rule, level, type, modality, producer; worst resources)
    quality = json.loads((tmp_path / "dask" / "quality.json").read_text(encoding="utf-8"))
    expected = json.loads((tmp_path / "bulk" / "quality.json").read_text(encoding="utf-8"))
    for volatile in ("title", "elapsed_seconds", "resources_per_second"):
        quality.pop(volatile), expected.pop(volatile)
    assert quality == expected
    assert quality["totals"]["resources"] == 40  # 38 lines of resources + the Bundle's entry (+ the bad line)

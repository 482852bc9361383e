"""``imgconf mutate``'s suite index (suite id -> file, ``requires``) comes from ``imgconf list``'s remembered rows:
an unchanged suite is not loaded again, an edited one is, and one that does not load stops the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import imgconf.suite.index
import imgconf.suite.loader
from imgconf.mutate import MutationError, index_suite_requirements
from imgconf.paths import suites_dir

MINE = "suite: Mine\narea: imagingstudy\nrequirements: [IS-053]\ncases:\n  - name: x\n    request: {path: /metadata}\n"
PACS = "dicomweb-crosscheck"  # a bundled suite that needs a PACS: its "requires" must survive the cache


@pytest.fixture
def loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The suites the real loader loads, in a cache of this test's own (its fingerprint held still: others
    editing imgconf/ meanwhile would make every call load again; test_startup covers the fingerprint)."""
    monkeypatch.setenv("IMGCONF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(imgconf.suite.index, "_fingerprint", lambda: "held still")
    loaded: list[Path] = []
    real = imgconf.suite.loader.load_suite

    def counting(path: Path, **kw: Any) -> Any:
        loaded.append(Path(path))
        return real(path, **kw)

    monkeypatch.setattr(imgconf.suite.loader, "load_suite", counting)
    return loaded


def test_an_unchanged_suite_is_not_loaded_again(tmp_path: Path, loads: list[Path]) -> None:
    pacs = suites_dir() / "dicomweb" / "crosscheck.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text(MINE, encoding="utf-8")
    first = index_suite_requirements([mine, pacs])
    assert sorted(loads) == sorted([mine, pacs])
    loads.clear()
    again = index_suite_requirements([mine, pacs])
    assert loads == []  # both from the remembered rows
    assert again == first == {"mine": (mine, ()), PACS: (pacs, ("dicomweb",))}

    mine.write_text(MINE.replace("name: x", "name: renamed"), encoding="utf-8")
    assert index_suite_requirements([mine, pacs]) == first
    assert loads == [mine]  # its bytes changed: the real loader read it again


def test_a_suite_that_does_not_load_stops_the_mutation_run(tmp_path: Path, loads: list[Path]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINE.replace("{path: /metadata}", "{path: [1]}"), encoding="utf-8")
    for _ in range(2):  # never remembered: loaded (and refused) each time
        with pytest.raises(MutationError, match=r"a suite does not load: .*bad\.yaml:6"):
            index_suite_requirements([bad])
    assert loads == [bad, bad]

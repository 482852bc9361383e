"""The survey's ids already validated beyond its memory bound (imgconf.bulk.surveyseen): what a resume may
trust after a crash. The crawl itself over real HTTP (bounded and not, resumed, repeated resources) is in
tests/test_survey.py; here the table alone, killed at the awkward moments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from imgconf.bulk.surveyindex import SpoolMissing
from imgconf.bulk.surveyseen import SurveySeen


def test_ids_past_the_bound_go_to_disk_and_are_found_there(tmp_path: Path) -> None:
    memory: set[str] = set()
    seen = SurveySeen(memory, tmp_path / "ids.sqlite", memory_ids=2)
    for key in ("ImagingStudy/a", "ImagingStudy/b", "ImagingStudy/c", "DocumentReference/a", "ImagingStudy/a"):
        seen.add(key)
    assert memory == {"ImagingStudy/a", "ImagingStudy/b"}  # frozen once full
    assert seen.checkpoint() == 2  # c and DocumentReference/a; the repeated a was not added again
    assert "ImagingStudy/c" in seen and "DocumentReference/a" in seen and "DocumentReference/b" not in seen
    seen.close()


def test_a_resume_forgets_what_came_after_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite"
    memory: set[str] = set()
    seen = SurveySeen(memory, path, memory_ids=0)
    seen.add("ImagingStudy/1")
    counted = seen.checkpoint()  # the state written now counts 1
    seen.add("ImagingStudy/2")
    seen.checkpoint()  # committed, but the process dies before the state that counts it is written
    seen.add("ImagingStudy/3")  # never committed
    seen.close()

    resumed = SurveySeen(set(memory), path, memory_ids=0, spooled=counted)
    # 2 and 3 come after the checkpoint the state describes: the resume reads and validates them again
    assert "ImagingStudy/1" in resumed and "ImagingStudy/2" not in resumed and "ImagingStudy/3" not in resumed
    resumed.add("ImagingStudy/2")
    assert resumed.checkpoint() == 2
    resumed.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT n, id FROM seen ORDER BY n").fetchall() == [(1, "ImagingStudy/1"), (2, "ImagingStudy/2")]
    db.close()


def test_a_table_that_does_not_hold_what_the_state_counts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite"
    with pytest.raises(SpoolMissing, match="missing"):
        SurveySeen(set(), path, spooled=3)
    seen = SurveySeen(set(), path, memory_ids=0)
    seen.add("ImagingStudy/1")
    seen.checkpoint()
    seen.close()
    with pytest.raises(SpoolMissing, match="1 ids, the state counts 3"):
        SurveySeen(set(), path, spooled=3)
    path.write_bytes(b"not a database, but long enough to look like a header of one" * 4)
    with pytest.raises(SpoolMissing, match="not the survey's table"):
        SurveySeen(set(), path, spooled=1)


def test_a_new_survey_ignores_an_old_table_in_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite"
    old = SurveySeen(set(), path, memory_ids=0)
    old.add("ImagingStudy/1")
    old.checkpoint()
    old.close()
    fresh = SurveySeen(set(), path, memory_ids=0)  # counts nothing spooled
    fresh.add("ImagingStudy/9")  # opens the table: rows the state does not count are dropped
    assert "ImagingStudy/1" not in fresh and fresh.checkpoint() == 1
    fresh.close()

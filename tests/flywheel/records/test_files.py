"""Atomic writes: a reader sees the old file or the new one, never half of one."""

import os

import pyarrow as pa
import pytest

from flywheel.records.files import atomic_path, read_parquet, write_parquet_atomic, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "out.json", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_the_written_file_is_readable_by_the_team_and_keeps_the_extension_writers_need(tmp_path):
    with atomic_path(tmp_path / "sub" / "chart.png", suffix=".png") as temporary:
        assert temporary.suffix == ".png" and temporary.parent == tmp_path / "sub"
        temporary.write_bytes(b"png")
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(tmp_path / "sub" / "chart.png").st_mode & 0o777 == 0o644 & ~umask  # not mkstemp's 0600


def test_parquet_round_trip(tmp_path):
    table = pa.table({"a": [1, 2]})
    assert read_parquet(write_parquet_atomic(table, tmp_path / "t.parquet")).equals(table)

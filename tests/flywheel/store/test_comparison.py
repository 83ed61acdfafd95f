"""Two workdirs compared table by table: folders and timings do not count, rows do."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from flywheel.store.comparison import compare_workdirs
from flywheel.store.database import Store

ROOT = Path(__file__).resolve().parents[3]


def workdir_with(folder: Path, loss: float, seconds: float) -> Path:
    workdir = folder / "run"
    store = Store(workdir / "flywheel.duckdb")
    store.replace_round("training_steps", 1, [{"step": 0, "loss": loss, "lr": 1e-4, "tokens": 10,
                                                "tokens_per_second": 1000 / seconds}])
    store.replace_round("stage_runs", 1, [{"stage": "sft", "started_at": datetime(2026, 1, 1), "seconds": seconds,
                                           "finished_at": datetime(2026, 1, 1), "checkpoint": str(workdir / "ckpt")}])
    return workdir


def test_the_same_rows_under_other_folders_and_timings_compare_equal(tmp_path):
    first = workdir_with(tmp_path / "a", loss=0.5, seconds=1.0)
    second = workdir_with(tmp_path / "b", loss=0.5, seconds=9.0)  # slower, elsewhere: the same rows
    found = compare_workdirs(first, second)
    assert found["training_steps"] == "" and found["stage_runs"] == ""
    assert not any(found.values())


def test_a_changed_row_is_named_and_the_script_fails(tmp_path):
    first = workdir_with(tmp_path / "a", loss=0.5, seconds=1.0)
    second = workdir_with(tmp_path / "b", loss=0.25, seconds=1.0)
    found = compare_workdirs(first, second)
    assert found["training_steps"].startswith("1 vs 1 rows; 1 only in the first, 1 only in the second")
    assert found["stage_runs"] == ""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_workdirs.py"), str(first), str(second)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "differ: training_steps" in done.stdout


def test_a_table_renamed_between_the_two_is_compared_under_its_new_name(tmp_path):
    first = workdir_with(tmp_path / "a", loss=0.5, seconds=1.0)
    second = workdir_with(tmp_path / "b", loss=0.5, seconds=1.0)
    for workdir, name in ((first, "old_steps"), (second, "new_steps")):
        with Store(workdir / "flywheel.duckdb").writer() as connection:
            connection.execute(f"CREATE TABLE {name} AS SELECT 1 AS x")
    assert compare_workdirs(first, second)["old_steps"].startswith("only in")
    found = compare_workdirs(first, second, renamed={"old_steps": "new_steps"})
    assert found["old_steps"] == "" and "new_steps" not in found

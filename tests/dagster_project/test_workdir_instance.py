"""The demo's Dagster instance survives a kill while it was being made (found by the kill-and-rerun test: a kill
2 s into a new workdir's first run left the event index without tables, and every rerun failed)."""

import sqlite3

from dagster_project.demo import workdir_instance


def test_an_instance_whose_storage_was_cut_short_is_mended_on_open(tmp_path):
    workdir_instance(tmp_path).add_dynamic_partitions("round", ["0"])
    index = tmp_path / ".dagster" / "history" / "runs" / "index.db"
    with sqlite3.connect(index) as database:  # what the kill left: the file, no tables
        for (table,) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            database.execute(f"DROP TABLE {table}")
    reopened = workdir_instance(tmp_path)
    assert reopened.event_log_storage.has_table("dynamic_partitions")
    reopened.add_dynamic_partitions("round", ["0"])
    assert reopened.has_dynamic_partition("round", "0")

"""The streaming stages' reader and writer: batches in order, a stable sort, and a file that appears whole or not at all."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel.records.batches import RecordWriter, batches, row_batches, sorted_row_batches, taken_batches

SCHEMA = pa.schema([("key", pa.string()), ("round", pa.int64()), ("seq", pa.int64())])


def test_written_in_batches_read_back_in_order(tmp_path):
    rows = [{"key": f"k{i % 4}", "round": i % 3, "seq": i} for i in range(10)]
    with RecordWriter(tmp_path / "out.parquet", SCHEMA) as writer:
        for batch in batches(rows, 3):
            writer.write(list(batch))
        writer.write([])
    assert writer.rows == 10
    assert [row for batch in row_batches(tmp_path / "out.parquet", batch_rows=4) for row in batch] == rows
    assert [len(batch) for batch in row_batches(tmp_path / "out.parquet", batch_rows=4)] == [4, 4, 2]
    by_key = [row for batch in sorted_row_batches(tmp_path / "out.parquet", ["round", "key"], batch_rows=3)
              for row in batch]
    assert by_key == sorted(rows, key=lambda row: (row["round"], row["key"]))  # Python's sort is stable too


def test_taken_batches_repeat_and_reorder_rows():
    table = pa.table({"seq": [10, 11, 12]})
    taken = [t["seq"].to_pylist() for t in taken_batches(table, [2, 0, 2, 1], batch_rows=3)]
    assert taken == [[12, 10, 12], [11]]


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.parquet"
    with RecordWriter(path, SCHEMA) as writer:
        writer.write([{"key": "old", "round": 0, "seq": 0}])
    with pytest.raises(RuntimeError), RecordWriter(path, SCHEMA) as writer:
        writer.write([{"key": "new", "round": 1, "seq": 1}])
        raise RuntimeError("the stage failed half way")
    assert pq.read_table(path).to_pylist() == [{"key": "old", "round": 0, "seq": 0}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # no temporary left behind


def test_a_file_over_one_run_is_merged_from_sorted_runs_as_one_stable_sort(tmp_path):
    """The same order as the in-memory sort, ties in file order, nulls last, whatever the run and batch sizes;
    the runs' scratch folder is gone afterwards, also when the reader stops early."""
    import random

    draw = random.Random(7)
    rows = [{"key": draw.choice(["a", "b", "c", None]), "round": draw.randrange(3), "seq": i} for i in range(1000)]
    path = tmp_path / "pool.parquet"
    with RecordWriter(path, SCHEMA) as writer:
        writer.write(rows)
    expected = sorted(rows, key=lambda row: (row["round"], row["key"] is None, row["key"] or ""))
    in_memory = [row for batch in sorted_row_batches(path, ["round", "key"], SCHEMA, batch_rows=64) for row in batch]
    assert in_memory == expected
    for run_rows, batch_rows in ((100, 64), (333, 1000), (999, 7)):
        merged = list(sorted_row_batches(path, ["round", "key"], SCHEMA, batch_rows=batch_rows, run_rows=run_rows))
        assert [row for batch in merged for row in batch] == expected, run_rows
        assert all(len(batch) == batch_rows for batch in merged[:-1])
    early = sorted_row_batches(path, ["round", "key"], SCHEMA, batch_rows=10, run_rows=100)
    assert len(next(early)) == 10 and (tmp_path / ".pool.parquet.sort").exists()
    early.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool.parquet"]

"""The bulk tables are views over the rounds' Parquet files: no copy in DuckDB, replaced per round,
typed as documented, kept from a store made before the views, frozen in a snapshot."""

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel.records.files import write_parquet_atomic
from flywheel.records.schema import SAMPLE_SCHEMA
from flywheel.store.database import PARQUET_TABLES, TABLES, Store


def samples_file(path, round_number, count, text="x" * 1000):
    rows = [{"prompt_id": f"p{i // 8}", "sample_index": i % 8, "text": f"{i} {text}", "num_tokens": 200,
             "finish_reason": "stop", "round": round_number, "checkpoint": "c", "seed": 0,
             "sampling": '{"n": 8}'} for i in range(count)]
    return write_parquet_atomic(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA), path)


def test_an_attached_file_is_the_rounds_rows_without_a_copy(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    assert store.attach_parquet("samples", 1, samples_file(tmp_path / "r1.parquet", 1, 50_000)) == 50_000
    assert store.attach_parquet("samples", 2, samples_file(tmp_path / "r2.parquet", 2, 3)) == 3
    _, rows = store.query("SELECT round, count(*), max(length(text)) > 1000 FROM samples GROUP BY round ORDER BY round")
    assert rows == [(1, 50_000, True), (2, 3, True)]
    # 50 MB of text lives in the Parquet file only; the database holds a file list.
    assert (tmp_path / "f.duckdb").stat().st_size < 2_000_000
    store.attach_parquet("samples", 1, samples_file(tmp_path / "r1b.parquet", 1, 7))  # a rerun replaces
    _, rows = store.query("SELECT round, count(*) FROM samples GROUP BY round ORDER BY round")
    assert rows == [(1, 7), (2, 3)]
    _, types = store.query("SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'samples'")
    assert dict(types) == TABLES["samples"]
    _, rows = store.query("SELECT sampling->>'$.n' FROM samples WHERE round = 2 LIMIT 1")
    assert rows == [("8",)]


def test_every_bulk_table_is_an_empty_typed_view_before_any_file(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    with store.writer():
        pass
    _, kinds = store.query("SELECT table_name, table_type FROM information_schema.tables")
    kinds = dict(kinds)
    assert {kinds[name] for name in PARQUET_TABLES} == {"VIEW"}
    for name in PARQUET_TABLES:
        assert store.query(f"SELECT count(*) FROM {name}")[1] == [(0,)]


def test_a_bulk_table_refuses_a_row_copy_and_a_missing_file_by_name(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    with pytest.raises(KeyError, match="attach_parquet"):
        store.replace_round("samples", 1, [{"prompt_id": "p"}])
    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        store.attach_parquet("samples", 1, tmp_path / "nowhere.parquet")
    with pytest.raises(KeyError, match="not a Parquet-backed table"):
        store.attach_parquet("mixture", 1, tmp_path / "nowhere.parquet")


def test_rows_of_a_store_made_before_the_views_are_kept(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    columns = ", ".join(f"{name} {kind}" for name, kind in TABLES["samples"].items())
    old.execute(f"CREATE TABLE samples ({columns})")
    old.execute("INSERT INTO samples (round, prompt_id, sample_index, text) VALUES (1, 'old', 0, 'kept'), "
                "(2, 'old', 0, 'replaced')")
    old.close()
    store = Store(path)
    store.attach_parquet("samples", 2, samples_file(tmp_path / "r2.parquet", 2, 2))
    _, rows = store.query("SELECT round, prompt_id FROM samples ORDER BY round, prompt_id")
    assert rows == [(1, "old"), (2, "p0"), (2, "p0")]


def test_a_snapshot_holds_the_rows_themselves(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    store.attach_parquet("samples", 1, samples_file(tmp_path / "r1.parquet", 1, 5))
    copy = store.snapshot(tmp_path / "audit.duckdb")
    samples_file(tmp_path / "r1.parquet", 1, 9)  # the round is rerun after the snapshot
    (tmp_path / "r1.parquet").unlink()  # and its file is gone: the snapshot does not need it
    connection = duckdb.connect(str(copy), read_only=True)
    assert connection.execute("SELECT count(*) FROM samples").fetchone() == (5,)
    assert connection.execute("SELECT count(*) FROM yield_by_domain").fetchone() == (0,)  # views still resolve
    connection.close()


def test_a_moved_workdir_still_shows_its_rows(tmp_path):
    """Files in the workdir are recorded relative to it: a copied or moved workdir reads its own files,
    through a flywheel reader at once and through any client once a writer has opened the store."""
    import shutil

    old = tmp_path / "old"
    (old / "round_1").mkdir(parents=True)
    store = Store(old / "flywheel.duckdb")
    store.attach_parquet("samples", 1, samples_file(old / "round_1" / "samples.parquet", 1, 5))
    shutil.move(old, tmp_path / "new")
    moved = Store(tmp_path / "new" / "flywheel.duckdb")
    assert moved.query("SELECT count(*) FROM samples")[1] == [(5,)]
    assert moved.query("SELECT sum(n_samples) FROM yield_by_domain")[1] == [(None,)]  # no prompts: the join is empty
    copy = moved.snapshot(tmp_path / "audit.duckdb")
    with duckdb.connect(str(copy), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM samples").fetchone() == (5,)
    outside = duckdb.connect(str(moved.path), read_only=True)
    with pytest.raises(duckdb.IOException, match="old"):  # stale until a writer opens it
        outside.execute("SELECT count(*) FROM samples").fetchone()
    outside.close()
    with moved.writer():
        pass
    with duckdb.connect(str(moved.path), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM samples").fetchone() == (5,)
    elsewhere = tmp_path / "elsewhere.parquet"  # a file outside the workdir keeps its absolute path
    moved.attach_parquet("samples", 2, samples_file(elsewhere, 2, 3))
    assert moved.query("SELECT round, count(*) FROM samples GROUP BY round ORDER BY round")[1] == [(1, 5), (2, 3)]


def store_from_before_the_pool(workdir):
    """A workdir as flywheel wrote it before the pool was called the pool: rounds/<N>/selected.parquet, recorded as
    the rows of a ``selections`` view (with its empty ``legacy_selections``), and no ``pool``."""
    from flywheel.records.schema import examples_to_table
    from flywheel.round.layout import RoundPaths

    store = Store(workdir / "flywheel.duckdb")
    for round_number in (1, 2):
        rows = [{"example_id": f"r{round_number}-{i}", "prompt_id": f"p{i}", "domain": "math",
                 "source": "train.jsonl:1", "mix_source": "selected", "origin_round": round_number, "score": 1.0,
                 "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]}
                for i in range(round_number + 1)]
        path = RoundPaths(workdir, round_number).pool
        write_parquet_atomic(examples_to_table(rows), path)
        store.attach_parquet("pool", round_number, path)
    for round_number in (1, 2):
        path = RoundPaths(workdir, round_number).pool
        path.rename(path.with_name("selected.parquet"))
    with duckdb.connect(str(workdir / "flywheel.duckdb")) as old:
        old.execute("UPDATE parquet_files SET table_name = 'selections', path = replace(path, 'pool.parquet', "
                    "'selected.parquet') WHERE table_name = 'pool'")
        old.execute("DROP VIEW pool")
        old.execute("ALTER TABLE legacy_pool RENAME TO legacy_selections")
        files = old.execute("SELECT round, path FROM parquet_files WHERE table_name = 'selections'").fetchall()
        old.execute("CREATE VIEW selections AS " + " UNION ALL ".join(
            f"SELECT {r} AS round, * EXCLUDE (messages, mix_source) FROM read_parquet('{workdir / p}')"
            for r, p in files))
    return store


@pytest.mark.parametrize("first", ["reader", "writer"])
def test_a_store_from_before_the_pool_was_named_is_brought_up_to_date_by_its_first_open(tmp_path, first):
    from flywheel.round.layout import RoundPaths

    store = store_from_before_the_pool(tmp_path)
    with duckdb.connect(str(store.path), read_only=True) as old:  # what an older flywheel read
        assert old.execute("SELECT count(*) FROM selections").fetchall() == [(5,)]
    if first == "writer":
        store.replace_round("training_steps", 1, [])
    assert store.query("SELECT round, count(*) FROM pool GROUP BY round ORDER BY round")[1] == [(1, 2), (2, 3)]
    for round_number in (1, 2):
        assert RoundPaths(tmp_path, round_number).pool.exists()
        assert not RoundPaths(tmp_path, round_number).dir.joinpath("selected.parquet").exists()
    _, tables = store.query("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%selections%'")
    assert tables == []
    assert store.query("SELECT path FROM parquet_files WHERE table_name = 'pool' ORDER BY round")[1] == [
        ("rounds/1/pool.parquet",), ("rounds/2/pool.parquet",)]


def test_an_older_workdir_exports_its_pool(tmp_path):
    from flywheel.export import export_rows
    from flywheel.records.schema import examples_to_table
    from flywheel.round.layout import RoundPaths

    store_from_before_the_pool(tmp_path)
    pool = pq.read_table(RoundPaths(tmp_path, 2).dir / "selected.parquet").to_pylist()
    write_parquet_atomic(examples_to_table(pool[:2]), RoundPaths(tmp_path, 2).decontaminated)
    rows = export_rows(tmp_path, 2, "accepted")
    assert [row["example_id"] for row in rows] == ["r2-0", "r2-1"]

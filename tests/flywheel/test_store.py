import multiprocessing

import duckdb
import pytest

from flywheel.store import TABLES, Store


def test_replace_round_replaces_never_duplicates(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    store.replace_round("mixture", 1, [{"source": "a", "domain": "math", "weight": 1.0, "n_available": 2, "n_taken": 2}])
    store.replace_round("mixture", 2, [{"source": "a", "domain": "math", "weight": 1.0, "n_available": 5, "n_taken": 5}])
    store.replace_round("mixture", 1, [{"source": "b", "domain": "code", "weight": 1.0, "n_available": 3, "n_taken": 1}])
    _, rows = store.query("SELECT round, source FROM mixture ORDER BY round")
    assert rows == [(1, "b"), (2, "a")]


def test_every_documented_table_exists(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    with store.writer():
        pass
    _, rows = store.query("SELECT table_name FROM information_schema.tables")
    assert set(TABLES) <= {r[0] for r in rows}


def test_reader_is_read_only(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    store.replace_round("rounds", 1, [{"status": "x"}])
    with pytest.raises(duckdb.Error):
        store.query("DELETE FROM rounds")


def _write_many(path, round_number):
    store = Store(path)
    for i in range(5):
        store.replace_round("training_steps", round_number, [{"step": i, "loss": 1.0}])


def test_concurrent_writer_processes_do_not_fail(tmp_path):
    path = tmp_path / "f.duckdb"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, r)) for r in (1, 2, 3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    _, rows = Store(path).query("SELECT round, count(*) FROM training_steps GROUP BY round ORDER BY round")
    assert rows == [(1, 1), (2, 1), (3, 1)]

import multiprocessing
import subprocess
import sys
from datetime import datetime

import duckdb
import pytest

from flywheel.store.database import TABLES, Store


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
    store.replace_round("round_metrics", 1, [{"stop_reason": "x"}])
    with pytest.raises(duckdb.Error):
        store.query("DELETE FROM round_metrics")


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


def _hold_writer(path, seconds, ready):
    store = Store(path)
    with store.writer() as connection:
        connection.execute("INSERT INTO round_metrics (round, stop_reason) VALUES (7, 'writing')")
        ready.set()
        import time
        time.sleep(seconds)


def test_auditor_reading_during_a_write_waits_instead_of_failing(tmp_path):
    path = tmp_path / "f.duckdb"
    Store(path).replace_round("round_metrics", 1, [{"stop_reason": "finished"}])
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writer = context.Process(target=_hold_writer, args=(path, 1.5, ready))
    writer.start()
    assert ready.wait(60)
    _, rows = Store(path).query("SELECT round, stop_reason FROM round_metrics ORDER BY round")  # blocks until the write is done
    writer.join(60)
    assert rows == [(1, "finished"), (7, "writing")]


def _audit_session(path, seconds, ready):
    import time

    connection = duckdb.connect(str(path), read_only=True)  # an auditor's own session, outside our lock
    ready.set()
    time.sleep(seconds)
    connection.close()


def test_an_open_audit_session_delays_a_write_but_does_not_fail_it(tmp_path):
    path = tmp_path / "f.duckdb"
    store = Store(path)
    store.replace_round("round_metrics", 1, [{"stop_reason": "generated"}])
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    auditor = context.Process(target=_audit_session, args=(path, 1.5, ready))
    auditor.start()
    assert ready.wait(60)
    store.replace_round("round_metrics", 1, [{"stop_reason": "finished"}])
    auditor.join(60)
    assert store.query("SELECT stop_reason FROM round_metrics")[1] == [("finished",)]


def test_snapshot_is_a_consistent_copy(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    store.replace_round("round_metrics", 1, [{"stop_reason": "finished"}])
    copy = store.snapshot(tmp_path / "audit.duckdb")
    store.replace_round("round_metrics", 2, [{"stop_reason": "finished"}])
    connection = duckdb.connect(str(copy), read_only=True)
    assert connection.execute("SELECT count(*) FROM round_metrics").fetchone() == (1,)
    connection.close()


def test_replace_round_where_replaces_only_the_matching_rows(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    store.replace_round("stage_runs", 1, [{"stage": "generate", "seconds": 1.0}], where={"stage": "generate"})
    store.replace_round("stage_runs", 1, [{"stage": "sft", "seconds": 2.0}], where={"stage": "sft"})
    store.replace_round("stage_runs", 1, [{"stage": "generate", "seconds": 3.0}], where={"stage": "generate"})
    _, rows = store.query("SELECT stage, seconds FROM stage_runs ORDER BY stage")
    assert rows == [("generate", 3.0), ("sft", 2.0)]


AUDITOR = ("import duckdb, time\nconnection = duckdb.connect({path!r}, read_only=True)\nprint('open', flush=True)\n"
           "time.sleep({seconds})\nconnection.close()\n")


def test_readers_do_not_queue_behind_a_writer_that_waits_on_an_outside_session(tmp_path):
    import threading
    import time

    path = tmp_path / "f.duckdb"
    Store(path).replace_round("round_metrics", 1, [{"n_prompts": 1, "stop": False}])
    auditor = subprocess.Popen([sys.executable, "-c", AUDITOR.format(path=str(path), seconds=4)],
                               stdout=subprocess.PIPE, text=True)
    assert auditor.stdout.readline().strip() == "open"
    writer = threading.Thread(target=lambda: Store(path).replace_round("round_metrics", 2, [{"n_prompts": 2}]))
    writer.start()
    time.sleep(0.5)  # the writer is now retrying against the auditor's lock
    started = time.monotonic()
    _, rows = Store(path).query("SELECT count(*) FROM round_metrics")
    assert time.monotonic() - started < 1.5 and rows == [(1,)]
    writer.join(30)
    auditor.wait()
    assert Store(path).query("SELECT count(*) FROM round_metrics")[1] == [(2,)]


def test_an_arrow_table_lands_in_the_round_it_is_written_for(tmp_path):
    import pyarrow as pa

    store = Store(tmp_path / "f.duckdb")
    store.replace_round("mixture", 3, pa.table({"source": ["a", "b"], "n_taken": [1, 2]}))
    store.replace_round("mixture", 4, pa.table({"source": ["c"], "round": [99]}))
    _, rows = store.query("SELECT round, source, n_taken FROM mixture ORDER BY source")
    assert rows == [(3, "a", 1), (3, "b", 2), (4, "c", None)]


def test_rounds_is_derived_from_the_stages_runs(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    store.replace_round("stage_runs", 0, [{"stage": "evaluate", "checkpoint": "base"}], where={"stage": "evaluate"})
    store.replace_round("stage_runs", 1, [{"stage": "generate", "checkpoint": "base", "started_at": datetime(2026, 1, 1)}],
                        where={"stage": "generate"})
    assert store.query("SELECT round, status, generation_checkpoint, checkpoint FROM rounds")[1] == [
        (1, "generated", "base", None)]  # round 0 generated nothing: it is not a round of samples
    store.replace_round("stage_runs", 1, [{"stage": "sft", "checkpoint": "r1/checkpoint"}], where={"stage": "sft"})
    store.replace_round("stage_runs", 1, [{"stage": "round_metrics", "finished_at": datetime(2026, 1, 2)}],
                        where={"stage": "round_metrics"})
    assert store.query("SELECT * FROM rounds")[1] == [
        (1, "finished", "base", "r1/checkpoint", datetime(2026, 1, 1), datetime(2026, 1, 2))]


def test_a_store_with_the_old_rounds_table_keeps_its_checkpoints(tmp_path):
    path = tmp_path / "f.duckdb"
    with duckdb.connect(str(path)) as old:  # before rounds was derived, and before stage_runs had the columns
        old.execute("CREATE TABLE rounds (round INTEGER, status VARCHAR, generation_checkpoint VARCHAR, "
                    "checkpoint VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP)")
        old.execute("INSERT INTO rounds VALUES (1, 'finished', 'base', 'r1/checkpoint', NULL, NULL)")
        old.execute("CREATE TABLE stage_runs (round INTEGER, stage VARCHAR, started_at TIMESTAMP, "
                    "finished_at TIMESTAMP, seconds DOUBLE)")
        old.execute("INSERT INTO stage_runs (round, stage) VALUES (1, 'generate'), (1, 'sft'), (1, 'round_metrics')")
    store = Store(path)
    with store.writer():
        pass
    assert store.query("SELECT round, status, generation_checkpoint, checkpoint FROM rounds")[1] == [
        (1, "finished", "base", "r1/checkpoint")]
    assert store.query("SELECT count(*) FROM legacy_rounds")[1] == [(1,)]

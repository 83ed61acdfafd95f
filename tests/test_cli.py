import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.store.database import Store

ROOT = Path(__file__).resolve().parents[1]


def test_sql_reads_and_refuses_writes(tmp_path, capsys):
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5, "stop": False}])
    assert main(["sql", "--workdir", str(tmp_path), "SELECT round, n_prompts FROM round_metrics"]) == 0
    assert "5" in capsys.readouterr().out
    try:
        main(["sql", "--workdir", str(tmp_path), "DROP TABLE round_metrics"])
    except Exception as error:  # noqa: BLE001
        assert "read-only" in str(error).lower()
    _, rows = Store(tmp_path / "flywheel.duckdb").query("SELECT count(*) FROM round_metrics")
    assert rows == [(1,)]


def test_sql_on_missing_workdir_is_a_clear_error(tmp_path, capsys):
    assert main(["sql", "--workdir", str(tmp_path / "nothing"), "SELECT 1"]) == 2
    assert "no flywheel database" in capsys.readouterr().out


def test_bad_config_names_field(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("workdir: x\nmodel: {base: y}\nprompts: {sources: []}\nevaluation: {path: z}\n")
    assert main(["demo", "--config", str(bad)]) == 2
    assert "prompts.sources" in capsys.readouterr().out


def test_verifiers_lists_builtins():
    out = subprocess.run([sys.executable, "-m", "flywheel.cli", "verifiers"], capture_output=True, text=True,
                         cwd=ROOT).stdout
    assert "math" in out and "unit_tests" in out
    assert "llm_judge" in out and "reward_model" in out


def test_compose_file_is_valid():
    import shutil

    binary = shutil.which("docker-compose") or str(Path(sys.executable).with_name("docker-compose"))
    result = subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_decontaminate_command_keeps_rows_verbatim_and_reports(tmp_path, capsys):
    import json

    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(json.dumps({"id": "q1", "messages": [{"role": "user", "content":
                         "Compute the number of ways to arrange five distinct books on a shelf today"}]}) + "\n")
    train = tmp_path / "train.jsonl"
    rows = [{"instruction": "Compute the number of ways to arrange five distinct books on a shelf today please",
             "output": "120", "domain": "math", "extra": "kept as is"},
            {"instruction": "Name a colour.", "output": "Blue.", "domain": "general", "extra": "kept as is"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["decontaminate", "--train", str(train), "--eval", f"bench={eval_file}", "--out", str(out)]) == 0
    assert [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()] == [rows[1]]
    (hit,) = [json.loads(line) for line in (out / "hits.jsonl").read_text().splitlines()]
    assert hit["instance_id"] == "q1" and hit["train_source"].endswith("train.jsonl:1") and hit["overlap"] == 1.0
    report = json.loads((out / "report.json").read_text())
    assert (report["kept"], report["dropped"], report["dropped_per_benchmark"]) == (1, 1, {"bench": 1})
    assert "bench: 1 dropped" in capsys.readouterr().out


def test_decontaminate_command_rejects_bad_eval_spec(tmp_path, capsys):
    assert main(["decontaminate", "--train", "x.jsonl", "--eval", "nofile", "--out", str(tmp_path)]) == 2
    assert "NAME=FILE" in capsys.readouterr().out


def test_a_sql_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5, "stop": False}])
    assert main(["sql", "--workdir", str(tmp_path), "SELEC 1"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("error:") and "syntax error" in out.lower() and "Traceback" not in out
    assert len(out.strip().splitlines()) <= 3
    assert main(["--debug", "sql", "--workdir", str(tmp_path), "SELEC 1"]) == 2
    assert "Traceback" in capsys.readouterr().out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_demo_ends_with_one_line_and_leaves_nothing_running(tmp_path, signum):
    import time

    import yaml

    from tests.conftest import small_config_dict
    from tests.session_checks import left_by, tagged_environment

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(tmp_path / "w")))
    env, tag = tagged_environment()
    demo = subprocess.Popen([sys.executable, "-m", "flywheel.cli", "demo", "--rounds", "1", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "w" / "flywheel.duckdb").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    if signum == signal.SIGINT:  # Ctrl-C at a terminal: the whole foreground process group gets it
        os.killpg(demo.pid, signum)
    else:  # `kill PID`
        demo.send_signal(signum)
    out, _ = demo.communicate(timeout=120)
    assert demo.returncode == 130, out
    assert out.strip().splitlines()[-1] == "interrupted; rerun to resume"
    assert "Traceback" not in out
    assert left_by(tag) == []  # whatever the demo started carries its tag, in the process tree or out of it


def _mount(*argv) -> bool:
    return subprocess.run(["mount", *argv], capture_output=True).returncode == 0


def test_a_read_only_or_full_workdir_is_one_error_line(tmp_path):
    """Even as root: a read-only mount refuses writes, and a 1 MiB tmpfs fills up during the round."""
    import yaml

    from tests.conftest import small_config_dict

    read_only, full = tmp_path / "ro", tmp_path / "full"
    read_only.mkdir()
    full.mkdir()
    if not (_mount("--bind", str(read_only), str(read_only)) and _mount("-o", "remount,bind,ro", str(read_only))):
        import pytest

        pytest.skip("needs mount (root with CAP_SYS_ADMIN)")
    try:
        assert _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full))
        for workdir, expected in ((read_only / "w", "read-only file system"), (full, "not enough space left")):
            config = tmp_path / "c.yaml"
            config.write_text(yaml.safe_dump(small_config_dict(workdir)))
            done = subprocess.run([sys.executable, "-m", "flywheel.cli", "demo", "--rounds", "1", "--config",
                                   str(config)], cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert done.returncode == 2, done.stdout
            lines = [line for line in done.stdout.splitlines() if line.startswith("error:")]
            assert len(lines) == 1 and expected in lines[0].lower(), done.stdout[-2000:]
            assert "Traceback" not in done.stdout + done.stderr
    finally:
        subprocess.run(["umount", str(read_only)], capture_output=True)
        subprocess.run(["umount", str(full)], capture_output=True)


def test_sql_formats_and_paths_relative_to_the_workdir(tmp_path, capsys, monkeypatch):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5, "yield": 0.258, "stop": False}])
    (tmp_path / "rounds" / "1").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "rounds" / "1" / "t.parquet")
    monkeypatch.chdir(ROOT)  # another folder than the workdir
    assert main(["sql", "--workdir", str(tmp_path), "--format", "csv",
                 "SELECT round, n_prompts, yield FROM round_metrics"]) == 0
    assert capsys.readouterr().out.splitlines() == ["round,n_prompts,yield", "1,5,0.258"]
    assert main(["sql", "--workdir", str(tmp_path), "--format", "json",
                 "SELECT sum(x) AS total FROM read_parquet('rounds/1/t.parquet')"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"total": 3}]


def test_a_sql_typo_keeps_duckdbs_did_you_mean(tmp_path, capsys):
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5, "stop": False}])
    assert main(["sql", "--workdir", str(tmp_path), "SELECT * FROM round_metric"]) == 2
    out = capsys.readouterr().out
    assert "round_metric does not exist" in out and 'Did you mean "round_metrics"' in out


def test_tables_in_a_log_file_are_not_cut_at_80_columns(tmp_path):
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5, "yield": 0.2583, "stop": False}])
    columns = ", ".join(f"yield AS yield_{i}" for i in range(12))
    out = subprocess.run([sys.executable, "-m", "flywheel.cli", "sql", "--workdir", str(tmp_path),
                          f"SELECT {columns} FROM round_metrics"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=60).stdout
    assert out.count("0.2583") == 12  # no number split over two lines


def test_a_ctrl_c_caught_by_sqlalchemys_pool_prints_no_traceback():
    """Seen once in CI: Ctrl-C landed while Dagster's SQLite pool closed a connection; SQLAlchemy logged the
    KeyboardInterrupt with its traceback above 'interrupted'. Here a real pool closes a connection whose close
    is interrupted, in a child process set up as the CLI sets itself up."""
    child = textwrap.dedent("""
        import sqlite3, sys
        import sqlalchemy
        from flywheel import interrupts

        interrupts.record()

        class Interrupted(sqlite3.Connection):
            def close(self):
                raise KeyboardInterrupt

        engine = sqlalchemy.create_engine("sqlite://", poolclass=sqlalchemy.pool.NullPool,
                                          connect_args={"factory": Interrupted})
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("select 1")
        except KeyboardInterrupt:
            print("interrupted")
        import logging
        logging.getLogger("sqlalchemy.pool.impl.NullPool").error("an ordinary error still shows")
    """)
    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "interrupted", done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert "an ordinary error still shows" in done.stderr


def test_an_interrupt_is_recognised_however_a_library_rewraps_it():
    from flywheel.interrupts import was_interrupted

    # a real SIGINT during a DuckDB 2 query surfaces as a plain RuntimeError, which Dagster may wrap again;
    # run in a child so the signal never reaches pytest. DuckDB 2.0 sometimes drops every SIGINT of a query
    # (1 run in 3 here, more under load): after 5 s the child interrupts it through DuckDB's own API instead,
    # which surfaces as the same error, so the recognition is tested either way.
    child = textwrap.dedent("""
        import os, signal, threading, time, duckdb
        from flywheel.interrupts import was_interrupted
        connection = duckdb.connect()
        def interrupt():
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5.0)
            connection.interrupt()
        threading.Thread(target=interrupt, daemon=True).start()
        try:
            connection.sql("SELECT count(*) FROM range(10000000000) a, range(100) b").fetchall()
        except BaseException as error:
            try:
                raise RuntimeError("step failed") from error
            except RuntimeError as wrapped:
                print(type(error).__name__, was_interrupted(wrapped))
    """)
    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-1] == "True", done.stdout + done.stderr
    assert not was_interrupted(RuntimeError("Query failed"))
    assert not was_interrupted(ValueError("x"))


def test_sql_prints_a_result_too_wide_for_the_terminal_one_record_per_block(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    Store(tmp_path / "flywheel.duckdb").replace_round("round_metrics", 1, [{"n_prompts": 5}])
    wide = "SELECT " + ", ".join(f"{i * 1000.5} AS column_{i:02d}" for i in range(28))  # as wide as round_metrics
    assert main(["sql", "--workdir", str(tmp_path), wide + " UNION ALL " + wide]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("-[ RECORD 1 ]") and lines[29].startswith("-[ RECORD 2 ]") and len(lines) == 58
    assert "column_27 | 27013.5" in lines and all(len(line) <= 80 for line in lines)
    assert main(["sql", "--workdir", str(tmp_path), "SELECT round, n_prompts FROM round_metrics"]) == 0
    assert "RECORD" not in capsys.readouterr().out  # a narrow result stays a table


def test_ui_on_a_folder_without_rounds_says_so_and_creates_nothing(tmp_path, capsys):
    assert main(["ui", "--workdir", str(tmp_path / "nothing")]) == 2
    out = capsys.readouterr().out.replace("\n", "")
    assert "nothing: no rounds here (no flywheel.duckdb)" in out and "flywheel run" in out
    assert not (tmp_path / "nothing").exists()

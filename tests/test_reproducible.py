"""Same config and seed, same rows: a round repeats exactly, also on a machine that other processes load.

Compares the test run's shared ``flywheel demo --rounds 1`` (the small test config on 12 math and
12 code prompts, so the math worker and the sandbox both judge; tests/conftest.py) with the same demo
run again beside one CPU-burning process per core, and compares every table row by row. Only what measures time
is left out (seconds, tokens/s, timestamps); the folder holding the workdir is normalised.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.store.database import TABLES, Store
from tests.conftest import run_small_demo, table_rows

pytestmark = pytest.mark.slow


def run_loaded(tmp_path: Path) -> Path:
    """The shared demo's run again, beside one CPU-burning process per core."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        return run_small_demo(tmp_path, "demo", seed=3)  # named as the shared one: same paths below the folder
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_a_round_repeats_row_for_row_under_load(tmp_path, finished_small_demo):
    quiet = finished_small_demo  # the quiet run: the session's shared demo, same config and seed
    loaded = run_loaded(tmp_path)
    compared = 0
    for table in TABLES:
        first, second = table_rows(quiet, table), table_rows(loaded, table)
        assert first == second, f"{table} differs between the quiet and the loaded run"
        compared += len(first)
    assert compared > 200
    _, judged = Store(loaded / "flywheel.duckdb").query("SELECT DISTINCT verifier FROM verdicts ORDER BY 1")
    assert judged == [("math",), ("unit_tests",)]  # both the math worker and the sandbox decided verdicts
    (timeouts,), = Store(loaded / "flywheel.duckdb").query("SELECT verifier_timeouts FROM round_metrics WHERE round = 1")[1]
    assert timeouts == 0  # under load, no verdict was decided by a wall clock

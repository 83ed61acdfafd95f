"""Kill a round at random moments (SIGKILL, three seeds), rerun it, and compare with an uninterrupted run.

The uninterrupted run is the test run's shared ``flywheel demo --rounds 1`` (the small config on 12 math and 12 code
prompts, seed 3; tests/conftest.py): one round crosses every stage boundary, round 0's included, and the math worker
and the sandbox both judge. Checks: the final tables are identical (timing columns aside), no table holds a
duplicate key, and no stage that had finished ran a second time (each ``stage_runs`` row counts one finished run).
Generation, verification and SFT are real.
"""

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flywheel.store.database import TABLES, Store
from tests.conftest import small_demo_command, small_demo_seconds, table_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
KEYS = {"samples": ["round", "prompt_id", "sample_index"], "verdicts": ["round", "prompt_id", "sample_index", "verifier"],
        "prompts": ["round", "id"], "evaluations": ["round", "split", "domain"], "round_metrics": ["round"],
        "training_steps": ["round", "step"], "stage_runs": ["round", "stage"], "pool": ["round", "example_id"],
        "eval_samples": ["round", "split", "prompt_id", "sample_index"], "rounds": ["round"],
        "mixture_topics": ["round", "source", "topic"]}


def test_killed_at_three_random_moments_and_rerun_gives_the_same_tables(tmp_path, finished_small_demo):
    """One run killed three times (SIGKILL, at a random moment of each third of the work, seeds 1-3), resumed
    after each kill: three kills and three resumes for the price of one run (they were three runs, one kill each)."""
    reference, seconds = finished_small_demo, small_demo_seconds(finished_small_demo)
    workdir, command = small_demo_command(tmp_path, "demo")  # named as the shared one: same paths below the folder

    def demo() -> subprocess.Popen:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    landed = []
    for seed in (1, 2, 3):
        run = demo()
        time.sleep(random.Random(seed).uniform(0.1, 0.9) * seconds / 3)
        landed.append(run.poll() is None)
        if landed[-1]:
            os.killpg(run.pid, signal.SIGKILL)  # the demo and everything it started, as an OOM killer or a reboot would
        run.wait()
    assert landed[0], "the first kill came after the run had finished: nothing was tested"
    assert demo().wait(1800) == 0
    for table in TABLES:
        assert table_rows(workdir, table) == table_rows(reference, table), f"{table} differs after kills at {landed}"
    for table, key in KEYS.items():
        _, duplicates = Store(workdir / "flywheel.duckdb").query(
            f"SELECT {', '.join(key)}, count(*) FROM {table} GROUP BY ALL HAVING count(*) > 1")
        assert duplicates == [], f"{table} has duplicate keys"
    _, again = Store(workdir / "flywheel.duckdb").query("SELECT round, stage, runs FROM stage_runs WHERE runs <> 1")
    assert again == [], f"a finished stage ran again: {again}"

"""Kill a two-round run at random moments (SIGKILL, three seeds), rerun it, and compare with an uninterrupted run.

Checks: the final tables are identical (timing columns aside), no table holds a duplicate key,
and no stage that had finished ran a second time (each ``stage_runs`` row counts one finished
run). Generation, verification and SFT are real; the small test config keeps it to minutes.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flywheel.store import TABLES, Store
from tests.conftest import small_config_dict

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TIMING = {"verdicts": ["cost_seconds"], "eval_verdicts": ["cost_seconds"], "training_steps": ["tokens_per_second"],
          "dpo_steps": ["tokens_per_second"],
          "stage_runs": ["started_at", "finished_at", "seconds", "start_seconds", "work_seconds", "stop_seconds"]}
KEYS = {"samples": ["round", "prompt_id", "sample_index"], "verdicts": ["round", "prompt_id", "sample_index", "verifier"],
        "prompts": ["round", "id"], "evaluations": ["round", "split", "domain"], "round_metrics": ["round"],
        "training_steps": ["round", "step"], "stage_runs": ["round", "stage"], "selections": ["round", "example_id"],
        "eval_samples": ["round", "split", "prompt_id", "sample_index"], "rounds": ["round"],
        "mixture_topics": ["round", "source", "topic"]}


def demo(workdir: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flywheel.cli", "demo", "--rounds", "2", "--config", str(config),
                             "--seed", "5"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def config_for(tmp_path: Path, name: str) -> tuple[Path, Path]:
    workdir = tmp_path / name
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(small_config_dict(workdir)))
    return workdir, path


def rows(workdir: Path, table: str) -> list[tuple]:
    drop = TIMING.get(table, [])
    select = f"SELECT * EXCLUDE ({', '.join(drop)})" if drop else "SELECT *"
    _, found = Store(workdir / "flywheel.duckdb").query(f"{select} FROM {table} ORDER BY ALL")
    return [tuple(v.replace(str(workdir), "<w>") if isinstance(v, str) else v for v in row) for row in found]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    workdir, config = config_for(tmp, "reference")
    started = time.monotonic()
    assert demo(workdir, config).wait(1800) == 0
    return workdir, time.monotonic() - started


def test_killed_at_three_random_moments_and_rerun_gives_the_same_tables(tmp_path, uninterrupted):
    """One run killed three times (SIGKILL, at a random moment of each third of the work, seeds 1-3), resumed
    after each kill: three kills and three resumes for the price of one run (they were three runs, one kill each)."""
    reference, seconds = uninterrupted
    workdir, config = config_for(tmp_path, "killed")
    landed = []
    for seed in (1, 2, 3):
        run = demo(workdir, config)
        time.sleep(random.Random(seed).uniform(0.1, 0.9) * seconds / 3)
        landed.append(run.poll() is None)
        if landed[-1]:
            os.killpg(run.pid, signal.SIGKILL)  # the demo and everything it started, as an OOM killer or a reboot would
        run.wait()
    assert landed[0], "the first kill came after the run had finished: nothing was tested"
    assert demo(workdir, config).wait(1800) == 0
    for table in TABLES:
        assert rows(workdir, table) == rows(reference, table), f"{table} differs after kills at {landed}"
    for table, key in KEYS.items():
        _, duplicates = Store(workdir / "flywheel.duckdb").query(
            f"SELECT {', '.join(key)}, count(*) FROM {table} GROUP BY ALL HAVING count(*) > 1")
        assert duplicates == [], f"{table} has duplicate keys"
    _, again = Store(workdir / "flywheel.duckdb").query("SELECT round, stage, runs FROM stage_runs WHERE runs <> 1")
    assert again == [], f"a finished stage ran again: {again}"

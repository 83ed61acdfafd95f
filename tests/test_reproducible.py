"""Same config and seed, same rows: a round repeats exactly, also on a machine that other processes load.

Runs ``flywheel demo --rounds 1`` (the small test config on 12 math and 12 code prompts,
so the math worker and the sandbox both judge) twice, the second time beside one
CPU-burning process per core, and compares every table row by row. Only what measures time
is left out (seconds, tokens/s, timestamps); the workdir's own path is normalised.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flywheel.store import TABLES, Store
from tests.conftest import TASKS, small_config_dict

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TIMING = {"verdicts": ["cost_seconds"], "eval_verdicts": ["cost_seconds"],
          "training_steps": ["tokens_per_second"], "rounds": ["started_at", "finished_at"],
          "stage_runs": ["started_at", "finished_at", "seconds"]}


def mixed_prompts(tmp_path: Path) -> Path:
    """12 math and 12 code prompts of the bundled pool, so the math worker and the sandbox both judge."""
    rows = [json.loads(line) for line in (TASKS / "train.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if r["domain"] == "math"][:12] + [r for r in rows if r["domain"] == "code"][:12]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    return path


def run_demo(tmp_path: Path, name: str, burn: bool) -> Path:
    workdir = tmp_path / name
    config = tmp_path / f"{name}.yaml"
    raw = small_config_dict(workdir)
    raw["prompts"]["sources"][0]["path"] = str(mixed_prompts(tmp_path))
    config.write_text(yaml.safe_dump(raw))
    burners = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) for _ in range(os.cpu_count() or 2)] \
        if burn else []
    try:
        subprocess.run([sys.executable, "-m", "flywheel.cli", "demo", "--rounds", "1", "--config", str(config),
                        "--seed", "3"], cwd=ROOT, check=True, timeout=1800, capture_output=True)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    return workdir


def rows(workdir: Path, table: str) -> list[tuple]:
    drop = TIMING.get(table, [])
    select = f"SELECT * EXCLUDE ({', '.join(drop)})" if drop else "SELECT *"
    _, found = Store(workdir / "flywheel.duckdb").query(f"{select} FROM {table} ORDER BY ALL")
    text = str(workdir)
    return [tuple(v.replace(text, "<workdir>") if isinstance(v, str) else v for v in row) for row in found]


def test_a_round_repeats_row_for_row_under_load(tmp_path):
    quiet = run_demo(tmp_path, "quiet", burn=False)
    loaded = run_demo(tmp_path, "loaded", burn=True)
    compared = 0
    for table in TABLES:
        first, second = rows(quiet, table), rows(loaded, table)
        assert first == second, f"{table} differs between the quiet and the loaded run"
        compared += len(first)
    assert compared > 200
    _, judged = Store(loaded / "flywheel.duckdb").query("SELECT DISTINCT verifier FROM verdicts ORDER BY 1")
    assert judged == [("math",), ("unit_tests",)]  # both the math worker and the sandbox decided verdicts
    (timeouts,), = Store(loaded / "flywheel.duckdb").query("SELECT verifier_timeouts FROM round_metrics WHERE round = 1")[1]
    assert timeouts == 0  # under load, no verdict was decided by a wall clock

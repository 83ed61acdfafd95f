import subprocess
import sys
from pathlib import Path

from dagster_project.definitions import defs, round_job

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_with_round_partitions_and_checks():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"prompts", "samples", "verdicts", "selected", "decontaminated", "mixture", "checkpoint",
                    "evaluation", "diversity", "round_metrics"}
    checks = {k.name for k in graph.asset_check_keys}
    assert {"no_overlap_left", "checkpoint_loads", "no_eval_regression"} <= checks
    assert defs.resolve_job_def(round_job.name).partitions_def.name == "round"
    assert set(defs.resources) == {"flywheel", "generator", "store", "sandbox"}


def test_dagster_cli_validates_the_code_location():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-m", "dagster_project.definitions"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

import subprocess
import sys
from pathlib import Path

from dagster_project.definitions import defs, round_job

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_with_round_partitions_and_checks():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"prompts", "samples", "verdicts", "pool", "curated", "decontaminated", "mixture",
                    "checkpoint", "evaluation", "diversity", "round_metrics", "pairs", "dpo_checkpoint"}
    checks = {k.name for k in graph.asset_check_keys}
    assert {"no_overlap_left", "checkpoint_loads", "no_eval_regression", "dpo_checkpoint_loads"} <= checks
    assert defs.resolve_job_def(round_job.name).partitions_def.name == "round"
    assert set(defs.resources) == {"flywheel", "generator", "store", "sandbox"}


def test_dagster_cli_validates_the_code_location():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-m", "dagster_project.definitions"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_round_zero_vouches_once_for_every_stage_it_does_not_run():
    """Dagster has no "not applicable" partition: round 0's stages report partition 0 of the others as done, so
    the asset graph after a round reads as done; each exactly once, upstream ones before the reporting stage."""
    from dagster_project.assets import round_zero_vouches
    from flywheel.round import registry as stage_registry

    stages = stage_registry.all_stages()
    order = [s.output for s in stages]
    for seed_round in (False, True):
        ran = [s.output for s in stages if s.in_round_zero(seed_round)]
        reported = []
        for stage in stages:
            before, after = round_zero_vouches(stage, seed_round)
            assert all(order.index(name) < order.index(stage.output) for name in before)
            assert all(order.index(name) > order.index(stage.output) for name in after)
            reported += before + after
        assert sorted(reported) == sorted(set(order) - set(ran)), seed_round  # each once, none that round 0 runs
    assert round_zero_vouches(stage_registry.by_output("evaluation"), False) == (
        ["prompts", "samples", "verdicts", "pool", "curated", "decontaminated", "mixture", "checkpoint",
         "pairs", "dpo_checkpoint"], ["diversity", "round_metrics"])

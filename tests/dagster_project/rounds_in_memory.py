"""Rounds materialized in this process on an ephemeral Dagster instance, in the demo's order: round 0's evaluation
(the seed model's score; the test config has no seed SFT), then every asset of rounds 1..N."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_project.assets import ROUND_ASSETS
from dagster_project.demo import RUN_CONFIG
from dagster_project.resources import default_resources


def materialize_rounds(config_path: Path, last_round: int) -> tuple[dg.DagsterInstance, dict, dict]:
    """(the instance, the resources, each round's result by partition key); each result is returned, not asserted,
    so a test can look at a failure."""
    instance = dg.DagsterInstance.ephemeral()
    keys = [str(number) for number in range(last_round + 1)]
    instance.add_dynamic_partitions("round", keys)
    resources = default_resources(str(config_path))
    evaluation = next(a for a in ROUND_ASSETS if a.key.to_user_string() == "evaluation")
    results = {"0": dg.materialize(ROUND_ASSETS, selection=[evaluation.key], partition_key="0", instance=instance,
                                   resources=resources, run_config=RUN_CONFIG)}
    for key in keys[1:]:
        results[key] = dg.materialize(ROUND_ASSETS, partition_key=key, instance=instance, resources=resources,
                                      run_config=RUN_CONFIG)
    return instance, resources, results

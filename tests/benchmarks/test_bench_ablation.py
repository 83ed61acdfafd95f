"""benchmarks/bench_ablation.py: each arm turns off exactly its filter, and the tables compute what they say."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from flywheel.config import DEFAULT_CONFIG, load_config
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = pytest.importorskip("bench_ablation")


def test_each_arm_differs_from_full_in_its_filter_alone(tmp_path):
    configs = {arm: load_config(bench.arm_config(DEFAULT_CONFIG, arm, tmp_path)) for arm in bench.ARMS}
    full = configs["full"]
    assert all(not s.quotas.get("general") for s in full.mixture.sources)  # general samples train
    assert (full.quality.enabled, full.quality.min_difficulty, full.quality.semantic_dedup_threshold) == (True, 0.01, 0.95)

    def differences(arm):
        a, b = full.model_dump(mode="json"), configs[arm].model_dump(mode="json")
        return {f"{section}.{key}" for section in a if isinstance(a[section], dict)
                for key in set(a[section]) | set(b[section]) if a[section].get(key) != b[section].get(key)}

    for arm, domain in (("no_math_checker", "math"), ("no_sandbox", "code"), ("no_reward_model", "general")):
        assert differences(arm) == {"selection.policies"}  # the checker runs; selection stops listening
        assert configs[arm].selection.policies == {**full.selection.policies, domain: "unfiltered"}
        # the held-out evaluation scores with the same verifiers in every arm
        assert configs[arm].verifiers == full.verifiers
    assert differences("no_quality_control") == {"quality.enabled"}
    assert differences("no_semantic_dedup") == {"quality.semantic_dedup_threshold"}
    previous = configs["previous_default"]
    assert differences("previous_default") == {"mixture.sources", "quality.min_difficulty",
                                               "quality.semantic_dedup_threshold"}
    assert [s.quotas.get("general") for s in previous.mixture.sources if s.kind.startswith("pool")] == [0, 0]
    assert previous.quality.min_difficulty is None and previous.quality.semantic_dedup_threshold is None


def test_contribution_is_full_minus_the_arm_per_seed():
    def run(all_, general):
        return {"all": [0.1, all_], "math": [0.1, all_], "code": [0.1, all_], "general": [0.0, general]}

    scores = {"full": {0: run(0.5, 0.1), 1: run(0.6, 0.1), 2: run(0.55, 0.1)},
              "no_sandbox": {0: run(0.3, 0.1), 1: run(0.35, 0.1), 2: run(0.32, 0.1)},
              "no_semantic_dedup": {0: run(0.52, 0.1), 1: run(0.58, 0.1), 2: run(0.55, 0.1)}}
    table = bench.tables(scores, 1)
    sandbox = next(line for line in table.splitlines() if line.startswith("| sandbox"))
    assert sandbox.split(" | ")[1].startswith("+0.227 (") and sandbox.endswith("| helps |")
    dedup = next(line for line in table.splitlines() if line.startswith("| semantic dedup"))
    assert dedup.split(" | ")[1].startswith("+0.000 (") and dedup.endswith("no difference the intervals can see |")
    assert "over seeds [0, 1, 2]:" in table
    scores["control of full"] = {0: run(0.3, 0.0), 1: run(0.4, 0.0), 2: run(0.35, 0.0)}
    control = next(line for line in bench.tables(scores, 1).splitlines() if line.startswith("| the flywheel (full)"))
    assert control.split(" | ")[1].startswith("+0.200 (") and control.split(" | ")[4].startswith("+0.100")
    scores["no_reward_model"] = {0: run(0.7, 0.1)}  # a run cut short: the table compares the seeds every arm ran
    narrowed = bench.tables(scores, 1)
    assert "over seeds [0]:" in narrowed
    assert next(line for line in narrowed.splitlines() if line.startswith("| reward model")).endswith(
        "| one seed: no interval yet |")

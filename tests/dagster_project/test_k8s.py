"""Pods per stage: the dagster-k8s/config tags follow the round config, on the real assets of the code location."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dagster_project.k8s import TAG, gpus_per_stage, op_tags, pod_config
from flywheel.config import DEFAULT_CONFIG, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def config_with(**sections):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for name, values in sections.items():
        data[name] = {**(data.get(name) or {}), **values}
    return parse_config(data, base_dir=DEFAULT_CONFIG.parent)


@pytest.mark.parametrize(("generation", "sft", "expected"), [
    ({"backend": "vllm", "vllm": {"tensor_parallel_size": 4}}, {"num_processes": 8}, (4, 8, 4)),
    ({"backend": "vllm_server", "vllm": {"tensor_parallel_size": 2, "replicas": 3}}, {}, (6, 1, 6)),
    ({"backend": "transformers", "device": "cuda"}, {"num_processes": 2}, (1, 2, 1)),
    ({"backend": "transformers", "device": "cpu"}, {}, (0, 1, 0)),
    ({"backend": "openai"}, {"num_processes": 8}, (0, 8, 0)),
])
def test_gpu_counts_follow_the_config(generation, sft, expected):
    config = config_with(generation=generation, sft=sft)
    counts = gpus_per_stage(config)
    assert (counts["samples"], counts["checkpoint"], counts["evaluation"]) == expected
    assert counts["dpo_checkpoint"] == 0  # off by default: a CPU pod that only records so
    assert gpus_per_stage(config_with(generation=generation, dpo={"enabled": True, "num_processes": 2})
                          )["dpo_checkpoint"] == 2


def test_an_explicit_count_overrides_and_a_negative_one_is_refused_by_name():
    config = config_with(generation={"backend": "vllm"}, kubernetes={"enabled": True, "gpus": {"evaluation": 2}})
    assert gpus_per_stage(config)["evaluation"] == 2
    with pytest.raises(ConfigError, match="kubernetes.gpus"):
        config_with(kubernetes={"gpus": {"samples": -1}})
    with pytest.raises(ConfigError, match="kubernetes.gpus"):
        config_with(kubernetes={"gpus": {"pool": 1}})  # only the GPU stages


def test_gpu_stages_ask_for_gpus_with_tolerations_and_the_rest_for_cpu_pods():
    config = config_with(generation={"backend": "vllm", "vllm": {"tensor_parallel_size": 2}}, sft={"num_processes": 8},
                         kubernetes={"enabled": True, "gpu_node_selector": {"pool": "h100"},
                                     "cpu_pod": {"cpu": "3", "memory": "12Gi"}})
    sft = pod_config(config, "checkpoint")
    assert sft["container_config"]["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    assert sft["pod_spec_config"]["node_selector"] == {"pool": "h100"}
    assert sft["pod_spec_config"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod_config(config, "samples")["container_config"]["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    for stage in ("prompts", "verdicts", "pool", "mixture", "round_metrics"):
        assert pod_config(config, stage) == {"container_config": {"resources": {"requests": {"cpu": "3", "memory": "12Gi"}}}}


def test_no_tags_unless_kubernetes_is_enabled():
    assert op_tags(config_with(generation={"backend": "vllm"}), "samples") == {}


def test_the_code_location_carries_the_tags_and_runs_steps_as_kubernetes_jobs(tmp_path):
    """Loaded as the code server loads it: FLYWHEEL_CONFIG names a config with kubernetes.enabled."""
    data = load_config(DEFAULT_CONFIG, workdir=tmp_path / "work").model_dump(mode="json")
    data["generation"]["device"] = "cuda"
    data["sft"]["num_processes"] = 4
    data["dpo"] = {"enabled": True, "num_processes": 4}
    data["kubernetes"]["enabled"] = True
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(data))
    probe = """
import json
from dagster_project import definitions as d
tags, ops = {}, {}
for a in d.ROUND_ASSETS:
    if a.key.to_user_string() == "verdicts":
        ops = {o.name: dict(o.tags) for o in a.node_def.node_defs}
    else:
        tags[a.key.to_user_string()] = dict(a.op.tags)
print(json.dumps({"tags": tags, "ops": ops, "executor": d.defs.resolve_job_def("round").executor_def.name,
                  "zero": d.defs.resolve_job_def("round_zero").executor_def.name}))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=240,
                            env={**os.environ, "FLYWHEEL_CONFIG": str(tmp_path / "round.yaml")})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["executor"] == found["zero"] == "k8s"

    def pod(tags):
        return json.loads(tags[TAG]) if isinstance(tags[TAG], str) else tags[TAG]

    limits = {name: pod(tags)["container_config"]["resources"].get("limits") for name, tags in found["tags"].items()}
    assert limits.pop("samples") == limits.pop("evaluation") == {"nvidia.com/gpu": "1"}
    assert limits.pop("checkpoint") == {"nvidia.com/gpu": "4"}
    assert limits.pop("dpo_checkpoint") == {"nvidia.com/gpu": "4"}  # dpo.num_processes
    assert set(limits) == {"prompts", "pool", "curated", "decontaminated", "mixture", "diversity", "round_metrics",
                           "pairs"}
    assert all(value is None for value in limits.values())  # CPU pods: requests only
    assert set(found["ops"]) == {"plan_verify_shards", "verify_one_shard", "merge_verify_shards"}
    assert all(TAG in tags for tags in found["ops"].values())


def test_the_shipped_cluster_config_asks_for_what_its_comments_say():
    text = (ROOT / "deploy" / "helm" / "round.yaml").read_text()
    config = parse_config(yaml.safe_load(text), base_dir=ROOT / "deploy" / "helm")
    assert config.kubernetes.enabled
    assert gpus_per_stage(config) == {"samples": 1, "checkpoint": 8, "evaluation": 1, "dpo_checkpoint": 0}


def test_a_bad_config_fails_the_code_location_load_naming_the_field(tmp_path):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["kubernetes"] = {"enabled": "sometimes"}
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(data))
    result = subprocess.run([sys.executable, "-c", "import dagster_project.definitions"], capture_output=True,
                            text=True, cwd=ROOT, timeout=240,
                            env={**os.environ, "FLYWHEEL_CONFIG": str(tmp_path / "round.yaml")})
    assert result.returncode != 0 and "kubernetes.enabled" in result.stderr
    with pytest.raises(ConfigError):
        load_config(tmp_path / "round.yaml")

"""In Dagster, a changed upstream shows its downstream stale (data versions are the lineage keys)."""

import shutil

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from dagster_project.assets import ROUND_ASSETS, asset_named
from dagster_project.definitions import defs
from dagster_project.demo import RUN_CONFIG
from dagster_project.resources import default_resources
from tests.conftest import TASKS, small_config_dict

pytestmark = pytest.mark.slow
prompts, samples = asset_named("prompts"), asset_named("samples")


def test_a_changed_prompt_source_shows_the_samples_stale(tmp_path):
    source = tmp_path / "prompts.jsonl"
    shutil.copy(TASKS / "train.jsonl", source)
    raw = small_config_dict(tmp_path / "w")
    raw["prompts"]["sources"][0]["path"] = str(source)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("round", ["1"])
    resources = default_resources(str(tmp_path / "c.yaml"), str(tmp_path / "w"))

    def run(asset):
        dg.materialize(ROUND_ASSETS, selection=[asset.key], partition_key="1", instance=instance,
                       resources=resources, run_config=RUN_CONFIG)

    def status():
        resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))
        return resolver.get_status(samples.key, "1"), resolver.get_stale_causes(samples.key, "1")

    run(prompts)
    run(samples)
    assert status()[0] == StaleStatus.FRESH
    run(prompts)  # same inputs: same data version, nothing goes stale
    assert status()[0] == StaleStatus.FRESH
    with source.open("a") as handle:
        handle.write('{"id": "extra", "domain": "math", "messages": [{"role": "user", "content": "1 plus 1?"}], '
                     '"reference": "2"}\n')
    run(prompts)
    state, causes = status()
    assert state == StaleStatus.STALE and causes[0].dependency.asset_key == prompts.key

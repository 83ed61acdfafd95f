"""Verification overlapping generation under Dagster: one run materializes prompts, samples and verdicts (two shards,
each a step) with ``verifiers.overlap_generation``; the shard steps find every chunk judged beside generation and
judge none, and the verdicts equal the serial stage's."""

import dagster as dg
import pytest

from dagster_project.assets import ROUND_ASSETS
from dagster_project.demo import RUN_CONFIG
from dagster_project.resources import default_resources
from flywheel.round.layout import RoundPaths
from flywheel.stages import verify as verify_stage
from flywheel.store.database import Store
from flywheel.verification.shards import chunk_folder, part_path
from tests.flywheel.verification.test_overlap import double, round_config  # noqa: F401 - the fixture
from tests.flywheel.verification.test_shards import assert_same_verdicts, verdict_rows

pytestmark = pytest.mark.slow


def test_one_dagster_run_overlaps_and_the_shard_steps_judge_nothing_again(tmp_path, double):  # noqa: F811
    config, _ = round_config(tmp_path, "overlapped", overlap=True, url=double.url)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("round", ["1"])
    keys = [dg.AssetKey(name) for name in ("prompts", "samples", "verdicts")]
    result = dg.materialize(ROUND_ASSETS, selection=keys, partition_key="1", instance=instance,
                            resources=default_resources(str(tmp_path / "overlapped.yaml")), run_config=RUN_CONFIG)
    assert result.success
    samples = result.asset_materializations_for_node("samples")[0].metadata
    assert samples["overlapped_verification"].data["chunks_verified"] > 0
    logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    shards = [line for line in logs if line.startswith("shard ")]
    assert shards and all("(0 chunk(s) judged" in line for line in shards), shards
    assert not any(chunk_folder(part_path(config, 1, s, 2)).exists() for s in range(2))  # the parts hold them

    serial = config.model_copy(update={"verifiers": config.verifiers.model_copy(update={"overlap_generation": False}),
                                       "workdir": tmp_path / "serial-work"})
    RoundPaths(serial.workdir, 1).samples.parent.mkdir(parents=True)
    for name in ("prompts", "samples"):  # the same samples, judged after generation
        getattr(RoundPaths(serial.workdir, 1), name).write_bytes(getattr(RoundPaths(config.workdir, 1), name).read_bytes())
    verify_stage.verify(serial, 1, Store(serial.workdir / "flywheel.duckdb"))
    assert_same_verdicts(verdict_rows(config), verdict_rows(serial))

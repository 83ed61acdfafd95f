"""The verdicts asset fans out over shards under Dagster's multiprocess executor: shards run in
processes side by side, give the verdicts of the serial stage, and a failed shard is retried alone.

A third-party verifier (installed into a temporary target, as a user would) fails its first call
on shard 1: a crash of one shard's process, as a preempted pod or a broken node gives.
"""

import os
import sys
import textwrap

import pyarrow.parquet as pq
import pytest
import yaml

from flywheel.stages import verify as verify_stage
from flywheel.config import load_config
from flywheel.round.layout import RoundPaths
from flywheel.store.database import Store
from tests.conftest import small_config_dict
from tests.plugin_package import install_verifier_plugin, verify_job
from tests.flywheel.verification.test_shards import config_with, round_with_samples, verdict_rows

pytestmark = pytest.mark.slow

PLUGIN = textwrap.dedent('''
    import os
    from pathlib import Path

    from flywheel.verification.shards import shard_of
    from flywheel.verification.plugins import VerdictResult


    class Flaky:
        """Passes every answer; the first call that sees shard 1 raises once (its marker file is gone after)."""

        name, domains = "flaky", ("math", "general", "code")

        def verify_batch(self, items):
            marker = Path(os.environ["FLAKY_MARKER"])
            if marker.exists() and any(shard_of(i.prompt.id, 2) == 1 for i in items):
                marker.unlink()
                raise RuntimeError("the node running this shard went away")
            return [VerdictResult(True, 1.0, "fine") for _ in items]
''')
@pytest.fixture
def flaky_plugin(tmp_path, monkeypatch):
    target = install_verifier_plugin(tmp_path, name="flaky", module="flywheel_flaky", cls="Flaky", source=PLUGIN)
    marker = tmp_path / "fail-shard-1-once"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("FLAKY_MARKER", str(marker))
    sys.path.insert(0, str(target))  # this process discovers it too, for the serial reference
    yield marker
    sys.path.remove(str(target))


def test_two_shards_run_side_by_side_match_the_serial_stage_and_retry_alone(tmp_path, monkeypatch, flaky_plugin):
    import dagster as dg

    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(small_config_dict(tmp_path / "work")))
    config = config_with(path, 2, math=["math", "flaky"], general=["reward_model", "flaky"], required=["flaky"])
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))  # what the step processes load
    config = load_config(path)
    round_with_samples(config)
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(path))

    flaky_plugin.touch()
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        instance.add_dynamic_partitions("round", ["1"])
        result = dg.execute_job(dg.reconstructable(verify_job), instance=instance, tags={"dagster/partition": "1"})
        assert result.success
        events = instance.all_logs(result.run_id)
    retried = sorted(e.step_key for e in events if e.dagster_event and e.dagster_event.event_type_value
                     == "STEP_UP_FOR_RETRY")
    restarted = sorted(e.step_key for e in events if e.dagster_event and e.dagster_event.event_type_value
                       == "STEP_RESTARTED")
    assert retried == restarted == ["verdicts.verify_one_shard[shard_1]"]  # shard 0 ran once, and was not redone
    assert not flaky_plugin.exists()
    sharded = verdict_rows(config)
    assert {row["verifier"] for row in sharded} == {"math", "flaky", "unit_tests", "reward_model"}

    serial = config.model_copy(update={"verifiers": config.verifiers.model_copy(update={"shards": 1})})
    verify_stage.verify(serial, 1, Store(serial.workdir / "flywheel.duckdb"))
    single = verdict_rows(serial)
    assert [row["score"] for row in sharded] == pytest.approx([row["score"] for row in single], rel=1e-5)
    assert [{**row, "score": None} for row in sharded] == [{**row, "score": None} for row in single]
    assert pq.read_metadata(RoundPaths(config.workdir, 1).verdicts).num_rows == len(single)

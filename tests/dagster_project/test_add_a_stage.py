"""Adding a stage is one registry entry plus its function: a toy quality screen between verify and select appears in
the lineage (select's key depends on it), in the Dagster graph (its deps and select's), and in a round's run (it
materializes for a round, recorded like every stage)."""

import dataclasses
import json

import dagster as dg
import pyarrow.parquet as pq
import yaml

from dagster_project.assets import build_round_assets
from dagster_project.demo import RUN_CONFIG
from dagster_project.resources import default_resources
from flywheel.round import lineage
from flywheel.round import registry as stage_registry
from flywheel.config import load_config
from flywheel.round.layout import RoundPaths
from flywheel.round.registry import Input, Stage
from flywheel.round.runs import run_recorded
from flywheel.store.database import Store
from tests.conftest import small_config_dict



def screen(config, round_number: int, store: Store) -> dict:
    """The toy stage: how many verdicts passed, per verifier, written beside the round's other outputs."""
    verdicts = pq.read_table(RoundPaths(config.workdir, round_number).verdicts).to_pylist()
    passed = {}
    for row in verdicts:
        passed[row["verifier"]] = passed.get(row["verifier"], 0) + bool(row["passed"])
    (RoundPaths(config.workdir, round_number).dir / "screen.json").write_text(json.dumps(passed))
    return {"n_verdicts": len(verdicts), "passed": passed}


def test_a_toy_stage_between_verify_and_select_is_one_registry_entry(tmp_path):
    toy = Stage(name="screen", output="screened", run=run_recorded("screen", screen),
                description="A toy quality screen.", inputs=(Input("verify"),), sections=("verifiers",))
    select = stage_registry.get("select")
    select_after_toy = dataclasses.replace(select, inputs=(*select.inputs, Input("screen")))
    with stage_registry.registered(toy), stage_registry.registered(select_after_toy):
        stages = stage_registry.all_stages()
        names = [s.name for s in stages]
        assert names.index("verify") < names.index("screen") < names.index("select")
        raw = small_config_dict(tmp_path / "w")
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
        config = load_config(tmp_path / "c.yaml")
        # lineage: select's key now covers the screen's, and the screen's covers verify's
        assert ("screen", 1) in lineage.upstream(config, 1, "select")
        assert lineage.upstream(config, 1, "screen") == [("verify", 1)]
        # the Dagster graph: an asset for it, with its deps, and select downstream of it
        assets = build_round_assets(stages)
        by_name = {a.key.to_user_string(): a for a in assets}
        assert {k.to_user_string() for k in by_name["screened"].dependency_keys} == {"verdicts"}
        assert "screened" in {k.to_user_string() for k in by_name["pool"].dependency_keys}
        # a round's run: it materializes for round 1 after verify, and is recorded like every stage
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("round", ["1"])
        result = dg.materialize(assets, selection=[by_name[n].key for n in ("prompts", "samples", "verdicts", "screened")],
                                partition_key="1", instance=instance,
                                resources=default_resources(str(tmp_path / "c.yaml"), str(tmp_path / "w")),
                                run_config=RUN_CONFIG)
        assert result.success
        written = json.loads((RoundPaths(config.workdir, 1).dir / "screen.json").read_text())
        assert set(written) >= {"math"}
        _, rows = Store(config.workdir / "flywheel.duckdb").query(
            "SELECT stage FROM stage_runs WHERE round = 1 ORDER BY stage")
        assert ("screen",) in rows
    assert "screen" not in [s.name for s in stage_registry.all_stages()]  # the registry is as it was

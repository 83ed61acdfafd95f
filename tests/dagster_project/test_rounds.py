"""End to end: two rounds of the Dagster assets with the tiny model on an ephemeral instance."""

import dagster as dg
import pytest

from dagster_project.assets import ROUND_ASSETS
from dagster_project.demo import RUN_CONFIG
from dagster_project.resources import default_resources
from flywheel.config import load_config
from flywheel.io import RoundPaths
from flywheel.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    import yaml

    from tests.conftest import small_config_dict

    root = tmp_path_factory.mktemp("e2e")
    config_path = root / "round.yaml"
    config_path.write_text(yaml.safe_dump(small_config_dict(root / "work")))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("round", ["1", "2"])
    resources = default_resources(str(config_path))
    results = {key: dg.materialize(ROUND_ASSETS, partition_key=key, instance=instance, resources=resources,
                                   run_config=RUN_CONFIG) for key in ("1", "2")}
    return load_config(config_path), instance, resources, results


def test_both_rounds_succeed_with_checks_passing(two_rounds):
    config, _, _, results = two_rounds
    for result in results.values():
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {"no_overlap_left": True, "checkpoint_loads": True}
    _, rows = Store(config.workdir / "flywheel.duckdb").query(
        "SELECT round, n_prompts, n_samples, stop FROM round_metrics ORDER BY round")
    assert rows == [(1, 24, 48, False), (2, 24, 48, False)]


def test_round_two_generates_with_round_one_checkpoint(two_rounds):
    config, *_ = two_rounds
    store = Store(config.workdir / "flywheel.duckdb")
    _, rows = store.query("SELECT round, any_value(checkpoint) FROM samples GROUP BY round ORDER BY round")
    assert rows == [(1, str(config.model.base)), (2, str(RoundPaths(config.workdir, 1).checkpoint))]
    _, rounds = store.query("SELECT round, status, checkpoint FROM rounds ORDER BY round")
    assert [(r, s) for r, s, _ in rounds] == [(1, "finished"), (2, "finished")]


def test_every_stage_table_has_rows(two_rounds):
    config, *_ = two_rounds
    store = Store(config.workdir / "flywheel.duckdb")
    for table in ("prompts", "samples", "verdicts", "mixture", "decontamination_hits", "training_steps", "evaluations",
                  "round_metrics"):
        _, rows = store.query(f"SELECT count(DISTINCT round) FROM {table}")
        assert rows[0][0] == 2, table


def test_rematerializing_a_stage_replaces_its_rows(two_rounds):
    config, instance, resources, _ = two_rounds
    store = Store(config.workdir / "flywheel.duckdb")
    query = "SELECT count(*) FROM verdicts WHERE round = 2"
    before = store.query(query)[1][0][0]
    verdicts = next(a for a in ROUND_ASSETS if a.key.to_user_string() == "verdicts")
    for _ in range(2):
        assert dg.materialize(ROUND_ASSETS, selection=[verdicts.key], partition_key="2", instance=instance,
                              resources=resources, run_config=RUN_CONFIG).success
    assert store.query(query)[1][0][0] == before > 0


def test_round_three_without_round_two_checkpoint_fails_clearly(tmp_path):
    import yaml

    from tests.conftest import small_config_dict

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(small_config_dict(tmp_path / "w")))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("round", ["3"])
    selection = [a.key for a in ROUND_ASSETS[:2]]
    result = dg.materialize(ROUND_ASSETS, selection=selection, partition_key="3", instance=instance,
                            resources=default_resources(str(path)), run_config=RUN_CONFIG, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "materialize round 2 first" in str(failure.event_specific_data.error)


def test_samples_record_their_sampling_parameters_and_prompt_difficulty_is_stored(two_rounds):
    config, *_ = two_rounds
    store = Store(config.workdir / "flywheel.duckdb")
    _, rows = store.query("SELECT DISTINCT sampling->>'$.n', sampling->>'$.backend', sampling->>'$.temperature' FROM samples")
    assert rows == [("2", "transformers", "1.0")]
    _, rows = store.query("SELECT round, count(*), sum(n_samples) FROM prompt_difficulty GROUP BY round ORDER BY round")
    assert rows == [(1, 24, 48), (2, 24, 48)]


def test_metrics_asset_carries_the_chart_and_stop_decision(two_rounds):
    config, _, _, results = two_rounds
    metadata = results["2"].asset_materializations_for_node("round_metrics")[0].metadata
    assert metadata["chart"].value.startswith("![round over round](data:image/png;base64,")
    assert metadata["chart_path"].value == str(config.workdir / "round_metrics.png")
    assert "CONTINUE" in metadata["stop_reason"].value
    assert (config.workdir / "round_metrics.png").read_bytes()[:4] == b"\x89PNG"

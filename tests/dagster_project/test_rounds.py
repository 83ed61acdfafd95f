"""End to end: two rounds of the Dagster assets with the tiny model on an ephemeral instance."""

import dagster as dg
import pytest

from dagster_project.assets import ROUND_ASSETS
from dagster_project.demo import RUN_CONFIG
from dagster_project.resources import default_resources
from flywheel.config import load_config
from flywheel.round.layout import RoundPaths
from flywheel.store.database import Store
from tests.dagster_project.rounds_in_memory import materialize_rounds

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    import yaml

    from tests.conftest import small_config_dict

    root = tmp_path_factory.mktemp("e2e")
    config_path = root / "round.yaml"
    config_path.write_text(yaml.safe_dump(small_config_dict(root / "work")))
    instance, resources, results = materialize_rounds(config_path, 2)
    return load_config(config_path), instance, resources, results


def test_both_rounds_succeed_with_checks_passing(two_rounds):
    config, _, _, results = two_rounds
    assert results["0"].success
    for key in ("1", "2"):
        assert results[key].success
        checks = {c.check_name: c.passed for c in results[key].get_asset_check_evaluations()}
        assert checks["no_overlap_left"] and checks["checkpoint_loads"]
        assert "no_eval_regression" in checks  # a warning, whichever way it goes
    _, rows = Store(config.workdir / "flywheel.duckdb").query(
        "SELECT round, n_prompts, n_samples, stop, stop_reason FROM round_metrics ORDER BY round")
    assert [r[:3] for r in rows] == [(1, 24, 48), (2, 24, 48)]
    assert rows[0][3] is False  # round 1 has nothing to compare with but round 0's evaluation
    assert all(reason.startswith(("continue", "stop")) for *_, reason in rows)


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
    from flywheel.store.database import TABLES

    # The tiny base model accepts little in two small rounds, so what depends on acceptances may be empty here;
    # the demo run fills those too (see docs/results.md).
    # pairs need a passed and a failed sample of one prompt; this config trains no DPO step.
    may_be_empty = {"pool", "quality", "mixture_topics", "accepted_samples", "decontamination_hits",
                    "dedup_drops", "pairs", "pair_drops", "dpo_steps"}  # quality, mixture_topics: from the pool
    for table in set(TABLES) - may_be_empty:
        _, rows = store.query(f"SELECT count(DISTINCT round) FROM {table} WHERE round > 0")
        assert rows[0][0] == 2, table
    _, rows = store.query("SELECT split, count(DISTINCT round) FROM evaluations GROUP BY split ORDER BY split")
    assert rows == [("heldout", 3), ("train", 2)]  # round 0 scores the starting model on held-out prompts
    _, rows = store.query("SELECT DISTINCT k, n_samples_per_prompt FROM evaluations")
    assert rows == [(2, 2)]
    _, stages = store.query("SELECT round, count(DISTINCT stage) FROM stage_runs GROUP BY round ORDER BY round")
    assert stages == [(0, 1), (1, 13), (2, 13)]
    _, rows = store.query("SELECT count(*) FROM diversity WHERE population = 'evaluation' AND embedding_vendi >= 1")
    assert rows[0][0] == 2


def test_every_audit_query_in_the_docs_runs(two_rounds):
    import re
    from pathlib import Path

    config, *_ = two_rounds
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "sql-audit.md").read_text()
    block = guide.split("<!-- audit-queries -->")[1].split("<!-- /audit-queries -->")[0]
    sql = re.sub(r"^```sql|```$", "", block.strip(), flags=re.M)
    queries = [q.strip() for q in re.sub(r"--[^\n]*", "", sql).split(";") if q.strip()]
    assert len(queries) >= 10
    store = Store(config.workdir / "flywheel.duckdb")
    for query in queries:
        names, rows = store.query(query)
        assert names, query
    assert store.query(queries[0])[1], "held-out pass@1 per domain has rows"


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
    assert "CONTINUE" in metadata["stop_reason"].value or "STOP" in metadata["stop_reason"].value
    assert (config.workdir / "round_metrics.png").read_bytes()[:4] == b"\x89PNG"

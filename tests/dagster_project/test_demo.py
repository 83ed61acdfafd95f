"""The demo proves the flywheel, in miniature: a seed round and two rejection-sampling rounds
raise held-out pass@1, with the demo's own config (fewer rounds), a fixed seed, on the CPU."""

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml
from rich.console import Console

from dagster_project.demo import materialize_rounds, workdir_instance
from flywheel.config import DEFAULT_CONFIG, load_config
from flywheel.store.database import TABLES, Store

pytestmark = pytest.mark.slow
# Measured on the 2-core development machine with this config and seed (200 held-out prompts,
# 4 samples each): round 0 (seed SFT) 0.133 -> round 1 0.259 -> round 2 0.511, +0.378. Over
# three seeds the flywheel ends round 3 at +0.445 over round 0 and +0.244 over a control with
# the same SFT steps on the seed alone (benchmarks/bench_flywheel.py). The assertion asks for
# a smaller but real gain.
MIN_GAIN = 0.10


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    config = load_config(DEFAULT_CONFIG, workdir=root / "work")
    assert config.seed_round, "the demo config has a seed SFT round"
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["workdir"] = str(root / "work")
    raw["model"]["base"] = str(config.model.base)
    path = root / "demo.yaml"
    # Paths in the demo config are relative to its folder; keep them resolvable from the copy.
    path.write_text(yaml.safe_dump(_absolute(raw, DEFAULT_CONFIG.parent)))
    materialize_rounds(str(path), str(root / "work"), 1, 2, Console(quiet=True))
    return Store(root / "work" / "flywheel.duckdb")


def _absolute(node, base: Path):
    if isinstance(node, dict):
        return {k: _absolute(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute(v, base) for v in node]
    if isinstance(node, str) and node.startswith("../"):
        return str((base / node).resolve())
    return node


def test_heldout_pass_at_1_rises_from_the_seed_model(demo_run, record_property):
    _, rows = demo_run.query("SELECT round, pass_at_1 FROM evaluations WHERE split = 'heldout' AND domain = 'all' "
                             "ORDER BY round")
    scores = dict(rows)
    assert sorted(scores) == [0, 1, 2]
    _, base = demo_run.query("SELECT pass_at_1 FROM evaluations WHERE split = 'base_model' AND domain = 'all'")
    assert base and base[0][0] <= scores[0]  # the base model, before the seed round, is reported too
    gain = scores[2] - scores[0]
    record_property("heldout_pass_at_1", scores)
    print(f"held-out pass@1 by round: {scores}; gain {gain:+.3f}")
    assert gain >= MIN_GAIN, scores
    assert scores[1] > scores[0]


def test_round_one_generates_with_the_seed_checkpoint(demo_run):
    _, rows = demo_run.query("SELECT round, generation_checkpoint FROM rounds ORDER BY round")
    assert rows[0][0] == 1 and rows[0][1].endswith("rounds/0/checkpoint")


def test_the_demo_fills_every_table(demo_run):
    # a round may drop no pair (the pairs test accounts for every one); the demo config trains no DPO step
    for table in set(TABLES) - {"pair_drops", "dpo_steps"}:
        assert demo_run.query(f"SELECT count(*) FROM {table}")[1][0][0] > 0, table
    # quality control: a row per pool example each round; its rules are off by default, so all are kept
    assert demo_run.query("SELECT round, count(*), bool_and(kept) FROM quality GROUP BY round ORDER BY round")[1] == [
        (r, n, True) for r, n in demo_run.query("SELECT round, count(*) FROM pool GROUP BY round ORDER BY "
                                                "round")[1]]


def test_the_demo_writes_preference_pairs_and_accounts_for_every_candidate(demo_run):
    # Recomputed from the decisions: each prompt with a passed and a failed sample gives one candidate pair
    # (pairs.max_per_prompt 1); every candidate is a kept pair or a drop with its reason.
    for round_number in (1, 2):
        (candidates,), = demo_run.query(
            "SELECT coalesce(sum(least(passed, failed, 1)), 0) FROM (SELECT prompt_id, count(*) FILTER (WHERE passed "
            "AND finished) AS passed, count(*) FILTER (WHERE NOT passed) AS failed FROM decisions WHERE round = ? "
            "GROUP BY prompt_id)", [round_number])[1]
        (kept,), = demo_run.query("SELECT count(*) FROM pairs WHERE round = ? AND origin_round = ?",
                                  [round_number, round_number])[1]
        (dropped,), = demo_run.query("SELECT count(*) FROM pair_drops WHERE round = ? AND origin_round = ?",
                                     [round_number, round_number])[1]
        assert candidates == kept + dropped > 0, (round_number, candidates, kept, dropped)
    (wrong,), = demo_run.query(
        "SELECT count(*) FROM pairs p JOIN decisions c ON c.round = p.origin_round AND c.prompt_id = p.prompt_id AND "
        "c.sample_index = p.chosen_index JOIN decisions r ON r.round = p.origin_round AND r.prompt_id = p.prompt_id "
        "AND r.sample_index = p.rejected_index WHERE NOT c.passed OR r.passed")[1]
    assert wrong == 0 and demo_run.query("SELECT count(*) FROM pairs WHERE round = 2")[1][0][0] > 0


def test_each_round_is_one_named_dagster_run(demo_run):
    # the UI's run list reads as rounds: one run of the round job per round, its stages as steps
    instance = workdir_instance(demo_run.path.parent)
    runs = sorted(instance.get_runs(), key=lambda run: int(run.tags["dagster/partition"]))
    assert [(run.job_name, run.tags["dagster/partition"], run.status.value) for run in runs] == [
        ("round_zero", "0", "SUCCESS"), ("round", "1", "SUCCESS"), ("round", "2", "SUCCESS")]
    materialized = {event.asset_key.to_user_string() for event in instance.get_records_for_run(runs[1].run_id,
                    of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=100).records
                    for event in [event.event_log_entry.dagster_event]}
    assert materialized == {"prompts", "samples", "verdicts", "pool", "curated", "decontaminated", "mixture",
                            "checkpoint", "evaluation", "diversity", "round_metrics", "pairs", "dpo_checkpoint"}


def test_after_the_rounds_every_partition_of_every_asset_reads_as_done(demo_run):
    # Round 0 (the seed SFT round) runs 5 of the 13 stages; it reports partition 0 of the other 8 as not run there,
    # so the UI's asset graph shows no missing partition and nothing stale after the demo.
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    from dagster_project.assets import NOT_RUN_IN_ROUND_ZERO, ROUND_ASSETS

    instance = workdir_instance(demo_run.path.parent)
    from dagster_project.resources import default_resources

    graph = dg.Definitions(assets=ROUND_ASSETS, resources=default_resources()).resolve_asset_graph()
    stale = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    vouched = set()
    for asset in ROUND_ASSETS:
        assert instance.get_materialized_partitions(asset.key) == {"0", "1", "2"}, asset.key
        record = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=["0"]),
                                                 limit=1).records[0]
        if NOT_RUN_IN_ROUND_ZERO in record.asset_materialization.metadata:
            vouched.add(asset.key.to_user_string())
        for partition in ("0", "1", "2"):
            assert stale.get_status(asset.key, partition) == StaleStatus.FRESH, (asset.key, partition)
    assert vouched == {"prompts", "samples", "verdicts", "pool", "curated", "round_metrics", "pairs",
                       "dpo_checkpoint"}


def test_export_writes_what_the_round_trained_on(demo_run, tmp_path):
    import datasets

    from flywheel.cli import main

    workdir = demo_run.path.parent
    assert main(["export", "--workdir", str(workdir), "--round", "2", "--out", str(tmp_path / "mix.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "mix.jsonl").read_text().splitlines()]
    _, stored = demo_run.query("SELECT sum(n_taken) FROM mixture WHERE round = 2")
    assert len(rows) == stored[0][0] > 0  # the mixture table's own count, epoch copies included
    assert all(row["messages"][-1]["role"] == "assistant" and row["messages"][0]["role"] in ("system", "user")
               for row in rows)
    assert main(["export", "--workdir", str(workdir), "--round", "2", "--set", "accepted", "--format", "hf",
                 "--out", str(tmp_path / "accepted")]) == 0
    accepted = datasets.load_from_disk(str(tmp_path / "accepted"))
    _, expected = demo_run.query(
        "SELECT example_id FROM pool WHERE round = 2 AND example_id NOT IN "
        "(SELECT example_id FROM decontamination_hits WHERE round = 2) AND example_id NOT IN "
        "(SELECT example_id FROM dedup_drops WHERE round = 2)")
    assert sorted(accepted["example_id"]) == sorted(e for (e,) in expected) and len(accepted) > 0
    card = (tmp_path / "accepted" / "README.md").read_text()
    assert "round 2" in card and f"rows: {len(accepted)}" in card and "sha256" in card

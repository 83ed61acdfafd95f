"""Verification in shards: the same verdicts as one pass, parts reused when current, refused when stale."""

import json

import pyarrow.parquet as pq
import pytest

from flywheel.stages import collect as collect_stage
from flywheel.stages import verify as verify_stage
from flywheel.config import load_config
from flywheel.records.files import write_parquet_atomic
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import Sample, samples_to_table, table_to_prompts
from flywheel.verification.shards import StaleShard, merge_verdicts, part_path, part_seconds, shard_of, verify_shard
from flywheel.store.database import Store
from tests.conftest import TASKS


def round_with_samples(config):
    """Collected prompts (math, code, general) and two samples each: one right, one wrong."""
    collect_stage.collect(config, 1, Store(config.workdir / "flywheel.duckdb"))
    prompts = table_to_prompts(pq.read_table(RoundPaths(config.workdir, 1).prompts))
    samples = []
    for prompt in prompts:
        right = {"math": f"The answer is \\boxed{{{prompt.reference}}}.",
                 "code": f"```python\n{prompt.response or 'pass'}\n```"}.get(prompt.domain, f"A reply to {prompt.id}.")
        for index, text in enumerate([right, f"I think it is {len(prompt.id)}, roughly {prompt.id[::-1]}."]):
            samples.append(Sample(prompt_id=prompt.id, sample_index=index, text=text, num_tokens=len(text),
                                  finish_reason="stop", round=1, checkpoint="base", seed=index))
    write_parquet_atomic(samples_to_table(samples), RoundPaths(config.workdir, 1).samples)
    return prompts, samples


def config_with(path, shards, **verifiers):
    """The small round config over 8 math, 4 code and 4 general prompts of the bundled tasks."""
    tasks = path.parent / "tasks.jsonl"
    if not tasks.exists():
        lines = (TASKS / "train.jsonl").read_text().splitlines()
        picked = [line for domain, count in (("math", 8), ("code", 4), ("general", 4))
                  for line in [x for x in lines if json.loads(x)["domain"] == domain][:count]]
        tasks.write_text("\n".join(picked) + "\n")
    config = load_config(path)
    config = config.model_copy(update={"prompts": type(config.prompts)(sources=[{"path": str(tasks)}])})
    settings = {**config.verifiers.model_dump(), "general": ["reward_model"], "required": [],
                "options": {"reward_model": {"top_quantile": 0.5}}, "shards": shards, **verifiers}
    return config.model_copy(update={"verifiers": type(config.verifiers)(**settings)})


def verdict_rows(config):
    rows = pq.read_table(RoundPaths(config.workdir, 1).verdicts).to_pylist()
    return [{k: v for k, v in row.items() if k != "cost_seconds"} for row in rows]  # cost is a measurement


def assert_same_verdicts(rows: list[dict], single: list[dict]) -> None:
    """Field for field, scores within float32 noise; a difference is named by prompt, sample, verifier and field."""
    assert [row["score"] for row in rows] == pytest.approx([row["score"] for row in single], rel=1e-5)
    differences = [(a["prompt_id"], a["sample_index"], a["verifier"], key, a[key], b[key])
                   for a, b in zip(rows, single, strict=True) for key in a if key != "score" and a[key] != b[key]]
    assert not differences, differences  # (prompt, sample, verifier, field, this run, one pass)


def test_two_shards_give_the_verdicts_of_one_pass_reward_quantile_included(small_config_path):
    one = config_with(small_config_path, 1)
    prompts, samples = round_with_samples(one)
    assert {p.domain for p in prompts} == {"math", "code", "general"}
    verify_stage.verify(one, 1, Store(one.workdir / "flywheel.duckdb"))
    single = verdict_rows(one)

    two = config_with(small_config_path, 2)
    verify_stage.verify(two, 1, Store(two.workdir / "flywheel.duckdb"))
    sharded = verdict_rows(two)
    # The reward model's float32 score moves by ~1e-7 with its batch-mates (padding, matmul shape): equal
    # within that; every other field, pass/fail and reasons included, is identical.
    assert_same_verdicts(sharded, single)
    assert {shard_of(p.id, 2) for p in prompts} == {0, 1}
    reward = [row["passed"] for row in single if row["verifier"] == "reward_model"]
    assert 0 < sum(reward) < len(reward)  # the round's top half, not each shard's


def test_a_rerun_keeps_current_parts_and_redoes_the_missing_one(small_config_path):
    config = config_with(small_config_path, 2)
    round_with_samples(config)
    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
    before = verdict_rows(config)
    part_path(config, 1, 1, 2).unlink()  # as if the run was killed before shard 1 finished
    assert verify_shard(config, 1, 0, 2)["reused"] is True
    assert verify_shard(config, 1, 1, 2)["reused"] is False
    verify_stage.verify(config, 1, Store(config.workdir / "flywheel.duckdb"))
    assert verdict_rows(config) == before


def test_a_part_made_under_another_config_is_refused_by_name(small_config_path):
    config = config_with(small_config_path, 2)
    round_with_samples(config)
    for shard in range(2):
        verify_shard(config, 1, shard, 2)
    changed = config_with(small_config_path, 2, options={"reward_model": {"top_quantile": 0.25}})
    from flywheel.round.lineage import StaleInput

    assert issubclass(StaleShard, StaleInput)  # one error for every refusal of an out-of-date input
    with pytest.raises(StaleShard, match=r"^verify of round 1 refuses stale input: .*part-00000-of-00002\.parquet: "
                                         r"shard 0 was verified under lineage key"):
        merge_verdicts(changed, 1, 2)
    with pytest.raises(ValueError, match="shard 2 is not one of 2 shards"):
        verify_shard(config, 1, 2, 2)


def test_a_sample_of_an_uncollected_prompt_is_refused_in_a_shard_too(small_config_path):
    config = config_with(small_config_path, 2)
    _, samples = round_with_samples(config)
    stray = samples[0].model_copy(update={"prompt_id": "never-collected"})
    write_parquet_atomic(samples_to_table([*samples, stray]), RoundPaths(config.workdir, 1).samples)
    with pytest.raises(ValueError, match="never-collected"):
        verify_shard(config, 1, shard_of("never-collected", 2), 2)


def test_the_stage_records_the_seconds_its_shards_spent_before_it_with_start_and_stop(small_config_path):
    """Under Dagster the shards run as steps before the verify stage, which then only merges: its stage_runs row
    counts their seconds too (it recorded the merge alone), with the verifiers' start and stop named."""
    config = config_with(small_config_path, 2)
    round_with_samples(config)
    store = Store(config.workdir / "flywheel.duckdb")
    verify_shard(config, 1, 0, 2)  # as Dagster's shard step does, before the stage
    before = part_seconds(part_path(config, 1, 0, 2))
    assert before["seconds"] > before["start"] > 0  # the reward model loaded, then judged
    verify_stage.verify(config, 1, store)  # runs shard 1 itself, keeps shard 0, merges
    after = part_seconds(part_path(config, 1, 1, 2))
    (seconds, start, work, stop), = store.query("SELECT seconds, start_seconds, work_seconds, stop_seconds "
                                                 "FROM stage_runs WHERE round = 1 AND stage = 'verify'")[1]
    assert seconds > before["seconds"] + after["seconds"]  # shard 0 before the call, shard 1 and the merge in it
    assert start == pytest.approx(before["start"] + after["start"]) and stop == pytest.approx(before["stop"] + after["stop"])
    assert start + work + stop == pytest.approx(seconds)

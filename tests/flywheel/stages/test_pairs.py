"""Preference pairs from a round's judged samples (flywheel.stages.pairs), on a small hand-made round taken through real
verification and selection: every pair recomputed from the stored decisions, each filter's drops counted by
reason, contaminated prompts dropped, and the export TRL reads."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from flywheel.cli import main
from flywheel.config import DecontaminationConfig, EvalSet, PairsConfig
from flywheel.round.layout import RoundPaths
from flywheel.stages.pairs import candidate_pairs, first_broken_rule, make_pairs
from flywheel.records.schema import table_to_prompts


def with_pairs(config, **settings):
    return config.model_copy(update={"pairs": PairsConfig(**settings)})


def test_each_pair_is_a_passed_sample_over_a_failed_one_of_the_same_prompt(selected_round_copy):
    config, store = selected_round_copy
    result = make_pairs(with_pairs(config), 1, store)
    pairs = pq.read_table(RoundPaths(config.workdir, 1).pairs).to_pylist()
    # Recomputed from the decisions table: prompts with a passed (finished) sample and a failed one.
    _, expected = store.query("SELECT prompt_id FROM decisions WHERE round = 1 GROUP BY prompt_id "
                              "HAVING bool_or(passed AND finished) AND bool_or(NOT passed) ORDER BY prompt_id")
    assert sorted(p["prompt_id"] for p in pairs) == [row[0] for row in expected] and result["n_pairs"] == len(pairs)
    decided = {(r[0], r[1]): (r[2], r[3]) for r in store.query(
        "SELECT prompt_id, sample_index, passed, coalesce(score, passed::INT) FROM decisions WHERE round = 1")[1]}
    for pair in pairs:
        assert decided[(pair["prompt_id"], pair["chosen_index"])][0] is True
        assert decided[(pair["prompt_id"], pair["rejected_index"])][0] is False
        assert pair["margin"] == pytest.approx(pair["chosen_score"] - pair["rejected_score"])
        assert pair["prompt"][-1]["role"] == "user" and pair["chosen"] != pair["rejected"]
    # The hand-made wrong answers all start "I think it is": none is ever chosen.
    assert all(p["rejected"].startswith("I think it is") and not p["chosen"].startswith("I think") for p in pairs)
    assert result["by_domain"].keys() <= {"math", "general"} and "code" not in result["by_domain"]  # code: no pass
    assert store.query("SELECT count(*) FROM pairs WHERE round = 1")[1] == [(len(pairs),)]


def test_only_the_configured_domains_give_pairs_and_disabled_gives_none(selected_round_copy):
    config, store = selected_round_copy
    assert make_pairs(with_pairs(config, domains=["general"]), 1, store)["by_domain"].keys() == {"general"}
    assert make_pairs(with_pairs(config, enabled=False), 1, store)["n_pairs"] == 0
    assert pq.read_table(RoundPaths(config.workdir, 1).pairs).num_rows == 0


def row(prompt, passed, rank, index, score, text, tokens=None):
    return (prompt, "math", passed, rank, index, score, text, tokens or len(text.split()))


def test_candidates_zip_the_best_passed_with_the_worst_failed_up_to_the_cap():
    rows = [row("p", True, 1, 3, 0.9, "best"), row("p", True, 2, 0, 0.8, "second"),
            row("p", False, 1, 1, 0.0, "worst"), row("p", False, 2, 2, 0.1, "less bad"),
            row("q", True, 1, 0, 1.0, "only a pass")]  # q has no failed sample: no pair
    pairs = candidate_pairs(rows, max_per_prompt=2)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("best", "worst"), ("second", "less bad")]
    assert len(candidate_pairs(rows, max_per_prompt=1)) == 1


@pytest.mark.parametrize(("chosen", "rejected", "scores", "reason"), [
    ("The answer is 4.", "the  answer is 4.", (1.0, 0.0), "identical"),  # case and spacing aside
    ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen!",
     "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen?",
     (1.0, 0.0), "near_duplicate"),
    ("The answer is 4.", "It is 5, I believe.", (0.6, 0.5), "margin"),
    ("4", "Let me think about it at great length before I answer with five", (1.0, 0.0), "length_ratio"),
    ("The answer is 4.", "It is 5, I believe.", (1.0, 0.0), None),
])
def test_each_filter_names_its_reason(small_config, chosen, rejected, scores, reason):
    config = with_pairs(small_config, min_margin=0.5, max_length_ratio=3.0, near_duplicate_threshold=0.9)
    pair = {"chosen": chosen, "rejected": rejected, "chosen_score": scores[0], "rejected_score": scores[1],
            "chosen_tokens": len(chosen.split()), "rejected_tokens": len(rejected.split())}
    broken = first_broken_rule(pair, config)
    assert (broken[0] if broken else None) == reason


def test_a_prompt_that_overlaps_an_evaluation_set_gives_no_pair(selected_round_copy, tmp_path):
    config, store = selected_round_copy
    paths = RoundPaths(config.workdir, 1)
    first = make_pairs(with_pairs(config), 1, store)
    pairs = pq.read_table(paths.pairs).to_pylist()
    leaked = next(p for p in table_to_prompts(pq.read_table(paths.prompts)) if p.id == pairs[0]["prompt_id"])
    (tmp_path / "leaked_eval.jsonl").write_text(json.dumps({"id": "e1", "prompt": leaked.messages[-1].content}) + "\n")
    leaky = config.model_copy(update={"decontamination": DecontaminationConfig(
        eval_sets=[EvalSet(name="leaked", path=tmp_path / "leaked_eval.jsonl")])})
    result = make_pairs(with_pairs(leaky), 1, store)
    assert result["n_pairs"] == first["n_pairs"] - 1 and result["dropped"].get("contaminated") == 1
    (reason, detail), = store.query("SELECT reason, detail FROM pair_drops WHERE round = 1 AND prompt_id = ?",
                                    [leaked.id])[1]
    assert reason == "contaminated" and detail.startswith("leaked:")


def test_export_writes_the_pairs_as_chosen_and_rejected_conversations(selected_round_copy, tmp_path):
    config, store = selected_round_copy
    make_pairs(with_pairs(config), 1, store)
    assert main(["export", "--workdir", str(config.workdir), "--round", "1", "--set", "pairs",
                 "--out", str(tmp_path / "pairs.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    stored = pq.read_table(RoundPaths(config.workdir, 1).pairs).to_pylist()
    assert len(rows) == len(stored) > 0
    for exported, pair in zip(rows, stored):
        # the implicit-prompt conversational format: both conversations share the prompt's turns
        assert exported["chosen"][:-1] == exported["rejected"][:-1] == pair["prompt"]
        assert exported["chosen"][-1] == {"role": "assistant", "content": pair["chosen"]}
        assert exported["rejected"][-1] == {"role": "assistant", "content": pair["rejected"]}
        assert exported["pair_id"] == pair["pair_id"] and exported["margin"] == pytest.approx(pair["margin"])
    assert main(["export", "--workdir", str(config.workdir), "--round", "1", "--set", "pairs", "--format", "hf",
                 "--out", str(tmp_path / "hf")]) == 0
    import datasets

    assert datasets.load_from_disk(str(tmp_path / "hf")).num_rows == len(stored)
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "- set: pairs" in card and f"- rows: {len(stored)}" in card
    _, drops = store.query("SELECT reason, count(*) FROM pair_drops WHERE round = 1 GROUP BY reason ORDER BY reason")
    assert "- pairs dropped per reason (pair_drops" in card
    assert all(f"{reason} {n}" in card for reason, n in drops)
    with duckdb.connect(str(config.workdir / "flywheel.duckdb"), read_only=True) as db:  # auditable in SQL
        assert db.execute("SELECT count(*) FROM pairs p JOIN verdicts v ON v.round = p.round AND "
                          "v.prompt_id = p.prompt_id AND v.sample_index = p.chosen_index").fetchone()[0] >= len(stored)


def test_earlier_rounds_fill_a_prompt_up_to_the_cap_newest_first():
    from collections import Counter

    from flywheel.stages.pairs import carried_positions

    previous = [{"prompt_id": "a", "origin_round": 1, "pair_id": "r1-a"}, {"prompt_id": "a", "origin_round": 2,
                "pair_id": "r2-a"}, {"prompt_id": "b", "origin_round": 2, "pair_id": "r2-b"}]
    new = Counter({"b": 1})  # this round's pairs per prompt

    def carried(cap):
        return [previous[i]["pair_id"] for i in carried_positions(previous, new, cap)]

    assert carried(1) == ["r2-a"]
    assert carried(2) == ["r2-a", "r2-b", "r1-a"]


def test_round_two_carries_round_ones_pair_for_a_prompt_it_could_not_pair(selected_round_copy):
    import shutil

    config, store = selected_round_copy
    make_pairs(with_pairs(config), 1, store)
    first = pq.read_table(RoundPaths(config.workdir, 1).pairs).to_pylist()
    # Round 2: the same prompts and samples, but the first paired prompt now has no failed sample.
    second = RoundPaths(config.workdir, 2)
    second.dir.mkdir(parents=True)
    for name in ("prompts.parquet", "samples.parquet"):
        shutil.copy(RoundPaths(config.workdir, 1).dir / name, second.dir / name)
    columns, rows = store.query("SELECT * EXCLUDE (round) FROM decisions WHERE round = 1")
    decisions = [dict(zip(columns, r)) for r in rows]
    for d in decisions:
        if d["prompt_id"] == first[0]["prompt_id"]:
            d.update(passed=True, finished=True, score=1.0)
    store.replace_round("decisions", 2, decisions)
    result = make_pairs(with_pairs(config), 2, store)
    pairs = pq.read_table(second.pairs).to_pylist()
    carried = [p for p in pairs if p["origin_round"] == 1]
    assert [p["pair_id"] for p in carried] == [first[0]["pair_id"]] and result["n_carried"] == 1
    assert len(pairs) == len(first) and {p["prompt_id"] for p in pairs} == {p["prompt_id"] for p in first}
    assert make_pairs(with_pairs(config, pool_previous_rounds=False), 2, store)["n_pairs"] == len(first) - 1


@pytest.mark.parametrize("max_per_prompt", [1, 2])
def test_batches_that_split_the_candidate_rows_give_the_same_pairs(selected_round_copy, monkeypatch, max_per_prompt):
    """The stage streams its candidates a few prompts at a time; a batch smaller than one prompt's rows (4 rows at 2
    pairs per prompt) waits for the prompt's last row. The file, the drops and the counts equal one batch's."""
    from flywheel.records import batches as records

    config, store = selected_round_copy
    config = with_pairs(config, max_per_prompt=max_per_prompt, min_margin=0.5)
    paths = RoundPaths(config.workdir, 1)

    def outcome():
        result = make_pairs(config, 1, store)
        drops = store.query("SELECT * FROM pair_drops WHERE round = 1 ORDER BY ALL")[1]
        return result, pq.read_table(paths.pairs).to_pylist(), drops

    whole = outcome()
    monkeypatch.setattr(records, "BATCH_ROWS", 2)
    assert outcome() == whole
    assert whole[0]["n_pairs"] > 1 and whole[1]

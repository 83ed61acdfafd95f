"""The evaluate stage: every split of a round scores its checkpoint through one generator."""

from __future__ import annotations

import pytest

from flywheel.stages import collect as collect_stage
from flywheel.stages import evaluate as evaluate_stage
from flywheel.generation import make_generator
from flywheel.store.database import Store


def test_heldout_and_train_splits_share_one_generator_per_checkpoint(small_config):
    # a server backend pays a `vllm serve` start per generator: the two splits once started two for one checkpoint
    store = Store(small_config.workdir / "flywheel.duckdb")
    collect_stage.collect(small_config, 1, store)  # round 1's prompts: the train split's subset
    made, closed = [], []

    def counting_factory(checkpoint: str):
        generator = make_generator(checkpoint, small_config.generation)
        made.append(checkpoint)
        original_close = getattr(generator, "close", None)

        def close():
            closed.append(checkpoint)
            if original_close:
                original_close()

        generator.close = close
        return generator

    result = evaluate_stage.evaluate(small_config, 0, store, counting_factory)
    _, splits = store.query("SELECT DISTINCT split FROM evaluations WHERE round = 0 ORDER BY split")
    assert splits == [("heldout",), ("train",)]
    assert made == [str(small_config.model.base)] and closed == made
    assert "train_test_gap/all" in result


def test_the_general_split_is_scored_by_its_own_verifier_and_recomputes_from_its_rows(small_config_path, tmp_path):
    import json

    import yaml

    from flywheel.config import load_config

    general = tmp_path / "general.jsonl"
    general.write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "g1", "domain": "general", "messages": [{"role": "user", "content": "What is the capital of Peru?"}],
         "reference": "The capital of Peru is Lima."},
        {"id": "g2", "messages": [{"role": "user", "content": "What do bees make?"},  # no domain, no reference:
                                  {"role": "assistant", "content": "Bees make honey."}]}]))  # the answer is it
    data = yaml.safe_load(small_config_path.read_text())
    data["evaluation"]["general"] = {"path": str(general)}
    data["evaluation"]["train_prompts"] = 0
    small_config_path.write_text(yaml.safe_dump(data))
    config = load_config(small_config_path)
    store = Store(config.workdir / "flywheel.duckdb")

    result = evaluate_stage.evaluate(config, 0, store, lambda checkpoint: make_generator(checkpoint, config.generation))

    _, rows = store.query("SELECT domain, n_prompts, pass_at_1 FROM evaluations WHERE round = 0 "
                          "AND split = 'heldout_general' ORDER BY domain")
    assert [(d, n) for d, n, _ in rows] == [("all", 2), ("general", 2)]
    _, verdicts = store.query("SELECT prompt_id, sample_index, verifier, passed FROM eval_verdicts "
                              "WHERE round = 0 AND split = 'heldout_general' ORDER BY prompt_id, sample_index")
    assert {v for _, _, v, _ in verdicts} == {"reference_match"}  # the training verifiers judge none of them
    n = config.evaluation.n
    by_prompt = {}
    for prompt_id, _, _, passed in verdicts:
        by_prompt.setdefault(prompt_id, []).append(passed)
    recomputed = sum(sum(p) / n for p in by_prompt.values()) / len(by_prompt)
    assert rows[1][2] == pytest.approx(recomputed)
    assert result["heldout_general/pass_at_1"] == round(recomputed, 4)
    _, heldout = store.query("SELECT DISTINCT verifier FROM eval_verdicts WHERE round = 0 AND split = 'heldout'")
    assert ("reference_match",) not in heldout

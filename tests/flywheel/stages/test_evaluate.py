"""The evaluate stage: every split of a round scores its checkpoint through one generator."""

from __future__ import annotations

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

"""What the SFT trainer does before DeepSpeed starts, in-process and fast: tokenizing with counts, each rank's
equal share, padded and packed micro-batches, the step log a resume trims, NEFTune's noise, the DeepSpeed
config. test_sft_train.py runs the trainer itself, slowly."""

from __future__ import annotations

import json
import math

import pytest

from flywheel.sft.spec import TrainingSpec
from flywheel.sft.tokenize import IGNORE_INDEX
from flywheel.sft.train import (
    BadExample,
    _share,
    add_neftune,
    deepspeed_config,
    micro_batches,
    pad_batch,
    tokenize_examples,
    truncate_step_log,
)


def spec(tmp_path, **fields) -> TrainingSpec:
    return TrainingSpec(init_checkpoint=tmp_path, data=tmp_path / "mix.parquet", output=tmp_path / "out",
                        metrics=tmp_path / "steps.jsonl", checkpoint_dir=tmp_path / "ds", **fields)


def example(length: int, answer_from: int) -> dict:
    return {"input_ids": list(range(1, length + 1)),
            "labels": [IGNORE_INDEX] * answer_from + list(range(answer_from + 1, length + 1))}


def test_every_rank_gets_the_same_number_of_rows_or_the_collectives_hang():
    order = list(range(7))
    shares = [_share(order, rank, 2) for rank in range(2)]
    assert shares == [[0, 2, 4], [1, 3, 5]]  # the 7th is dropped, like drop_last
    assert _share([0], 0, 2) == [0] and _share([0], 1, 2) == []  # fewer rows than ranks: nothing dropped


def test_padded_batches_mask_padding_out_of_the_loss():
    ids, labels, mask = pad_batch([example(3, 1), example(5, 2)], pad_id=0)
    assert ids.tolist() == [[1, 2, 3, 0, 0], [1, 2, 3, 4, 5]]
    assert labels.tolist() == [[IGNORE_INDEX, 2, 3, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, 3, 4, 5]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


@pytest.mark.parametrize("packing", [False, True])
def test_micro_batches_cover_every_token_once_per_epoch_and_repeat_with_the_seed(tmp_path, packing):
    examples = [example(4 + i % 5, 2) for i in range(10)]
    settings = spec(tmp_path, batch_size=2, max_seq_len=16, packing=packing, seed=3)
    batches = list(micro_batches(examples, settings, epoch=0, rank=0, world=1, pad_id=0))
    assert sum(tokens for _, tokens, _ in batches) == sum(len(e["input_ids"]) for e in examples)
    again = list(micro_batches(examples, settings, epoch=0, rank=0, world=1, pad_id=0))
    assert [b["input_ids"].tolist() for b, _, _ in batches] == [b["input_ids"].tolist() for b, _, _ in again]
    other_epoch = list(micro_batches(examples, settings, epoch=1, rank=0, world=1, pad_id=0))
    assert [b["input_ids"].tolist() for b, _, _ in other_epoch] != [b["input_ids"].tolist() for b, _, _ in batches]
    if packing:  # rows of max_seq_len slots hold several examples each
        assert len(batches) < math.ceil(len(examples) / 2)


def test_tokenizing_counts_truncated_dropped_and_unlearnable_examples(tmp_path, tokenizer):
    rows = [{"example_id": f"e{i}", "source": f"mix.jsonl:{i + 1}",
             "messages": [{"role": "user", "content": "What is 2 plus 2?"},
                          {"role": "assistant", "content": "2 + 2 = 4. " * (1 + 20 * i)}]} for i in range(2)]
    full = len(tokenize_examples(tokenizer, rows[:1], spec(tmp_path, max_seq_len=4096))[0][0]["input_ids"])
    kept, stats = tokenize_examples(tokenizer, rows, spec(tmp_path, max_seq_len=full + 2))
    assert stats == {"examples": 2, "truncated": 1, "dropped_overlong": 0, "no_labels": 0}
    assert [len(e["input_ids"]) for e in kept] == [full, full + 2]
    kept, stats = tokenize_examples(tokenizer, rows, spec(tmp_path, max_seq_len=full + 2, overlong="drop"))
    assert (len(kept), stats["dropped_overlong"]) == (1, 1)
    kept, stats = tokenize_examples(tokenizer, rows, spec(tmp_path, max_seq_len=8))  # the prompt alone is longer
    assert (kept, stats["no_labels"]) == ([], 2)
    with pytest.raises(BadExample, match="mix.jsonl:1: conversation e0 has no assistant turn"):
        tokenize_examples(tokenizer, [{**rows[0], "messages": rows[0]["messages"][:1]}], spec(tmp_path))


def test_a_resume_keeps_the_step_log_up_to_its_checkpoint_and_drops_a_torn_line(tmp_path):
    log = tmp_path / "steps.jsonl"
    log.write_text("".join(json.dumps({"step": step, "loss": 1.0}) + "\n" for step in range(1, 6)) + '{"step": 6, "lo')
    truncate_step_log(log, restored_step=3)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3]
    truncate_step_log(tmp_path / "absent.jsonl", 3)  # no log yet: nothing to trim
    assert not (tmp_path / "absent.jsonl").exists()


def test_deepspeed_config_follows_the_spec(tmp_path):
    config = deepspeed_config(spec(tmp_path, batch_size=3, gradient_accumulation_steps=4, zero_stage=2), on_gpu=False)
    assert (config["train_micro_batch_size_per_gpu"], config["gradient_accumulation_steps"]) == (3, 4)
    assert config["zero_optimization"] == {"stage": 2} and config["bf16"] == {"enabled": False}


def test_neftune_noise_only_while_training(random_tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir)
    ids = torch.tensor([[1, 2, 3, 4]])
    clean = model.get_input_embeddings()(ids)
    add_neftune(model, 5.0)
    model.eval()
    assert torch.equal(model.get_input_embeddings()(ids), clean)
    model.train()
    noisy = model.get_input_embeddings()(ids)
    scale = 5.0 / math.sqrt(4 * clean.shape[-1])
    assert 0 < (noisy - clean).abs().max() <= scale + 1e-6

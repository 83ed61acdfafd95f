"""Packing: best-fit-decreasing bins, and packed rows that compute exactly what each example computes alone."""

import random

import pytest
import torch

from flywheel.sft import IGNORE_INDEX, tokenize_conversation
from flywheel.sft.packing import best_fit_decreasing, collate_packed, pack_rows, packed_forward_kwargs, packing_efficiency


def test_best_fit_decreasing_respects_capacity_and_places_every_example_once():
    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(500)]
    bins = best_fit_decreasing(lengths, 128)
    assert sorted(i for b in bins for i in b) == list(range(500))
    assert all(sum(lengths[i] for i in b) <= 128 for b in bins)
    lower_bound = -(-sum(lengths) // 128)
    assert len(bins) <= lower_bound * 1.05  # BFD is near-optimal on this mix
    assert best_fit_decreasing(lengths, 128) == bins  # deterministic


def test_best_fit_picks_the_fullest_bin_that_fits():
    assert best_fit_decreasing([6, 5, 4, 3], 10) == [[0, 2], [1, 3]]
    with pytest.raises(ValueError, match="longer than the row capacity"):
        best_fit_decreasing([11], 10)


def conversations(n):
    return [[{"role": "user", "content": f"What is {i} plus {i * 3}?"},
             {"role": "assistant", "content": f"{i} + {i * 3} = {i * 4}. The answer is {i * 4}." * (1 + i % 3)}]
            for i in range(n)]


def per_example_loss(logits, labels):
    shifted = labels[1:]
    keep = shifted != IGNORE_INDEX
    return torch.nn.functional.cross_entropy(logits[:-1][keep], shifted[keep])


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_logits_and_losses_equal_each_example_alone(random_tiny_model_dir, tokenizer, attention):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir, attn_implementation=attention).eval()
    examples = [tokenize_conversation(tokenizer, c) for c in conversations(6)]
    bins = best_fit_decreasing([len(e["input_ids"]) for e in examples], 256)
    rows = pack_rows(examples, bins)
    assert max(r["n_examples"] for r in rows) > 1  # the test really packs
    ids, labels, positions = collate_packed(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        packed = model(**packed_forward_kwargs(ids, labels, positions)).logits
        for row, members in enumerate(bins):
            start = 0
            for index in members:
                n = len(examples[index]["input_ids"])
                alone_ids = torch.tensor([examples[index]["input_ids"]])
                alone = model(input_ids=alone_ids, use_cache=False).logits[0]
                torch.testing.assert_close(packed[row, start : start + n], alone, atol=1e-5, rtol=1e-5)
                label = torch.tensor(examples[index]["labels"])
                assert abs(per_example_loss(packed[row, start : start + n], label) - per_example_loss(alone, label)) < 1e-5
                start += n


def test_an_attention_mask_would_let_examples_see_each_other(random_tiny_model_dir, tokenizer):
    """The control: with a (padding) attention mask the position resets are ignored, and logits change."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir).eval()
    examples = [tokenize_conversation(tokenizer, c) for c in conversations(2)]
    ids, labels, positions = collate_packed(pack_rows(examples, [[0, 1]]), tokenizer.pad_token_id)
    n = len(examples[0]["input_ids"])
    with torch.no_grad():
        right = model(**packed_forward_kwargs(ids, labels, positions)).logits[0, n:]
        wrong = model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=positions, use_cache=False).logits[0, n:]
    assert (right - wrong).abs().max() > 1e-3


def test_efficiency():
    rows = [{"input_ids": [0] * 90}, {"input_ids": [0] * 100}]
    assert packing_efficiency(rows, 100) == pytest.approx(0.95)

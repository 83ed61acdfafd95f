"""The DPO objective (flywheel.sft.dpo): equal to TRL's DPOTrainer on one batch, Llama 3.1's masks exact on the Llama 3
and Qwen 2.5 templates, and the loss's parts by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from flywheel.sft.dpo import dpo_losses, preference_mask, preference_objective, reference_logps
from flywheel.shapes import SHAPES, build_tokenizer

PAIRS = [("What is 2+2?", "It is 4.", "It is 5, surely."), ("Capital of France?", "Paris.", "Rome is the one.")]


def test_the_loss_equals_trls_on_the_same_batch(random_tiny_model_dir, tokenizer, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    policy = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir)
    reference = copy.deepcopy(policy)
    data = Dataset.from_list([{"chosen": [{"role": "user", "content": q}, {"role": "assistant", "content": c}],
                               "rejected": [{"role": "user", "content": q}, {"role": "assistant", "content": r}]}
                              for q, c, r in PAIRS])
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, beta=0.1, loss_type=["sigmoid", "sft"],
                     loss_weights=[1.0, 0.2], report_to=[], use_cpu=True, max_steps=1)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=data, processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():  # the policy moves away from the reference, so the log-ratios are not all 0
        for parameter in trainer.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    trainer.model.train()
    theirs = trainer.compute_loss(trainer.model, batch)

    ids, attention, mask = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    logits = trainer.model(input_ids=ids, attention_mask=attention, use_cache=False).logits
    ours = preference_objective(logits, ids, mask, reference_logps(reference, ids, attention, mask), beta=0.1,
                                nll_weight=0.2)
    assert ours["loss"].item() == pytest.approx(theirs.item(), abs=1e-5)
    assert abs(ours["reward_margin"].item()) > 0  # the comparison is not of two log 2's


@pytest.mark.parametrize("shape", ["llama-3.1-8b", "qwen2.5-0.5b"])
def test_the_mask_is_the_responses_own_tokens_without_formatting(shape):
    tokenizer = build_tokenizer(SHAPES[shape])
    for question, chosen, rejected in PAIRS:
        for response in (chosen, rejected):
            ids, mask = preference_mask(tokenizer, [{"role": "user", "content": question},
                                                    {"role": "assistant", "content": response}])
            kept = [token for token, on in zip(ids, mask) if on]
            assert tokenizer.decode(kept) == response  # exactly the response: no header, no end of turn
            assert SHAPES[shape].eos not in tokenizer.convert_ids_to_tokens(kept)
            first = mask.index(1)
            assert all(mask[first:first + len(kept)]) and not any(mask[first + len(kept):])  # one contiguous span


def test_the_parts_by_hand():
    policy_chosen, policy_rejected = torch.tensor([-4.0, -6.0]), torch.tensor([-5.0, -5.0])
    reference_chosen, reference_rejected = torch.tensor([-4.5, -6.0]), torch.tensor([-5.0, -4.0])
    losses, chosen_rewards, rejected_rewards = dpo_losses(policy_chosen, policy_rejected, reference_chosen,
                                                          reference_rejected, beta=0.1)
    # pair 1: 0.1 * (0.5 - 0) = 0.05; pair 2: 0.1 * (0 - (-1)) = 0.1
    assert losses.tolist() == pytest.approx([math.log1p(math.exp(-0.05)), math.log1p(math.exp(-0.1))])
    assert chosen_rewards.tolist() == pytest.approx([0.05, 0.0]) and rejected_rewards.tolist() == pytest.approx([0.0, -0.1])

"""The DPO objective of Llama 3.1's rounds (section 4.1.4), for the trainer to call on a batch of pairs.

A batch holds the chosen conversations first and the rejected ones after, row i of each half one pair. Each
response's log-probability is the sum over its loss mask of log p(token | what precedes it). The loss is DPO's
sigmoid loss with temperature ``beta`` on the policy's log-ratios against the reference model's, plus
``nll_weight`` times the mean negative log-likelihood of the chosen responses' masked tokens (Llama 3.1: beta 0.1,
NLL weight 0.2). With the same masks it equals TRL's DPOTrainer with ``loss_type=["sigmoid", "sft"]`` and
``loss_weights=[1, nll_weight]`` (tests/flywheel/sft/test_dpo.py checks it on one batch to 1e-5).

The masks (``preference_mask``) are Llama 3.1's: the response's own tokens, without the formatting tokens that
close a turn or open a header (every special token and end-of-turn id), in both the chosen and the rejected
response. The reference log-probabilities are computed once, before training, from the SFT checkpoint the policy
starts from (``reference_logps``). flywheel.sft.train runs it as its ``dpo`` objective; the ``dpo`` stage
(flywheel.stages) runs that on the round's pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from flywheel.generation.base import end_of_turn_ids
from flywheel.sft.tokenize import IGNORE_INDEX, tokenize_conversation


def formatting_ids(tokenizer) -> set[int]:
    """Token ids that format a conversation rather than say anything: special tokens and end-of-turn ids."""
    return set(tokenizer.all_special_ids) | set(end_of_turn_ids(tokenizer))


def preference_mask(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """(input ids, 0/1 loss mask) for one conversation whose last turn is the response: the response's tokens,
    formatting tokens excluded."""
    encoded = tokenize_conversation(tokenizer, messages, last_turn_only=True)
    skip = formatting_ids(tokenizer)
    mask = [int(label != IGNORE_INDEX and token not in skip)
            for token, label in zip(encoded["input_ids"], encoded["labels"])]
    return encoded["input_ids"], mask


def sequence_logps(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-sequence sum of masked log-probs, per-token log-probs, the shifted mask): token t is scored by the
    logits at t - 1."""
    targets, mask = input_ids[:, 1:], loss_mask[:, 1:].to(logits.dtype)
    per_token = torch.gather(F.log_softmax(logits[:, :-1].float(), dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    return (per_token * mask).sum(dim=1), per_token, mask


def dpo_losses(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
               reference_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-pair sigmoid losses, chosen rewards, rejected rewards); a reward is beta times the log-ratio."""
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    return -F.logsigmoid(chosen_rewards - rejected_rewards), chosen_rewards, rejected_rewards


def preference_objective(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor,
                         reference: torch.Tensor, *, beta: float = 0.1, nll_weight: float = 0.2) -> dict:
    """The loss of one batch (chosen rows, then rejected rows) and what a step logs. ``reference`` holds the
    reference model's per-sequence log-probs, in the batch's order."""
    sums, per_token, mask = sequence_logps(logits, input_ids, loss_mask)
    pairs = input_ids.size(0) // 2
    losses, chosen_rewards, rejected_rewards = dpo_losses(sums[:pairs], sums[pairs:], reference[:pairs],
                                                          reference[pairs:], beta)
    chosen_mask = mask[:pairs].bool()
    nll = -per_token[:pairs][chosen_mask].mean() if chosen_mask.any() else per_token.new_zeros(())
    margins = chosen_rewards - rejected_rewards
    return {"loss": losses.mean() + nll_weight * nll, "dpo_loss": losses.mean().detach(), "nll": nll.detach(),
            "reward_margin": margins.mean().detach(), "pair_accuracy": (margins > 0).float().mean().detach()}


@torch.no_grad()
def reference_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    loss_mask: torch.Tensor) -> torch.Tensor:
    """The reference model's per-sequence log-probs, computed once before training (the policy's start)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    return sequence_logps(logits, input_ids, loss_mask)[0]

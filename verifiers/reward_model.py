"""The ``reward_model`` verifier: a sequence-classification model with one label scores each answer.

(prompt, response) pairs are rendered with the reward model's own chat template, scored
in batches, and the score is read at the last non-padding token. A sample passes by an
absolute ``threshold``, or by ``top_quantile``: the top fraction of this batch's scores
(Llama 3 kept the reward model's top quartile). The batch is every sample of the round
that this verifier sees, so the quantile is per round.
"""

from __future__ import annotations

import time
from pathlib import Path

from flywheel.verification.plugins import VerdictResult, VerifyItem

BUNDLED = Path(__file__).resolve().parents[1] / "flywheel" / "data" / "tiny-rm"


class RewardModelVerifier:
    name = "reward_model"
    domains = ("general", "math", "code")

    def __init__(self, path: str | None = None, threshold: float | None = None, top_quantile: float | None = None,
                 batch_size: int = 16, device: str = "cpu"):
        self.path = Path(path) if path else BUNDLED  # set through verifiers.options.reward_model.path
        if threshold is None and top_quantile is None:
            top_quantile = 0.25
        if top_quantile is not None and not 0 < top_quantile <= 1:
            raise ValueError(f"top_quantile must be in (0, 1], got {top_quantile}")
        self.threshold, self.top_quantile = threshold, top_quantile
        self.batch_size, self.device = batch_size, device
        self._model = self._tokenizer = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            if not (self.path / "config.json").exists():
                raise FileNotFoundError(f"reward model not found at {self.path}")
            self._tokenizer = AutoTokenizer.from_pretrained(self.path, padding_side="right")
            if self._tokenizer.pad_token is None:
                self._tokenizer.pad_token = self._tokenizer.eos_token
            self._model = AutoModelForSequenceClassification.from_pretrained(self.path, num_labels=1).to(self.device).eval()
            if self._model.config.num_labels != 1:
                raise ValueError(f"{self.path}: a reward model has one label, this one has {self._model.config.num_labels}")
            # The head reads the rightmost token that is not padding: it must know the pad id.
            self._model.config.pad_token_id = self._tokenizer.pad_token_id
        return self._model, self._tokenizer

    def score(self, conversations: list[list[dict]]) -> list[float]:
        import torch

        model, tokenizer = self._load()
        scores: list[float] = []
        for start in range(0, len(conversations), self.batch_size):
            texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations[start : start + self.batch_size]]
            encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            with torch.inference_mode():
                scores.extend(model(**encoded).logits[:, 0].float().tolist())
        return scores

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        started = time.perf_counter()
        conversations = [[m.model_dump() for m in item.prompt.messages] + [{"role": "assistant", "content": item.sample.text}]
                         for item in items]
        scores = self.score(conversations)
        cost = (time.perf_counter() - started) / max(1, len(items))
        return [VerdictResult(passed, score, reason, "ok", cost)
                for score, (passed, reason) in zip(scores, self.decide_over_round(scores))]

    def decide_over_round(self, scores: list[float]) -> list[tuple[bool, str]]:
        """(passed, reason) per score. The top quantile is the round's: when a round is verified in
        shards, flywheel calls this again over every shard's scores (flywheel.verification.shards)."""
        if self.threshold is not None:
            cut, rule = self.threshold, f"threshold {self.threshold:.3f}"
        else:
            ranked = sorted(scores, reverse=True)
            keep = max(1, round(self.top_quantile * len(ranked))) if ranked else 0
            cut = ranked[keep - 1] if keep else float("inf")
            rule = f"top {self.top_quantile:.0%} of {len(ranked)} (cut {cut:.3f})"
        return [(score >= cut, f"reward {score:.3f}, {rule}") for score in scores]

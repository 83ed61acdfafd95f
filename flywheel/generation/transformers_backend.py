"""The ``transformers`` generation backend: batched sampling with a seed per sample.

It renders and tokenises each prompt once, with the checkpoint's own chat template (the one
SFT trains with), repeats its row N times, and samples every row from its own seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flywheel.generation.base import SamplingParams, derive_seed, end_of_turn_ids
from flywheel.records.schema import Prompt, Sample


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)


def counter_uniform(seeds, step: int):
    """A uniform number in [0, 1) per row from (seed, step): splitmix64 on int64 tensors, no RNG state.

    Wrapping int64 arithmetic matches the unsigned original bit for bit; right shifts are made
    logical by masking off the sign bits an arithmetic shift would bring in.
    """
    import torch

    def shift(z, k):
        return (z >> k) & ((1 << (64 - k)) - 1)

    z = seeds + _signed(step * _GOLDEN % (1 << 64))
    z = (z ^ shift(z, 30)) * _MIX1
    z = (z ^ shift(z, 27)) * _MIX2
    z = z ^ shift(z, 31)
    return shift(z, 11).to(torch.float64) / float(1 << 53)


class PerSampleSampler:
    """A logits processor that samples each row from its own seed, then forces that token.

    HF's sampling draws every row from one global RNG, so a sample would depend on which
    other prompts shared its batch. Here row i's draw at step t is a counter-based uniform
    number from (seed_i, t), applied to its own temperature/top-p distribution by inverse
    CDF, all rows at once; generate() then runs greedy over the forced logits. A sample
    depends only on its own seed (derived from round, prompt id and sample index).
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, device: str):
        import torch

        self.temperature, self.top_p = temperature, top_p
        self.seeds = torch.tensor(seeds, dtype=torch.int64, device=device)
        self.step = 0  # tokens generated so far; the padded prompt length depends on the batch, this does not

    def __call__(self, input_ids, scores):
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(dim=-1) - sorted_probs > self.top_p  # keep the smallest set reaching top_p
            sorted_probs[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        cdf = probs.double().cumsum(dim=-1)
        draw = counter_uniform(self.seeds, self.step).unsqueeze(-1) * cdf[:, -1:]
        self.step += 1
        chosen = torch.searchsorted(cdf, draw).clamp(max=scores.shape[-1] - 1)
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter(-1, chosen, 0.0)


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersGenerator:
    """Batched sampling with left padding and per-sample seeds; stops at the chat template's end-of-turn token."""

    def __init__(self, checkpoint: str | Path, *, device: str = "auto", batch_size: int = 16,
                 max_batch_tokens: int = 65536):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # per-load bars drown the round's own progress lines
        self.checkpoint = str(checkpoint)
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(self.checkpoint, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(self.checkpoint, dtype=dtype).to(self.device).eval()
        self.stop_ids = end_of_turn_ids(self.tokenizer)

    def close(self) -> None:
        self.model = None  # the weights go with the last reference

    def render(self, prompt: Prompt) -> str:
        messages = [m.model_dump() for m in prompt.messages]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list[Prompt], params: SamplingParams, round_number: int,
                 progress: Callable[[int], None] | None = None) -> list[Sample]:
        import torch

        samples: list[Sample] = []
        for batch in self._micro_batches(prompts, params):
            seeds = [derive_seed(params.seed, round_number, p.id, i) for p in batch for i in range(params.n)]
            encoded = self.tokenizer([self.render(p) for p in batch], return_tensors="pt", padding=True,
                                     add_special_tokens=False).to(self.device)
            # Each prompt is rendered and tokenised once, then repeated N times in the batch:
            # what num_return_sequences does inside generate() (it expands before prefill too),
            # done here so every row can carry its own seed.
            encoded = {key: value.repeat_interleave(params.n, dim=0) for key, value in encoded.items()}
            sampling = params.temperature > 0
            processors = ([PerSampleSampler(seeds, params.temperature, params.top_p, self.device)] if sampling else [])
            with torch.inference_mode():
                output = self.model.generate(
                    **encoded,
                    do_sample=False,  # sampling happens per row in PerSampleSampler
                    logits_processor=processors,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    max_new_tokens=params.max_new_tokens,
                    eos_token_id=self.stop_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for row, tokens in enumerate(new_tokens.tolist()):
                prompt = batch[row // params.n]
                text, count, finish = self._decode(tokens, params.max_new_tokens)
                samples.append(Sample(prompt_id=prompt.id, sample_index=row % params.n, text=text,
                                      num_tokens=count, finish_reason=finish, round=round_number,
                                      checkpoint=self.checkpoint, seed=seeds[row]))
            if progress:
                progress(len(batch))
        return samples

    def _micro_batches(self, prompts: list[Prompt], params: SamplingParams):
        """Consecutive prompts, at most ``batch_size`` of them and at most ``max_batch_tokens`` of
        (prompt + new) tokens over all N sequences: the memory budget of one generate() call."""
        batch, widest = [], 0
        for prompt in prompts:
            length = len(self.tokenizer(self.render(prompt), add_special_tokens=False)["input_ids"])
            wider = max(widest, length)
            cost = (len(batch) + 1) * params.n * (wider + params.max_new_tokens)
            if batch and (len(batch) == self.batch_size or cost > self.max_batch_tokens):
                yield batch
                batch, wider = [], length
            batch.append(prompt)
            widest = wider
        if batch:
            yield batch

    def _decode(self, tokens: list[int], max_new_tokens: int) -> tuple[str, int, str]:
        stop_at = next((i for i, t in enumerate(tokens) if t in self.stop_ids), None)
        if stop_at is None:
            kept = [t for t in tokens if t != self.tokenizer.pad_token_id]
            finish = "length"
        else:
            kept, finish = tokens[:stop_at], "stop"
        text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        return text, len(kept) + (finish == "stop"), finish

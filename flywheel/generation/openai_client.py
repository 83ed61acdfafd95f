"""The ``openai`` generation backend: any OpenAI-compatible server (vLLM's, SGLang's, TGI's).

``/v1/chat/completions`` with ``n`` samples per request, through the ``openai`` client,
which retries 429s, 5xx and timeouts with exponential backoff. Requests run with bounded
concurrency. Token counts are the server's: each choice's own count comes from its
per-token logprobs (``usage`` only totals the n choices), checked against ``usage``.
The checkpoint recorded on each sample is the server's model name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flywheel.generation.base import SamplingParams, derive_seed
from flywheel.schema import Prompt, Sample


class OpenAIGenerator:
    def __init__(self, checkpoint: str, *, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
                 max_concurrency: int = 8, max_retries: int = 5, timeout_seconds: float = 120.0,
                 stop_token_ids: list[int] | None = None):
        from openai import OpenAI

        self.checkpoint = model if model != "default" else str(checkpoint)
        self.model = self.checkpoint
        self.max_concurrency = max_concurrency
        self.stop_token_ids = stop_token_ids
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "not-needed",
                             max_retries=max_retries, timeout=timeout_seconds)

    def _one(self, prompt: Prompt, params: SamplingParams, round_number: int) -> list[Sample]:
        seed = derive_seed(params.seed, round_number, prompt.id)
        extra = {"stop_token_ids": self.stop_token_ids} if self.stop_token_ids else None
        response = self.client.chat.completions.create(
            model=self.model, messages=[m.model_dump() for m in prompt.messages], n=params.n,
            temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_new_tokens, seed=seed,
            logprobs=True, top_logprobs=0, extra_body=extra)
        if len(response.choices) != params.n:
            raise RuntimeError(f"server returned {len(response.choices)} choices for n={params.n} (prompt {prompt.id})")
        counts = [_token_count(choice) for choice in response.choices]
        total = getattr(response.usage, "completion_tokens", None)
        if None in counts:  # a server without logprobs: usage is exact for n=1 only
            if params.n != 1 or total is None:
                raise RuntimeError(f"server gave no per-choice token counts (no logprobs) for n={params.n}")
            counts = [total]
        samples = []
        for choice, count in sorted(zip(response.choices, counts), key=lambda pair: pair[0].index):
            samples.append(Sample(prompt_id=prompt.id, sample_index=choice.index,
                                  text=(choice.message.content or "").strip(), num_tokens=count,
                                  finish_reason="length" if choice.finish_reason == "length" else "stop",
                                  round=round_number, checkpoint=self.checkpoint, seed=seed))
        return samples

    def generate(self, prompts: list[Prompt], params: SamplingParams, round_number: int,
                 progress: Callable[[int], None] | None = None) -> list[Sample]:
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            batches = list(pool.map(lambda p: self._one(p, params, round_number), prompts))
        if progress:
            progress(len(prompts))
        return [sample for batch in batches for sample in batch]

    def close(self) -> None:
        self.client.close()


def _token_count(choice) -> int | None:
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    return len(content) if content is not None else None

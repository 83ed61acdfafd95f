"""generate: N samples per prompt from a checkpoint, through one of four backends.

- ``transformers``: batched sampling in this process, a seed per sample (:mod:`.transformers_backend`);
- ``vllm``: an in-process vLLM engine, ``n=N`` with prefix caching (:mod:`.vllm_engine`);
- ``vllm_server``: ``vllm serve`` replicas the round starts and stops itself (:mod:`.vllm_server`);
- ``openai``: any OpenAI-compatible server that is already running (:mod:`.openai_client`).

Every backend keeps the contract in :mod:`.base`; :func:`make_generator` builds the one a
round's ``GenerationConfig`` names. Backends import their heavy libraries only when built.
"""

from __future__ import annotations

from pathlib import Path

from flywheel.generation.base import Generator, SamplingParams, close_generator, derive_seed, end_of_turn_ids

__all__ = ["BACKENDS", "Generator", "SamplingParams", "close_generator", "derive_seed", "end_of_turn_ids",
           "make_generator"]


def _transformers(checkpoint: str, generation) -> Generator:
    from flywheel.generation.transformers_backend import TransformersGenerator

    return TransformersGenerator(checkpoint, device=generation.device,
                                 batch_size=generation.batch_size, max_batch_tokens=generation.max_batch_tokens)


def _vllm(checkpoint: str, generation) -> Generator:
    from flywheel.generation.vllm_engine import VLLMGenerator

    return VLLMGenerator(checkpoint, generation.vllm, seed=generation.seed)


def _vllm_server(checkpoint: str, generation) -> Generator:
    from flywheel.generation.vllm_server import VLLMServerGenerator

    return VLLMServerGenerator(checkpoint, generation.vllm, generation.openai, seed=generation.seed)


def _openai(checkpoint: str, generation) -> Generator:
    from flywheel.generation.openai_client import OpenAIGenerator

    o = generation.openai
    return OpenAIGenerator(checkpoint, base_urls=o.endpoints(), model=o.model, api_key_env=o.api_key_env,
                           max_concurrency=o.max_concurrency, max_retries=o.max_retries,
                           timeout_seconds=o.timeout_seconds, endpoint_retry_seconds=o.endpoint_retry_seconds)


BACKENDS = {"transformers": _transformers, "vllm": _vllm, "vllm_server": _vllm_server, "openai": _openai}


def make_generator(checkpoint: str | Path, generation=None) -> Generator:
    """The backend ``generation`` (a GenerationConfig; default settings when None) names, for ``checkpoint``.
    Everything a backend needs, the device included, comes from that one config. A generator that round N's
    evaluation kept for this checkpoint and these settings (flywheel.generation.kept) is handed over instead."""
    from flywheel.config import GenerationConfig

    from flywheel.generation import kept

    generation = generation or GenerationConfig()
    if generation.backend not in BACKENDS:
        raise ValueError(f"unknown generation backend {generation.backend!r} (known: {sorted(BACKENDS)})")
    handed_over = kept.take(checkpoint, generation)  # the previous round's evaluation of this checkpoint kept it
    if handed_over is not None:
        return handed_over
    return BACKENDS[generation.backend](str(checkpoint), generation)

"""The engine settings shared by the in-process ``vllm`` backend and the ``vllm_server`` replicas (no engine
starts here: tests/flywheel/generation/test_vllm.py runs real ones)."""

from __future__ import annotations

from flywheel.config import VLLMConfig
from flywheel.generation.vllm_engine import engine_settings


def test_cpu_defaults_start_fast_and_keep_per_prompt_seeds():
    values = engine_settings(VLLMConfig())
    # No GPU here: eager mode, a small share of CPU memory for the KV cache, no split prefills (they break seeds).
    assert values == {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.1, "enforce_eager": True,
                      "enable_chunked_prefill": False, "dtype": "auto", "enable_prefix_caching": True}


def test_what_the_config_sets_wins_over_the_defaults():
    settings = VLLMConfig(gpu_memory_utilization=0.5, enforce_eager=False, enable_chunked_prefill=True,
                          dtype="bfloat16", enable_prefix_caching=False, max_model_len=512, tensor_parallel_size=2)
    assert engine_settings(settings) == {
        "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5, "enforce_eager": False,
        "enable_chunked_prefill": True, "dtype": "bfloat16", "enable_prefix_caching": False, "max_model_len": 512}
